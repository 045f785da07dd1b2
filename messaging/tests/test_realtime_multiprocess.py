"""Two server processes sharing Redis deliver to each other's sockets.

Starts two `uvicorn config.asgi:application` processes (as `make run` serves the
app) on one file SQLite database and the REDIS_URL channel layer, connects Bob's
socket to server B, sends Alice's message through server A and expects the frame
on B. Skipped without REDIS_URL: with the in-memory layer each process hears only
its own events, which is the documented single-process default.

The servers (`servers.py`) get a database of their own, migrated and filled by
`manage.py` in subprocesses, and are started with `--ws-max-size 4096` as the
Makefile serves the app. Logins are ended, and passwords changed, in a third
process (`manage.py shell`), through the calls the HTTP endpoints make.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import warnings

import pytest

from .servers import PASSWORD, Servers, http, manage

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(
        not REDIS_URL,
        reason="needs REDIS_URL: two server processes reach each other's sockets only through "
        "the Redis channel layer",
    ),
]

#: channels_redis blocks 5 s in BZPOPMIN waiting for events; a socket must outlive that.
IDLE_LONGER_THAN_A_BLOCKING_READ = 6.5
DELIVERY_BUDGET = 2.0  # seconds from the commit (the send answered) to the frame elsewhere
CLOSE_BUDGET = 1.0  # seconds from the commit that ends a login to its sockets' close
#: Small, so that one person's sockets on both servers go over it.
SOCKETS_PER_USER = 3

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

END_TOKEN_LOGIN = """
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework_simplejwt.tokens import RefreshToken
from messaging import auth_tokens
from messaging.realtime import publishing as realtime
refresh = RefreshToken({refresh!r})
with transaction.atomic():
    user = get_user_model().objects.get(username={username!r})
    realtime.revoke_login_on_commit(auth_tokens.end_token_login(user, refresh))
"""

CHANGE_PASSWORD = """
from django.contrib.auth import get_user_model
from django.db import transaction
from messaging.realtime import publishing as realtime
with transaction.atomic():
    user = get_user_model().objects.get(username={username!r})
    user.set_password("a brand new passphrase")
    user.save(update_fields=["password"])
    realtime.revoke_on_commit(user.pk, keep_login={keep_login!r})
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    running = Servers(
        tmp_path_factory.mktemp("realtime-servers"),
        people=("alice", "bob", "carol", "dave", "erin", "frank"),
        env={"SOCKETS_PER_USER": str(SOCKETS_PER_USER)},
    )
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
        {"password": PASSWORD},
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


async def closed_with(ws, within: float) -> int | None:
    """The close code the server sent within `within` seconds (frames before it are skipped)."""
    from websockets.exceptions import ConnectionClosed

    try:
        async with asyncio.timeout(within):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def still_open(ws) -> None:
    await ws.send(json.dumps({"type": "ping"}))
    async with asyncio.timeout(DELIVERY_BUDGET):
        while json.loads(await ws.recv()) != {"type": "pong"}:
            pass


async def test_logging_out_closes_that_logins_sockets_on_every_server(servers):
    from websockets.asyncio.client import connect

    ending, other = servers.people["dave"]["logins"]
    with servers.explained():
        async with (
            connect(servers.socket_url(1, ending["access"]), open_timeout=10) as on_b,
            connect(servers.socket_url(0, ending["access"]), open_timeout=10) as on_a,
            connect(servers.socket_url(1, other["access"]), open_timeout=10) as other_login,
        ):
            await still_open(on_b)
            await still_open(on_a)
            await asyncio.to_thread(
                servers.shell, END_TOKEN_LOGIN.format(refresh=ending["refresh"], username="dave")
            )

            assert await closed_with(on_b, CLOSE_BUDGET) == 4401
            assert await closed_with(on_a, CLOSE_BUDGET) == 4401
            await still_open(other_login)


async def test_a_password_change_closes_every_login_on_every_server(servers):
    from websockets.asyncio.client import connect

    changing, other = servers.people["erin"]["logins"]
    plain = servers.people["erin"]["token"]
    with servers.explained():
        async with (
            connect(servers.socket_url(0, changing["access"]), open_timeout=10) as kept,
            connect(servers.socket_url(1, other["access"]), open_timeout=10) as on_b,
            connect(servers.socket_url(0, plain), open_timeout=10) as on_a,
        ):
            for ws in (kept, on_b, on_a):
                await still_open(ws)
            await asyncio.to_thread(
                servers.shell,
                CHANGE_PASSWORD.format(username="erin", keep_login=changing["login_id"]),
            )

            assert await closed_with(on_b, CLOSE_BUDGET) == 4401
            assert await closed_with(on_a, CLOSE_BUDGET) == 4401
            assert await closed_with(kept, CLOSE_BUDGET) == 4000  # reconnect at once


async def test_one_socket_too_many_across_servers_closes_the_oldest(servers):
    from websockets.asyncio.client import connect

    token = servers.people["frank"]["token"]
    with servers.explained():
        async with contextlib.AsyncExitStack() as stack:
            sockets = []
            for server in (0, 1, 0):  # up to the limit, on both servers
                ws = await stack.enter_async_context(
                    connect(servers.socket_url(server, token), open_timeout=10)
                )
                await still_open(ws)
                sockets.append(ws)
            assert len(sockets) == SOCKETS_PER_USER

            newest = await stack.enter_async_context(
                connect(servers.socket_url(1, token), open_timeout=10)
            )

            assert await closed_with(sockets[0], DELIVERY_BUDGET) == 4008
            assert sockets[0].close_reason == "too many open sockets"
            for ws in (*sockets[1:], newest):
                await still_open(ws)
