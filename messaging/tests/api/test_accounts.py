"""Accounts through HTTP: register, tokens, the caller's account, export and deletion."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework_simplejwt.tokens import RefreshToken

from messaging import services
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.tests.conftest import PASSWORD

User = get_user_model()

pytestmark = pytest.mark.django_db

USER_FIELDS = {"id", "username", "email", "date_joined"}


def assert_iso_datetime_with_zone(value: str) -> None:
    assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


# Registration ----------------------------------------------------------------


def test_register_creates_the_account_and_answers_the_user(api):
    response = api().post(
        "/api/v1/auth/register/",
        {"username": "erin", "password": PASSWORD, "email": "erin@example.com"},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == USER_FIELDS
    assert body["username"] == "erin"
    assert body["email"] == "erin@example.com"
    assert_iso_datetime_with_zone(body["date_joined"])
    user = User.objects.get(pk=body["id"])
    assert user.check_password(PASSWORD)


def test_register_without_email_stores_an_empty_one(api):
    response = api().post("/api/v1/auth/register/", {"username": "erin", "password": PASSWORD})

    assert response.status_code == 201
    assert response.json()["email"] == ""


def test_register_a_taken_name_is_400_and_stores_nothing(api, alice):
    response = api().post("/api/v1/auth/register/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["short1", "password", "12345678901", ""])
def test_register_a_weak_password_is_400_and_stores_nothing(api, db, password):
    response = api().post("/api/v1/auth/register/", {"username": "erin", "password": password})

    assert response.status_code == 400
    assert list(response.json()) == ["password"]
    assert not User.objects.filter(username="erin").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "username"),
        ({"username": "erin"}, "password"),
        ({"username": "erin", "password": PASSWORD, "email": "not-an-email"}, "email"),
        ({"username": "erin", "password": PASSWORD, "email": ""}, "email"),
        ({"username": "no spaces", "password": PASSWORD}, "username"),
        ({"username": 42, "password": PASSWORD}, "username"),
        ({"username": "erin", "password": PASSWORD, "is_staff": True}, "is_staff"),
    ],
)
def test_register_bad_input_is_400_naming_the_field(api, db, body, field):
    response = api().post("/api/v1/auth/register/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert not User.objects.exists()


# Tokens ----------------------------------------------------------------------


def test_token_answers_an_access_and_a_refresh_token_that_work(api, alice):
    response = api().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    me = api().get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize(
    "credentials",
    [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": PASSWORD}],
)
def test_token_with_bad_credentials_is_401(api, alice, credentials):
    response = api().post("/api/v1/auth/token/", credentials)

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}


def test_token_for_an_inactive_account_is_401(api, alice):
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    response = api().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [{"username": "alice"}, {"username": "alice", "password": PASSWORD, "extra": 1}, []],
)
def test_token_with_bad_input_is_400(api, alice, body):
    response = api().post("/api/v1/auth/token/", body)

    assert response.status_code == 400


def test_refresh_answers_a_new_access_token_and_the_next_refresh_token(api, alice):
    refresh = RefreshToken.for_user(alice)

    response = api().post("/api/v1/auth/token/refresh/", {"refresh": str(refresh)})

    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert response.json()["refresh"] != str(refresh)
    me = api().get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert me.json()["username"] == "alice"


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", ""])
def test_refresh_with_a_bad_token_is_401_or_400(api, db, token):
    response = api().post("/api/v1/auth/token/refresh/", {"refresh": token})

    # An empty string is a missing field (400); anything else is an unusable token (401).
    assert response.status_code == (400 if token == "" else 401)


def test_refresh_with_an_access_token_is_401(api, alice):
    access = RefreshToken.for_user(alice).access_token

    response = api().post("/api/v1/auth/token/refresh/", {"refresh": str(access)})

    assert response.status_code == 401


def test_refresh_of_a_deleted_account_is_401(api, alice):
    refresh = str(RefreshToken.for_user(alice))
    alice.delete()

    response = api().post("/api/v1/auth/token/refresh/", {"refresh": refresh})

    assert response.status_code == 401


# The caller's account --------------------------------------------------------


def test_me_answers_the_callers_user(api, alice):
    response = api(alice).get("/api/v1/users/me/")

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "date_joined": response.json()["date_joined"],
    }
    assert_iso_datetime_with_zone(response.json()["date_joined"])


def test_anonymous_is_401_with_a_bearer_challenge(api, db):
    response = api().get("/api/v1/users/me/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    "authorization", ["Bearer not-a-token", "Bearer ", "Basic YWxpY2U6cGFzcw==", "Token abc"]
)
def test_anything_but_a_valid_token_or_session_is_401(api, alice, authorization):
    response = api().get("/api/v1/users/me/", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 401


def test_an_expired_access_token_is_401(api, alice):
    token = RefreshToken.for_user(alice).access_token
    token.set_exp(lifetime=-token.lifetime)

    response = api().get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401


# Export ----------------------------------------------------------------------


def test_export_holds_everything_about_the_caller_and_nothing_else(api, alice, bob, carol):
    first = services.message_send(sender=alice, receiver=bob, content="hello bob")
    services.message_edit(user=alice, message=first, content="hello, bob")
    reply = services.message_send(sender=bob, receiver=alice, content="hi", parent=first)
    services.message_send(sender=bob, receiver=carol, content="not alice's")

    response = api(alice).get("/api/v1/users/me/export/")

    assert response.status_code == 200
    export = response.json()
    assert set(export) == {
        "user",
        "messages_sent",
        "messages_received",
        "history",
        "notifications",
    } | {
        "groups",
        "group_messages_received",
    }
    assert export["user"]["username"] == "alice"
    assert set(export["user"]) == USER_FIELDS
    assert [m["id"] for m in export["messages_sent"]] == [first.pk]
    assert export["messages_sent"][0]["content"] == "hello, bob"
    assert [m["id"] for m in export["messages_received"]] == [reply.pk]
    assert export["messages_received"][0]["parent_message"] == first.pk
    assert export["history"] == [
        {
            "message": first.pk,
            "old_content": "hello bob",
            "edited_at": export["history"][0]["edited_at"],
        }
    ]
    assert [(n["kind"], n["message"], n["actor"]) for n in export["notifications"]] == [
        ("reply", reply.pk, "bob")
    ]


# Deletion --------------------------------------------------------------------


@pytest.fixture
def lives(alice, bob, carol):
    """Bob writes with alice and carol, edits, replies; alice and carol write to each other."""
    to_alice = services.message_send(sender=bob, receiver=alice, content="to alice")
    services.message_edit(user=bob, message=to_alice, content="to alice, edited")
    from_alice = services.message_send(sender=alice, receiver=bob, content="reply", parent=to_alice)
    services.message_edit(user=alice, message=from_alice, content="reply, edited")
    services.message_send(sender=carol, receiver=bob, content="to bob")
    kept = services.message_send(sender=alice, receiver=carol, content="between the others")
    services.message_edit(user=alice, message=kept, content="between the others, edited")
    return kept


def test_delete_account_removes_the_user_and_all_data_tied_to_it(api, alice, bob, carol, lives):
    others_before = {
        "messages": set(Message.objects.exclude(Q(sender=bob) | Q(receiver=bob)).values_list("pk")),
        "history": set(
            MessageHistory.objects.exclude(
                Q(message__sender=bob) | Q(message__receiver=bob)
            ).values_list("pk")
        ),
        "notifications": set(
            Notification.objects.exclude(
                Q(user=bob) | Q(actor=bob) | Q(message__sender=bob) | Q(message__receiver=bob)
            ).values_list("pk")
        ),
    }

    response = api(bob).delete("/api/v1/users/me/", {"password": PASSWORD})

    assert response.status_code == 204
    assert not User.objects.filter(username="bob").exists()
    assert not Message.objects.filter(Q(sender_id=bob.pk) | Q(receiver_id=bob.pk)).exists()
    assert not Notification.objects.filter(Q(user_id=bob.pk) | Q(actor_id=bob.pk)).exists()
    assert not Conversation.objects.filter(Q(owner_id=bob.pk) | Q(partner_id=bob.pk)).exists()
    assert not MessageHistory.objects.filter(edited_by_id=bob.pk).exists()
    # Nothing left pointing at what was removed.
    message_ids = set(Message.objects.values_list("pk", flat=True))
    assert set(MessageHistory.objects.values_list("message_id", flat=True)) <= message_ids
    assert set(Notification.objects.values_list("message_id", flat=True)) <= message_ids
    assert (
        set(
            Conversation.objects.exclude(last_message=None).values_list(
                "last_message_id", flat=True
            )
        )
        <= message_ids
    )
    # Nobody else's data is touched.
    assert set(Message.objects.values_list("pk")) == others_before["messages"]
    assert set(MessageHistory.objects.values_list("pk")) == others_before["history"]
    assert set(Notification.objects.values_list("pk")) == others_before["notifications"]
    assert Message.objects.get(pk=lives.pk).content == "between the others, edited"
    assert Conversation.objects.filter(owner=alice, partner=carol).exists()


def test_deleted_account_token_no_longer_works(api, bob, lives):
    client = api(bob)
    client.delete("/api/v1/users/me/", {"password": PASSWORD})

    assert client.get("/api/v1/users/me/").status_code == 401


@pytest.mark.parametrize("body", [{"password": "wrong"}, {}, {"password": 1}, None])
def test_delete_account_without_the_right_password_is_400_and_deletes_nothing(
    api, bob, lives, body
):
    counts = (
        User.objects.count(),
        Message.objects.count(),
        MessageHistory.objects.count(),
        Notification.objects.count(),
        Conversation.objects.count(),
    )

    response = api(bob).delete("/api/v1/users/me/", body)

    assert response.status_code == 400
    assert "password" in response.json()
    assert counts == (
        User.objects.count(),
        Message.objects.count(),
        MessageHistory.objects.count(),
        Notification.objects.count(),
        Conversation.objects.count(),
    )


# The session cookie ----------------------------------------------------------


def test_session_cookie_authenticates_reads(session_client, alice):
    response = session_client(alice).get("/api/v1/users/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_session_cookie_without_csrf_token_is_403_and_stores_nothing(session_client, alice, bob):
    response = session_client(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "hi"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Message.objects.exists()


def test_session_cookie_with_csrf_token_may_send(session_client, alice, bob):
    client = session_client(alice)

    response = client.post(
        "/api/v1/messages/",
        {"receiver": "bob", "content": "hi"},
        content_type="application/json",
        headers=client.csrf_headers,
    )

    assert response.status_code == 201
    assert Message.objects.get().sender == alice


def test_session_cookie_account_deletion_needs_the_csrf_token(session_client, alice):
    client = session_client(alice)

    refused = client.delete(
        "/api/v1/users/me/", {"password": PASSWORD}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert User.objects.filter(pk=alice.pk).exists()

    accepted = client.delete(
        "/api/v1/users/me/",
        {"password": PASSWORD},
        content_type="application/json",
        headers=client.csrf_headers,
    )
    assert accepted.status_code == 204
    assert not User.objects.filter(pk=alice.pk).exists()
    assert accepted.cookies["sessionid"].value == ""  # logged out: the session is gone
    assert client.get("/api/v1/users/me/").status_code == 401
