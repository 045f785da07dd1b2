"""Minutes of mixed traffic on the production-shaped stack, then everything accounted for.

    uv run python -m bench.load [--duration 180] [--users 8] [--people 12] [--pool 8]

The machine's PostgreSQL (a database of its own, `messaging_load`, created and
dropped here); a redis-server of the run's own on a free port (`--redis-url` uses
another one instead, e.g. redis://127.0.0.1:6379/11, under a key prefix of this
run's own whose keys are deleted afterwards; but a test run sharing that database
flushes it, channel-layer groups included, and the sockets go deaf); `uvicorn
config.asgi:application` with 2 workers and `bench.settings` (production settings,
DEBUG off, throttles far above the load).

`--users` virtual users (threads, one person each, one keep-alive connection each)
pick weighted actions with a short think time: sends and replies (with an
Idempotency-Key), edits of their own messages, mark-read (one message, a whole
conversation), and reads: the inbox, conversation pages, threads, histories,
unread counts, notifications (API) and the inbox and conversation pages (session
cookie). Every person keeps two sockets on /ws/events/ (`--sockets-per-person`).

Zero errors is the promise: every answer other than the expected status (201 for a
send, 200 for an edit or a read, 204 for mark-read) counts, and so does every
socket the server closes. Afterwards, with the traffic stopped:

- the database: every acknowledged send stored once, one `message`/`reply`
  notification per message, one history row and one `edit` notification per
  acknowledged edit, Conversation rows agreeing with the messages (bench/accounting.py);
- the sockets: each receiver's sockets heard message.created (and
  notification.created) for every message sent to them while they were open, and
  message.updated for every edit;
- the API, read again: unread counts, notification counts and every inbox row equal
  what the database says (no stale cache entry survived the run).

Writes bench/results/load.json, prints a table, exits 1 when anything is off.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from . import accounting
from .harness import (
    HOST,
    RESULTS_DIR,
    ROOT,
    Http,
    Person,
    PrivateRedis,
    Recorder,
    Server,
    SocketClient,
    SocketFleet,
    check_delivery,
    first_lines,
    latency_table,
    log,
    log_summary,
    page_login,
    percentile,
    prepare_database,
    register,
    server_env,
)

PG = {"host": HOST, "port": 5432, "user": "postgres"}
DATABASE = "messaging_load"
WORKERS = 2
DELIVERY_GRACE = 2.0

#: action -> weight. Reads dominate, as in a messaging product.
ACTIONS = {
    "send": 16,
    "reply": 6,
    "edit": 6,
    "mark-read": 4,
    "conversation-read": 3,
    "inbox-api": 10,
    "conversation-api": 10,
    "thread-api": 5,
    "history-api": 2,
    "unread-count": 8,
    "notifications": 4,
    "notification-count": 4,
    "inbox-page": 5,
    "conversation-page": 5,
}
EXPECTED = {"send": 201, "edit": 200, "mark-read": 204, "conversation-read": 204}


def say(message: str) -> None:
    log("load", message)


def admin() -> psycopg.Connection:
    return psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=5)


class Load:
    def __init__(self, args: argparse.Namespace, port: int, people: list[Person]) -> None:
        self.args, self.people = args, people
        self.recorder = Recorder()
        self.http = Http(port, self.recorder, timeout=30)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.sends: list[dict[str, Any]] = []
        self.edits: Counter[int] = Counter()
        self.edit_log: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.unsure_sends: list[dict[str, Any]] = []
        # Each person's own messages, per partner: what they may reply to and edit.
        self.mine: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))

    def friends(self, index: int) -> list[Person]:
        n = len(self.people)
        return [self.people[(index + step) % n] for step in (1, 2, 5)]

    def expect(self, answer, action: str, user: str, status: int = 200) -> bool:
        if answer.status == status:
            return True
        self.errors.append(
            {
                "action": action,
                "user": user,
                "status": answer.status,
                "error": answer.error,
                "body": answer.body[:200].decode(errors="replace"),
                "t": round(answer.t0 - self.t_begin, 2),
            }
        )
        return False

    def run(self) -> None:
        self.t_begin = time.monotonic()
        threads = [
            threading.Thread(target=self.user, args=(i,), daemon=True)
            for i in range(self.args.users)
        ]
        for thread in threads:
            thread.start()
        self.stop.wait(self.args.duration)
        self.stop.set()
        for thread in threads:
            thread.join(timeout=60)
        self.t_end = time.monotonic()

    def user(self, index: int) -> None:
        me = self.people[index]
        rng = random.Random(index)
        actions, weights = zip(*ACTIONS.items(), strict=True)
        while not self.stop.is_set():
            action = rng.choices(actions, weights)[0]
            friend = rng.choice(self.friends(index))
            getattr(self, "do_" + action.replace("-", "_"))(me, friend, rng)
            time.sleep(rng.uniform(0, self.args.think))

    # Writes ---------------------------------------------------------------------

    def do_send(self, me: Person, friend: Person, rng: random.Random, parent: int | None = None):
        key = uuid.uuid4().hex
        body: dict[str, Any] = {"receiver": friend.username, "content": f"load {key[:16]}"}
        if parent:
            body["parent_message"] = parent
        t0 = time.monotonic()
        for _attempt in range(5):
            answer = self.http.call(
                "POST", "/api/v1/messages/", kind="reply" if parent else "send",
                user=me.username, token=me.token, json_body=body,
                headers={"Idempotency-Key": key},
            )  # fmt: skip
            self.expect(answer, "reply" if parent else "send", me.username, 201)
            if answer.status != 0:  # an answer: retrying the same key only without one
                break
            time.sleep(0.5)
        if answer.status != 201:
            self.unsure_sends.append({"sender": me.username, "key": key, "status": answer.status})
            return
        data = answer.json()
        send = {
            "sender": me.username, "receiver": friend.username, "key": key,
            "id": int(data["id"]), "parent": parent, "t0": t0, "t1": answer.t1,
        }  # fmt: skip
        with self.lock:
            self.sends.append(send)
            self.mine[me.username][friend.username].append(send["id"])

    def do_reply(self, me: Person, friend: Person, rng: random.Random) -> None:
        mine = self.mine[me.username][friend.username]
        self.do_send(me, friend, rng, parent=rng.choice(mine[-20:]) if mine else None)

    def do_edit(self, me: Person, friend: Person, rng: random.Random) -> None:
        mine = self.mine[me.username][friend.username]
        if not mine:
            return self.do_send(me, friend, rng)
        message_id = rng.choice(mine[-20:])
        content = f"edited {uuid.uuid4().hex[:12]}"
        t0 = time.monotonic()
        answer = self.http.call(
            "PATCH", f"/api/v1/messages/{message_id}/", kind="edit", user=me.username,
            token=me.token, json_body={"content": content},
        )  # fmt: skip
        if self.expect(answer, "edit", me.username) and answer.json()["content"] == content:
            with self.lock:
                self.edits[message_id] += 1
                self.edit_log.append(
                    {"id": message_id, "receiver": friend.username, "t0": t0, "t1": answer.t1}
                )

    def do_mark_read(self, me: Person, friend: Person, rng: random.Random) -> None:
        answer = self.http.call(
            "GET", "/api/v1/messages/unread/?page_size=5", kind="unread-list",
            user=me.username, token=me.token,
        )  # fmt: skip
        if not self.expect(answer, "unread-list", me.username) or not answer.json()["results"]:
            return
        message = rng.choice(answer.json()["results"])
        answer = self.http.call(
            "POST", f"/api/v1/messages/{message['id']}/read/", kind="mark-read",
            user=me.username, token=me.token,
        )  # fmt: skip
        self.expect(answer, "mark-read", me.username, 204)

    def do_conversation_read(self, me: Person, friend: Person, rng: random.Random) -> None:
        # The friend's side: I read what my friend sent me (friendship is one-way here).
        answer = self.http.call(
            "POST", f"/api/v1/conversations/{friend.username}/read/", kind="conversation-read",
            user=me.username, token=me.token,
        )  # fmt: skip
        self.expect(answer, "conversation-read", me.username, 204)

    # Reads ----------------------------------------------------------------------

    def _get(self, me: Person, path: str, kind: str, page: bool = False):
        if page:
            answer = self.http.call(
                "GET", path, kind=kind, user=me.username, cookies=me.cookies,
                headers={"Accept": "text/html"},
            )  # fmt: skip
        else:
            answer = self.http.call("GET", path, kind=kind, user=me.username, token=me.token)
        self.expect(answer, kind, me.username)
        return answer

    def do_inbox_api(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, "/api/v1/conversations/", "inbox-api")

    def do_conversation_api(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, f"/api/v1/conversations/{friend.username}/messages/", "conversation-api")

    def _one_of_mine(self, me: Person, friend: Person, rng: random.Random) -> int | None:
        mine = self.mine[me.username][friend.username]
        return rng.choice(mine[-20:]) if mine else None

    def do_thread_api(self, me: Person, friend: Person, rng: random.Random) -> None:
        if (message_id := self._one_of_mine(me, friend, rng)) is not None:
            self._get(me, f"/api/v1/messages/{message_id}/thread/", "thread-api")

    def do_history_api(self, me: Person, friend: Person, rng: random.Random) -> None:
        if (message_id := self._one_of_mine(me, friend, rng)) is not None:
            self._get(me, f"/api/v1/messages/{message_id}/history/", "history-api")

    def do_unread_count(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, "/api/v1/messages/unread/count/", "unread-count")

    def do_notifications(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, "/api/v1/notifications/?page_size=20", "notifications")

    def do_notification_count(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, "/api/v1/notifications/unread-count/", "notification-count")

    def do_inbox_page(self, me: Person, friend: Person, rng: random.Random) -> None:
        self._get(me, "/", "inbox-page", page=True)

    def do_conversation_page(self, me: Person, friend: Person, rng: random.Random) -> None:
        # Viewing a conversation marks what the friend sent me read, as in a browser.
        self._get(me, f"/conversations/{friend.username}/", "conversation-page", page=True)


def check_updates(edits: list[dict[str, Any]], clients: list[SocketClient]) -> dict[str, Any]:
    """Each acknowledged edit: a message.updated on every receiver's socket open throughout."""
    by_user: dict[str, list[SocketClient]] = defaultdict(list)
    for client in clients:
        by_user[client.person.username].append(client)
    got = {
        id(c): Counter(int(f.data["id"]) for f in c.frames if f.type == "message.updated")
        for c in clients
    }
    want: dict[int, Counter[int]] = defaultdict(Counter)
    for edit in edits:
        for client in by_user.get(edit["receiver"], []):
            if client.open_during(edit["t0"], edit["t1"] + DELIVERY_GRACE):
                want[id(client)][edit["id"]] += 1
    expected = sum(sum(c.values()) for c in want.values())
    missing = sum(max(0, n - got[key][mid]) for key, c in want.items() for mid, n in c.items())
    return {"expected": expected, "delivered": expected - missing, "missing": missing}


def api_agrees(http: Http, people: list[Person], conn) -> dict[str, Any]:
    """Read every count and inbox row again through the API: each equals the database."""
    ids = dict(
        conn.execute(
            "SELECT username, id FROM auth_user WHERE username = ANY(%s)",
            ([p.username for p in people],),
        ).fetchall()
    )
    names = {v: k for k, v in ids.items()}
    unread = dict(
        conn.execute(
            "SELECT receiver_id, count(*) FROM messaging_message WHERE NOT read GROUP BY 1"
        ).fetchall()
    )
    notes = dict(
        conn.execute(
            "SELECT user_id, count(*) FROM messaging_notification WHERE NOT read GROUP BY 1"
        ).fetchall()
    )
    rows: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for owner, partner, last, count in conn.execute(
        "SELECT owner_id, partner_id, last_message_id, unread_count FROM messaging_conversation "
        "WHERE NOT hidden"
    ).fetchall():
        rows[owner][names.get(partner, str(partner))] = (last, count)
    disagreements = []
    checked = 0
    for person in people:
        uid = ids[person.username]
        for path, want in (
            ("/api/v1/messages/unread/count/", unread.get(uid, 0)),
            ("/api/v1/notifications/unread-count/", notes.get(uid, 0)),
        ):
            answer = http.call("GET", path, token=person.token)
            checked += 1
            if not answer.ok or answer.json()["count"] != want:
                disagreements.append([person.username, path, answer.status, answer.body[:80], want])
        answer = http.call("GET", "/api/v1/conversations/?page_size=100", token=person.token)
        got = {
            r["partner"]: (r["last_message"]["id"], r["unread_count"])
            for r in (answer.json()["results"] if answer.ok else [])
        }
        checked += 1
        if got != rows[uid]:
            disagreements.append([person.username, "inbox", got, rows[uid]])
    return {"checked": checked, "disagreements": disagreements}


def cleanup_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    batch = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, default=180, help="seconds of traffic")
    parser.add_argument("--users", type=int, default=8, help="virtual users (threads)")
    parser.add_argument("--people", type=int, default=12, help="people (users + receivers)")
    parser.add_argument("--sockets-per-person", type=int, default=2)
    parser.add_argument("--think", type=float, default=0.1, help="max think time, seconds")
    parser.add_argument("--pool", type=int, default=8, help="DB_POOL_MAX_SIZE (0: unset)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--redis-url",
        default="",
        help="an existing Redis (e.g. redis://127.0.0.1:6379/11); default: a private one",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "load.json")
    args = parser.parse_args(argv)
    if args.users > args.people:
        parser.error("--users cannot exceed --people")
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / "var" / "load" / run_id
    work.mkdir(parents=True, exist_ok=True)
    prefix = f"load-{run_id}"
    private_redis = None
    redis_url = args.redis_url
    if not redis_url:
        private_redis = PrivateRedis(work / "redis", work / "redis.log")
        private_redis.start()
        redis_url = private_redis.url(0)
    env = server_env(
        database_url=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{DATABASE}",
        redis_url=redis_url,
        key_prefix=prefix,
        pool=args.pool,
    )
    results: dict[str, Any] = {
        "run_id": run_id,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {
            **{k: v for k, v in vars(args).items() if k != "out"},
            "server": f"uvicorn config.asgi:application --workers {WORKERS}, bench.settings",
            "database": DATABASE,
            "redis": f"{redis_url} prefix {prefix}"
            + (" (a redis-server of this run)" if private_redis else ""),
            "cores": os.cpu_count(),
            "actions": ACTIONS,
        },
    }
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: every `finally` cleans up.
    signal.signal(signal.SIGTERM, _interrupt)
    broken: list[str] = []
    server = None
    fleet = None
    began = time.monotonic()
    try:
        with admin() as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(DATABASE)
            )
            conn.execute(drop)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        say(f"database {DATABASE}: migrate and collectstatic")
        prepare_database(env, work / "setup.log")
        server = Server(env, WORKERS, work / "server.log")
        server.start()
        say(f"server: uvicorn, {WORKERS} workers, port {server.port}, pool {args.pool}")
        setup_http = Http(server.port)
        people = [register(setup_http, f"load{i:02d}") for i in range(args.people)]
        for person in people[: args.users]:
            page_login(setup_http, person)
        say(f"{len(people)} people, {args.users} of them virtual users")
        fleet = SocketFleet()
        for person in people:
            for n in range(args.sockets_per_person):
                fleet.add(SocketClient(f"{person.username}/{n}", person, server.port))
        fleet.start()
        if fleet.wait_connected(30) is None:
            raise RuntimeError("the sockets did not all connect")
        say(f"{len(fleet.clients)} sockets open; {args.duration:.0f} s of traffic")
        log_offset = server.log_size()
        load = Load(args, server.port, people)
        load.run()
        time.sleep(DELIVERY_GRACE + 1)
        fleet.stop()
        elapsed = load.t_end - load.t_begin
        say(f"traffic stopped after {elapsed:.0f} s: {len(load.recorder.records)} requests")

        records = load.recorder.records
        drops = {c.name: c.drops(fleet.t_stop) for c in fleet.clients if c.drops(fleet.t_stop)}
        delivery = check_delivery(load.sends, fleet.clients, DELIVERY_GRACE)
        updates = check_updates(load.edit_log, fleet.clients)
        with psycopg.connect(**PG, dbname=DATABASE, autocommit=True) as conn:
            accounted = accounting.account(
                conn,
                usernames=[p.username for p in people],
                sends=load.sends,
                edits=dict(load.edits),
            )
            agrees = api_agrees(Http(server.port), people, conn)
        text = server.log_since(log_offset)
        all_ms = [(r.t1 - r.t0) * 1000 for r in records]
        results.update(
            {
                "elapsed_s": round(elapsed, 1),
                "requests": len(records),
                "requests_per_s": round(len(records) / elapsed, 1),
                "p50_ms": round(percentile(all_ms, 50) or 0, 1),
                "p99_ms": round(percentile(all_ms, 99) or 0, 1),
                "errors": len(load.errors),
                "error_examples": load.errors[:20],
                "by_kind": latency_table(records),
                "errors_by_kind": dict(Counter(e["action"] for e in load.errors)),
                "sends_acknowledged": len(load.sends),
                "replies_acknowledged": sum(1 for s in load.sends if s["parent"]),
                "sends_not_acknowledged": load.unsure_sends[:20],
                "edits_acknowledged": sum(load.edits.values()),
                "sockets": {
                    "open": len(fleet.clients),
                    "drops": {
                        k: [[round(t - load.t_begin, 1), c] for t, c in v] for k, v in drops.items()
                    },
                    "frames": sum(len(c.frames) for c in fleet.clients),
                    "message_created": delivery.as_dict(),
                    "message_updated": updates,
                },
                "accounting": accounted,
                "api_agrees_with_database": agrees,
                "server_log": log_summary(text),
                "server_log_examples": first_lines(text, r" (ERROR|WARNING) ", 5),
            }
        )
        if load.errors:
            broken.append(f"{len(load.errors)} errors: {results['errors_by_kind']}")
        if drops:
            broken.append(f"{sum(len(v) for v in drops.values())} socket drops")
        if delivery.missing:
            broken.append(
                f"sockets missed {len(delivery.missing)} of {delivery.expected} message.created"
            )
        if delivery.notifications_delivered != delivery.notifications_expected:
            broken.append(
                f"sockets heard {delivery.notifications_delivered} of "
                f"{delivery.notifications_expected} notification.created"
            )
        if updates["missing"]:
            broken.append(f"sockets missed {updates['missing']} message.updated")
        broken += [f"accounting: {p}" for p in accounted["problems"]]
        if agrees["disagreements"]:
            broken.append(f"API disagrees with the database: {agrees['disagreements'][:5]}")
        if results["server_log"]["error_lines"] or results["server_log"]["tracebacks"]:
            broken.append(f"the server logged errors: {results['server_log']}")
    except BaseException as error:
        broken.append(f"the run stopped: {type(error).__name__}: {error}")
        raise
    finally:
        if fleet is not None:
            fleet.stop()
        if server is not None:
            server.stop()
        if private_redis is not None:
            private_redis.stop()
        else:
            try:
                results["redis_keys_deleted"] = cleanup_redis(redis_url, prefix)
            except Exception as error:
                say(f"redis cleanup skipped: {error}")
        if not args.keep:
            try:
                with admin() as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(DATABASE)
                        )
                    )
            except psycopg.Error as error:
                say(f"could not drop {DATABASE}: {error}")
        results["total_s"] = round(time.monotonic() - began, 1)
        results["broken"] = broken
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(table(results))
    say(f"wrote {args.out}; server log in {work}")
    return 1 if broken else 0


def table(results: dict[str, Any]) -> str:
    lines = [
        "",
        f"{results['elapsed_s']:.0f} s, {results['requests']} requests "
        f"({results['requests_per_s']} req/s), {results['errors']} errors, "
        f"p50 {results['p50_ms']} ms, p99 {results['p99_ms']} ms",
        "",
        "| request | count | errors | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, row in results["by_kind"].items():
        errors = results["errors_by_kind"].get(kind, 0)
        lines.append(
            f"| {kind} | {row['requests']} | {errors} | {row['p50_ms']} | {row['p99_ms']} "
            f"| {row['max_ms']} |"
        )
    a, s = results["accounting"], results["sockets"]
    created, updated = s["message_created"], s["message_updated"]
    lines += [
        "",
        f"sends acknowledged {results['sends_acknowledged']} (replies "
        f"{results['replies_acknowledged']}), stored once {a['sends_stored_once']}, stored "
        f"unacknowledged {a['stored_unacknowledged']}, keys doubled {a['keys_doubled']}",
        f"notifications: {a['messages_with_one_right_notification']}/{a['messages_stored']} "
        f"messages with exactly one; edits {a['edits_acknowledged']} -> history rows "
        f"{a['history_rows']}, edit notifications {a['edit_notifications']}",
        f"conversation rows consistent {a['conversation_rows_consistent']}/"
        f"{a['conversation_rows']}; API re-read agrees: "
        f"{not results['api_agrees_with_database']['disagreements']} "
        f"({results['api_agrees_with_database']['checked']} reads)",
        f"sockets {s['open']}: drops {sum(len(v) for v in s['drops'].values())}, "
        f"message.created {created['delivered']}/{created['expected']}, notification.created "
        f"{created['notifications_delivered']}/{created['notifications_expected']}, "
        f"message.updated {updated['delivered']}/{updated['expected']}",
        "",
    ]
    if results["broken"]:
        lines.append(f"BROKEN ({len(results['broken'])}):")
        lines += [f"  - {b}" for b in results["broken"]]
    else:
        lines.append("zero errors; everything accounted for")
    return "\n".join(lines)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
