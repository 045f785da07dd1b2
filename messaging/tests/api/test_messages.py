"""Messages through HTTP: every row of the contract's Messages table, shape and side effects."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import pytest
from django.db.models.signals import post_save
from factory.django import mute_signals

from messaging import services
from messaging.models import MAX_CONTENT_LENGTH, Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {
    "id",
    "sender",
    "receiver",
    "group",
    "content",
    "timestamp",
    "edited",
    "read",
    "parent_message",
    "thread_root",
    "reply_count",
}


def assert_message(body: dict, message: Message, **expected) -> None:
    assert set(body) == MESSAGE_FIELDS
    assert body["id"] == message.pk
    assert body["sender"] == message.sender.username
    assert body["receiver"] == message.receiver.username
    assert body["group"] is None  # a direct message
    assert datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).tzinfo is not None
    for key, value in expected.items():
        assert body[key] == value, key


# Send ------------------------------------------------------------------------


def test_send_answers_the_message_and_stores_it_with_one_notification(api, alice, bob):
    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "  hello  "})

    assert response.status_code == 201
    message = Message.objects.get()
    assert_message(
        response.json(),
        message,
        content="hello",
        edited=False,
        read=False,
        parent_message=None,
        thread_root=message.pk,
        reply_count=0,
    )
    assert (message.sender, message.receiver, message.content) == (alice, bob, "hello")
    notification = Notification.objects.get()
    assert (notification.user, notification.kind, notification.message) == (bob, "message", message)


def test_send_a_reply_places_it_in_the_thread(api, alice, bob, send):
    first = send(alice, bob, "first")
    reply = send(bob, alice, "reply", parent_message=first)

    response = api(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "deeper", "parent_message": reply.pk}
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["parent_message"], body["thread_root"]) == (reply.pk, first.pk)
    assert Notification.objects.filter(user=bob, kind="reply", message_id=body["id"]).count() == 1


def test_send_at_the_length_limit_is_accepted(api, alice, bob):
    content = "x" * MAX_CONTENT_LENGTH

    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": content})

    assert response.status_code == 201
    assert len(Message.objects.get().content) == MAX_CONTENT_LENGTH


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receiver": "bob", "content": ""}, "content"),
        ({"receiver": "bob", "content": " \n\t "}, "content"),
        ({"receiver": "bob", "content": "x" * (MAX_CONTENT_LENGTH + 1)}, "content"),
        ({"receiver": "bob", "content": "nul \x00 inside"}, "content"),
        ({"receiver": "alice", "content": "to myself"}, "receiver"),
        ({"receiver": "nobody", "content": "hi"}, "receiver"),
        ({"receiver": "", "content": "hi"}, "receiver"),
        ({"content": "hi"}, "receiver"),
        ({"receiver": "bob"}, "content"),
        ({"receiver": "bob", "content": 5}, "content"),
        ({"receiver": ["bob"], "content": "hi"}, "receiver"),
        ({"receiver": "bob", "content": "hi", "parent_message": "1"}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "parent_message": 1.5}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "parent_message": True}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "parent_message": 0}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "parent_message": 2**63}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "parent_message": 999_999}, "parent_message"),
        ({"receiver": "bob", "content": "hi", "sender": "carol"}, "sender"),
        ({"receiver": "bob", "content": "hi", "read": True}, "read"),
    ],
)
def test_send_breaking_a_rule_is_400_naming_the_field_and_stores_nothing(
    api, alice, bob, carol, body, field
):
    response = api(alice).post("/api/v1/messages/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert all(isinstance(reasons, list) and reasons for reasons in response.json().values())
    assert not Message.objects.exists()
    assert not Notification.objects.exists()


def test_send_a_reply_to_someone_elses_message_is_400_and_stores_nothing(
    api, alice, bob, carol, send
):
    theirs = send(bob, carol, "between bob and carol")

    response = api(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "hi", "parent_message": theirs.pk}
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_message"]
    assert Message.objects.count() == 1


def test_send_to_an_inactive_account_is_400(api, alice, bob):
    bob.is_active = False
    bob.save(update_fields=["is_active"])

    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "hi"})

    assert response.status_code == 400
    assert not Message.objects.exists()


# Idempotency ------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_answers_the_first_message(api, alice, bob):
    client = api(alice)
    headers = {"Idempotency-Key": "retry-1"}

    first = client.post(
        "/api/v1/messages/", {"receiver": "bob", "content": "once"}, headers=headers
    )
    retry = client.post(
        "/api/v1/messages/", {"receiver": "bob", "content": "once"}, headers=headers
    )

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert Message.objects.count() == 1
    assert Notification.objects.count() == 1


def test_a_retry_answers_the_first_message_whatever_its_body(api, alice, bob):
    client = api(alice)
    headers = {"Idempotency-Key": "retry-2"}
    first = client.post("/api/v1/messages/", {"receiver": "bob", "content": "one"}, headers=headers)

    retry = client.post("/api/v1/messages/", {"receiver": "bob", "content": "two"}, headers=headers)

    assert retry.json()["id"] == first.json()["id"]
    assert retry.json()["content"] == "one"
    assert Message.objects.count() == 1


def test_other_keys_and_other_senders_send_new_messages(api, alice, bob):
    api(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "a"}, headers={"Idempotency-Key": "k"}
    )
    api(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "b"}, headers={"Idempotency-Key": "k2"}
    )
    api(bob).post(
        "/api/v1/messages/", {"receiver": "alice", "content": "c"}, headers={"Idempotency-Key": "k"}
    )
    api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "d"})
    api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "d"})

    assert Message.objects.count() == 5


@pytest.mark.parametrize("key", ["", "   ", "k" * 65])
def test_an_unusable_idempotency_key_is_400_and_stores_nothing(api, alice, bob, key):
    response = api(alice).post(
        "/api/v1/messages/", {"receiver": "bob", "content": "hi"}, headers={"Idempotency-Key": key}
    )

    assert response.status_code == 400
    assert "idempotency_key" in response.json()
    assert not Message.objects.exists()


# Read one ----------------------------------------------------------------------


def test_get_answers_the_message_to_both_people(api, alice, bob, send):
    message = send(alice, bob, "hello")
    send(bob, alice, "re", parent_message=message)

    for user in (alice, bob):
        response = api(user).get(f"/api/v1/messages/{message.pk}/")
        assert response.status_code == 200
        assert_message(response.json(), message, content="hello", reply_count=1)


# Edit ------------------------------------------------------------------------


def test_edit_changes_the_content_and_keeps_the_old_text_in_history(api, alice, bob, send):
    message = send(alice, bob, "first text")

    response = api(alice).patch(f"/api/v1/messages/{message.pk}/", {"content": " second text "})

    assert response.status_code == 200
    assert_message(response.json(), message, content="second text", edited=True)
    message.refresh_from_db()
    assert (message.content, message.edited) == ("second text", True)
    assert list(MessageHistory.objects.values_list("old_content", flat=True)) == ["first text"]


def test_edit_to_the_same_content_answers_200_and_changes_nothing(api, alice, bob, send):
    message = send(alice, bob, "same")

    response = api(alice).patch(f"/api/v1/messages/{message.pk}/", {"content": "same "})

    assert response.status_code == 200
    assert response.json()["edited"] is False
    assert not MessageHistory.objects.exists()
    message.refresh_from_db()
    assert message.edited is False


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   "},
        {"content": "x" * (MAX_CONTENT_LENGTH + 1)},
        {"content": None},
        {"content": 3},
        {},
        {"content": "ok", "receiver": "carol"},
    ],
)
def test_edit_validates_content_as_when_sending(api, alice, bob, send, body):
    message = send(alice, bob, "unchanged")

    response = api(alice).patch(f"/api/v1/messages/{message.pk}/", body)

    assert response.status_code == 400
    message.refresh_from_db()
    assert (message.content, message.edited) == ("unchanged", False)
    assert not MessageHistory.objects.exists()


# Delete ----------------------------------------------------------------------


def test_delete_removes_the_message_and_keeps_its_replies_in_the_thread(api, alice, bob, send):
    first = send(alice, bob, "first")
    middle = send(bob, alice, "middle", parent_message=first)
    last = send(alice, bob, "last", parent_message=middle)

    response = api(bob).delete(f"/api/v1/messages/{middle.pk}/")

    assert response.status_code == 204
    assert response.content == b""
    assert not Message.objects.filter(pk=middle.pk).exists()
    last.refresh_from_db()
    assert (last.parent_message_id, last.root_id) == (first.pk, first.pk)
    thread = api(alice).get(f"/api/v1/messages/{last.pk}/thread/").json()
    assert [reply["id"] for reply in thread["replies"]] == [last.pk]


def test_deleting_the_first_message_keeps_the_thread_together(api, alice, bob, send):
    first = send(alice, bob, "first")
    a = send(bob, alice, "a", parent_message=first)
    b = send(alice, bob, "b", parent_message=first)

    assert api(alice).delete(f"/api/v1/messages/{first.pk}/").status_code == 204

    thread = api(bob).get(f"/api/v1/messages/{b.pk}/thread/").json()
    assert thread["id"] == a.pk
    assert [reply["id"] for reply in thread["replies"]] == [b.pk]


# History -----------------------------------------------------------------------


def test_history_lists_old_texts_newest_first(api, alice, bob, send):
    message = send(alice, bob, "one")
    services.message_edit(user=alice, message=message, content="two")
    services.message_edit(user=alice, message=message, content="three")

    response = api(bob).get(f"/api/v1/messages/{message.pk}/history/")

    assert response.status_code == 200
    history = response.json()
    assert [entry["old_content"] for entry in history] == ["two", "one"]
    assert all(set(entry) == {"old_content", "edited_at"} for entry in history)


def test_history_of_an_unedited_message_is_empty(api, alice, bob, send):
    message = send(alice, bob, "one")

    assert api(alice).get(f"/api/v1/messages/{message.pk}/history/").json() == []


# Thread ------------------------------------------------------------------------


@pytest.fixture
def thread(alice, bob, send):
    """first ─┬─ r1 ── r1a
    └─ r2"""
    first = send(alice, bob, "first")
    r1 = send(bob, alice, "r1", parent_message=first)
    r1a = send(alice, bob, "r1a", parent_message=r1)
    r2 = send(bob, alice, "r2", parent_message=first)
    return first, r1, r1a, r2


@pytest.mark.parametrize("asked", [0, 1, 2, 3])
def test_thread_answers_the_whole_tree_whichever_message_is_asked(api, alice, thread, asked):
    first, r1, r1a, r2 = thread

    response = api(alice).get(f"/api/v1/messages/{thread[asked].pk}/thread/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    root = response.json()
    assert set(root) == MESSAGE_FIELDS | {"replies"}
    assert (root["id"], root["reply_count"], root["thread_root"]) == (first.pk, 2, first.pk)
    assert [reply["id"] for reply in root["replies"]] == [r1.pk, r2.pk]
    first_reply, second_reply = root["replies"]
    assert [reply["id"] for reply in first_reply["replies"]] == [r1a.pk]
    assert first_reply["reply_count"] == 1
    assert first_reply["replies"][0]["replies"] == []
    assert second_reply["replies"] == []
    assert first_reply["replies"][0]["thread_root"] == first.pk


def test_a_thread_deeper_than_pythons_recursion_limit_renders(api, alice, bob, send):
    depth = 1_200
    parent = root = send(alice, bob, "root")
    # Built without the services: a thousand sends would only slow the test down.
    with mute_signals(post_save):
        for index in range(depth):
            parent = Message.objects.create(
                sender=alice if index % 2 else bob,
                receiver=bob if index % 2 else alice,
                content=f"reply {index}",
                parent_message=parent,
                thread_root=root,
            )

    response = api(alice).get(f"/api/v1/messages/{parent.pk}/thread/")

    assert response.status_code == 200
    # Python's own JSON parser needs more stack than the server used to write it.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(10 * depth)
    try:
        node = json.loads(response.content)
    finally:
        sys.setrecursionlimit(limit)
    levels = 0
    while node["replies"]:
        node, levels = node["replies"][0], levels + 1
    assert (levels, node["id"]) == (depth, parent.pk)


# Read ------------------------------------------------------------------------


def test_read_marks_the_message_read_and_is_idempotent(api, alice, bob, send):
    message = send(alice, bob, "read me")
    client = api(bob)

    assert client.post(f"/api/v1/messages/{message.pk}/read/").status_code == 204
    assert client.post(f"/api/v1/messages/{message.pk}/read/").status_code == 204

    message.refresh_from_db()
    assert message.read is True
    assert client.get("/api/v1/messages/unread/count/").json() == {"count": 0}


# Unread --------------------------------------------------------------------------


def test_unread_lists_unread_messages_received_newest_first(api, alice, bob, carol, send):
    old = send(alice, bob, "old")
    read = send(alice, bob, "read")
    services.message_mark_read(user=bob, message=read)
    send(bob, alice, "sent by bob")
    new = send(carol, bob, "new", parent_message=None)
    send(bob, carol, "re", parent_message=new)

    response = api(bob).get("/api/v1/messages/unread/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [m["id"] for m in body["results"]] == [new.pk, old.pk]
    assert_message(body["results"][0], new, content="new", read=False, reply_count=1)


def test_unread_count_counts_unread_messages_received(api, alice, bob, send):
    send(alice, bob, "one")
    send(alice, bob, "two")
    send(bob, alice, "not counted for bob")

    response = api(bob).get("/api/v1/messages/unread/count/")

    assert response.status_code == 200
    assert response.json() == {"count": 2}
