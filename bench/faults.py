"""Faults under traffic, scripted: Redis killed or frozen, PostgreSQL restarted; promises checked.

    uv run python -m bench.faults [--pools 0,4] [--faults redis-kill,redis-freeze,postgres]
                                  [--redis-down 8] [--pg-down 5] [--out bench/results/faults.json]

Starts a PostgreSQL cluster and a redis-server of its own (temporary directories,
free loopback ports; the machine's shared servers are never touched), migrates, and
serves the app with uvicorn (2 workers, `bench.settings`: production settings,
DEBUG off) once per `--pools` value (DB_POOL_MAX_SIZE; 0 = unset, a connection per
request). A ring of people, each writing only to the next one, drives traffic:
sender threads POST /api/v1/messages/ with an Idempotency-Key and retry the same key
until it is acknowledged; reader threads read the inbox, a conversation, the unread
counts (API) and the inbox and conversation pages (session cookie) and check what
they read against what was acknowledged (nothing older may come back); every
person keeps a socket on /ws/events/ that reconnects after a drop as the pages'
live.js does; /readyz is polled throughout.

redis-kill: a snapshot, then SIGKILL mid-traffic, `--redis-down` s down, restarted
on the same port from the snapshot (the data it had, as after a partition: the hard
case for cache freshness). redis-freeze: SIGSTOP, then SIGCONT (a hung server or a
partition without resets). Promised: every request still answers 2xx, within 5 s,
with current data; the server logs the cache and channel-layer warnings; /readyz
says 503 while Redis is down; afterwards a new message is visible at once, the
sockets are connected and hear every new message and notification.

postgres: `pg_ctl stop -m fast` mid-traffic, `--pg-down` s down, `pg_ctl start`.
Promised: requests answer 2xx or 503 (with Retry-After), never a 500 and never
after more than 5 s; a request begun during the outage gets the 503; /readyz
answers 503; every answer from 2 s after the restart on is a 2xx; every socket
hears every message. At the end, in the database: every acknowledged send is
stored exactly once under its key, nothing is stored that no client was told
about, every message has exactly one notification, Conversation rows agree with
the messages (bench/accounting.py).

Bounded (about 3.5 minutes with the defaults), cleans up every process it starts,
prints a summary, writes bench/results/faults.json (server logs under
var/faults/<run>/) and exits 1 when a promise is broken.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import accounting
from .harness import (
    ROOT,
    Answer,
    Http,
    Person,
    PrivatePostgres,
    PrivateRedis,
    Record,
    Server,
    SocketClient,
    SocketFleet,
    check_delivery,
    first_lines,
    latency_table,
    log_summary,
    page_login,
    prepare_database,
    register,
    server_env,
)
from .ruler import RESULTS_DIR
from .run import PRODUCT

PEOPLE = 4
WORKERS = 2
#: Longest a request may take while a dependency is down ("not a hang").
OUTAGE_LATENCY_LIMIT = 5.0
REDIS_WARM, REDIS_DOWN, REDIS_AFTER = 6.0, 8.0, 8.0
REDIS_MODES = {
    "kill": "redis-server SIGKILLed, restarted on the same port from a snapshot taken just before",
    "freeze": "redis-server SIGSTOPped (hung, or partitioned without resets), then SIGCONTed",
}
PG_WARM, PG_DOWN, PG_AFTER = 5.0, 5.0, 10.0
FAULTS = ("redis-kill", "redis-freeze", "postgres")
#: Between attempts of a send that was not acknowledged (a client honouring Retry-After
#: would wait longer; a short pause samples the outage more finely).
RETRY_PAUSE = 0.25
SEND_PAUSE = 0.15
READ_PAUSE = 0.05
DELIVERY_GRACE = 2.0
#: After PostgreSQL is back, how long an answer may still be the outage's 503.
RECOVERY_GRACE = 2.0


def log(message: str) -> None:
    print(f"[faults {datetime.now():%H:%M:%S}] {message}", flush=True)


# Traffic ----------------------------------------------------------------------


class Ring:
    """What the clients know across the whole run: the database outlives each fault."""

    def __init__(self, people: list[Person]) -> None:
        self.people = people
        self.lock = threading.Lock()
        # Sends begun and acknowledged to each person: no unread count may fall outside.
        self.started_to = dict.fromkeys((p.username for p in people), 0)
        self.acked_to = dict.fromkeys((p.username for p in people), 0)
        self.last: dict[str, int] = {}  # sender -> id of its newest acknowledged send


class Traffic:
    """The ring's senders and readers, the /readyz poller, and everything they saw."""

    def __init__(self, http: Http, ring: Ring, tag: str) -> None:
        self.http, self.ring, self.people, self.tag = http, ring, ring.people, tag
        self.lock = ring.lock
        self.started_to, self.acked_to, self.last = ring.started_to, ring.acked_to, ring.last
        self.sends: list[dict[str, Any]] = []
        self.by_id: dict[int, dict[str, Any]] = {}
        self.unacknowledged: list[dict[str, Any]] = []
        self.wrong: list[dict[str, Any]] = []  # answers with the wrong data
        self.readyz: list[tuple[float, float, int]] = []
        self.stop_sending = threading.Event()
        self.stop_reading = threading.Event()
        self.threads: list[threading.Thread] = []

    def partner(self, index: int) -> Person:
        return self.people[(index + 1) % len(self.people)]

    def start(self) -> None:
        for index in range(len(self.people)):
            self.threads.append(threading.Thread(target=self._sender, args=(index,)))
            self.threads.append(threading.Thread(target=self._reader, args=(index,)))
        self.threads.append(threading.Thread(target=self._poll_readyz))
        for thread in self.threads:
            thread.daemon = True
            thread.start()

    def stop(self, timeout: float = 40) -> None:
        self.stop_sending.set()
        self.stop_reading.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))

    def _wrong(self, what: str, answer: Answer, user: str, detail: Any, floor: int = 0) -> None:
        wrong = {"what": what, "user": user, "t0": answer.t0, "t1": answer.t1, "detail": detail}
        send = self.by_id.get(floor)
        if send is not None:  # the acknowledged send the answer was checked against
            wrong["send"] = {k: send[k] for k in ("id", "key", "t0", "t1", "attempts", "statuses")}
        if answer.headers.get("content-type", "").startswith("text/html"):
            wrong["page_ids"] = sorted(
                {int(m) for m in re.findall(rb'id="m(\d+)"', answer.body)}, reverse=True
            )[:5]
        self.wrong.append(wrong)

    def send(self, index: int, parent: int | None = None, deadline: float = 40) -> dict | None:
        """One send, retried with its Idempotency-Key until acknowledged (or `deadline` s)."""
        me, partner = self.people[index], self.partner(index)
        key = uuid.uuid4().hex
        content = f"{self.tag} {me.username}->{partner.username} {key[:12]}"
        body: dict[str, Any] = {"receiver": partner.username, "content": content}
        if parent:
            body["parent_message"] = parent
        with self.lock:
            self.started_to[partner.username] += 1
        first = time.monotonic()
        statuses = []
        while True:
            answer = self.http.call(
                "POST", "/api/v1/messages/", kind="send", user=me.username, token=me.token,
                json_body=body, headers={"Idempotency-Key": key},
            )  # fmt: skip
            statuses.append(answer.status)
            if answer.ok:
                break
            if time.monotonic() - first > deadline:
                self.unacknowledged.append(
                    {"sender": me.username, "key": key, "statuses": statuses}
                )
                return None
            time.sleep(RETRY_PAUSE)
        data = answer.json()
        if data.get("content") != content or data.get("receiver") != partner.username:
            self._wrong("send answered another message", answer, me.username, data)
        send = {
            "sender": me.username, "receiver": partner.username, "key": key,
            "id": int(data["id"]), "parent": parent, "t0": first, "t1": answer.t1,
            "attempts": len(statuses), "statuses": statuses,
        }  # fmt: skip
        with self.lock:
            self.acked_to[partner.username] += 1
            self.last[me.username] = send["id"]
            self.sends.append(send)
            self.by_id[send["id"]] = send
        return send

    def _sender(self, index: int) -> None:
        while not self.stop_sending.is_set():
            self.send(index)
            time.sleep(SEND_PAUSE)

    def _reader(self, index: int) -> None:
        me, partner = self.people[index], self.partner(index)
        while not self.stop_reading.is_set():
            self.read_all(me, partner)
            time.sleep(READ_PAUSE)

    def read_all(self, me: Person, partner: Person) -> None:
        """Every read of the ring's checks; nothing older than what was acknowledged."""
        call, name = self.http.call, me.username
        floor = self.last.get(name, 0)  # my newest acknowledged send to `partner`
        answer = call(
            "GET", f"/api/v1/conversations/{partner.username}/messages/?page_size=5",
            kind="conversation-api", user=name, token=me.token,
        )  # fmt: skip
        if answer.ok and floor:
            results = answer.json()["results"]
            newest = results[0]["id"] if results else None
            if newest is None or newest < floor:
                self._wrong("stale conversation (API)", answer, name, [newest, floor], floor)
        answer = call("GET", "/api/v1/conversations/", kind="inbox-api", user=name, token=me.token)
        if answer.ok and floor:
            rows = {r["partner"]: r for r in answer.json()["results"]}
            row = rows.get(partner.username)
            newest = row["last_message"]["id"] if row else None
            if newest is None or newest < floor:
                self._wrong("stale inbox (API)", answer, name, [newest, floor], floor)
        for path, kind in (
            ("/api/v1/messages/unread/count/", "unread-count"),
            ("/api/v1/notifications/unread-count/", "notification-count"),
        ):
            low = self.acked_to[name]
            answer = call("GET", path, kind=kind, user=name, token=me.token)
            high = self.started_to[name]
            if answer.ok and not low <= answer.json()["count"] <= high:
                self._wrong(
                    f"{kind} out of range", answer, name, [answer.json()["count"], low, high]
                )
        answer = call(
            "GET", f"/conversations/{partner.username}/", kind="conversation-page", user=name,
            cookies=me.cookies, headers={"Accept": "text/html"},
        )  # fmt: skip
        if answer.ok and floor:
            # Only I write to this conversation: its newest message is at least my last send.
            ids = [int(m) for m in re.findall(rb'id="m(\d+)"', answer.body)]
            if not ids or max(ids) < floor:
                self._wrong(
                    "stale conversation page", answer, name, [max(ids or [0]), floor], floor
                )
        answer = call(
            "GET", "/", kind="inbox-page", user=name, cookies=me.cookies,
            headers={"Accept": "text/html"},
        )  # fmt: skip
        if answer.ok and floor:
            match = re.search(
                rf'data-partner="{re.escape(partner.username)}" data-last="(\d+)"'.encode(),
                answer.body,
            )
            if not match or int(match[1]) < floor:
                self._wrong(
                    "stale inbox page", answer, name, [match and int(match[1]), floor], floor
                )

    def _poll_readyz(self) -> None:
        http = Http(self.http.port, timeout=30)
        while not self.stop_reading.is_set():
            answer = http.call("GET", "/readyz")
            self.readyz.append((answer.t0, answer.t1, answer.status))
            time.sleep(0.2)


def tally(labels) -> dict[str, int]:
    """How many of each label, in the labels' order."""
    return dict(sorted(Counter(map(str, labels)).items()))


def statuses(records) -> dict[str, int]:
    return tally(r.status or f"no answer ({r.error[:40]})" for r in records)


def relative(t: float, origin: float) -> float:
    return round(t - origin, 2)


def wrong_answers(traffic: Traffic, origin: float) -> list[dict[str, Any]]:
    """The first wrong answers, times relative to the fault."""
    found = []
    for wrong in traffic.wrong[:20]:
        item = {**wrong, "t0": relative(wrong["t0"], origin), "t1": relative(wrong["t1"], origin)}
        if "send" in item:
            item["send"] = {
                **item["send"],
                "t0": relative(item["send"]["t0"], origin),
                "t1": relative(item["send"]["t1"], origin),
            }
        found.append(item)
    if len(traffic.wrong) > 20:
        found.append({"more": len(traffic.wrong) - 20})
    return found


# The stack --------------------------------------------------------------------


class Stack:
    def __init__(self, work: Path, run_id: str) -> None:
        self.work, self.run_id = work, run_id
        self.redis = PrivateRedis(work / "redis", work / "redis.log")
        self.pg = PrivatePostgres()
        self.people: list[Person] = []
        self.ring = Ring([])
        self.env: dict[str, str] = {}

    def up(self) -> None:
        log(f"PostgreSQL: initdb in {self.pg.dir}, port {self.pg.port}")
        self.pg.init()
        self.pg.start()
        with self.pg.connect() as conn:
            conn.execute("CREATE DATABASE messaging")
        log(f"Redis: redis-server on port {self.redis.port}")
        self.redis.start()
        self.env = server_env(
            database_url=self.pg.url("messaging"),
            redis_url=self.redis.url(0),
            key_prefix=f"faults-{self.run_id}",
            pool=0,
        )
        log("migrate and collectstatic")
        prepare_database(self.env, self.work / "setup.log")

    @contextlib.contextmanager
    def serve(self, pool: int):
        """The server with DB_POOL_MAX_SIZE=`pool` (0: unset); the ring registered once."""
        env = {**self.env, "DB_POOL_MAX_SIZE": str(pool)} if pool else self.env
        logfile = self.work / f"server-pool{pool}.log"
        with Server("uvicorn", PRODUCT, WORKERS, env, logfile) as server:
            server.wait_ready()
            log(f"server: uvicorn, {WORKERS} workers, port {server.port}, DB_POOL_MAX_SIZE={pool}")
            if not self.people:
                http = Http(server.port)
                self.people = [register(http, f"ring{i}") for i in range(PEOPLE)]
                for person in self.people:
                    page_login(http, person)
                self.ring = Ring(self.people)
                log(f"people: {', '.join(p.username for p in self.people)} (tokens and sessions)")
            yield server

    def down(self) -> None:
        try:
            self.redis.stop()
        finally:
            self.pg.cleanup()


def log_since(server: Server, offset: int) -> str:
    """What the server logged from byte `offset` of its log on."""
    with server.logfile.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode(errors="replace")


def sockets_for(stack: Stack, port: int) -> SocketFleet:
    fleet = SocketFleet()
    for person in stack.people:
        fleet.add(SocketClient(person.username, person, port))
    fleet.start()
    if fleet.wait_connected(15) is None:
        raise RuntimeError("the sockets did not connect")
    return fleet


def wait_probe(client: SocketClient, message_id: int, timeout: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if message_id in client.message_ids():
            return time.monotonic() - began
        time.sleep(0.02)
    return None


# Redis killed -------------------------------------------------------------------


def redis_fault(stack: Stack, server: Server, pool: int, mode: str, down: float) -> dict[str, Any]:
    """`mode` "kill": SIGKILL, then a restart from a snapshot; "freeze": SIGSTOP, SIGCONT."""
    log(f"--- Redis {mode} (DB_POOL_MAX_SIZE={pool})")
    records: list[Record] = []
    traffic = Traffic(Http(server.port, records, timeout=30), stack.ring, f"redis-{mode}-p{pool}")
    log_offset = server.logfile.stat().st_size
    fleet = sockets_for(stack, server.port)
    marks: dict[str, float] = {"begin": time.monotonic()}
    result: dict[str, Any] = {"fault": REDIS_MODES[mode], "down_s": down}
    broken: list[str] = []
    probe, probe_heard, probe_visible, ready, reconnect = None, None, False, None, None
    try:
        traffic.start()
        time.sleep(REDIS_WARM)
        if mode == "kill":
            stack.redis.snapshot()
            marks["fault"] = time.monotonic()
            stack.redis.kill()
        else:
            marks["fault"] = time.monotonic()
            stack.redis.freeze()
        log(f"redis-server {mode}: down for {down:.0f} s")
        time.sleep(down)
        marks["recover"] = time.monotonic()
        if mode == "kill":
            stack.redis.start()
        else:
            stack.redis.thaw()
        marks["redis_up"] = time.monotonic()
        log(
            "redis-server back" + (" on the same port, from its snapshot" if mode == "kill" else "")
        )
        while time.monotonic() - marks["recover"] < 20:
            latest = traffic.readyz[-1] if traffic.readyz else None
            if latest and latest[0] > marks["redis_up"] and latest[2] == 200:
                ready = latest[1]
                break
            time.sleep(0.05)
        marks["readyz_200"] = ready or float("nan")
        # After a kill every socket must be a new one; a socket that lived through a
        # freeze counts as back.
        since = marks["recover"] if mode == "kill" else 0.0
        reconnect = fleet.wait_connected(20, since=since)
        marks["sockets_back"] = time.monotonic() if reconnect is not None else float("nan")
        # A fresh write after recovery: visible at once, and heard on the receiver's socket.
        probe = traffic.send(0)
        if probe is not None:
            receiver = next(c for c in fleet.clients if c.person.username == probe["receiver"])
            probe_heard = wait_probe(receiver, probe["id"], DELIVERY_GRACE + 1)
            probe_answer = traffic.http.call(
                "GET", f"/api/v1/conversations/{probe['receiver']}/messages/?page_size=1",
                kind="probe-read", user="ring0", token=stack.people[0].token,
            )  # fmt: skip
            # Sender 0 may have sent another one meanwhile: nothing older than the probe.
            newest = probe_answer.json()["results"][0]["id"] if probe_answer.ok else 0
            probe_visible = newest >= probe["id"]
        time.sleep(REDIS_AFTER)
        marks["end"] = time.monotonic()
    finally:
        traffic.stop()
        time.sleep(0.5)
        fleet.stop()
    origin = marks["fault"]
    text = log_since(server, log_offset)
    logged = log_summary(text)
    outage = [r for r in records if marks["fault"] <= r.t0 < marks["redis_up"]]
    overlapping = [r for r in records if r.t0 < marks["redis_up"] and r.t1 > marks["fault"]]
    failures = [r for r in records if not 200 <= r.status < 300]
    result["statuses"] = {
        "before": statuses([r for r in records if r.t0 < marks["fault"]]),
        "outage": statuses(outage),
        "after": statuses([r for r in records if r.t0 >= marks["redis_up"]]),
    }
    result["requests"] = len(records)
    result["failures"] = [
        {"kind": r.kind, "status": r.status, "t": relative(r.t0, origin), "error": r.error}
        for r in failures[:20]
    ]
    result["wrong_answers"] = wrong_answers(traffic, origin)
    outage_ms = [(r.t1 - r.t0) * 1000 for r in overlapping]
    slow = [r for r in overlapping if r.t1 - r.t0 > OUTAGE_LATENCY_LIMIT]
    result["outage_requests"] = len(outage)
    result["outage_p50_ms"] = (
        round(sorted(outage_ms)[len(outage_ms) // 2], 1) if outage_ms else None
    )
    result["outage_max_ms"] = round(max(outage_ms), 1) if outage_ms else None
    result["outage_slow"] = statuses_by_kind(slow)
    result["latency"] = latency_table(records)
    readyz_outage = [
        s for t0, t1, s in traffic.readyz if marks["fault"] + 0.2 <= t0 and t1 < marks["recover"]
    ]
    readyz_ms = [
        (t1 - t0) * 1000
        for t0, t1, _s in traffic.readyz
        if t0 < marks["redis_up"] and t1 > marks["fault"]
    ]
    result["readyz"] = {
        "during_outage": tally(readyz_outage),
        "max_ms_during_outage": round(max(readyz_ms), 1) if readyz_ms else None,
        "seconds_to_200_after_recovery": round(marks["readyz_200"] - marks["recover"], 2),
    }
    result["logged"] = logged
    result["log_examples"] = {
        "cache": first_lines(text, "cache unavailable", 1),
        "channel_layer": first_lines(text, "channel layer unavailable", 2),
        "errors": first_lines(text, r" ERROR ", 3),
    }
    drops = {c.name: len(c.drops(fleet.t_stop)) for c in fleet.clients}
    before = [s for s in traffic.sends if s["t1"] < marks["fault"]]
    after = [s for s in traffic.sends if s["t0"] >= marks["sockets_back"]]
    result["sockets"] = {
        "drops": drops,
        "close_codes": close_codes(fleet),
        "failed_reconnects": sum(len(c.failed_connects) for c in fleet.clients),
        "all_back_s_after_recovery": round(marks["sockets_back"] - marks["recover"], 2),
        "probe_heard_after_s": probe_heard and round(probe_heard, 3),
        "delivery_before": check_delivery(before, fleet.clients, DELIVERY_GRACE),
        "delivery_after_recovery": check_delivery(after, fleet.clients, DELIVERY_GRACE),
        "sent_during_outage": len(
            [s for s in traffic.sends if marks["fault"] <= s["t1"] < marks["redis_up"]]
        ),
    }
    result["sends"] = len(traffic.sends)
    result["probe_visible_at_once"] = bool(probe and probe_visible)
    import redis

    result["redis_keys_after_recovery"] = redis.Redis.from_url(stack.redis.url(0)).dbsize()
    result["timeline_s"] = {k: relative(v, origin) for k, v in marks.items()}

    # The promises.
    if failures:
        broken.append(f"{len(failures)} requests did not answer 2xx: {statuses(failures)}")
    if traffic.wrong:
        broken.append(f"{len(traffic.wrong)} answers with stale or wrong data")
    if traffic.unacknowledged:
        broken.append(f"{len(traffic.unacknowledged)} sends never acknowledged")
    if slow:
        broken.append(
            f"{len(slow)} requests took over {OUTAGE_LATENCY_LIMIT:.0f} s while Redis was down "
            f"(max {max(outage_ms):.0f} ms): {result['outage_slow']}"
        )
    if not logged["cache_unavailable"]:
        broken.append("no 'cache unavailable' warning in the server log")
    if not logged["channel_layer_unavailable"]:
        broken.append("no 'channel layer unavailable' warning in the server log")
    if not readyz_outage or set(readyz_outage) != {503}:
        broken.append(
            f"/readyz during the outage: {result['readyz']['during_outage']} "
            f"(slowest {result['readyz']['max_ms_during_outage']} ms)"
        )
    if ready is None:
        broken.append("/readyz did not answer 200 within 20 s of the recovery")
    if reconnect is None:
        broken.append("the sockets were not all connected within 20 s of the recovery")
    if probe is None or not result["probe_visible_at_once"]:
        broken.append("a send right after recovery was not visible at once")
    if probe_heard is None:
        broken.append("the receiver's socket did not hear the send made after recovery")
    for phase in ("delivery_before", "delivery_after_recovery"):
        heard = result["sockets"][phase]
        if heard["missing"] or heard["notifications_delivered"] != heard["notifications_expected"]:
            broken.append(f"sockets missed events ({phase}): {heard}{stale_hint(logged)}")
    if not result["redis_keys_after_recovery"]:
        broken.append("nothing cached in Redis after recovery")
    result["broken"] = broken
    result["_sends"] = traffic.sends
    log(
        f"Redis {mode}: {len(records)} requests ({len(outage)} began during the outage, max "
        f"{result['outage_max_ms']} ms), {len(failures)} not 2xx, {len(traffic.wrong)} wrong; "
        f"/readyz 200 {result['readyz']['seconds_to_200_after_recovery']} s after recovery; "
        f"sockets back in {result['sockets']['all_back_s_after_recovery']} s"
    )
    return result


def stale_hint(logged: dict[str, int]) -> str:
    if not logged.get("redis_connection_closed_by_server"):
        return ""
    return (
        f"; the server logged {logged['redis_connection_closed_by_server']} 'Connection closed "
        "by server' (a channel-layer connection pooled before a Redis restart, used again)"
    )


def statuses_by_kind(records) -> dict[str, int]:
    return tally(f"{r.kind} {r.status or 'no answer'}" for r in records)


# PostgreSQL restarted -----------------------------------------------------------


def postgres_fault(stack: Stack, server: Server, pool: int, down: float) -> dict[str, Any]:
    log(f"--- PostgreSQL fault (DB_POOL_MAX_SIZE={pool})")
    records: list[Record] = []
    traffic = Traffic(Http(server.port, records, timeout=30), stack.ring, f"pg-p{pool}")
    log_offset = server.logfile.stat().st_size
    fleet = sockets_for(stack, server.port)
    marks: dict[str, float] = {"begin": time.monotonic()}
    broken: list[str] = []
    try:
        traffic.start()
        time.sleep(PG_WARM)
        marks["stop"] = time.monotonic()
        stack.pg.stop("fast")
        marks["stopped"] = time.monotonic()
        log(f"PostgreSQL stopped (pg_ctl stop -m fast); down for {down:.0f} s")
        time.sleep(down)
        marks["start"] = time.monotonic()
        stack.pg.start()
        marks["started"] = time.monotonic()
        log("PostgreSQL started again")
        time.sleep(PG_AFTER)
        marks["end"] = time.monotonic()
    finally:
        traffic.stop()
        time.sleep(0.5)
        fleet.stop()
    origin = marks["stop"]
    text = log_since(server, log_offset)

    def window(t0: float, t1: float):
        return [r for r in records if t0 <= r.t0 < t1]

    outage = window(marks["stopped"], marks["start"])
    after = window(marks["started"], float("inf"))
    # Every request the outage touched, including those that began before it.
    overlapping = [r for r in records if r.t0 < marks["started"] and r.t1 > marks["stop"]]
    outage_ms = [(r.t1 - r.t0) * 1000 for r in overlapping]
    slow = [r for r in overlapping if r.t1 - r.t0 > OUTAGE_LATENCY_LIMIT]
    result: dict[str, Any] = {
        "fault": f"pg_ctl stop -m fast, {down:g} s down, pg_ctl start",
        "requests": len(records),
        "statuses": {
            "before": statuses(window(0, marks["stop"])),
            "while_stopping": statuses(window(marks["stop"], marks["stopped"])),
            "outage": statuses(outage),
            "while_starting": statuses(window(marks["start"], marks["started"])),
            "after": statuses(after),
        },
        "outage_requests": len(outage),
        "overlapping_requests": len(overlapping),
        "outage_p50_ms": round(sorted(outage_ms)[len(outage_ms) // 2], 1) if outage_ms else None,
        "outage_max_ms": round(max(outage_ms), 1) if outage_ms else None,
        "outage_slow": statuses_by_kind(slow),
    }
    first_ok = min(
        (r.t1 for r in records if r.t0 >= marks["start"] and 200 <= r.status < 300), default=None
    )
    # Failed after recovery: begun once PostgreSQL was back, or answered (a request that
    # waited through the outage) more than RECOVERY_GRACE s after it was.
    failed_after = [
        r
        for r in records
        if not 200 <= r.status < 300
        and (r.t0 >= marks["started"] or r.t1 >= marks["started"] + RECOVERY_GRACE)
    ]
    last_failure = max((r.t1 for r in records if not 200 <= r.status < 300), default=None)
    result["recovery"] = {
        "pg_ctl_start_s": round(marks["started"] - marks["start"], 2),
        "first_2xx_s_after_start": first_ok and round(first_ok - marks["start"], 2),
        "last_failure_s_after_start": last_failure and round(last_failure - marks["start"], 2),
        "failed_after_recovery": statuses_by_kind(failed_after),
    }
    polls = traffic.readyz
    readyz_outage = [s for t0, t1, s in polls if marks["stopped"] <= t0 and t1 < marks["start"]]
    readyz_after = [s for t0, _t1, s in polls if t0 >= marks["started"] + 0.5]
    readyz_ok = [t1 for t0, t1, s in polls if t0 >= marks["start"] and s == 200]
    readyz_ms = [
        (t1 - t0) * 1000 for t0, t1, _s in polls if marks["stop"] < t1 and t0 < marks["start"]
    ]
    result["readyz"] = {
        "during_outage": tally(readyz_outage),
        "max_ms_during_outage": round(max(readyz_ms), 1) if readyz_ms else None,
        "after": tally(readyz_after),
        "seconds_to_200_after_start": readyz_ok and round(min(readyz_ok) - marks["start"], 2),
    }
    result["answers_503"] = answers_503(records)
    result["latency"] = latency_table(records)
    result["logged"] = log_summary(text)
    result["log_examples"] = {
        "database": first_lines(text, "database unavailable", 1),
        "errors": first_lines(text, r" ERROR ", 3),
    }
    retried = [s for s in traffic.sends if s["attempts"] > 1]
    result["sends"] = {
        "acknowledged": len(traffic.sends),
        "retried": len(retried),
        "attempts_of_retried": sum(s["attempts"] for s in retried),
        "retried_statuses": tally(st for send in retried for st in send["statuses"]),
        "never_acknowledged": len(traffic.unacknowledged),
        "retried_sends": [
            {
                "id": send["id"],
                "sender": send["sender"],
                "t0": relative(send["t0"], origin),
                "t1": relative(send["t1"], origin),
                "statuses": send["statuses"],
            }
            for send in retried
        ],
    }
    result["wrong_answers"] = wrong_answers(traffic, origin)
    result["sockets"] = {
        "drops": {c.name: len(c.drops(fleet.t_stop)) for c in fleet.clients},
        "close_codes": close_codes(fleet),
        "delivery": check_delivery(traffic.sends, fleet.clients, DELIVERY_GRACE),
    }
    result["timeline_s"] = {k: relative(v, origin) for k, v in marks.items()}

    # The promises.
    not_503 = [r for r in records if r.status != 503 and not 200 <= r.status < 300]
    if not_503:
        broken.append(
            f"{len(not_503)} answers neither 2xx nor 503 (first at "
            f"{relative(not_503[0].t0, origin)} s): {statuses(not_503)}"
        )
    # A request begun during the outage may still succeed if it waited for the database (the
    # pool does); a hang is caught below.
    outage_not_503 = [r for r in outage if r.status != 503 and not 200 <= r.status < 300]
    if outage_not_503:
        broken.append(f"during the outage, {len(outage_not_503)} answers were not 503")
    if slow:
        broken.append(
            f"{len(slow)} requests took over {OUTAGE_LATENCY_LIMIT:.0f} s while PostgreSQL was "
            f"down (max {max(outage_ms):.0f} ms): {result['outage_slow']}"
        )
    if failed_after:
        broken.append(
            f"{len(failed_after)} requests failed after PostgreSQL was back: "
            f"{statuses(failed_after)} (the last answered "
            f"{result['recovery']['last_failure_s_after_start']} s after pg_ctl start)"
        )
    if not readyz_outage or set(readyz_outage) != {503}:
        broken.append(
            f"/readyz during the outage: {result['readyz']['during_outage']} "
            f"(slowest {result['readyz']['max_ms_during_outage']} ms)"
        )
    if not readyz_after or set(readyz_after) != {200}:
        broken.append(f"/readyz after the restart: {result['readyz']['after']}")
    if traffic.unacknowledged:
        broken.append(f"{len(traffic.unacknowledged)} sends were never acknowledged")
    if traffic.wrong:
        broken.append(f"{len(traffic.wrong)} answers with stale or wrong data")
    heard = result["sockets"]["delivery"]
    if heard["missing"] or heard["notifications_delivered"] != heard["notifications_expected"]:
        broken.append(f"sockets missed events: {heard}{stale_hint(result['logged'])}")
    result["broken"] = broken
    result["_sends"] = traffic.sends
    log(
        f"PostgreSQL fault: {len(records)} requests, {len(outage)} began during the outage "
        f"{result['statuses']['outage']}, max {result['outage_max_ms']} ms of "
        f"{len(overlapping)} it touched; after: {result['statuses']['after']}; "
        f"{len(traffic.sends)} sends acknowledged, {len(retried)} after retries"
    )
    return result


def close_codes(fleet: SocketFleet) -> dict[str, int]:
    """How the server closed the sockets the clients did not close themselves."""
    return tally(code for c in fleet.clients for _t, code in c.drops(fleet.t_stop))


def answers_503(records) -> dict[str, int]:
    """The 503s by (API or page, Retry-After, content type): what a client had to go on."""
    labels = []
    for record in records:
        if record.status == 503:
            where = "page" if record.kind.endswith("-page") else "api"
            retry_after, content_type = record.note.split("|", 1)
            labels.append(f"{where} Retry-After={retry_after} {content_type.split(';')[0]}")
    return tally(labels)


# Main -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--pools", default="0,4", help="DB_POOL_MAX_SIZE values to run with (0: unset)"
    )
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated, in order, from {', '.join(FAULTS)}",
    )
    parser.add_argument(
        "--redis-down", type=float, default=REDIS_DOWN, help="seconds Redis stays down"
    )
    parser.add_argument(
        "--pg-down", type=float, default=PG_DOWN, help="seconds PostgreSQL stays down"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "faults.json")
    args = parser.parse_args(argv)
    pools = [int(p) for p in args.pools.split(",")]
    faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    if unknown := set(faults) - set(FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / "var" / "faults" / run_id
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    results: dict[str, Any] = {
        "run_id": run_id,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": f"uvicorn config.asgi:application --workers {WORKERS}, bench.settings",
        "logs": str(work.relative_to(ROOT)),
        "runs": {},
    }
    # SIGTERM (a timeout, a CI cancel) unwinds like Ctrl-C: every `finally` cleans up.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack(work, run_id)
    broken: list[str] = []
    all_sends: list[dict[str, Any]] = []
    try:
        stack.up()
        for pool in pools:
            run: dict[str, Any] = {}
            with stack.serve(pool) as server:
                for fault in faults:
                    if fault == "postgres":
                        run[fault] = postgres_fault(stack, server, pool, args.pg_down)
                    else:
                        run[fault] = redis_fault(
                            stack, server, pool, fault.split("-")[1], args.redis_down
                        )
            for fault, outcome in run.items():
                all_sends += outcome.pop("_sends")
                broken += [f"{fault} (pool {pool}): {b}" for b in outcome["broken"]]
            results["runs"][f"DB_POOL_MAX_SIZE={pool}"] = run
        with stack.pg.connect("messaging") as conn:
            accounted = accounting.account(
                conn, usernames=[p.username for p in stack.people], sends=all_sends
            )
        results["accounting"] = accounted
        broken += [f"accounting: {p}" for p in accounted["problems"]]
    except BaseException as error:
        broken.append(f"the run stopped: {type(error).__name__}: {error}")
        raise
    finally:
        stack.down()
        results["elapsed_s"] = round(time.monotonic() - began, 1)
        results["broken"] = broken
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(summary(results))
        log(f"wrote {args.out} ({results['elapsed_s']:.0f} s); server logs in {work}")
    return 1 if broken else 0


def summary(results: dict[str, Any]) -> str:
    lines = ["", "| run | fault | requests | during outage | after | recovery | broken |"]
    lines.append("|---|---|---:|---|---|---|---:|")
    for name, run in results["runs"].items():
        for fault, r in run.items():
            if fault.startswith("redis"):
                recovery = (
                    f"readyz {r['readyz']['seconds_to_200_after_recovery']} s, sockets "
                    f"{r['sockets']['all_back_s_after_recovery']} s"
                )
            else:
                recovery = (
                    f"first 2xx {r['recovery']['first_2xx_s_after_start']} s, readyz "
                    f"{r['readyz']['seconds_to_200_after_start']} s"
                )
            lines.append(
                f"| {name} | {fault} | {r['requests']} | {r['statuses']['outage']} "
                f"(max {r['outage_max_ms']} ms) | {r['statuses']['after']} | {recovery} "
                f"| {len(r['broken'])} |"
            )
    if "accounting" in results:
        a = results["accounting"]
        lines.append(
            f"\naccounting: {a['sends_acknowledged']} sends acknowledged, "
            f"{a['sends_stored_once']} stored once, {a['stored_unacknowledged']} stored "
            f"unacknowledged, {a['keys_doubled']} keys doubled, "
            f"{a['messages_with_one_right_notification']}/{a['messages_stored']} messages with "
            f"exactly one notification, {a['conversation_rows_consistent']}/"
            f"{a['conversation_rows']} conversation rows consistent"
        )
    lines.append("")
    if results["broken"]:
        lines.append(f"BROKEN PROMISES ({len(results['broken'])}):")
        lines += [f"  - {b}" for b in results["broken"]]
    else:
        lines.append("every promise kept")
    return "\n".join(lines)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
