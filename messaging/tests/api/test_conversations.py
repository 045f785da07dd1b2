"""Conversations through HTTP: the inbox, one conversation's messages, marking it read."""

from __future__ import annotations

import pytest

from messaging import services
from messaging.models import Conversation, Message

pytestmark = pytest.mark.django_db


def test_inbox_has_one_row_per_partner_newest_last_message_first(api, alice, bob, carol, send):
    first = send(bob, alice, "from bob")
    send(bob, alice, "re", parent_message=first)
    services.message_send(sender=alice, receiver=carol, content="to carol")
    latest = send(alice, bob, "to bob", parent_message=first)
    send(bob, alice, "reply to latest", parent_message=latest)
    newest = Message.objects.order_by("-timestamp", "-id").first()

    response = api(alice).get("/api/v1/conversations/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    rows = body["results"]
    assert [row["partner"] for row in rows] == ["bob", "carol"]
    assert all(set(row) == {"partner", "group", "last_message", "unread_count"} for row in rows)
    assert all(row["group"] is None for row in rows)
    bob_row = rows[0]
    assert bob_row["last_message"]["id"] == newest.pk
    assert bob_row["last_message"]["sender"] == "bob"
    assert bob_row["unread_count"] == 3
    assert rows[1]["unread_count"] == 0
    assert rows[1]["last_message"]["content"] == "to carol"


def test_inbox_last_message_shows_its_reply_count(api, alice, bob, send):
    first = send(alice, bob, "first")
    send(bob, alice, "a", parent_message=first)
    send(bob, alice, "b", parent_message=first)
    # A reply is always newer than what it answers: point the row at the replied message
    # to see the count the selector annotates come through.
    Conversation.objects.filter(owner=alice).update(last_message=first)

    row = api(alice).get("/api/v1/conversations/").json()["results"][0]

    assert (row["last_message"]["id"], row["last_message"]["reply_count"]) == (first.pk, 2)


def test_empty_inbox(api, alice):
    assert api(alice).get("/api/v1/conversations/").json() == {
        "next": None,
        "previous": None,
        "results": [],
    }


def test_conversation_messages_are_those_between_the_two_newest_first(api, alice, bob, carol, send):
    one = send(alice, bob, "one")
    two = send(bob, alice, "two", parent_message=one)
    send(alice, carol, "not in it")
    send(bob, carol, "not in it either")
    three = send(alice, bob, "three")

    response = api(alice).get("/api/v1/conversations/bob/messages/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert [m["id"] for m in body["results"]] == [three.pk, two.pk, one.pk]
    assert body["results"][2]["reply_count"] == 1
    assert api(bob).get("/api/v1/conversations/alice/messages/").json() == body


def test_conversation_with_an_unknown_user_is_404(api, alice):
    response = api(alice).get("/api/v1/conversations/nobody/messages/")

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("username", ["%00", "a%00b", "x" * 151, "%F0%9F%92%A9"])
def test_conversation_with_an_impossible_name_is_404(api, alice, username):
    assert api(alice).get(f"/api/v1/conversations/{username}/messages/").status_code == 404
    assert api(alice).post(f"/api/v1/conversations/{username}/read/").status_code == 404


def test_conversation_page_changes_as_soon_as_the_conversation_does(
    api, alice, bob, django_capture_on_commit_callbacks
):
    """The page is cached (`cache_conversation_page`), and a send, an edit, a read or a
    delete in the conversation makes a new one at once."""
    client = api(alice)
    with django_capture_on_commit_callbacks(execute=True):
        first = api(bob).post("/api/v1/messages/", {"receiver": "alice", "content": "hi"}).json()
    assert [
        m["id"] for m in client.get("/api/v1/conversations/bob/messages/").json()["results"]
    ] == [first["id"]]

    with django_capture_on_commit_callbacks(execute=True):
        second = client.post("/api/v1/messages/", {"receiver": "bob", "content": "hey"}).json()
    page = client.get("/api/v1/conversations/bob/messages/").json()
    assert [m["id"] for m in page["results"]] == [second["id"], first["id"]]

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/v1/conversations/bob/read/")
    page = client.get("/api/v1/conversations/bob/messages/").json()
    assert page["results"][1]["read"] is True

    with django_capture_on_commit_callbacks(execute=True):
        client.patch(f"/api/v1/messages/{second['id']}/", {"content": "hello"})
    page = client.get("/api/v1/conversations/bob/messages/").json()
    assert (page["results"][0]["content"], page["results"][0]["edited"]) == ("hello", True)

    with django_capture_on_commit_callbacks(execute=True):
        client.delete(f"/api/v1/messages/{second['id']}/")
    page = client.get("/api/v1/conversations/bob/messages/").json()
    assert [m["id"] for m in page["results"]] == [first["id"]]


def test_conversation_page_is_never_served_to_another_viewer(api, alice, bob, carol, send):
    send(alice, bob, "between alice and bob")
    assert len(api(alice).get("/api/v1/conversations/bob/messages/").json()["results"]) == 1

    assert api(carol).get("/api/v1/conversations/bob/messages/").json()["results"] == []
    assert api().get("/api/v1/conversations/bob/messages/").status_code == 401


def test_conversation_read_marks_every_message_from_the_partner_read(api, alice, bob, carol, send):
    send(bob, alice, "one")
    send(bob, alice, "two")
    mine = send(alice, bob, "mine")
    from_carol = send(carol, alice, "carol's")

    response = api(alice).post("/api/v1/conversations/bob/read/")

    assert response.status_code == 204
    assert not Message.objects.filter(sender=bob, receiver=alice, read=False).exists()
    assert Message.objects.get(pk=mine.pk).read is False
    assert Message.objects.get(pk=from_carol.pk).read is False
    inbox = {
        row["partner"]: row for row in api(alice).get("/api/v1/conversations/").json()["results"]
    }
    assert inbox["bob"]["unread_count"] == 0
    assert inbox["carol"]["unread_count"] == 1
    assert api(alice).get("/api/v1/messages/unread/count/").json() == {"count": 1}


def test_conversation_read_is_idempotent(api, alice, bob, send):
    send(bob, alice, "one")

    assert api(alice).post("/api/v1/conversations/bob/read/").status_code == 204
    assert api(alice).post("/api/v1/conversations/bob/read/").status_code == 204


def test_conversation_read_with_an_unknown_user_is_404(api, alice):
    assert api(alice).post("/api/v1/conversations/nobody/read/").status_code == 404
