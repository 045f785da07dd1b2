"""Who may see and do what on the pages: log-in redirects, 404 for strangers, 403, CSRF."""

import pytest
from django.test import Client

from messaging import services
from messaging.models import Message, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange(alice, bob, send):
    """Alice wrote to Bob, Bob replied and Alice edited her message."""
    first = send(alice, bob, "hello bob")
    reply = send(bob, alice, "hi alice", parent_message=first)
    services.message_edit(user=alice, message=first, content="hello bob!")
    note = Notification.objects.filter(user=bob).first()
    return first, reply, note


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conversations/bob/",
        "/messages/new/",
        "/notifications/",
        "/account/",
        "/account/export/",
        "/account/delete/",
        "/live/counts/",
    ],
)
def test_anonymous_visitor_is_sent_to_log_in(client, bob, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_anonymous_visitor_is_sent_to_log_in_for_a_message(client, exchange):
    first, _, _ = exchange
    for path in (f"/messages/{first.pk}/", f"/messages/{first.pk}/history/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_anonymous_post_changes_nothing(client, exchange):
    first, _, _ = exchange

    response = client.post(f"/messages/{first.pk}/delete/")

    assert response.status_code == 302
    assert Message.objects.filter(pk=first.pk).exists()


def test_stranger_gets_404_on_every_page_of_a_message(as_user, carol, exchange):
    first, reply, note = exchange
    stranger = as_user(carol)

    for path in (
        f"/messages/{first.pk}/",
        f"/messages/{first.pk}/history/",
        f"/messages/{first.pk}/edit/",
        f"/messages/{reply.pk}/",
    ):
        assert stranger.get(path).status_code == 404, path
    for path in (
        f"/messages/{first.pk}/edit/",
        f"/messages/{first.pk}/delete/",
        f"/messages/{reply.pk}/read/",
        f"/notifications/{note.pk}/read/",
    ):
        assert stranger.post(path, {"content": "mine now"}).status_code == 404, path
    first.refresh_from_db()
    note.refresh_from_db()
    assert first.content == "hello bob!"
    assert not note.read
    assert Message.objects.filter(pk=first.pk).exists()


def test_not_found_page_is_friendly_and_says_nothing_about_the_message(as_user, carol, exchange):
    first, _, _ = exchange

    response = as_user(carol).get(f"/messages/{first.pk}/")

    assert response.status_code == 404
    assert b"Nothing here" in response.content
    assert b"hello bob" not in response.content


def test_unknown_or_own_conversation_is_404(as_user, alice):
    client = as_user(alice)

    assert client.get("/conversations/nobody/").status_code == 404
    assert client.get("/conversations/alice/").status_code == 404


def test_receiver_may_not_edit_or_delete(as_user, bob, exchange):
    first, _, _ = exchange
    receiver = as_user(bob)

    assert receiver.get(f"/messages/{first.pk}/edit/").status_code == 403
    response = receiver.post(f"/messages/{first.pk}/edit/", {"content": "changed"})
    assert response.status_code == 403
    assert b"You can" in response.content  # the friendly 403 page
    assert receiver.post(f"/messages/{first.pk}/delete/").status_code == 403
    first.refresh_from_db()
    assert first.content == "hello bob!"


def test_sender_may_not_mark_their_own_message_read(as_user, alice, exchange):
    first, _, _ = exchange

    assert as_user(alice).post(f"/messages/{first.pk}/read/").status_code == 403


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/conversations/bob/", {"receiver": "bob", "content": "forged"}),
        ("/messages/new/", {"receiver": "bob", "content": "forged"}),
        ("/notifications/read-all/", {}),
        ("/account/delete/", {"password": "correct horse battery staple"}),
        ("/accounts/logout/", {}),
    ],
)
def test_every_form_needs_the_csrf_token(as_user, alice, bob, path, data):
    client = as_user(alice, enforce_csrf_checks=True)

    response = client.post(path, data)

    assert response.status_code == 403
    assert b"Please try again" in response.content
    assert not Message.objects.filter(content="forged").exists()
    assert type(alice).objects.filter(pk=alice.pk).exists()


def test_forms_work_with_the_csrf_token(as_user, alice, bob):
    client = as_user(alice, enforce_csrf_checks=True)
    token = client.cookies["csrftoken"].value

    response = client.post(
        "/conversations/bob/",
        {"receiver": "bob", "content": "with token", "csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    assert Message.objects.filter(content="with token").exists()


def test_log_in_page_needs_csrf_too():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 403


def test_logout_is_post_only(as_user, alice):
    client = as_user(alice)

    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_log_in_attempts_are_rate_limited_per_ip(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "2/min", "send": "100/min", "user": "100/min"},
    }
    for _ in range(2):
        assert (
            client.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 200
        )

    response = client.post("/accounts/login/", {"username": "x", "password": "y"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"A little too fast" in response.content
    assert client.get("/accounts/login/").status_code == 200  # reading the page is not limited


def test_sends_from_the_pages_are_rate_limited_per_user(as_user, alice, bob, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "100/min", "send": "1/min", "user": "100/min"},
    }
    client = as_user(alice)
    client.post("/conversations/bob/", {"receiver": "bob", "content": "one"})

    response = client.post("/messages/new/", {"receiver": "bob", "content": "two"})

    assert response.status_code == 429
    assert list(Message.objects.values_list("content", flat=True)) == ["one"]
