"""Two server processes sharing Redis deliver to each other's sockets.

Starts two `uvicorn config.asgi:application` processes (as `make run` serves the
app) on one file SQLite database and the REDIS_URL channel layer, connects Bob's
socket to server B, sends Alice's message through server A and expects the frame
on B. Skipped without REDIS_URL: with the in-memory layer each process hears only
its own events, which is the documented single-process default.

The test database pytest prepares is inside the test's transaction and invisible
to other processes, so the servers get a database of their own, migrated and
filled by `manage.py` in subprocesses.
"""

from __future__ import annotations

import asyncio
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
import warnings
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not REDIS_URL,
        reason="needs REDIS_URL: two server processes reach each other's sockets only through "
        "the Redis channel layer",
    ),
]

BASE_DIR = Path(__file__).resolve().parents[2]
#: channels_redis blocks 5 s in BZPOPMIN waiting for events; a socket must outlive that.
IDLE_LONGER_THAN_A_BLOCKING_READ = 6.5
DELIVERY_BUDGET = 2.0  # seconds from the commit (the send answered) to the frame elsewhere
START_TIMEOUT = 60.0

SETUP_PEOPLE = """
import json
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import AccessToken
User = get_user_model()
people = {}
for name in ("alice", "bob", "carol"):
    user = User.objects.create_user(name, f"{name}@example.com", "correct horse battery staple")
    people[name] = {"id": user.pk, "token": str(AccessToken.for_user(user))}
print("PEOPLE=" + json.dumps(people))
"""

SEND_WITH_SERVICE = """
from django.contrib.auth import get_user_model
from messaging import services
User = get_user_model()
services.message_send(
    sender=User.objects.get(username="alice"), receiver="bob", content={content!r}
)
"""

DELETE_ACCOUNT = """
from django.contrib.auth import get_user_model
from messaging import services
services.delete_user(
    user=get_user_model().objects.get(username="carol"), password="correct horse battery staple"
)
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


class Servers:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            # The settings this test run uses (pytest-django exports them).
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "config.settings.test"
            ),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'realtime.sqlite3'}",
            "REDIS_URL": REDIS_URL,
            # Keys of their own on a Redis that other runs may share.
            "CACHE_KEY_PREFIX": f"rt-multiprocess-{secrets.token_hex(4)}",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.people: dict[str, dict] = {}

    def start(self) -> None:
        manage(self.env, "migrate", "--no-input", "-v", "0")
        output = manage(self.env, "shell", "-c", SETUP_PEOPLE)
        line = next(line for line in output.splitlines() if line.startswith("PEOPLE="))
        self.people = json.loads(line.removeprefix("PEOPLE="))
        for name in ("a", "b"):
            port = free_port()
            log = open(self.tmp_path / f"server-{name}.log", "wb")  # noqa: SIM115 (closed in stop)
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "config.asgi:application"),
                    *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"),
                    *("--log-level", "warning", "--no-access-log"),
                ],
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
            http(port, "GET", "/api/v1/users/me/", token=self.people["alice"]["token"])

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


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    running = Servers(tmp_path_factory.mktemp("realtime-servers"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


async def next_frame(ws, wanted: str, within: float) -> dict:
    async with asyncio.timeout(within):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == wanted:
                return frame


def send_through_server_a(servers: Servers, content: str) -> str:
    """POST /api/v1/messages/ to server A; the service in a `manage.py shell` if that is 404."""
    status, body = http(
        servers.ports[0],
        "POST",
        "/api/v1/messages/",
        {"receiver": "bob", "content": content},
        token=servers.people["alice"]["token"],
    )
    if status == 404:
        warnings.warn(
            "POST /api/v1/messages/ answered 404 on server A: sent through the service in a "
            "`manage.py shell` process instead (still a third process, through Redis)",
            stacklevel=2,
        )
        manage(servers.env, "shell", "-c", SEND_WITH_SERVICE.format(content=content))
        return "shell"
    assert status == 201, (status, body)
    return "http"


def delete_carol_through_server_a(servers: Servers) -> str:
    """DELETE /api/v1/users/me/ on server A; the service in a `manage.py shell` if that is 404."""
    status, body = http(
        servers.ports[0],
        "DELETE",
        "/api/v1/users/me/",
        {"password": "correct horse battery staple"},
        token=servers.people["carol"]["token"],
    )
    if status in (404, 405):
        warnings.warn(
            f"DELETE /api/v1/users/me/ answered {status} on server A: deleted through the "
            "service in a `manage.py shell` process instead",
            stacklevel=2,
        )
        manage(servers.env, "shell", "-c", DELETE_ACCOUNT)
        return "shell"
    assert status == 204, (status, body)
    return "http"


async def test_a_message_sent_through_one_server_reaches_a_socket_on_the_other(servers):
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{servers.ports[1]}/ws/events/?token={servers.people['bob']['token']}"
    with servers.explained():
        async with connect(url, open_timeout=10) as ws:
            content = f"across processes {secrets.token_hex(4)}"

            await asyncio.to_thread(send_through_server_a, servers, content)
            # The send has committed by the time it answers; the frame may already be here.
            frame = await next_frame(ws, "message.created", within=DELIVERY_BUDGET)

    assert (frame["data"]["sender"], frame["data"]["receiver"]) == ("alice", "bob")
    assert frame["data"]["content"] == content


async def test_an_idle_socket_stays_open_and_still_receives(servers):
    """Nothing happens for longer than the layer's blocking read: the socket lives on.

    With redis-py 8's default 5 s socket timeout on the layer's connections, the
    read raced the 5 s BZPOPMIN and crashed the consumer of an idle socket
    (django/channels_redis#422); the settings turn that timeout off.
    """
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{servers.ports[1]}/ws/events/?token={servers.people['bob']['token']}"
    with servers.explained():
        async with connect(url, open_timeout=10) as ws:
            await asyncio.sleep(IDLE_LONGER_THAN_A_BLOCKING_READ)
            content = f"after a quiet while {secrets.token_hex(4)}"

            await asyncio.to_thread(send_through_server_a, servers, content)
            frame = await next_frame(ws, "message.created", within=DELIVERY_BUDGET)

    assert frame["data"]["content"] == content


async def test_deleting_an_account_elsewhere_closes_its_socket_on_another_server(servers):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{servers.ports[1]}/ws/events/?token={servers.people['carol']['token']}"
    with servers.explained():
        with pytest.raises(ConnectionClosed) as closed:
            async with connect(url, open_timeout=10) as ws:
                await asyncio.to_thread(delete_carol_through_server_a, servers)
                async with asyncio.timeout(DELIVERY_BUDGET):
                    while True:
                        await ws.recv()

        assert closed.value.rcvd is not None, closed.value
        assert closed.value.rcvd.code == 4401


async def test_a_bad_token_is_closed_with_4401_by_a_real_server(servers):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = f"ws://127.0.0.1:{servers.ports[0]}/ws/events/?token=not-a-jwt"
    with servers.explained():
        with pytest.raises(ConnectionClosed) as closed:
            async with connect(url, open_timeout=10) as ws:
                async with asyncio.timeout(DELIVERY_BUDGET):
                    await ws.recv()

        assert closed.value.rcvd is not None, closed.value
        assert closed.value.rcvd.code == 4401
