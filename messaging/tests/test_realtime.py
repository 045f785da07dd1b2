"""The real-time socket: who may connect, and the frames each service sends, after commit.

Sockets talk to the project's own ASGI application (`config.asgi.application`)
through Channels' `WebsocketCommunicator`; writes go through the services in a
transactional test database, so `transaction.on_commit` runs for real and the
frames travel through the configured channel layer (in memory, or Redis when
REDIS_URL is set). Every receive waits at most one second: the contract's
"within a second of the commit".
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from config.asgi import application
from messaging import payloads, services
from messaging.api.serializers import MessageSerializer, NotificationSerializer
from messaging.models import Message, Notification
from messaging.realtime import publishing as realtime
from messaging.realtime.consumers import CLOSE_UNAUTHORIZED, EventsConsumer

from .conftest import PASSWORD
from .factories import UserFactory


def _websocket_communicator():
    """Channels' WebsocketCommunicator, even without daphne installed.

    `channels.testing/__init__` imports its live-server test case, which needs
    daphne; the communicator itself does not. Without daphne, load the package's
    modules without its `__init__`. (Adding daphne to the dev group removes the need.)
    """
    try:
        from channels.testing import WebsocketCommunicator
    except ModuleNotFoundError as error:
        if error.name is None or not error.name.startswith("daphne"):
            raise
        import sys
        import types
        from pathlib import Path

        import channels

        package = types.ModuleType("channels.testing")
        package.__path__ = [str(Path(channels.__file__).parent / "testing")]
        sys.modules["channels.testing"] = package
        from channels.testing.websocket import WebsocketCommunicator
    return WebsocketCommunicator


WebsocketCommunicator = _websocket_communicator()

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN = 1.0  # seconds: API.md promises frames within a second of the commit
SITE = "chat.example.com"


@pytest.fixture(autouse=True)
def _site_hosts(settings):
    settings.ALLOWED_HOSTS = [SITE]
    settings.CSRF_TRUSTED_ORIGINS = []


async def flush_this_loops_layer() -> None:
    """Empty the layer and close the connections of this test's loop only. The Redis
    layer keeps connections per event loop, and the publisher's own loop (sync code with
    no server loop: the test client) has some too, still in use on its thread."""
    layer = get_channel_layer()
    if not hasattr(layer, "_layers"):  # InMemoryChannelLayer
        await layer.flush()
        return
    for index in range(layer.ring_size):
        keys = await layer.connection(index).keys(layer.prefix + "*")
        if keys:
            await layer.connection(index).delete(*keys)
    own = layer._layers.pop(asyncio.get_running_loop(), None)
    if own is not None:
        await own.flush()


@pytest.fixture(autouse=True)
async def _fresh_channel_layer():
    yield
    # Groups and queued frames must not leak into the next test (nor its event loop).
    await flush_this_loops_layer()
    # Nor the layer's own state: a test that failed with a socket still receiving leaves
    # the layer bound to its closed event loop, and the next test gets a layer of its own.
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    # The ORM thread's connection, so the test database can be dropped at the end.
    await database_sync_to_async(connections.close_all)()


def token_for(user) -> str:
    return str(AccessToken.for_user(user))


@database_sync_to_async
def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def communicator(*, token=None, cookie=None, origin=None, host=SITE, path="/ws/events/"):
    if token is not None:
        path = f"{path}?token={token}"
    headers = []
    if host:
        headers.append((b"host", host.encode()))
    if origin:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", f"{django_settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def open_socket(user=None, **kwargs) -> WebsocketCommunicator:
    """A connected socket (by token unless told otherwise) that the server accepted."""
    if user is not None:
        kwargs.setdefault("token", token_for(user))
    socket = communicator(**kwargs)
    connected, _ = await socket.connect(timeout=WITHIN)
    assert connected
    # Accepted and then closed (4401) looks connected at first: prove it is open.
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WITHIN) == {"type": "pong"}
    return socket


async def assert_closed_unauthorized(socket: WebsocketCommunicator) -> None:
    connected, _ = await socket.connect(timeout=WITHIN)
    assert connected, "the contract's 4401 is sent after accepting"
    assert await socket.receive_output(timeout=WITHIN) == {
        "type": "websocket.close",
        "code": CLOSE_UNAUTHORIZED,
    }
    # As a server does once the close handshake is over.
    await socket.disconnect(code=CLOSE_UNAUTHORIZED)


async def frames(socket: WebsocketCommunicator, count: int) -> dict[str, dict]:
    """The next `count` frames by type (each type once), then nothing more."""
    received = {}
    for _ in range(count):
        frame = await socket.receive_json_from(timeout=WITHIN)
        assert set(frame) == {"type", "data"}
        assert frame["type"] not in received
        received[frame["type"]] = frame["data"]
    assert await socket.receive_nothing(timeout=0.2)
    return received


send = database_sync_to_async(services.message_send)
edit = database_sync_to_async(services.message_edit)
delete = database_sync_to_async(services.message_delete)
mark_read = database_sync_to_async(services.message_mark_read)
conversation_read = database_sync_to_async(services.conversation_mark_read)
delete_user = database_sync_to_async(services.delete_user)


@database_sync_to_async
def api_message(pk: int) -> dict:
    from messaging import selectors

    message = selectors.messages_with_people().annotate(
        reply_count=selectors.reply_count_subquery()
    )
    return dict(MessageSerializer(message.get(pk=pk)).data)


@database_sync_to_async
def api_notification(**filters) -> dict:
    notification = Notification.objects.select_related("actor").get(**filters)
    return dict(NotificationSerializer(notification).data)


# Events ----------------------------------------------------------------------


async def test_message_created_reaches_the_receiver_as_the_api_shows_it(alice, bob):
    socket = await open_socket(bob)

    message = await send(sender=alice, receiver=bob, content="hello Bob")

    received = await frames(socket, 2)
    assert received["message.created"] == await api_message(message.pk)
    assert received["message.created"] == {
        "id": message.pk,
        "sender": "alice",
        "receiver": "bob",
        "group": None,
        "content": "hello Bob",
        "timestamp": received["message.created"]["timestamp"],
        "edited": False,
        "read": False,
        "parent_message": None,
        "thread_root": message.pk,
        "reply_count": 0,
    }
    await socket.disconnect()


async def test_the_message_arrives_before_its_notification(alice, bob):
    socket = await open_socket(bob)

    for content in ("first", "second"):
        await send(sender=alice, receiver=bob, content=content)

    order = [(await socket.receive_json_from(timeout=WITHIN))["type"] for _ in range(4)]
    assert order == ["message.created", "notification.created"] * 2
    await socket.disconnect()


async def test_a_reply_arrives_with_its_place_in_the_thread(alice, bob):
    first = await send(sender=alice, receiver=bob, content="first")
    socket = await open_socket(alice)

    reply = await send(sender=bob, receiver=alice, content="a reply", parent=first)

    created = (await frames(socket, 2))["message.created"]
    assert (created["id"], created["parent_message"], created["thread_root"]) == (
        reply.pk,
        first.pk,
        first.pk,
    )
    await socket.disconnect()


async def test_notification_created_reaches_the_notified_user(alice, bob):
    socket = await open_socket(bob)

    message = await send(sender=alice, receiver=bob, content="ping me")

    notification = (await frames(socket, 2))["notification.created"]
    assert notification == await api_notification(message_id=message.pk)
    assert set(notification) == {"id", "kind", "message", "actor", "text", "created_at", "read"}
    assert (notification["kind"], notification["message"], notification["actor"]) == (
        "message",
        message.pk,
        "alice",
    )
    assert notification["read"] is False
    await socket.disconnect()


async def test_message_updated_reaches_the_receiver_with_the_new_text(alice, bob):
    message = await send(sender=alice, receiver=bob, content="helo")
    socket = await open_socket(bob)

    await edit(user=alice, message=message, content="hello")

    received = await frames(socket, 2)
    assert received["message.updated"] == await api_message(message.pk)
    assert (received["message.updated"]["content"], received["message.updated"]["edited"]) == (
        "hello",
        True,
    )
    assert received["notification.created"]["kind"] == "edit"
    await socket.disconnect()


async def test_message_deleted_reaches_the_receiver_as_an_id(alice, bob):
    message = await send(sender=alice, receiver=bob, content="oops")
    socket = await open_socket(bob)

    await delete(user=alice, message=message)

    assert await frames(socket, 1) == {"message.deleted": {"id": message.pk}}
    await socket.disconnect()


async def test_message_read_reaches_the_sender_as_an_id(alice, bob):
    message = await send(sender=alice, receiver=bob, content="read me")
    socket = await open_socket(alice)

    await mark_read(user=bob, message=message)

    assert await frames(socket, 1) == {"message.read": {"id": message.pk}}
    await socket.disconnect()


async def test_conversation_read_reaches_the_sender_as_partner_and_ids(alice, bob):
    first = await send(sender=alice, receiver=bob, content="one")
    second = await send(sender=alice, receiver=bob, content="two")
    socket = await open_socket(alice)

    await conversation_read(user=bob, partner=alice)

    read = (await frames(socket, 1))["message.read"]
    assert read["partner"] == "bob"
    assert sorted(read["ids"]) == sorted([first.pk, second.pk])
    await socket.disconnect()


async def test_a_stranger_and_the_sender_receive_nothing(alice, bob, carol):
    stranger, sender, receiver = (
        await open_socket(carol),
        await open_socket(alice),
        await open_socket(bob),
    )

    message = await send(sender=alice, receiver=bob, content="between us")
    await frames(receiver, 2)
    await edit(user=alice, message=message, content="between us two")
    await frames(receiver, 2)
    await delete(user=alice, message=message)
    await frames(receiver, 1)

    assert await stranger.receive_nothing(timeout=0.3)
    assert await sender.receive_nothing(timeout=0.1)
    for socket in (stranger, sender, receiver):
        await socket.disconnect()


async def test_every_open_socket_of_the_user_receives_the_event(alice, bob):
    phone, laptop = await open_socket(bob), await open_socket(bob)

    message = await send(sender=alice, receiver=bob, content="to both")

    for socket in (phone, laptop):
        assert (await frames(socket, 2))["message.created"]["id"] == message.pk
        await socket.disconnect()


async def test_the_payload_is_built_once_per_event_not_per_socket(alice, bob, monkeypatch):
    calls = []
    build = payloads.message
    monkeypatch.setattr(payloads, "message", lambda m: calls.append(m.pk) or build(m))
    sockets = [await open_socket(bob) for _ in range(3)]

    message = await send(sender=alice, receiver=bob, content="fan out")

    for socket in sockets:
        await frames(socket, 2)
        await socket.disconnect()
    assert calls == [message.pk]


async def test_nothing_is_sent_when_the_transaction_rolls_back(alice, bob):
    socket = await open_socket(bob)

    @database_sync_to_async
    def send_then_fail():
        from django.db import transaction

        with pytest.raises(RuntimeError), transaction.atomic():
            services.message_send(sender=alice, receiver=bob, content="never")
            raise RuntimeError("rolled back")

    await send_then_fail()

    assert await socket.receive_nothing(timeout=0.3)
    assert not await database_sync_to_async(Message.objects.exists)()
    await socket.disconnect()


async def forget_group_membership(group: str) -> None:
    """What the channel layer does by itself once `group_expiry` has passed."""
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # InMemoryChannelLayer
        layer.groups.pop(group, None)
    else:  # RedisChannelLayer
        await layer.connection(layer.consistent_hash(group)).delete(layer._group_key(group))


async def rejoined(group: str, timeout: float = 5) -> None:
    """Wait until the group has a member again (the socket renewed its membership)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await members(group):
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"nobody rejoined {group} within {timeout} s")


async def test_a_socket_open_longer_than_the_group_expiry_still_receives(alice, bob, monkeypatch):
    monkeypatch.setattr(EventsConsumer, "group_renewal_seconds", 0.2)
    socket = await open_socket(bob)
    await forget_group_membership(realtime.user_group(bob.pk))

    await rejoined(realtime.user_group(bob.pk))
    await send(sender=alice, receiver=bob, content="still listening")

    assert "message.created" in await frames(socket, 2)
    await socket.disconnect()


async def members(group: str) -> int:
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # InMemoryChannelLayer
        return len(layer.groups.get(group, {}))
    return await layer.connection(layer.consistent_hash(group)).zcard(layer._group_key(group))


async def test_a_socket_that_left_receives_nothing_more(alice, bob):
    gone, staying = await open_socket(bob), await open_socket(bob)
    assert await members(realtime.user_group(bob.pk)) == 2
    await gone.disconnect()

    await send(sender=alice, receiver=bob, content="after you left")

    await frames(staying, 2)
    # The layer forgot the socket that left: nothing is sent to it any more.
    assert await members(realtime.user_group(bob.pk)) == 1
    await staying.disconnect()


@pytest.mark.redis
@pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs REDIS_URL (the Redis layer)")
async def test_the_redis_layer_has_no_read_timeout_to_race_its_blocking_read(db):
    """channels_redis waits for events in a 5 s BZPOPMIN; a client-side read timeout
    (redis-py 8 defaults to 5 s) races it and crashes idle sockets' consumers
    (django/channels_redis#422). The layer's hosts need `"socket_timeout": None`."""
    layer = get_channel_layer()
    pool = layer.connection(0).connection_pool
    connection = await pool.get_connection()
    try:
        timeout = connection.socket_timeout
    finally:
        await pool.release(connection)

    assert timeout is None, (
        f"the channel layer's Redis connections time out reads after {timeout} s, racing "
        f"its {layer.brpop_timeout} s BZPOPMIN: set hosts=[{{'address': REDIS_URL, "
        "'socket_timeout': None}] in CHANNEL_LAYERS"
    )


# Authentication and Origin ---------------------------------------------------


async def test_a_token_is_accepted_from_any_origin_or_none(alice, bob):
    foreign = await open_socket(bob, origin="https://elsewhere.example")
    bare = await open_socket(bob, origin=None, host=None)

    await send(sender=alice, receiver=bob, content="hi")

    for socket in (foreign, bare):
        await frames(socket, 2)
        await socket.disconnect()


async def test_the_session_cookie_is_accepted_from_the_sites_own_origin(alice, bob):
    cookie = await session_cookie_for(bob)
    socket = await open_socket(cookie=cookie, origin=f"https://{SITE}")

    await send(sender=alice, receiver=bob, content="hi")

    assert "message.created" in await frames(socket, 2)
    await socket.disconnect()


async def test_the_session_cookie_is_accepted_from_a_csrf_trusted_origin(bob, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org"]
    cookie = await session_cookie_for(bob)

    socket = await open_socket(cookie=cookie, origin="https://app.example.org")

    await socket.disconnect()


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        pytest.param("https://evil.example", SITE, id="foreign-origin"),
        pytest.param(None, SITE, id="no-origin"),
        pytest.param("null", SITE, id="opaque-origin"),
        pytest.param(f"https://{SITE}:8443", SITE, id="other-port"),
        pytest.param("https://evil.example", "evil.example", id="host-not-allowed"),
        pytest.param(f"https://{SITE}", None, id="no-host"),
        pytest.param("not a url", SITE, id="garbage-origin"),
    ],
)
async def test_the_session_cookie_is_refused_from_anywhere_else(bob, origin, host):
    cookie = await session_cookie_for(bob)

    await assert_closed_unauthorized(communicator(cookie=cookie, origin=origin, host=host))


async def test_a_plain_http_origin_cannot_use_the_cookie_on_a_tls_socket(bob):
    cookie = await session_cookie_for(bob)
    socket = communicator(cookie=cookie, origin=f"http://{SITE}")
    socket.scope["scheme"] = "wss"

    await assert_closed_unauthorized(socket)


async def test_a_socket_without_credentials_is_closed_with_4401(db):
    await assert_closed_unauthorized(communicator(origin=f"https://{SITE}"))
    await assert_closed_unauthorized(communicator())


async def test_a_same_origin_socket_with_a_stale_session_is_closed_with_4401(db):
    await assert_closed_unauthorized(communicator(cookie="not-a-session", origin=f"https://{SITE}"))


@database_sync_to_async
def bad_tokens(user) -> dict[str, str]:
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(minutes=1))
    forged = token_for(user)[:-4] + ("AAAA" if not token_for(user).endswith("AAAA") else "BBBB")
    gone = UserFactory(username="ghost")
    gone_token = token_for(gone)
    gone.delete()
    inactive = UserFactory(username="sleeper", is_active=False)
    return {
        "empty": "",
        "garbage": "not-a-jwt",
        "forged": forged,
        "expired": str(expired),
        "refresh-token": str(RefreshToken.for_user(user)),
        "deleted-user": gone_token,
        "inactive-user": token_for(inactive),
        "too-long": "a" * 10_000,
        "non-latin": "ключ",
    }


async def test_a_bad_token_is_closed_with_4401(bob):
    for name, token in (await bad_tokens(bob)).items():
        socket = communicator(token=token, origin="https://elsewhere.example")
        try:
            await assert_closed_unauthorized(socket)
        except AssertionError as error:
            raise AssertionError(f"token {name!r} was not refused") from error


async def test_a_bad_token_is_not_rescued_by_a_good_cookie(bob):
    cookie = await session_cookie_for(bob)

    await assert_closed_unauthorized(
        communicator(token="not-a-jwt", cookie=cookie, origin=f"https://{SITE}")
    )


async def test_a_socket_closes_with_4401_when_its_token_expires(bob):
    token = AccessToken.for_user(bob)
    token.set_exp(lifetime=timedelta(seconds=2))  # exp is whole seconds
    socket = await open_socket(token=str(token))

    assert await socket.receive_output(timeout=3) == {
        "type": "websocket.close",
        "code": CLOSE_UNAUTHORIZED,
    }
    await socket.disconnect(code=CLOSE_UNAUTHORIZED)


async def test_deleting_the_account_closes_every_socket_of_the_user(alice, bob):
    by_token = await open_socket(bob)
    by_cookie = await open_socket(cookie=await session_cookie_for(bob), origin=f"https://{SITE}")
    other = await open_socket(alice)

    await delete_user(user=bob, password=PASSWORD)

    for socket in (by_token, by_cookie):
        assert await socket.receive_output(timeout=WITHIN) == {
            "type": "websocket.close",
            "code": CLOSE_UNAUTHORIZED,
        }
        await socket.disconnect(code=CLOSE_UNAUTHORIZED)
    assert await other.receive_nothing(timeout=0.3)
    await other.send_json_to({"type": "ping"})
    assert await other.receive_json_from(timeout=WITHIN) == {"type": "pong"}
    await other.disconnect()


async def test_an_unknown_socket_path_is_refused(bob):
    socket = communicator(token=token_for(bob), path="/ws/other/")

    connected, _ = await socket.connect(timeout=WITHIN)

    assert not connected


def test_tokens_in_socket_paths_stay_out_of_the_server_log(caplog):
    import logging

    # As uvicorn logs an accepted socket.
    uvicorn_logger = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        uvicorn_logger.info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:5000", "/ws/events/?token=eyJ.secret.sig"
        )
        uvicorn_logger.info("GET /x?a=1&token=abc&b=2")

    logged = caplog.text
    assert "eyJ.secret.sig" not in logged
    assert "token=abc" not in logged
    assert "/ws/events/?token=[redacted]" in logged
    assert "?a=1&token=[redacted]&b=2" in logged


# Client frames ---------------------------------------------------------------


async def test_client_garbage_is_ignored_and_the_socket_stays_open(alice, bob):
    socket = await open_socket(bob)

    for text in ["", "not json", "[1, 2]", "null", '{"type": "subscribe"}', '{"type": []}']:
        await socket.send_input({"type": "websocket.receive", "text": text})
    # Up to 4 KiB a frame is read (and this one is not a ping); bigger ones close
    # the socket (test_socket_limits.py).
    await socket.send_to(text_data='{"type": "pong", "pad": "' + "x" * 4000 + '"}')
    await socket.send_to(bytes_data=b"\x00\xff binary")
    assert await socket.receive_nothing(timeout=0.2)

    await send(sender=alice, receiver=bob, content="still here")
    assert "message.created" in await frames(socket, 2)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WITHIN) == {"type": "pong"}
    await socket.disconnect()


async def test_frames_arrive_well_within_a_second(alice, bob):
    socket = await open_socket(bob)
    loop = asyncio.get_running_loop()

    started = loop.time()
    await send(sender=alice, receiver=bob, content="quick")
    await frames(socket, 2)

    # frames() itself waits 0.2 s to prove nothing else follows.
    assert loop.time() - started < WITHIN + 0.2
    await socket.disconnect()
