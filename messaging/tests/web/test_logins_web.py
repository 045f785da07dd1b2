"""Pages where passwords are tried, and what ends with a login: sessions and their sockets."""

from __future__ import annotations

import importlib

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import clear_url_caches

from messaging import auth_tokens, services
from messaging.models import Message, Notification
from messaging.realtime import publishing as realtime
from messaging.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer new passphrase 42"
PASSWORD_PAGE = "/account/password/"


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def auth_rate(settings):
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "auth": rate,
            },
        }

    return set_rate


def listen(group: str) -> str:
    """A channel in `group`, as a socket of that group would be."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str) -> dict:
    layer = get_channel_layer()

    async def receive() -> dict:
        import asyncio

        return await asyncio.wait_for(layer.receive(channel), 1)

    return async_to_sync(receive)()


def nothing_for(channel: str) -> bool:
    import asyncio

    layer = get_channel_layer()

    async def receive() -> bool:
        try:
            await asyncio.wait_for(layer.receive(channel), 0.2)
        except TimeoutError:
            return True
        return False

    return async_to_sync(receive)()


# Password change page ---------------------------------------------------------------


def test_the_account_page_leads_to_the_password_page(as_user, alice):
    page = as_user(alice).get("/account/")

    assert f'href="{PASSWORD_PAGE}"' in text(page)


def test_the_password_page_asks_for_the_old_password_and_the_new_one_twice(as_user, alice):
    page = as_user(alice).get(PASSWORD_PAGE)

    assert page.status_code == 200
    for name in ("old_password", "new_password", "new_password2"):
        assert f'name="{name}"' in text(page)
    assert 'autocomplete="current-password"' in text(page)
    assert text(page).count('autocomplete="new-password"') == 2


@pytest.mark.parametrize(
    ("old", "new", "again", "error"),
    [
        ("wrong", NEW_PASSWORD, NEW_PASSWORD, "current password is not correct"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "two new passwords differ"),
        (PASSWORD, "12345678", "12345678", "entirely numeric"),
        (PASSWORD, "short", "short", "too short"),
    ],
)
def test_a_refused_change_shows_why_and_changes_nothing(as_user, alice, old, new, again, error):
    response = as_user(alice).post(
        PASSWORD_PAGE, {"old_password": old, "new_password": new, "new_password2": again}
    )

    assert response.status_code == 400
    assert error in text(response)
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_changing_the_password_keeps_this_browser_and_signs_out_the_others(
    as_user, alice, django_capture_on_commit_callbacks
):
    mine, other = as_user(alice), as_user(alice)
    sockets = listen(realtime.user_group(alice.pk))

    with django_capture_on_commit_callbacks(execute=True):
        response = mine.post(
            PASSWORD_PAGE,
            {"old_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    assert "signed out everywhere else" in text(mine.get("/account/"))
    assert other.get("/account/").status_code == 302  # back to the log-in page
    assert received(sockets)["type"] == realtime.REVOKE_HANDLER


def test_password_attempts_on_the_page_are_throttled_and_the_page_says_how_long(
    as_user, alice, auth_rate
):
    auth_rate("2/min")
    client = as_user(alice)
    wrong = {"old_password": "wrong", "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    for _ in range(2):
        assert client.post(PASSWORD_PAGE, wrong).status_code == 400
    throttled = client.post(PASSWORD_PAGE, wrong)

    assert throttled.status_code == 429
    wait = int(throttled["Retry-After"])
    assert wait > 0
    assert f"wait {wait} second" in text(throttled)


def test_account_deletion_on_the_page_is_throttled_per_account(as_user, alice, auth_rate):
    auth_rate("2/min")
    client = as_user(alice)

    for i in range(2):
        client.post("/account/delete/", {"password": "wrong"}, REMOTE_ADDR=f"10.4.0.{i}")
    throttled = client.post("/account/delete/", {"password": PASSWORD}, REMOTE_ADDR="10.4.0.9")

    assert throttled.status_code == 429
    assert "Retry-After" in throttled
    assert type(alice).objects.filter(pk=alice.pk).exists()


def test_log_in_attempts_at_one_account_from_many_ips_are_throttled(client, alice, auth_rate):
    auth_rate("2/min")
    wrong = {"username": "alice", "password": "wrong"}

    for i in range(2):
        client.post("/accounts/login/", wrong, REMOTE_ADDR=f"10.5.0.{i}")
    throttled = client.post("/accounts/login/", wrong, REMOTE_ADDR="10.5.0.9")

    assert throttled.status_code == 429


# Logout ends the session's sockets --------------------------------------------------


def test_logging_out_closes_the_sockets_this_session_opened_and_no_others(
    as_user, alice, django_capture_on_commit_callbacks
):
    mine, other = as_user(alice), as_user(alice)
    my_sockets = listen(
        realtime.login_group(auth_tokens.session_login_id(mine.session.session_key))
    )
    other_sockets = listen(
        realtime.login_group(auth_tokens.session_login_id(other.session.session_key))
    )

    with django_capture_on_commit_callbacks(execute=True):
        mine.post("/accounts/logout/")

    assert received(my_sockets)["type"] == realtime.REVOKE_HANDLER
    assert nothing_for(other_sockets)
    assert other.get("/account/").status_code == 200


# The admin --------------------------------------------------------------------------


@pytest.fixture
def admin_at(settings):
    """Serve the admin at another path for one test."""
    import config.urls

    def move(path: str) -> None:
        settings.ADMIN_URL = path
        importlib.reload(config.urls)
        clear_url_caches()

    yield move
    settings.ADMIN_URL = "admin/"
    importlib.reload(config.urls)
    clear_url_caches()


def test_the_admin_lives_at_the_configured_path(client, admin_at):
    admin_at("staff-7f3c/")

    assert client.get("/staff-7f3c/login/").status_code == 200
    assert client.get("/admin/login/").status_code == 404


def test_admin_log_in_attempts_are_throttled(client, alice, auth_rate):
    auth_rate("2/min")
    wrong = {"username": "alice", "password": "wrong", "next": "/admin/"}

    for i in range(2):
        assert client.post("/admin/login/", wrong, REMOTE_ADDR=f"10.6.0.{i}").status_code == 200
    throttled = client.post("/admin/login/", wrong, REMOTE_ADDR="10.6.0.9")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0


# Reading is not changed by another site ---------------------------------------------


@pytest.fixture
def unread(alice, bob, send):
    message = send(bob, alice, "are you there?")
    return message


def page_as(user, sec_fetch_site: str | None) -> Client:
    client = Client(headers={"Sec-Fetch-Site": sec_fetch_site} if sec_fetch_site else {})
    client.force_login(user)
    client.cookies["csrftoken"] = "k" * 32
    return client


@pytest.mark.parametrize("site", ["cross-site", "same-site", None])
def test_a_conversation_opened_from_elsewhere_marks_nothing_read(alice, unread, site):
    response = page_as(alice, site).get("/conversations/bob/")

    assert response.status_code == 200
    assert Message.objects.get(pk=unread.pk).read is False
    # Without the script, the page offers the read as a button (a POST).
    assert 'id="mark-read-form"' in text(response)


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_a_conversation_opened_by_the_person_marks_it_read(alice, unread, site):
    response = page_as(alice, site).get("/conversations/bob/")

    assert response.status_code == 200
    assert Message.objects.get(pk=unread.pk).read is True
    assert 'id="mark-read-form"' not in text(response)


def test_a_page_cached_from_elsewhere_does_not_stop_a_later_visit_from_reading(alice, unread):
    page_as(alice, "cross-site").get("/conversations/bob/")
    page_as(alice, None).get("/conversations/bob/")

    response = page_as(alice, "same-origin").get("/conversations/bob/")

    assert "Sec-Fetch-Site" in response["Vary"]
    assert Message.objects.get(pk=unread.pk).read is True


def test_the_mark_read_button_marks_the_conversation_read(alice, unread):
    client = page_as(alice, None)
    client.get("/conversations/bob/")

    response = client.post("/conversations/bob/read/", {"next": "/conversations/bob/"})

    assert response.status_code == 302
    assert Message.objects.get(pk=unread.pk).read is True


@pytest.mark.parametrize("site", ["cross-site", None])
def test_a_thread_opened_from_elsewhere_marks_neither_message_nor_notification(alice, unread, site):
    note = Notification.objects.get(message=unread)

    page_as(alice, site).get(f"/messages/{unread.pk}/?notification={note.pk}")

    assert Message.objects.get(pk=unread.pk).read is False
    assert Notification.objects.get(pk=note.pk).read is False


def test_a_thread_opened_from_a_notification_marks_both_read(alice, unread):
    note = Notification.objects.get(message=unread)

    page_as(alice, "same-origin").get(f"/messages/{unread.pk}/?notification={note.pk}")

    assert Message.objects.get(pk=unread.pk).read is True
    assert Notification.objects.get(pk=note.pk).read is True


def test_the_service_closes_a_password_changers_other_sockets(
    alice, django_capture_on_commit_callbacks
):
    sockets = listen(realtime.user_group(alice.pk))

    with django_capture_on_commit_callbacks(execute=True):
        services.user_change_password(
            user=alice, old_password=PASSWORD, new_password=NEW_PASSWORD, keep_login="s-mine"
        )

    event = received(sockets)
    assert event == {"type": realtime.REVOKE_HANDLER, "keep_login": "s-mine"}
