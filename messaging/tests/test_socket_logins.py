"""A socket belongs to the login that opened it: ending that login closes it, at once.

A login is a browser session or a family of JWTs sharing a `sid` (`auth_tokens`).
Logout closes the sockets of that login only; a password change closes every socket
of the person except those of the login that made the change; deleting the account
closes them all; a `?token=` socket closes when its token expires. A token refused by
the API (issued before a password change, of a logged-out login, of a user who is
gone) is refused on a new socket too, and so is a session whose password hash is stale.

The HTTP endpoints that end logins call `realtime.revoke_login_on_commit` and
`realtime.revoke_on_commit`; these tests end logins through those calls (and
`auth_tokens`) directly, in a committed transaction, and watch the sockets.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework_simplejwt.tokens import AccessToken

from messaging import auth_tokens
from messaging.realtime import publishing as realtime
from messaging.realtime.consumers import CLOSE_RECONNECT, CLOSE_UNAUTHORIZED

from .factories import UserFactory
from .test_realtime import (  # noqa: F401 (autouse fixtures)
    SITE,
    WITHIN,
    _fresh_channel_layer,
    _site_hosts,
    assert_closed_unauthorized,
    communicator,
    open_socket,
    session_cookie_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = f"https://{SITE}"


@database_sync_to_async
def token_login(user) -> tuple[str, auth_tokens.LoginRefreshToken]:
    """A fresh login by token: its access token and its refresh token (which names the login)."""
    refresh = auth_tokens.LoginRefreshToken.for_user(user)
    return str(refresh.access_token), refresh


async def session_login(user) -> tuple[str, str]:
    """A fresh browser login: its session cookie and its login id."""
    cookie = await session_cookie_for(user)
    return cookie, auth_tokens.session_login_id(cookie)


async def assert_closes_unauthorized(socket, code: int = CLOSE_UNAUTHORIZED) -> None:
    assert await socket.receive_output(timeout=WITHIN) == {"type": "websocket.close", "code": code}
    await socket.disconnect(code=code)


async def assert_still_open(socket) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=WITHIN) == {"type": "pong"}


@database_sync_to_async
def log_out_token_login(user, refresh) -> None:
    with transaction.atomic():
        login_id = auth_tokens.end_token_login(user, refresh)
        realtime.revoke_login_on_commit(login_id)


@database_sync_to_async
def log_out_session(login_id: str) -> None:
    with transaction.atomic():
        realtime.revoke_login_on_commit(login_id)


@database_sync_to_async
def change_password(user, *, keep_login: str | None) -> None:
    with transaction.atomic():
        user.set_password("a brand new passphrase")
        user.save(update_fields=["password"])
        realtime.revoke_on_commit(user.pk, keep_login=keep_login)


# Closing open sockets --------------------------------------------------------


async def test_logging_out_a_token_login_closes_its_sockets_only(alice, bob):
    token, refresh = await token_login(bob)
    phone, phone_again = await open_socket(token=token), await open_socket(token=token)
    other_token, _ = await token_login(bob)
    laptop = await open_socket(token=other_token)
    cookie, _ = await session_login(bob)
    browser = await open_socket(cookie=cookie, origin=ORIGIN)
    someone_else = await open_socket(alice)

    await log_out_token_login(bob, refresh)

    for socket in (phone, phone_again):
        await assert_closes_unauthorized(socket)
    for socket in (laptop, browser, someone_else):
        await assert_still_open(socket)
        await socket.disconnect()


async def test_logging_out_a_browser_session_closes_its_sockets_only(bob):
    cookie, login_id = await session_login(bob)
    tab, other_tab = (
        await open_socket(cookie=cookie, origin=ORIGIN),
        await open_socket(cookie=cookie, origin=ORIGIN),
    )
    other_cookie, _ = await session_login(bob)
    other_browser = await open_socket(cookie=other_cookie, origin=ORIGIN)
    token, _ = await token_login(bob)
    phone = await open_socket(token=token)

    await log_out_session(login_id)

    for socket in (tab, other_tab):
        await assert_closes_unauthorized(socket)
    for socket in (other_browser, phone):
        await assert_still_open(socket)
        await socket.disconnect()


@pytest.mark.parametrize("changed_by", ["token", "session"])
async def test_a_password_change_closes_every_socket_and_the_changing_login_reconnects(
    alice, bob, changed_by
):
    token, refresh = await token_login(bob)
    by_token = await open_socket(token=token)
    cookie, session_id = await session_login(bob)
    by_session = await open_socket(cookie=cookie, origin=ORIGIN)
    other_token, _ = await token_login(bob)
    other_login = await open_socket(token=other_token)
    plain = await open_socket(bob)  # an access token made without a login of its own
    someone_else = await open_socket(alice)
    if changed_by == "token":
        keep, kept, closed = auth_tokens.token_login_id(refresh), by_token, by_session
    else:
        keep, kept, closed = session_id, by_session, by_token

    await change_password(bob, keep_login=keep)

    for socket in (closed, other_login, plain):
        await assert_closes_unauthorized(socket)
    # The changing login stays signed in: its sockets come back at once under its new
    # credentials, and a stolen copy of its old session cookie cannot follow them.
    await assert_closes_unauthorized(kept, CLOSE_RECONNECT)
    await assert_still_open(someone_else)
    await someone_else.disconnect()


async def test_a_password_change_without_a_login_to_keep_closes_them_all(bob):
    token, _ = await token_login(bob)
    sockets = [
        await open_socket(token=token),
        await open_socket(cookie=(await session_login(bob))[0], origin=ORIGIN),
    ]

    await change_password(bob, keep_login=None)

    for socket in sockets:
        await assert_closes_unauthorized(socket)


async def test_a_logout_that_rolls_back_closes_nothing(bob):
    token, refresh = await token_login(bob)
    socket = await open_socket(token=token)

    @database_sync_to_async
    def log_out_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            realtime.revoke_login_on_commit(auth_tokens.token_login_id(refresh))
            raise RuntimeError("rolled back")

    await log_out_then_fail()

    assert await socket.receive_nothing(timeout=0.3)
    await assert_still_open(socket)
    await socket.disconnect()


# Refusing new sockets ----------------------------------------------------------


@database_sync_to_async
def end_login_in_the_database(user, refresh) -> None:
    auth_tokens.end_token_login(user, refresh)


async def test_a_token_of_a_logged_out_login_is_refused(bob):
    token, refresh = await token_login(bob)
    await end_login_in_the_database(bob, refresh)

    await assert_closed_unauthorized(communicator(token=token))


async def test_another_login_of_the_same_person_is_not_refused(bob):
    _, ended = await token_login(bob)
    await end_login_in_the_database(bob, ended)
    token, _ = await token_login(bob)

    socket = await open_socket(token=token)

    await socket.disconnect()


async def test_a_token_issued_before_a_password_change_is_refused(bob):
    token, _ = await token_login(bob)
    plain = str(AccessToken.for_user(bob))
    await change_password(bob, keep_login=None)

    for old in (token, plain):
        await assert_closed_unauthorized(communicator(token=old))


async def test_a_token_of_a_deleted_user_is_refused(db):
    @database_sync_to_async
    def token_of_a_user_then_gone():
        user = UserFactory(username="ghost")
        access = str(auth_tokens.LoginRefreshToken.for_user(user).access_token)
        user.delete()
        return access

    await assert_closed_unauthorized(communicator(token=await token_of_a_user_then_gone()))


async def test_a_session_whose_password_hash_is_stale_is_refused(bob):
    cookie, _ = await session_login(bob)
    await change_password(bob, keep_login=None)

    await assert_closed_unauthorized(communicator(cookie=cookie, origin=ORIGIN))
    # Channels' get_user flushed the stale session: the cookie names nothing now.
    assert not await database_sync_to_async(SessionStore().exists)(cookie)


# What a connect costs ---------------------------------------------------------


@database_sync_to_async
def _start_counting() -> CaptureQueriesContext:
    # database_sync_to_async runs every call in one thread: the one that queries.
    counting = CaptureQueriesContext(connection)
    counting.__enter__()
    return counting


@database_sync_to_async
def _stop_counting(counting: CaptureQueriesContext) -> list[str]:
    counting.__exit__(None, None, None)
    return [query["sql"] for query in counting.captured_queries]


async def test_a_token_socket_costs_one_query_to_connect(bob):
    token, _ = await token_login(bob)

    counting = await _start_counting()
    socket = await open_socket(token=token)
    queries = await _stop_counting(counting)

    assert len(queries) == 1, queries
    assert "messaging_endedlogin" in queries[0]
    await socket.disconnect()


async def test_a_session_socket_costs_two_queries_to_connect(bob):
    cookie, _ = await session_login(bob)

    counting = await _start_counting()
    socket = await open_socket(cookie=cookie, origin=ORIGIN)
    queries = await _stop_counting(counting)

    assert len(queries) == 2, queries  # the session, then the user
    await socket.disconnect()
