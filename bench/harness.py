"""What the benchmark runs share: the processes they start, and one HTTP client.

- `Server`: a server shape (uvicorn, gunicorn) serving a stack, in a process group of its
  own on a free loopback port; `PrivateRedis` and `PrivatePostgres`: a redis-server and a
  PostgreSQL cluster of the run's own, in temporary directories (the machine's shared
  servers are never stopped or restarted); `own_database`: a database of the run's own
  on the machine's PostgreSQL; `run_checked`: a command that must succeed;
- `server_env` and `prepare_database`: the environment of a production-shaped server
  (`bench.settings`) and its migrated database;
- `Http`: one keep-alive connection per thread, every answer recorded with its timing;
- `SocketFleet`: `/ws/events/` clients on an event loop of their own that reconnect
  after a drop and record every frame, drop and reconnection.

Every process started here is stopped by its owner (`with`, `stop()`, `cleanup()`), in
`finally` blocks. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import math
import os
import pwd
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
#: The TLS-terminating proxy's header: production settings redirect requests without it.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: The machine's PostgreSQL, for databases of a run's own (`own_database`).
PG_URL = f"postgres://postgres@{HOST}:5432"
PASSWORD = "harness-password-not-secret-7"
#: The pages' reconnection delay (live.js BASE_DELAY), in seconds.
RECONNECT_BASE = 1.0


def percentile(values: Iterable[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least `pct`% of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(pct / 100 * len(ordered) - 1e-9)
    return ordered[min(len(ordered), max(1, rank)) - 1]


def run_checked(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    logfile: Path | None = None,
) -> str:
    """`cmd` from the repository's root, within `timeout` s; its standard output. Its output
    is appended to `logfile` when given; a failure raises, saying why."""
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if logfile is not None:
        with logfile.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stop_group(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the process group started with `proc`, then SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


# Servers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    name: str
    settings: str
    asgi: str
    wsgi: str


def server_command(shape: str, stack: Stack, port: int, workers: int) -> list[str]:
    if shape == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", stack.asgi, "--host", HOST, "--port", str(port)),
            *("--workers", str(workers), "--lifespan", "off", "--no-access-log"),
            *("--log-level", "warning"),
        ]
    if shape == "gunicorn":
        return [
            *(sys.executable, "-m", "gunicorn", stack.wsgi, "--bind", f"{HOST}:{port}"),
            *("--workers", str(workers), "--worker-class", "sync", "--log-level", "warning"),
        ]
    raise ValueError(f"unknown server shape {shape!r}")


class Server:
    """One server shape serving one stack, in a process group of its own; `options` are
    added to the server's command line (e.g. uvicorn's `--ws-max-size 4096`)."""

    def __init__(
        self,
        shape: str,
        stack: Stack,
        workers: int,
        env: dict[str, str],
        logfile: Path,
        options: Sequence[str] = (),
    ):
        self.port = free_port()
        self.cmd = [*server_command(shape, stack, self.port, workers), *options]
        self.env, self.logfile = env, logfile
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        with self.logfile.open("ab") as out:
            out.write(f"$ {' '.join(self.cmd)}\n".encode())
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(
        self,
        path: str = "/healthz",
        *,
        cookie: str | None = None,
        body: bytes | None = None,
        timeout: float = 60,
    ) -> None:
        """Poll `path` until it answers 200 (with `body`, when given), or fail at the deadline."""
        assert self.proc is not None
        http = Http(self.port, timeout=5)
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}; {self.logfile})")
            answer = http.call("GET", path, headers={"Cookie": cookie} if cookie else None)
            if answer.status == 200 and body in (None, answer.body):
                return
            last = answer.error or f"{answer.status} {answer.body[:200]!r}"
            time.sleep(0.1)
        raise RuntimeError(f"{path} did not answer in {timeout:.0f} s: {last} ({self.logfile})")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_group(self.proc, grace=10)


# Redis -------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the run's own; `kill()` is the fault, `start()` the recovery.

    It keeps no snapshot of its own (`--save ""`); `snapshot()` writes one on demand, so a
    restart can come back with the data it had, as after a restart with persistence or
    a network partition, which is when stale cache entries could be read again.
    """

    def __init__(self, workdir: Path, logfile: Path) -> None:
        self.dir = workdir
        self.logfile = logfile
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.port}/{db}"

    def start(self, timeout: float = 10) -> None:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("a") as out:
            self.proc = subprocess.Popen(
                [
                    "redis-server",
                    *("--port", str(self.port), "--bind", HOST),
                    *("--save", "", "--appendonly", "no"),
                    *("--dir", str(self.dir), "--dbfilename", "dump.rdb"),
                    *("--daemonize", "no", "--loglevel", "warning"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start (log: {self.logfile})"
                    ) from None
                time.sleep(0.05)

    def snapshot(self) -> None:
        import redis

        redis.Redis(host=HOST, port=self.port).save()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; clients see refused connections."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and connects succeed, but nothing answers (a hung
        server, or a network partition without resets)."""
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
            stop_group(self.proc, grace=2)
            self.proc = None


# PostgreSQL -------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of the run's own, initialised in a temporary directory.

    initdb and the server refuse to run as root, so as root they run as the
    `postgres` user (runuser) on a directory that user owns. `cleanup()` stops the
    server whatever state it is in and removes the directory.
    """

    def __init__(self, prefix: str = "faults-pg-") -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.dir / "data"
        self.logfile = self.dir / "postgres.log"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    def _pg(self, tool: str, *args: str, timeout: float = 60) -> str:
        return run_checked([*self._as_postgres, str(PG_BIN / tool), *args], timeout=timeout)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@{HOST}:{self.port}/{dbname}"

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses={HOST} -c max_connections=60"
        self._pg(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "30",
            "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", dbname=dbname, autocommit=True,
            connect_timeout=5,
        )  # fmt: skip

    def cleanup(self) -> None:
        try:
            if self.running():
                with contextlib.suppress(Exception):
                    self.stop("immediate")
            pidfile = self.data / "postmaster.pid"
            if pidfile.exists():  # pg_ctl could not stop it: the postmaster's own pid
                with contextlib.suppress(ValueError, ProcessLookupError, OSError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def own_database(name: str, keep: bool = False):
    """Database `name` on the machine's PostgreSQL, made afresh; its URL. Dropped on the
    way out unless `keep` (a failure to drop it is reported, not raised: the run's results
    are still written)."""
    import psycopg
    from psycopg import sql

    def admin(statement: str) -> None:
        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    admin("CREATE DATABASE {}")
    try:
        yield f"{PG_URL}/{name}"
    finally:
        if not keep:
            try:
                admin("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            except psycopg.Error as error:
                print(f"could not drop database {name}: {error}", file=sys.stderr)


# The server -------------------------------------------------------------------


def server_env(
    *, database_url: str, redis_url: str, key_prefix: str, pool: int, log_level: str = "WARNING"
) -> dict[str, str]:
    """The environment of a production-shaped server (bench.settings: production settings,
    DEBUG off, throttles far above the load)."""
    env = dict(os.environ)
    for name in ("DB_POOL_MAX_SIZE", "DB_CONN_MAX_AGE"):
        env.pop(name, None)
    if pool:
        env["DB_POOL_MAX_SIZE"] = str(pool)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CACHE_KEY_PREFIX=key_prefix,
        DEBUG="false",
        JWT_ACCESS_MINUTES="240",
        LOG_LEVEL=log_level,
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_database(env: dict[str, str], logfile: Path) -> None:
    """Migrate, and collect the static files production's manifest storage needs."""
    for command in ("migrate", "collectstatic"):
        cmd = [sys.executable, "manage.py", command, "--no-input", "-v0"]
        run_checked(cmd, env=env, timeout=300, logfile=logfile)


def log_summary(text: str) -> dict[str, Any]:
    """Counts of the server log lines a run looks for (levels, known warnings)."""
    patterns = {
        "cache_unavailable": r"WARNING \S+ cache unavailable",
        "channel_layer_unavailable": r"WARNING \S+ channel layer unavailable",
        # A pooled Redis connection that died with an earlier Redis process, used again.
        "redis_connection_closed_by_server": r"ConnectionError: Connection closed by server",
        "database_unavailable": r"WARNING \S+ database unavailable",
        "readiness_database_unavailable": r"readiness: database unavailable",
        "asgi_exceptions": r"Exception in ASGI application",
        "error_lines": r"^\S+ \S+ ERROR ",
        "tracebacks": r"^Traceback \(most recent call last\)",
    }
    return {name: len(re.findall(p, text, re.M)) for name, p in patterns.items()}


def first_lines(text: str, pattern: str, limit: int = 3) -> list[str]:
    return [line[:300] for line in text.splitlines() if re.search(pattern, line)][:limit]


# HTTP clients -----------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (see `error`)
    body: bytes
    headers: dict[str, str]
    t0: float
    t1: float
    error: str = ""

    @property
    def elapsed(self) -> float:
        return self.t1 - self.t0

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Record:
    kind: str
    user: str
    status: int
    t0: float
    t1: float
    error: str = ""
    note: str = ""


class Http:
    """Requests to the server on one keep-alive connection per thread, each one recorded in
    `records` (list.append is atomic) when given."""

    def __init__(self, port: int, records: list[Record] | None = None, timeout: float = 30):
        self.port, self.records, self.timeout = port, records, timeout
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(
                HOST, self.port, timeout=self.timeout
            )
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def call(
        self,
        method: str,
        path: str,
        *,
        kind: str = "",
        user: str = "",
        token: str | None = None,
        cookies: dict[str, str] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """One request (`body`, or `json_body` or `form` encoded), recorded when `records`."""
        all_headers = {"Accept": "application/json", **PROXY_HEADERS, **(headers or {})}
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        if cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.monotonic()
        try:
            conn = self._conn()
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            answer = Answer(response.status, data, _headers(response), t0, time.monotonic())
            if response.getheader("Connection", "").lower() == "close":
                self._drop()
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            answer = Answer(0, b"", {}, t0, time.monotonic(), f"{type(error).__name__}: {error}")
        if self.records is not None:
            note = ""
            if answer.status in (429, 503):
                # What a client needs to back off: Retry-After, and a body it can read.
                note = f"{answer.headers.get('retry-after')}|{answer.headers.get('content-type')}"
            self.records.append(
                Record(
                    kind or method, user, answer.status, answer.t0, answer.t1, answer.error, note
                )
            )
        return answer


def _headers(response: http.client.HTTPResponse) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in response.getheaders():
        name = name.lower()
        found[name] = f"{found[name]}\n{value}" if name in found else value
    return found


def set_cookies(answer: Answer) -> dict[str, str]:
    """name -> value of every Set-Cookie (Secure cookies too: this client is the proxy's side)."""
    cookies = {}
    for line in answer.headers.get("set-cookie", "").split("\n"):
        if "=" in line:
            name, _, rest = line.partition("=")
            cookies[name.strip()] = rest.split(";", 1)[0]
    return cookies


@dataclass
class Person:
    username: str
    token: str = ""
    cookies: dict[str, str] = field(default_factory=dict)


def register(http_: Http, username: str, password: str = PASSWORD) -> Person:
    answer = http_.call(
        "POST", "/api/v1/auth/register/", kind="register",
        json_body={"username": username, "password": password},
    )  # fmt: skip
    if answer.status != 201:
        raise RuntimeError(f"register {username}: {answer.status} {answer.body[:300]!r}")
    person = Person(username)
    answer = http_.call(
        "POST", "/api/v1/auth/token/", kind="token",
        json_body={"username": username, "password": password},
    )  # fmt: skip
    if answer.status != 200:
        raise RuntimeError(f"token {username}: {answer.status} {answer.body[:300]!r}")
    person.token = answer.json()["access"]
    return person


def page_login(http_: Http, person: Person, password: str = PASSWORD) -> None:
    """Log in through the page's form (Django's CSRF check included): a session cookie."""
    answer = http_.call("GET", "/accounts/login/", kind="login-page")
    cookies = set_cookies(answer)
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', answer.body)
    if answer.status != 200 or not match or "csrftoken" not in cookies:
        raise RuntimeError(f"login page: {answer.status}")
    origin = f"https://{HOST}:{http_.port}"
    answer = http_.call(
        "POST", "/accounts/login/", kind="login",
        cookies=cookies,
        form={
            "username": person.username, "password": password,
            "csrfmiddlewaretoken": match[1].decode(),
        },
        headers={"Origin": origin, "Referer": f"{origin}/accounts/login/"},
    )  # fmt: skip
    cookies.update(set_cookies(answer))
    if answer.status != 302 or "sessionid" not in cookies:
        raise RuntimeError(f"login {person.username}: {answer.status} {answer.body[:300]!r}")
    person.cookies = cookies


# Sockets ----------------------------------------------------------------------


@dataclass
class Frame:
    t: float
    type: str
    data: dict[str, Any]


class SocketClient:
    """One `/ws/events/?token=` socket that reconnects after a drop, as the pages do."""

    def __init__(self, name: str, person: Person, port: int) -> None:
        self.name, self.person, self.port = name, person, port
        self.frames: list[Frame] = []
        # [opened, closed or None, close code or error]
        self.intervals: list[list[Any]] = []
        self.failed_connects: list[tuple[float, str]] = []
        self.ws = None

    @property
    def connected(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None

    def message_ids(self) -> set[int]:
        return {int(f.data["id"]) for f in self.frames if f.type == "message.created"}

    def notified_message_ids(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for f in self.frames:
            if f.type == "notification.created":
                found.setdefault(int(f.data["message"]), []).append(f.data.get("kind", ""))
        return found

    def open_during(self, t_from: float, t_to: float) -> bool:
        return any(a <= t_from and (b is None or b >= t_to) for a, b, _ in self.intervals)

    def drops(self, t_stop: float) -> list[tuple[float, Any]]:
        """Closes the client did not ask for (closes at or after `t_stop` are its own)."""
        return [(b, code) for _a, b, code in self.intervals if b is not None and b < t_stop]

    async def run(self, stopping: asyncio.Event) -> None:
        from websockets.asyncio.client import connect

        url = f"ws://{HOST}:{self.port}/ws/events/?token={self.person.token}"
        attempt = 0
        while not stopping.is_set():
            try:
                ws = await connect(url, open_timeout=10, ping_interval=None, close_timeout=2)
            except Exception as error:
                self.failed_connects.append((time.monotonic(), f"{type(error).__name__}: {error}"))
            else:
                attempt = 0  # as the pages' live.js: an accepted handshake resets the backoff
                await self._listen(ws)
            if stopping.is_set():
                break
            # live.js's backoff: exponential with full jitter, from 1 s, at most 30 s.
            delay = RECONNECT_BASE / 2 + random.random() * min(30.0, RECONNECT_BASE * 2**attempt)
            attempt += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    async def _listen(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        interval: list[Any] = [time.monotonic(), None, None]
        self.intervals.append(interval)
        self.ws = ws
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append(
                    Frame(time.monotonic(), frame.get("type", ""), frame.get("data") or {})
                )
            interval[2] = ws.close_code
        except ConnectionClosed as closed:
            interval[2] = closed.rcvd.code if closed.rcvd else "no close frame"
        except Exception as error:
            interval[2] = f"{type(error).__name__}: {error}"
        interval[1] = time.monotonic()
        self.ws = None


class SocketFleet:
    """Socket clients on an event loop in a thread of their own."""

    def __init__(self) -> None:
        self.clients: list[SocketClient] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.stopping: asyncio.Event | None = None
        self.t_stop = float("inf")
        self._ready = threading.Event()

    def add(self, client: SocketClient) -> SocketClient:
        self.clients.append(client)
        return client

    def start(self) -> None:
        self.thread = threading.Thread(target=self._main, name="sockets", daemon=True)
        self.thread.start()
        self._ready.wait(10)

    def _main(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._run())
        self.loop.close()

    async def _run(self) -> None:
        self.stopping = asyncio.Event()
        self._ready.set()
        tasks = [asyncio.create_task(c.run(self.stopping)) for c in self.clients]
        await self.stopping.wait()
        for client in self.clients:
            if client.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.ws.close(), 3)
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()

    def wait_connected(self, timeout: float, since: float = 0.0) -> float | None:
        """Seconds until every client has a socket open since `since`; None on timeout."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if all(c.connected and c.intervals[-1][0] >= since for c in self.clients):
                return time.monotonic() - began
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        self.t_stop = time.monotonic()
        if self.loop is not None and self.stopping is not None and self.thread is not None:
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.stopping.set)
            self.thread.join(timeout=20)


def check_delivery(
    sends: list[dict[str, Any]], clients: list[SocketClient], grace: float = 2.0
) -> dict[str, Any]:
    """For every acknowledged send, each of the receiver's sockets that was open from before
    the send began until `grace` s after its answer must have had its message.created (and
    its notification.created).

    `sends` items: {"receiver", "id", "t0" (first attempt began), "t1" (acknowledged)}.
    """
    by_user: dict[str, list[SocketClient]] = {}
    for client in clients:
        by_user.setdefault(client.person.username, []).append(client)
    received = {id(c): c.message_ids() for c in clients}
    notified = {id(c): c.notified_message_ids() for c in clients}
    expected = delivered = notifications = 0
    missing = []
    for send in sends:
        for client in by_user.get(send["receiver"], []):
            if not client.open_during(send["t0"], send["t1"] + grace):
                continue
            expected += 1
            if send["id"] in received[id(client)]:
                delivered += 1
            else:
                missing.append(
                    {"socket": client.name, "message": send["id"], "receiver": send["receiver"]}
                )
            notifications += send["id"] in notified[id(client)]
    return {
        "expected": expected,
        "delivered": delivered,
        "missing": len(missing),
        "missing_examples": missing[:10],
        "notifications_expected": expected,
        "notifications_delivered": notifications,
    }


def latency_table(records: list[Record]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[Record]] = {}
    for record in records:
        kinds.setdefault(record.kind, []).append(record)
    table = {}
    for kind, items in sorted(kinds.items()):
        ms = [(r.t1 - r.t0) * 1000 for r in items]
        table[kind] = {
            "requests": len(items),
            "p50_ms": round(percentile(ms, 50) or 0, 1),
            "p99_ms": round(percentile(ms, 99) or 0, 1),
            "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.fmean(ms), 1),
        }
    return table
