"""The permission matrix: every endpoint with four callers.

For a message from alice (sender) to bob (receiver): dave is a stranger (404, exactly
as if it did not exist, and nothing changes) and an anonymous client gets 401.
Endpoints without an object answer 401 to anonymous callers and serve only the
caller's own data to everyone else.
"""

from __future__ import annotations

import pytest

from messaging import services
from messaging.models import Message, MessageHistory, Notification
from messaging.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

CALLERS = ("sender", "receiver", "stranger", "anonymous")


@pytest.fixture
def world(alice, bob, dave, send):
    message = send(alice, bob, "between alice and bob")
    reply = send(bob, alice, "reply", parent_message=message)
    services.message_edit(user=alice, message=message, content="edited")
    # The stranger has a life of their own, so their lists are not trivially empty.
    send(dave, alice, "dave to alice")
    return {
        "message": message,
        "reply": reply,
        "notification": Notification.objects.filter(user=bob, message=message).first(),
        "users": {"sender": alice, "receiver": bob, "stranger": dave, "anonymous": None},
    }


def state(message_id: int) -> tuple:
    message = Message.objects.filter(pk=message_id).values_list("content", "read").first()
    return (
        message,
        MessageHistory.objects.count(),
        list(Notification.objects.order_by("pk").values_list("read", flat=True)),
    )


# method, path (formatted with the world), body, expected for sender/receiver/stranger/anon
MESSAGE_MATRIX = [
    ("get", "/api/v1/messages/{message}/", None, (200, 200, 404, 401)),
    ("patch", "/api/v1/messages/{message}/", {"content": "changed"}, (200, 403, 404, 401)),
    ("delete", "/api/v1/messages/{message}/", None, (204, 403, 404, 401)),
    ("get", "/api/v1/messages/{message}/history/", None, (200, 200, 404, 401)),
    ("get", "/api/v1/messages/{message}/thread/", None, (200, 200, 404, 401)),
    ("get", "/api/v1/messages/{reply}/thread/", None, (200, 200, 404, 401)),
    ("post", "/api/v1/messages/{message}/read/", None, (403, 204, 404, 401)),
    # The notification is the receiver's: the sender may not see it either.
    ("post", "/api/v1/notifications/{notification}/read/", None, (404, 204, 404, 401)),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), MESSAGE_MATRIX)
@pytest.mark.parametrize("caller", CALLERS)
def test_object_endpoints_per_caller(api, world, method, path, body, expected, caller):
    url = path.format(
        message=world["message"].pk,
        reply=world["reply"].pk,
        notification=world["notification"].pk,
    )
    before = state(world["message"].pk)

    response = getattr(api(world["users"][caller]), method)(url, body)

    status = expected[CALLERS.index(caller)]
    assert response.status_code == status
    if status >= 400:
        assert set(response.json()) == {"detail"}
        assert state(world["message"].pk) == before
    if caller == "stranger":
        # Exactly as if it did not exist.
        missing = getattr(api(world["users"][caller]), method)(
            path.format(message=10**9, reply=10**9, notification=10**9), body
        )
        assert (missing.status_code, missing.json()) == (response.status_code, response.json())


def test_a_stranger_cannot_reply_into_someone_elses_thread(api, world):
    response = api(world["users"]["stranger"]).post(
        "/api/v1/messages/",
        {"receiver": "bob", "content": "hi", "parent_message": world["message"].pk},
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_message"]


# method, path, body, status for an authenticated caller
CALLER_MATRIX = [
    ("get", "/api/v1/users/me/", None, 200),
    ("get", "/api/v1/users/me/export/", None, 200),
    ("post", "/api/v1/messages/", {"receiver": "{partner}", "content": "hi"}, 201),
    ("get", "/api/v1/messages/unread/", None, 200),
    ("get", "/api/v1/messages/unread/count/", None, 200),
    ("get", "/api/v1/messages/search/?q=between", None, 200),
    ("get", "/api/v1/conversations/", None, 200),
    ("get", "/api/v1/conversations/{partner}/messages/", None, 200),
    ("post", "/api/v1/conversations/{partner}/read/", None, 204),
    ("get", "/api/v1/notifications/", None, 200),
    ("get", "/api/v1/notifications/unread-count/", None, 200),
    ("post", "/api/v1/notifications/read-all/", None, 204),
    ("delete", "/api/v1/users/me/", {"password": PASSWORD}, 204),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CALLER_MATRIX)
@pytest.mark.parametrize("caller", CALLERS)
def test_caller_endpoints_per_caller(api, world, method, path, body, status, caller):
    user = world["users"][caller]
    partner = "bob" if caller != "receiver" else "alice"
    url = path.format(partner=partner)
    if isinstance(body, dict):
        body = {key: value.format(partner=partner) for key, value in body.items()}
    messages_before = Message.objects.count()

    response = getattr(api(user), method)(url, body)

    if caller == "anonymous":
        assert response.status_code == 401
        assert Message.objects.count() == messages_before
    else:
        assert response.status_code == status


@pytest.mark.parametrize("caller", ["sender", "receiver", "stranger"])
def test_lists_show_only_the_callers_own_data(api, world, caller):
    user = world["users"][caller]
    client = api(user)

    for message in client.get("/api/v1/messages/unread/").json()["results"]:
        assert message["receiver"] == user.username
    for message in client.get("/api/v1/messages/search/?q=between").json()["results"]:
        assert user.username in (message["sender"], message["receiver"])
    for row in client.get("/api/v1/conversations/").json()["results"]:
        assert user.username in (row["last_message"]["sender"], row["last_message"]["receiver"])
    for notification in client.get("/api/v1/notifications/").json()["results"]:
        assert Notification.objects.get(pk=notification["id"]).user == user
    export = client.get("/api/v1/users/me/export/").json()
    assert all(m["sender"] == user.username for m in export["messages_sent"])
    assert all(m["receiver"] == user.username for m in export["messages_received"])
    between = client.get("/api/v1/conversations/bob/messages/").json()["results"]
    if caller == "stranger":
        assert between == []
