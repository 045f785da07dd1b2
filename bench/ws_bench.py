"""The real-time socket under load: N open sockets, M messages, latency and memory.

    python -m bench.ws_bench --sockets 1000 --messages 200 --out bench/results/ws.json

Starts its own `uvicorn config.asgi:application` (one process, DEBUG off) on
127.0.0.1 with the environment's settings: DATABASE_URL and REDIS_URL when set
(the Redis channel layer, as in production), else a fresh SQLite file and the
in-memory layer; DJANGO_SETTINGS_MODULE when set, else config.settings.base.
It creates one sender and N receivers (bulk, with one password hash), opens one
`?token=` socket per receiver, then sends M messages through the server's API
(`POST /api/v1/messages/`, a few at a time), round-robin over the receivers, and
times every `message.created` frame:

- latency from commit: frame arrival minus the message's own `timestamp`, which
  the server sets inside the sending transaction before its INSERT, so this is
  an upper bound: it also counts the transaction's own writes before the commit
  (10 to 25 ms on a 2-core machine with PostgreSQL);
- latency from send: frame arrival minus the moment the client started the POST.

Both clocks are this machine's. Memory per socket is the server's resident set
(VmRSS from /proc) with the N sockets open, minus the same after a warm-up, over
N. Clients offer permessage-deflate as browsers do (`--no-compression` turns it
off). Without the API (404), messages go through `services.message_send` in this
process instead, which reaches the server only through Redis.

Bounded: every phase has a time limit (`--timeout` overall). Only 127.0.0.1 is
contacted; the server is stopped and the users it made are deleted (or the
SQLite file removed) before it returns. Writes JSON to `--out` and prints a
small markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import resource
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
PASSWORD = "ws-bench-password-not-secret"
#: Far above the load: the benchmark measures delivery, not the throttles.
GENEROUS_RATE = "1000000/min"


def log(message: str) -> None:
    print(f"[ws_bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000, help="open sockets (one per user)")
    parser.add_argument("--messages", type=int, default=200, help="messages to send")
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight at once")
    parser.add_argument(
        "--rate", type=float, default=0, help="messages per second (0: as fast as the sends go)"
    )
    parser.add_argument("--open-concurrency", type=int, default=64, help="handshakes at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the whole run")
    parser.add_argument("--no-compression", action="store_true", help="no permessage-deflate")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ws.json")
    return parser.parse_args(argv)


# Environment and data ----------------------------------------------------------


class Setup:
    """Settings, database and people shared by this process and the server it starts."""

    def __init__(self, sockets: int):
        self.sockets = sockets
        self.tempdir: tempfile.TemporaryDirectory | None = None
        self.env: dict[str, str] = {}
        self.prefix = f"wsb{secrets.token_hex(3)}"
        self.sender: dict[str, Any] = {}
        self.receivers: list[dict[str, Any]] = []

    def configure(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
        if not os.environ.get("DATABASE_URL"):
            self.tempdir = tempfile.TemporaryDirectory(prefix="ws-bench-")
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(self.tempdir.name) / 'ws.sqlite3'}"
        os.environ.update(
            DEBUG="false",
            # Tokens minted here outlive the run.
            JWT_ACCESS_MINUTES="120",
            RATE_LIMIT_AUTH=GENEROUS_RATE,
            RATE_LIMIT_SEND=GENEROUS_RATE,
            RATE_LIMIT_USER=GENEROUS_RATE,
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.conf import settings

        self.env = dict(os.environ)
        # The key the settings module chose, so tokens minted here verify there.
        self.env["SECRET_KEY"] = settings.SECRET_KEY
        self.env.setdefault("PYTHONUNBUFFERED", "1")

    def describe(self) -> dict[str, str]:
        from django.conf import settings
        from django.db import connection

        return {
            "settings": os.environ["DJANGO_SETTINGS_MODULE"],
            "database": connection.vendor,
            "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
        }

    def create_people(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.hashers import make_password
        from django.core.management import call_command
        from django.db import connections
        from rest_framework_simplejwt.tokens import AccessToken

        # A no-op on a database that is up to date (such as the one bench.run prepares).
        call_command("migrate", verbosity=0, interactive=False)
        User = get_user_model()
        hashed = make_password(PASSWORD)
        names = [f"{self.prefix}s"] + [f"{self.prefix}r{i}" for i in range(self.sockets)]
        User.objects.bulk_create(
            [User(username=name, password=hashed) for name in names], batch_size=500
        )
        people = {
            user.username: {
                "id": user.pk,
                "username": user.username,
                "token": str(AccessToken.for_user(user)),
            }
            for user in User.objects.filter(username__in=names)
        }
        self.sender = people[names[0]]
        self.receivers = [people[name] for name in names[1:]]
        connections.close_all()

    def cleanup(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db import connections

        try:
            if self.tempdir is None and (self.sender or self.receivers):
                # Their messages and notifications go with them (cascades).
                get_user_model().objects.filter(username__startswith=self.prefix).delete()
        finally:
            connections.close_all()
            if self.tempdir is not None:
                self.tempdir.cleanup()


# The server --------------------------------------------------------------------


def raise_open_file_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class Server:
    """One uvicorn process serving config.asgi on a free loopback port."""

    def __init__(self, env: dict[str, str], logfile: Path):
        self.env, self.logfile = env, logfile
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self._log = self.logfile.open("wb")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
                *("--host", HOST, "--port", str(self.port), "--lifespan", "off"),
                *("--no-access-log", "--log-level", "warning"),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if http_call(self.port, "GET", "/healthz")[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer in {timeout:.0f} s: {self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")[-2000:]
        return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    # What a TLS-terminating proxy adds: production settings redirect plain HTTP.
    "X-Forwarded-Proto": "https",
}


def http_call(port: int, method: str, path: str, body=None, token: str | None = None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=30)
    headers = dict(HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if own:
            conn.close()


# Sockets -----------------------------------------------------------------------


class Receiver:
    """One open socket; records the arrival of every message.created frame."""

    def __init__(self, username: str, ws, arrivals: list[tuple[float, dict]]):
        self.username, self.ws, self.arrivals = username, ws, arrivals
        self.task: asyncio.Task | None = None

    async def listen(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                arrived = time.time()
                frame = json.loads(raw)
                if frame.get("type") == "message.created":
                    self.arrivals.append((arrived, frame["data"]))


async def open_sockets(port, receivers, args, arrivals) -> tuple[list[Receiver], list[str]]:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(args.open_concurrency)
    opened: list[Receiver] = []
    errors: list[str] = []

    async def open_one(person) -> None:
        url = f"ws://{HOST}:{port}/ws/events/?token={person['token']}"
        async with gate:
            try:
                ws = await connect(
                    url,
                    open_timeout=30,
                    ping_interval=None,
                    max_queue=64,
                    compression=None if args.no_compression else "deflate",
                )
                # A pong proves the server accepted (and did not close with 4401).
                await ws.send('{"type":"ping"}')
                async with asyncio.timeout(30):
                    answer = json.loads(await ws.recv())
                assert answer == {"type": "pong"}, answer
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")
                return
        receiver = Receiver(person["username"], ws, arrivals)
        receiver.task = asyncio.create_task(receiver.listen())
        opened.append(receiver)

    await asyncio.gather(*(open_one(person) for person in receivers))
    return opened, errors


async def close_sockets(opened: list[Receiver]) -> None:
    async def close_one(receiver: Receiver) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await receiver.ws.close()
        if receiver.task is not None:
            receiver.task.cancel()

    await asyncio.gather(*(close_one(receiver) for receiver in opened))


# Sending -----------------------------------------------------------------------


class HttpSender:
    """POST /api/v1/messages/ on keep-alive connections, one per worker thread."""

    path = "http"

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.local = threading.local()

    def send(self, receiver: str, content: str) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        body = {"receiver": receiver, "content": content}
        try:
            status, answer = http_call(
                self.port, "POST", "/api/v1/messages/", body, self.token, conn
            )
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            raise
        if status != 201:
            raise RuntimeError(f"POST /api/v1/messages/ answered {status}: {answer[:200]!r}")


class ServiceSender:
    """`services.message_send` in this process: reaches the server only through Redis."""

    path = "service"

    def __init__(self, sender_id: int):
        from django.contrib.auth import get_user_model

        self.sender = get_user_model().objects.get(pk=sender_id)

    def send(self, receiver: str, content: str) -> None:
        from django.db import close_old_connections

        from messaging import services

        close_old_connections()
        services.message_send(sender=self.sender, receiver=receiver, content=content)


async def send_messages(
    sender, setup: Setup, count: int, concurrency: int, rate: float
) -> dict[str, float]:
    """Sends `count` messages (paced at `rate` a second, if given); when each started."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    started: dict[str, float] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def worker() -> None:
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if rate > 0:
                await asyncio.sleep(max(0.0, begin + index / rate - loop.time()))
            receiver = setup.receivers[index % len(setup.receivers)]["username"]
            content = f"ws-bench {setup.prefix} #{index}"
            started[content] = time.time()
            await loop.run_in_executor(None, sender.send, receiver, content)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started


# Measuring ---------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "p50": round(at(0.50), 2),
        "p99": round(at(0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def measure(args, setup: Setup, server: Server) -> dict[str, Any]:
    port, pid = server.port, server.proc.pid
    result: dict[str, Any] = {}
    warmup_arrivals: list[tuple[float, dict]] = []

    log("warming up")
    warm, errors = await open_sockets(port, setup.receivers[:8], args, warmup_arrivals)
    if errors:
        raise RuntimeError(f"warm-up sockets failed: {errors[:3]}")
    status, _ = await asyncio.to_thread(
        http_call,
        port,
        "POST",
        "/api/v1/messages/",
        {"receiver": setup.receivers[0]["username"], "content": "warm-up"},
        setup.sender["token"],
    )
    if status == 201:
        sender = HttpSender(port, setup.sender["token"])
    elif status == 404:
        if setup.describe()["channel_layer"] == "InMemoryChannelLayer":
            raise RuntimeError(
                "POST /api/v1/messages/ answered 404 and there is no REDIS_URL: "
                "nothing in this process can reach the server's sockets"
            )
        log("POST /api/v1/messages/ answered 404: sending through the service instead")
        sender = await asyncio.to_thread(ServiceSender, setup.sender["id"])
        await asyncio.to_thread(sender.send, setup.receivers[0]["username"], "warm-up")
    else:
        raise RuntimeError(f"warm-up POST /api/v1/messages/ answered {status}")
    async with asyncio.timeout(10):
        while not warmup_arrivals:
            await asyncio.sleep(0.05)
    await close_sockets(warm)
    await asyncio.sleep(1.0)
    baseline = rss_kb(pid)

    log(f"opening {args.sockets} sockets")
    arrivals: list[tuple[float, dict]] = []
    opened_at = time.monotonic()
    opened, errors = await open_sockets(port, setup.receivers, args, arrivals)
    result["open_s"] = round(time.monotonic() - opened_at, 2)
    result["opened"] = len(opened)
    result["open_errors"] = len(errors)
    if errors:
        result["open_error_examples"] = sorted(set(errors))[:3]
    await asyncio.sleep(1.0)
    with_sockets = rss_kb(pid)
    log(f"{len(opened)} sockets open in {result['open_s']} s; sending {args.messages} messages")
    listening = {receiver.username for receiver in opened}
    expected = sum(
        1
        for index in range(args.messages)
        if setup.receivers[index % len(setup.receivers)]["username"] in listening
    )

    try:
        sent_at = time.monotonic()
        started = await send_messages(sender, setup, args.messages, args.concurrency, args.rate)
        result["send_s"] = round(time.monotonic() - sent_at, 2)
        result["sends_per_s"] = round(args.messages / max(result["send_s"], 1e-9), 1)
        # Every socket that should hear of a message has until then, plus a grace second.
        async with asyncio.timeout(10):
            while len(arrivals) < expected:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
    except TimeoutError:
        log("not every frame arrived within 10 s of the last send")
    after_messages = rss_kb(pid)

    ours = [(arrived, data) for arrived, data in arrivals if data["content"] in started]
    from_commit = [1000 * (arrived - parse_time(data["timestamp"])) for arrived, data in ours]
    from_send = [1000 * (arrived - started[data["content"]]) for arrived, data in ours]
    result.update(
        send_path=sender.path,
        delivered=len({data["id"] for _, data in ours}),
        expected=expected,
        latency_ms={"from_commit": percentiles(from_commit), "from_send": percentiles(from_send)},
        within_1s=round(sum(1 for v in from_commit if v <= 1000) / max(1, len(from_commit)), 4),
        memory={
            "server_rss_baseline_mb": round(baseline / 1024, 1),
            "server_rss_with_sockets_mb": round(with_sockets / 1024, 1),
            "server_rss_after_messages_mb": round(after_messages / 1024, 1),
            "per_socket_kb": round((with_sockets - baseline) / max(1, len(opened)), 1),
        },
    )
    log("closing sockets")
    await close_sockets(opened)
    # The server leaves the sockets' groups before it is stopped.
    await asyncio.sleep(1.0)
    return result


def markdown(result: dict[str, Any]) -> str:
    latency, memory = result["latency_ms"], result["memory"]
    rows = [
        ("sockets open", f"{result['opened']} / {result['sockets']} in {result['open_s']} s"),
        (
            "messages delivered",
            f"{result['delivered']} / {result['expected']} ({result['sends_per_s']}/s over "
            f"{result['send_s']} s, via {result['send_path']}, {result['concurrency']} at once)",
        ),
        ("latency commit -> frame p50 / p99", _pair(latency["from_commit"])),
        ("latency send -> frame p50 / p99", _pair(latency["from_send"])),
        ("frames within 1 s of commit", f"{100 * result['within_1s']:.1f}%"),
        ("server memory per socket", f"{memory['per_socket_kb']} KiB"),
        (
            "server RSS baseline -> with sockets",
            f"{memory['server_rss_baseline_mb']} -> {memory['server_rss_with_sockets_mb']} MiB",
        ),
        ("stack", f"{result['database']}, {result['channel_layer']}, {result['settings']}"),
        ("load average (1 min) at start", f"{result['machine']['load_average_at_start'][0]}"),
    ]
    lines = ["| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def _pair(stats: dict[str, float | None]) -> str:
    if stats["p50"] is None:
        return "n/a"
    return f"{stats['p50']:.1f} / {stats['p99']:.1f} ms (max {stats['max']:.1f})"


# Main --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sockets < 1 or args.messages < 1 or args.concurrency < 1:
        raise SystemExit("--sockets, --messages and --concurrency must be at least 1")
    limit = raise_open_file_limit(args.sockets * 2 + 256)
    if limit < args.sockets + 128:
        raise SystemExit(f"the open-file limit ({limit}) is too low for {args.sockets} sockets")
    setup = Setup(args.sockets)
    setup.configure()
    described = setup.describe()
    result: dict[str, Any] = {
        "benchmark": "ws_bench",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "sockets": args.sockets,
        "messages": args.messages,
        "concurrency": args.concurrency,
        "rate": args.rate or None,
        "compression": None if args.no_compression else "permessage-deflate",
        **described,
        "notes": [
            "latency from commit: frame arrival minus the message's timestamp, set in the "
            "sending transaction before its INSERT: an upper bound that also counts the "
            "transaction's writes before the commit",
            "latency from send: frame arrival minus the start of the client's POST",
            "memory per socket: server VmRSS with the sockets open minus after warm-up, / N",
            "the clients run on the same cores as the server",
        ],
    }
    server = None
    logdir = Path(tempfile.mkdtemp(prefix="ws-bench-log-"))
    try:
        log(f"creating {args.sockets + 1} users ({described['database']})")
        setup.create_people()
        server = Server(setup.env, logdir / "server.log")
        server.start()
        log(f"server on {HOST}:{server.port} (pid {server.proc.pid}, {described['channel_layer']})")
        result.update(asyncio.run(asyncio.wait_for(measure(args, setup, server), args.timeout)))
    except BaseException:
        if server is not None:
            print(f"server log (tail):\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.stop()
        setup.cleanup()
        for path in logdir.glob("*"):
            path.unlink()
        logdir.rmdir()
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
