"""Real server processes for socket tests: `uvicorn config.asgi:application`, as `make run`
serves the app, and `gunicorn config.wsgi:application`, as production serves HTTP.

The test database pytest prepares is inside the test's transaction and invisible
to other processes, so the servers get a file SQLite database of their own,
migrated and filled by `manage.py` in subprocesses. With REDIS_URL set they share
the Redis channel layer (and reach each other's sockets); without it each has the
in-memory layer of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
PASSWORD = "correct horse battery staple"

#: As the Makefile serves the app: client frames over 4 KiB are refused by the server.
WS_MAX_SIZE = ("--ws-max-size", "4096")

SETUP_PEOPLE = """
import json
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken
from messaging.auth_tokens import LoginRefreshToken, token_login_id
User = get_user_model()
people = {}
for name in NAMES:
    user = User.objects.create_user(name, f"{name}@example.com", PASSWORD)
    logins = []
    for _ in range(2):
        refresh = LoginRefreshToken.for_user(user)
        logins.append(
            {"access": str(refresh.access_token), "refresh": str(refresh),
             "login_id": token_login_id(refresh)}
        )
    people[name] = {"id": user.pk, "token": str(AccessToken.for_user(user)), "logins": logins}
print("PEOPLE=" + json.dumps(people))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def http(port: int, method: str, path: str, body=None, token: str | None = None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def server_command(kind: str, port: int) -> list[str]:
    if kind == "gunicorn":
        return [
            *(sys.executable, "-m", "gunicorn", "config.wsgi:application"),
            *("--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"),
        ]
    return [
        *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
        *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
        *("--log-level", "warning", "--no-access-log"),
    ]


class Servers:
    """Server processes on free ports, one per entry of `server_args` (its extra arguments):
    uvicorn (ASGI: pages, API and sockets), or gunicorn (WSGI: pages and API) where
    `kinds` says so."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        server_args: Sequence[Sequence[str]] = (WS_MAX_SIZE, WS_MAX_SIZE),
        kinds: Sequence[str] | None = None,
        people: Sequence[str] = ("alice", "bob", "carol"),
        env: dict[str, str] | None = None,
    ):
        self.tmp_path = tmp_path
        self.server_args = [list(args) for args in server_args]
        self.kinds = list(kinds or ["uvicorn"] * len(self.server_args))
        self.names = list(people)
        self.env = {
            **os.environ,
            # The settings this test run uses (pytest-django exports them).
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.test"
            ),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'realtime.sqlite3'}",
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            # Keys of their own on a Redis that other runs may share.
            "CACHE_KEY_PREFIX": f"rt-multiprocess-{secrets.token_hex(4)}",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.people: dict[str, dict] = {}

    def shell(self, code: str) -> str:
        """Python run by `manage.py shell` in a process of its own (a third one)."""
        return manage(self.env, "shell", "-c", code)

    def start(self) -> None:
        manage(self.env, "migrate", "--no-input", "-v", "0")
        setup = f"NAMES = {self.names!r}\nPASSWORD = {PASSWORD!r}\n" + SETUP_PEOPLE
        output = self.shell(setup)
        line = next(line for line in output.splitlines() if line.startswith("PEOPLE="))
        self.people = json.loads(line.removeprefix("PEOPLE="))
        for index, (kind, extra) in enumerate(zip(self.kinds, self.server_args, strict=True)):
            port = free_port()
            log = open(self.tmp_path / f"server-{index}.log", "wb")  # noqa: SIM115 (closed in stop)
            process = subprocess.Popen(
                [*server_command(kind, port), *extra],
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            process.log = log  # type: ignore[attr-defined]
            self.processes.append(process)
            self.ports.append(port)
        deadline = time.monotonic() + START_TIMEOUT
        for process, port in zip(self.processes, self.ports, strict=True):
            while True:
                assert process.poll() is None, f"server exited:\n{self.logs()}"
                try:
                    if http(port, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, f"server did not start:\n{self.logs()}"
                time.sleep(0.2)
            # The first API request imports and connects what later ones reuse.
            http(port, "GET", "/api/v1/users/me/", token=self.people[self.names[0]]["token"])

    def socket_url(self, server: int, token: str) -> str:
        return f"ws://127.0.0.1:{self.ports[server]}/ws/events/?token={token}"

    def logs(self) -> str:
        exits = ", ".join(f"server {i} exit code {p.poll()}" for i, p in enumerate(self.processes))
        return f"{exits}\n" + "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.tmp_path.glob("server-*.log"))
        )

    @contextlib.contextmanager
    def explained(self):
        """A failure carries the servers' logs."""
        try:
            yield
        except (AssertionError, TimeoutError, OSError) as error:
            raise AssertionError(f"{error!r}\n{self.logs()}") from error

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            process.log.close()
