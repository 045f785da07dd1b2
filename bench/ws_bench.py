"""The real-time socket under load: N sockets on two servers, M messages, every frame counted.

    python -m bench.ws_bench --sockets 1000 --messages 500 --rate 50

`make bench-sockets` runs it at 1,000 and at 5,000 sockets, two per person (`--users`).

Two `uvicorn config.asgi:application` processes (bench.settings, `--workers 1 --ws-max-size
4096`, a pool of `--pool` database connections: the socket servers of docs/deploy.md) share a
PostgreSQL database of the run's own, loaded by `bench.dataset`, and a redis-server of the
run's own as channel layer. Tokens are minted here with the product's `AccessToken.for_user`,
and the channel layer's capacity, expiry and group_expiry read from the same settings.

Socket i belongs to dataset user i mod U and is that user's copy k = i div U; it opens on
server (i mod U + k) mod 2, so a user's sockets alternate between the servers. Once every
socket is open, M messages go through `POST /api/v1/messages/` at `--rate` a second,
alternating servers (an open loop: up to 64 in flight): message j to the user of socket
j mod N, from the next user. Each carries an Idempotency-Key, so a send on a kept-alive
connection the server had closed is tried again.

Each `message.created` frame is counted by (socket, message id). Latency, on this machine's
one clock: `from_timestamp`, arrival minus the message's `timestamp`, taken before its
transaction (an upper bound of commit-to-frame), and `from_ack`, arrival minus the client's
receipt of the 201 (a lower bound: the commit precedes the answer). Memory per socket: the
servers' VmRSS with every socket open minus after a warm-up, over the sockets opened. CPU in
cores (servers, Redis, this client, the rest) while opening, idle, and sending.

The open-file limit is raised to the hard limit (the servers inherit it). Servers, Redis and
database are gone when it returns. JSON in bench/results/ws-<sockets>-<time>.json. The run is
sound when every socket opened and stayed open, every send was acknowledged and every frame
arrived once, on its socket only; then it is also bench/results/ws-<sockets>-latest.json
(rendered by bench/report.py). Otherwise it says what broke and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, ruler
from bench.harness import (
    HOST,
    Http,
    PrivateRedis,
    Server,
    log_summary,
    own_database,
    percentile,
    run_checked,
    server_env,
)
from bench.ruler import RESULTS_DIR
from bench.run import PRODUCT

SERVERS = 2
WORKERS = 1  # per server
WS_OPTIONS = ("--ws-max-size", "4096")
#: After the last answer, how long frames may take to arrive before they count as lost.
DRAIN_SECONDS = 10.0


def log(message: str) -> None:
    print(f"[ws_bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# Accounting (pure) --------------------------------------------------------------


def summary(values: list[float]) -> dict[str, Any]:
    def ms(pct: float) -> float | None:
        value = percentile(values, pct)
        return None if value is None else round(value, 1)

    return {"count": len(values), "p50": ms(50), "p99": ms(99), "max": ms(100)}


def account(
    expected: dict[int, set[Hashable]], frames: Iterable[tuple[Hashable, int]]
) -> dict[str, Any]:
    """Frames against what should have arrived.

    `expected`: message id -> the sockets that should each get its frame once;
    `frames`: (socket, message id) of every frame that arrived. Every frame is exactly
    one of: received (the first of an expected pair), duplicated (a later copy of one),
    unexpected (a pair nobody expected).
    """
    pairs = {(socket, message) for message, sockets in expected.items() for socket in sockets}
    seen = Counter(frames)
    lost = sorted(pairs - seen.keys(), key=lambda pair: (pair[1], pair[0]))
    return {
        "expected": len(pairs),
        "received": sum(1 for pair in seen if pair in pairs),
        "lost": len(lost),
        "duplicated": sum(n - 1 for pair, n in seen.items() if pair in pairs),
        "unexpected": sum(n for pair, n in seen.items() if pair not in pairs),
        "messages_with_loss": len({message for _, message in lost}),
        "lost_examples": [{"socket": s, "message": m} for s, m in lost[:10]],
    }


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def server_of(number: int, users: int) -> int:
    """The server socket `number` opens on: a user's sockets alternate between the servers
    (socket i is copy i div U of user i mod U), and so do the users' first sockets."""
    return (number % users + number // users) % SERVERS


def judge(result: dict[str, Any]) -> list[str]:
    """What broke in a run: nothing when every socket opened and stayed open, every send
    was acknowledged and every expected frame arrived exactly once, and no other did."""
    opened, sent, frames = result["open"], result["send"], result["frames"]
    checks = [
        (opened["failed"], "sockets failed to open"),
        (opened["closed_by_server_before_end"], "sockets closed by a server before the end"),
        (sent["messages"] - sent["acknowledged"], "sends not acknowledged"),
        (frames["lost"], "frames lost"),
        (frames["duplicated"], "frames duplicated"),
        (frames["unexpected"], "frames on a socket that should not have had them"),
    ]
    return [f"{count:,} {what}" for count, what in checks if count]


def write_results(
    result: dict[str, Any], out: Path | None, results_dir: Path = RESULTS_DIR
) -> list[Path]:
    """The run's JSON at `out` (default: ws-<sockets>-<time>.json), and when nothing broke,
    also ws-<sockets>-latest.json, the one bench/report.py renders."""
    sockets, started = result["settings"]["sockets"], datetime.fromisoformat(result["date"])
    text = json.dumps(result, indent=2) + "\n"
    paths = [out or results_dir / f"ws-{sockets}-{started:%Y%m%dT%H%M%SZ}.json"]
    if not result["broken"]:
        paths.append(results_dir / f"ws-{sockets}-latest.json")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return paths


# Processes and machine -------------------------------------------------------------


def group_rss_kb(pgrp: int) -> int:
    """VmRSS of every process in process group `pgrp` (a server and any children)."""
    total = 0
    for entry in Path("/proc").iterdir():
        fields = ruler.stat_fields(int(entry.name)) if entry.name.isdigit() else None
        if fields is None or int(fields[2]) != pgrp:
            continue
        with contextlib.suppress(OSError):
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def cpu_now(groups: dict[str, list[int]]) -> tuple[float, dict[str, float], float, float]:
    """Wall clock; CPU seconds of each named list of process groups, this process, the machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = {name: sum(map(ruler.group_cpu_seconds, pgrps)) for name, pgrps in groups.items()}
    return time.monotonic(), used, usage.ru_utime + usage.ru_stime, ruler.machine_busy_seconds()


def cores_since(start, groups: dict[str, list[int]]) -> dict[str, float]:
    """Cores used since `start` (a `cpu_now`) by each group, this client and everything else."""
    wall, used, client, busy = cpu_now(groups)
    wall -= start[0]
    shares = {name: cpu - start[1][name] for name, cpu in used.items()}
    shares["client"] = client - start[2]
    shares["other"] = max(0.0, busy - start[3] - sum(shares.values()))
    return {name: round(cpu / max(wall, 1e-9), 2) for name, cpu in shares.items()}


def raise_open_files() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    soft = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def mint_tokens(env: dict[str, str]) -> list[tuple[str, str]]:
    """(username, access token) of every active user, with the servers' settings and key."""
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections
    from rest_framework_simplejwt.tokens import AccessToken

    users = get_user_model().objects.filter(is_active=True).order_by("pk")
    tokens = [(user.username, str(AccessToken.for_user(user))) for user in users]
    connections.close_all()
    return tokens


def channel_layer_settings() -> dict[str, Any]:
    """The channel layer the servers build from the same settings (after `mint_tokens`):
    its backend, capacity, expiry and group_expiry, and which of these the settings set."""
    from channels.layers import get_channel_layer
    from django.conf import settings

    layer = get_channel_layer()
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    names = ("capacity", "expiry", "group_expiry")
    return {
        "settings_module": settings.SETTINGS_MODULE,
        "backend": f"{type(layer).__module__}.{type(layer).__qualname__}",
        **{name: getattr(layer, name, None) for name in names},
        "set_in_settings": [name for name in names if name in config],
    }


# Sockets and sends -------------------------------------------------------------------


async def open_sockets(urls: list[str], concurrency: int):
    """Every socket opened (None where the handshake failed) and the failures by kind."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(concurrency)
    errors: Counter[str] = Counter()

    async def one(url: str):
        async with gate:
            try:
                return await connect(url, open_timeout=60, ping_interval=None, close_timeout=2)
            except Exception as error:
                errors[f"{type(error).__name__}: {str(error)[:80]}"] += 1
                return None

    return await asyncio.gather(*(one(url) for url in urls)), errors


async def listen(number: int, ws, frames: list, closed: dict[int, Any]) -> None:
    """Record (socket, message id, arrival, message timestamp) of every message.created."""
    with contextlib.suppress(Exception):
        async for raw in ws:
            arrived, frame = time.time(), json.loads(raw)
            if frame.get("type") == "message.created":
                data = frame["data"]
                frames.append((number, int(data["id"]), arrived, data["timestamp"]))
    closed[number] = ws.close_code


async def send_all(args, https: list[Http], plan: list[tuple[str, str, int]]) -> list[dict]:
    """POST every planned message at `args.rate` a second; what each answer said, and when."""
    loop, run = asyncio.get_running_loop(), secrets.token_hex(4)
    # Enough threads that a slow answer does not delay the next send (an open loop).
    pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="send")

    def send(index: int, receiver: str, token: str, due: float) -> dict:
        late_ms = (time.monotonic() - due) * 1000
        for _attempt in range(2):  # once more if a kept-alive connection had been closed
            answer = https[index % SERVERS].call(
                "POST", "/api/v1/messages/", token=token,
                json_body={"receiver": receiver, "content": f"ws-bench message {index}"},
                headers={"Idempotency-Key": f"ws-bench-{run}-{index}"},
            )  # fmt: skip
            if answer.status:
                break
        acked = time.time()
        mid = answer.json()["id"] if answer.status == 201 else None
        return {"index": index, "status": answer.status, "id": mid, "acked": acked,
                "http_ms": answer.elapsed * 1000, "late_ms": late_ms,
                "error": answer.error}  # fmt: skip

    began = loop.time()
    tasks = []
    for index, (receiver, token, _) in enumerate(plan):
        due = began + index / args.rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        tasks.append(loop.run_in_executor(pool, send, index, receiver, token, due))
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        pool.shutdown(wait=False)


async def measure(args, servers: list[Server], tokens: list, groups: dict) -> dict[str, Any]:
    pgrps = groups["servers"]
    users = len(tokens)
    owner = [i % users for i in range(args.sockets)]
    on_server = [server_of(i, users) for i in range(args.sockets)]
    urls = [
        f"ws://{HOST}:{servers[on_server[i]].port}/ws/events/?token={tokens[owner[i]][1]}"
        for i in range(args.sockets)
    ]
    https = [Http(server.port, timeout=30) for server in servers]

    log("warming up: one request and one socket per server")
    for index, http in enumerate(https):
        http.call("GET", "/api/v1/users/me/", token=tokens[index][1])
    warm, errors = await open_sockets(urls[:SERVERS], SERVERS)
    if errors:
        raise RuntimeError(f"warm-up sockets failed: {dict(errors)}")
    await asyncio.gather(*(ws.close() for ws in warm))
    await asyncio.sleep(2)
    rss_before = sum(group_rss_kb(pgrp) for pgrp in pgrps)

    log(f"opening {args.sockets} sockets ({args.open_concurrency} handshakes at once)")
    cpu = cpu_now(groups)
    sockets, errors = await open_sockets(urls, args.open_concurrency)
    open_s, open_cpu = time.monotonic() - cpu[0], cores_since(cpu, groups)
    opened = {i: ws for i, ws in enumerate(sockets) if ws is not None}
    frames: list[tuple[int, int, float, str]] = []
    closed: dict[int, Any] = {}
    readers = [asyncio.create_task(listen(i, ws, frames, closed)) for i, ws in opened.items()]
    cpu = cpu_now(groups)
    await asyncio.sleep(5)
    idle_cpu, rss_after = cores_since(cpu, groups), sum(group_rss_kb(pgrp) for pgrp in pgrps)
    log(f"{len(opened)} open in {open_s:.1f} s, {len(closed)} closed since; sending")

    # Message j goes to the user of socket j mod N (a user holding sockets), from the next user.
    plan = []
    for index in range(args.messages):
        receiver = owner[index % args.sockets]
        plan.append((tokens[receiver][0], tokens[(receiver + 1) % users][1], receiver))
    cpu = cpu_now(groups)
    sends = await send_all(args, https, plan)
    send_s, send_cpu = time.monotonic() - cpu[0], cores_since(cpu, groups)
    sockets_of: dict[int, set[int]] = {}
    for number in opened:
        sockets_of.setdefault(owner[number], set()).add(number)
    expected = {s["id"]: sockets_of.get(plan[s["index"]][2], set()) for s in sends if s["id"]}
    wanted = sum(len(sockets) for sockets in expected.values())
    deadline = time.monotonic() + DRAIN_SECONDS
    while len(frames) < wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)  # late duplicates
    log(f"{len(frames)} frames of {wanted}; closing")

    acked = {s["id"]: s["acked"] for s in sends if s["id"]}
    first: dict[tuple[int, int], tuple[float, str]] = {}
    for number, mid, arrived, stamp in frames:
        first.setdefault((number, mid), (arrived, stamp))
    counted = [(key, value) for key, value in first.items() if key[1] in acked]
    for reader in readers:
        reader.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(ws.close() for ws in opened.values()), return_exceptions=True)
    failed = [s for s in sends if s["status"] != 201]
    servers_of: dict[int, set[int]] = {}
    for number in range(args.sockets):
        servers_of.setdefault(owner[number], set()).add(on_server[number])
    return {
        "placement": {
            "users_with_sockets": len(servers_of),
            "sockets_per_user": math.ceil(args.sockets / users),
            "users_on_both_servers": sum(len(s) == SERVERS for s in servers_of.values()),
            "sockets_per_server": [on_server.count(i) for i in range(SERVERS)],
        },
        "open": {
            "opened": len(opened),
            "failed": sum(errors.values()),
            "errors": dict(errors.most_common(5)),
            "seconds": round(open_s, 1),
            "cpu": open_cpu,
            "cpu_idle_after": idle_cpu,
            "closed_by_server_before_end": len(closed),
            "close_codes": dict(Counter(str(code) for code in closed.values())),
        },
        "send": {
            "messages": len(sends),
            "acknowledged": len(acked),
            "failed": len(failed),
            "failed_by_status": dict(Counter(str(s["status"]) for s in failed)),
            "failure_examples": [(s["status"], s["error"]) for s in failed[:5]],
            "seconds": round(send_s, 1),
            "started_late_ms": summary([s["late_ms"] for s in sends]),
            "http_ms": summary([s["http_ms"] for s in sends]),
            "cpu": send_cpu,
        },
        "frames": account(expected, ((number, mid) for number, mid, _, _ in frames)),
        "latency_ms": {
            "from_timestamp": summary(
                [1000 * (arrived - parse_time(stamp)) for _, (arrived, stamp) in counted]
            ),
            "from_ack": summary(
                [1000 * (arrived - acked[mid]) for (_, mid), (arrived, _) in counted]
            ),
        },
        "memory": {
            "servers_rss_before_mb": round(rss_before / 1024, 1),
            "servers_rss_with_sockets_mb": round(rss_after / 1024, 1),
            "per_socket_kb": round((rss_after - rss_before) / max(1, len(opened)), 1),
        },
    }


# Main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ws_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50, help="messages per second")
    parser.add_argument("--open-concurrency", type=int, default=50, help="handshakes at once")
    parser.add_argument("--pool", type=int, default=4, help="DB_POOL_MAX_SIZE per server")
    parser.add_argument("--preset", default="small", help="bench.dataset preset")
    parser.add_argument("--users", type=int, help="instead of the preset's users")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the measuring")
    parser.add_argument("--out", type=Path, help="default: bench/results/ws-<sockets>-<time>.json")
    args = parser.parse_args(argv)
    if min(args.sockets, args.messages, args.open_concurrency) < 1 or args.rate <= 0:
        parser.error("--sockets, --messages, --open-concurrency and --rate must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    fd_limit = raise_open_files()
    if fd_limit < args.sockets + 256:
        raise SystemExit(f"the open-file limit ({fd_limit}) is too low for {args.sockets}")
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    result: dict[str, Any] = {
        "benchmark": "ws_bench",
        "date": started.isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "open_file_limit": fd_limit},
        "load_average_before": ruler.load_average(),
        "settings": settings | {"servers": SERVERS, "workers_per_server": WORKERS},
    }
    work = Path(tempfile.mkdtemp(prefix="ws-bench-"))
    redis = PrivateRedis(work / "redis", work / "redis.log")
    with (
        own_database(f"ws_bench_{secrets.token_hex(4)}") as database_url,
        contextlib.ExitStack() as stack,
    ):
        redis.start()
        stack.callback(redis.stop)
        env = server_env(
            database_url=database_url, redis_url=redis.url(0),
            key_prefix=f"wsb{secrets.token_hex(3)}", pool=args.pool,
        )  # fmt: skip
        log(f"loading bench.dataset --preset {args.preset} into {database_url.rsplit('/', 1)[1]}")
        run_checked([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], env=env)
        users = ["--users", str(args.users)] if args.users else []
        run_checked(
            [sys.executable, "-m", "bench.dataset", "--preset", args.preset, *users], env=env
        )
        tokens = mint_tokens(env)
        result["channel_layer"] = channel_layer_settings()
        per_user = math.ceil(args.sockets / len(tokens))
        env["SOCKETS_PER_USER"] = str(max(20, per_user))
        servers = [
            stack.enter_context(
                Server("uvicorn", PRODUCT, WORKERS, env, work / f"server-{i}.log", WS_OPTIONS)
            )
            for i in range(SERVERS)
        ]
        for server in servers:
            server.wait_ready()
        log(f"{len(tokens)} users, {per_user} sockets each at most")
        groups = {"servers": [s.proc.pid for s in servers], "redis": [redis.proc.pid]}
        result["dataset"] = {"preset": args.preset, "users": len(tokens)}
        result.update(
            asyncio.run(asyncio.wait_for(measure(args, servers, tokens, groups), args.timeout))
        )
    result["load_average_after"] = ruler.load_average()
    # Warnings the servers logged (the closing of every socket at the end included).
    logs = "".join(path.read_text(errors="replace") for path in work.glob("server-*.log"))
    result["server_log"] = log_summary(logs)
    result["broken"] = judge(result)
    paths = write_results(result, args.out)
    for key in ("open", "send", "frames", "latency_ms", "memory", "server_log"):
        print(f"{key}: {json.dumps(result[key])}")
    print("\n" + report.socket_table([result]))
    broken = result["broken"]
    print("\n".join(["BROKEN:", *(f"  - {b}" for b in broken)]) if broken else "nothing broken")
    log(f"wrote {', '.join(map(str, paths))} (server logs in {work})")
    return 1 if broken else 0


if __name__ == "__main__":
    # A SIGTERM stops the run as Ctrl-C does: servers, Redis and database go on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
