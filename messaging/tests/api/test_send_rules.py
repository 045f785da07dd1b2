"""What a client sees when a send or an edit breaks a rule: 400 naming the field, and
nothing stored.

The rules live where the input is read, once: the content's in `content.clean_content`
(the serializer's `ContentField`), the key's in `content.clean_idempotency_key`, ids and
names parsed by the serializer's strict fields, the receiver checked by
`selectors.recipient`, the parent found by `selectors.reply_parent` and checked against
the two people by the send. The services take clean arguments; the rules themselves are
unit-tested in messaging/tests/test_services.py and test_properties.py.
"""

from __future__ import annotations

import json

import pytest

from messaging import services
from messaging.models import (
    MAX_CONTENT_LENGTH,
    Conversation,
    Message,
    MessageHistory,
    Notification,
)
from messaging.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SEND = "/api/v1/messages/"


def assert_nothing_stored():
    assert Message.objects.count() == 0
    assert Notification.objects.count() == 0
    assert Conversation.objects.count() == 0


def post_json(client, body: str, **headers):
    """A body written by hand: JSON the test client's renderer cannot encode (a lone
    surrogate travels escaped, as any JSON encoder sends it)."""
    return client.generic("POST", SEND, body, content_type="application/json", headers=headers)


# Content ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "",
        " ",
        "\n\t  \r\n",
        "x" * (MAX_CONTENT_LENGTH + 1),
        None,
        42,
        ["hello"],
        {"text": "hello"},
        "a\x00b",
    ],
    ids=["empty", "space", "whitespace", "too-long", "null", "int", "list", "object", "nul"],
)
def test_a_send_whose_content_breaks_a_rule_is_400_on_content_and_stores_nothing(
    api, alice, bob, content
):
    response = api(alice).post(SEND, {"receiver": "bob", "content": content}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["content"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    "content",
    ["", "   ", "x" * (MAX_CONTENT_LENGTH + 1), None, 42, "a\x00b", "\u200b\u2060 \u3164"],
    ids=["empty", "spaces", "too-long", "null", "int", "nul", "invisible"],
)
def test_an_edit_whose_content_breaks_a_rule_is_400_on_content_and_changes_nothing(
    api, alice, bob, send, content
):
    message = send(alice, bob, "fine")

    response = api(alice).patch(f"{SEND}{message.pk}/", {"content": content}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["content"]
    message.refresh_from_db()
    assert (message.content, message.edited) == ("fine", False)
    assert not MessageHistory.objects.exists()
    assert not Notification.objects.filter(kind=Notification.Kind.EDIT).exists()


@pytest.mark.parametrize("content", ["hi \ud800", "\udfff", "a\udc80b"])
def test_content_with_an_unpaired_surrogate_is_400_on_content(api, alice, bob, send, content):
    message = send(alice, bob, "fine")
    client = api(alice)

    sent = post_json(client, json.dumps({"receiver": "bob", "content": content}))
    edited = client.generic(
        "PATCH",
        f"{SEND}{message.pk}/",
        json.dumps({"content": content}),
        content_type="application/json",
    )

    assert (sent.status_code, edited.status_code) == (400, 400)
    assert list(sent.json()) == list(edited.json()) == ["content"]
    assert list(Message.objects.values_list("content", flat=True)) == ["fine"]


# The receiver ----------------------------------------------------------------


@pytest.mark.parametrize(
    "receiver",
    ["bob\x00", "\x00", "b\ud800b", "nobody", "", "alice", 12345, None, True, ["bob"]],
    ids=["nul-in-name", "nul", "surrogate", "nobody", "blank", "oneself", "int", "null",
         "bool", "list"],
)  # fmt: skip
def test_a_receiver_nobody_may_be_sent_to_is_400_on_receiver(api, alice, bob, receiver):
    response = post_json(api(alice), json.dumps({"receiver": receiver, "content": "hi"}))

    assert response.status_code == 400
    assert list(response.json()) == ["receiver"]
    assert_nothing_stored()


def test_an_inactive_receiver_is_400_on_receiver(api, alice):
    UserFactory(username="gone", is_active=False)

    response = api(alice).post(SEND, {"receiver": "gone", "content": "hi"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["receiver"]
    assert_nothing_stored()


# The parent ------------------------------------------------------------------

#: What a client may send as `parent_message`, made from an existing message's id:
#: only the id itself, as a JSON integer, is one.
NOT_AN_ID = {
    "true": lambda pk: True,
    "float": lambda pk: pk + 0.9,
    "whole-float": lambda pk: float(pk),
    "decimal-text": lambda pk: f"{pk}.0",
    "id-as-text": lambda pk: str(pk),
    "padded-text": lambda pk: f" {pk} ",
    "blank-text": lambda pk: " ",
    "empty-text": lambda pk: "",
    "word": lambda pk: "abc",
    "list": lambda pk: [pk],
    "object": lambda pk: {"id": pk},
    "empty-object": lambda pk: {},
    "negative": lambda pk: -1,
    "zero": lambda pk: 0,
    "beyond-the-key": lambda pk: 2**70,
    "unknown": lambda pk: pk + 987_654,
}


@pytest.mark.parametrize("make", NOT_AN_ID.values(), ids=NOT_AN_ID.keys())
def test_a_parent_that_is_not_a_message_id_is_400_on_parent_message(api, alice, bob, send, make):
    first = send(alice, bob, "the first message")

    response = post_json(
        api(alice),
        json.dumps({"receiver": "bob", "content": "reply", "parent_message": make(first.pk)}),
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_message"]
    assert list(Message.objects.all()) == [first]
    assert Notification.objects.count() == 1


def test_a_parent_deleted_meanwhile_is_400_on_parent_message(api, alice, bob, send):
    gone = send(alice, bob, "soon gone")
    services.message_delete(user=alice, message=gone)

    response = api(bob).post(
        SEND, {"receiver": "alice", "content": "reply", "parent_message": gone.pk}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_message"]
    assert not Message.objects.exists()


# The Idempotency-Key ---------------------------------------------------------


@pytest.mark.parametrize("key", ["k\x00", "", "   ", "k" * 65])
def test_an_idempotency_key_that_is_not_storable_text_is_400(api, alice, bob, key):
    response = api(alice).post(
        SEND, {"receiver": "bob", "content": "hi"}, format="json", headers={"Idempotency-Key": key}
    )

    assert response.status_code == 400
    assert list(response.json()) == ["idempotency_key"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"receiver": "nobody", "content": ""}),
        json.dumps({"receiver": "bob", "content": "x", "parent_message": "garbage"}),
        json.dumps([1, 2, 3]),
        "{not json",
    ],
    ids=["breaks-rules", "bad-parent", "not-an-object", "malformed"],
)
def test_a_retry_answers_the_first_message_before_reading_its_body(api, alice, bob, body):
    client = api(alice)
    first = client.post(
        SEND,
        {"receiver": "bob", "content": "once"},
        format="json",
        headers={"Idempotency-Key": "k"},
    )

    retry = post_json(client, body, **{"Idempotency-Key": "  k "})

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert Message.objects.count() == 1
    assert Notification.objects.count() == 1
