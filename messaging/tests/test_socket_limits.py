"""What one person's sockets may take: at most SOCKETS_PER_USER open at once, client frames
of at most 4 KiB.

One socket too many closes the person's oldest with 4008 ("too many open sockets"),
wherever it is open; a frame over 4096 bytes closes its socket with 1009 ("message
too big"), in the consumer and, with `--ws-max-size 4096`, in uvicorn itself.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client

from messaging.realtime import publishing as realtime
from messaging.realtime.consumers import EventsConsumer

from .servers import WS_MAX_SIZE, Servers
from .test_realtime import (  # noqa: F401 (autouse fixtures)
    SITE,
    WITHIN,
    _fresh_channel_layer,
    _site_hosts,
    communicator,
    open_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

#: The close codes of the contract (consumers.py).
TOO_MANY_SOCKETS = 4008
MESSAGE_TOO_BIG = 1009
#: The oldest socket closes this soon after one too many opened: at once when every
#: socket of the person answers, else after the time the newest gives the others to
#: answer (`census_seconds`), and then the one-second promise.
DISPLACED_WITHIN = EventsConsumer.census_seconds + 1.0


@pytest.fixture
def limit(settings):
    settings.SOCKETS_PER_USER = 2
    return 2


async def assert_displaced(socket) -> None:
    assert await socket.receive_output(timeout=DISPLACED_WITHIN) == {
        "type": "websocket.close",
        "code": TOO_MANY_SOCKETS,
        "reason": "too many open sockets",
    }
    await socket.disconnect(code=TOO_MANY_SOCKETS)


async def assert_still_open(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WITHIN) == {"type": "pong"}


@database_sync_to_async
def session_cookie(user) -> str:
    from django.conf import settings

    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# How many sockets ----------------------------------------------------------------


async def test_one_socket_too_many_closes_the_persons_oldest(alice, bob, limit):
    oldest, older = await open_socket(bob), await open_socket(bob)
    others = [await open_socket(alice), await open_socket(alice)]

    newest = await open_socket(bob)

    await assert_displaced(oldest)
    for socket in (older, newest, *others):
        await assert_still_open(socket)
        await socket.disconnect()


async def test_every_kind_of_socket_counts_towards_the_limit(bob, limit):
    by_cookie = await open_socket(cookie=await session_cookie(bob), origin=f"https://{SITE}")
    by_token = await open_socket(bob)

    newest = await open_socket(bob)

    await assert_displaced(by_cookie)
    for socket in (by_token, newest):
        await assert_still_open(socket)
        await socket.disconnect()


async def test_sockets_a_dead_worker_left_in_the_group_do_not_count(bob, limit):
    first = await open_socket(bob)
    # A socket whose worker died: still in the user's group, never answering.
    layer = get_channel_layer()
    await layer.group_add(realtime.user_group(bob.pk), await layer.new_channel())
    second = await open_socket(bob)

    third = await open_socket(bob)

    # Had the dead one counted, the second socket would have displaced the first and
    # the third the second.
    await assert_displaced(first)
    for socket in (second, third):
        await assert_still_open(socket)
        await socket.disconnect()


async def test_sockets_opened_at_once_leave_exactly_the_limit_open(bob, settings):
    settings.SOCKETS_PER_USER = 3
    sockets = [communicator(token=token) for token in await tokens(bob, 8)]
    assert all(connected for connected, _ in await asyncio.gather(*(s.connect() for s in sockets)))

    closed = await closes_until(sockets, count=5, within=DISPLACED_WITHIN + 1)

    assert set(closed.values()) == {TOO_MANY_SOCKETS}
    for socket in sockets:
        if socket not in closed:
            await assert_still_open(socket)
    for socket in sockets:
        if socket not in closed:
            assert await socket.receive_nothing(timeout=0.3)
            await socket.disconnect()


async def test_no_socket_is_closed_within_the_limit(bob, limit):
    sockets = [await open_socket(bob), await open_socket(bob)]
    closed = await closes_until(sockets, count=1, within=DISPLACED_WITHIN)

    assert closed == {}
    for socket in sockets:
        await socket.disconnect()


async def test_a_socket_within_the_limit_asks_no_other_socket(bob, settings, monkeypatch):
    """Counting costs a message to each of the person's sockets and an answer from each, on
    the workers' shared inbound queues: it is done only when the limit may be passed."""
    settings.SOCKETS_PER_USER = 3
    layer = get_channel_layer()
    sent = []
    group_send = layer.group_send

    async def recording_group_send(group, message):
        sent.append(message["type"])
        await group_send(group, message)

    monkeypatch.setattr(layer, "group_send", recording_group_send)
    sockets = [await open_socket(bob) for _ in range(3)]

    assert sent == []
    sockets.append(await open_socket(bob))
    await assert_displaced(sockets[0])
    assert sent == ["sockets.census"]
    for socket in sockets[1:]:
        await socket.disconnect()


@database_sync_to_async
def tokens(user, count: int) -> list[str]:
    from rest_framework_simplejwt.tokens import AccessToken

    return [str(AccessToken.for_user(user)) for _ in range(count)]


async def closes_until(sockets, *, count: int, within: float) -> dict:
    """The close codes sockets received, once `count` closed or `within` seconds passed."""
    closed = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(closed) < count and loop.time() < deadline:
        for socket in sockets:
            # receive_output's timeout would cancel the application: look before reading.
            if socket not in closed and not socket.output_queue.empty():
                message = await socket.receive_output(timeout=WITHIN)
                assert message["type"] == "websocket.close", message
                closed[socket] = message["code"]
                await socket.disconnect(code=message["code"])
        await asyncio.sleep(0.02)
    return closed


# How big a frame ------------------------------------------------------------------


def ping_of(size: int) -> str:
    """A ping frame of exactly `size` bytes of UTF-8."""
    frame = json.dumps({"type": "ping", "pad": ""})
    return json.dumps({"type": "ping", "pad": "x" * (size - len(frame))})


async def assert_closed_too_big(socket) -> None:
    message = await socket.receive_output(timeout=WITHIN)
    assert (message["type"], message.get("code")) == ("websocket.close", MESSAGE_TOO_BIG)
    await socket.disconnect(code=MESSAGE_TOO_BIG)


async def test_a_text_frame_over_4_kib_closes_the_socket(bob):
    socket = await open_socket(bob)

    await socket.send_to(text_data=ping_of(5 * 1024))

    await assert_closed_too_big(socket)


async def test_a_binary_frame_over_4_kib_closes_the_socket(bob):
    socket = await open_socket(bob)

    await socket.send_to(bytes_data=b"\x00" * 4097)

    await assert_closed_too_big(socket)


async def test_the_limit_is_in_bytes_not_characters(bob):
    socket = await open_socket(bob)
    text = json.dumps({"type": "ping", "pad": "€" * 1400}, ensure_ascii=False)
    assert len(text) < 4096 < len(text.encode())

    await socket.send_to(text_data=text)

    await assert_closed_too_big(socket)


async def test_frames_up_to_4_kib_are_read(bob):
    socket = await open_socket(bob)

    for size in (1024, 4096):
        await socket.send_to(text_data=ping_of(size))
        assert await socket.receive_json_from(timeout=WITHIN) == {"type": "pong"}
    await socket.send_to(bytes_data=b"\x00" * 4096)
    assert await socket.receive_nothing(timeout=0.2)
    await assert_still_open(socket)
    await socket.disconnect()


# On a real server ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_servers(tmp_path_factory):
    """uvicorn as the Makefile starts it (`--ws-max-size 4096`), and without the flag."""
    running = Servers(
        tmp_path_factory.mktemp("socket-limits"), server_args=[WS_MAX_SIZE, ()], people=["alice"]
    )
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("server", [0, 1], ids=["ws-max-size-4096", "no-ws-max-size"])
async def test_a_real_server_closes_on_a_5_kib_frame_not_on_a_1_kib_one(real_servers, server):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    url = real_servers.socket_url(server, real_servers.people["alice"]["token"])
    with real_servers.explained():
        async with connect(url, open_timeout=10) as ws:
            await ws.send(ping_of(1024))
            async with asyncio.timeout(WITHIN):
                assert json.loads(await ws.recv()) == {"type": "pong"}

            await ws.send(ping_of(5 * 1024))
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(WITHIN):
                    await ws.recv()

    assert closed.value.rcvd is not None, closed.value
    assert closed.value.rcvd.code == MESSAGE_TOO_BIG
