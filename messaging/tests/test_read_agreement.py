"""Unread messages and unread notifications agree: reading a conversation (or one
message) reads the reader's notifications about it in the same service call, through
the services, the API and the pages. What the sockets hear:
`test_read_agreement_realtime.py`; a second browser tab: `browser/test_read_live.py`.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging import selectors, services
from messaging.models import Conversation, Message, Notification

from .conftest import SAME_ORIGIN
from .test_concurrency import run_together
from .utils import postgres_only

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange(alice, bob, carol, send):
    """Bob has four unread messages: three from alice (one of them edited since, one a
    reply in a thread) and one from carol, and five unread notifications (alice's three,
    her edit, carol's). Alice has one unread message from bob."""
    first = send(alice, bob, "first")
    answer = send(bob, alice, "an answer", parent_message=first)
    reply = send(alice, bob, "a reply", parent_message=answer)
    services.message_edit(user=alice, message=first.pk, content="first, edited")
    another = send(alice, bob, "another")
    from_carol = send(carol, bob, "from carol")
    return SimpleNamespace(
        first=first, answer=answer, reply=reply, another=another, from_carol=from_carol
    )


def unread_notes(user, **filters):
    return Notification.objects.filter(user=user, read=False, **filters)


def events(published):
    return [call.args for call in published.call_args_list]


# The services ------------------------------------------------------------------


def test_reading_a_conversation_reads_its_messages_notifications_and_the_partners_edits(
    alice, bob, carol, exchange
):
    read_by_alice = {"message": 2, "reply": 1, "edit": 1}
    assert {
        kind: unread_notes(bob, actor=alice, kind=kind).count() for kind in read_by_alice
    } == read_by_alice

    assert services.conversation_mark_read(user=bob, partner=alice) == 3

    assert not unread_notes(bob, actor=alice).exists()
    assert list(unread_notes(bob).values_list("message_id", flat=True)) == [exchange.from_carol.pk]
    # Nobody else's: alice's notification of bob's answer stays unread.
    assert list(unread_notes(alice).values_list("message_id", flat=True)) == [exchange.answer.pk]
    assert unread_notes(bob).count() == Message.objects.filter(receiver=bob, read=False).count()


def test_the_counts_agree_once_the_caches_move(
    alice, bob, exchange, django_capture_on_commit_callbacks
):
    assert (selectors.unread_count(bob), selectors.notification_unread_count(bob)) == (4, 5)

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_mark_read(user=bob, partner=alice)

    assert (selectors.unread_count(bob), selectors.notification_unread_count(bob)) == (1, 1)


def test_reading_one_message_reads_its_own_and_its_edits_notifications_only(
    alice, bob, exchange, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.message_mark_read(user=bob, message=exchange.first.pk)

    assert not unread_notes(bob, message=exchange.first).exists()
    assert set(unread_notes(bob).values_list("message_id", flat=True)) == {
        exchange.reply.pk,
        exchange.another.pk,
        exchange.from_carol.pk,
    }
    # The sender's receipt, then every socket of the reader.
    assert events(published) == [
        (alice.pk, "message.read", {"id": exchange.first.pk}),
        (bob.pk, "conversation.read", {"partner": "alice", "ids": [exchange.first.pk]}),
    ]


def test_reading_a_conversation_tells_the_partner_then_the_reader(
    alice, bob, exchange, published, django_capture_on_commit_callbacks
):
    ids = sorted([exchange.first.pk, exchange.reply.pk, exchange.another.pk])

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_mark_read(user=bob, partner=alice)

    assert events(published) == [
        (alice.pk, "message.read", {"partner": "bob", "ids": ids}),
        (bob.pk, "conversation.read", {"partner": "alice", "ids": ids}),
    ]


def test_an_edit_seen_in_an_open_conversation_is_read_though_no_message_is_new(
    alice, bob, exchange, published, django_capture_on_commit_callbacks
):
    services.conversation_mark_read(user=bob, partner=alice)
    services.message_edit(user=alice, message=exchange.reply.pk, content="a reply, edited")
    assert unread_notes(bob, actor=alice).count() == 1
    selectors.notification_unread_count(bob)  # cached

    with django_capture_on_commit_callbacks(execute=True):
        assert services.conversation_mark_read(user=bob, partner=alice) == 0

    assert not unread_notes(bob, actor=alice).exists()
    assert selectors.notification_unread_count(bob) == 1  # carol's
    # No receipt for alice (nothing of hers became read); bob's pages count again.
    assert events(published) == [(bob.pk, "conversation.read", {"partner": "alice", "ids": []})]


def test_nothing_unread_is_one_read_only_query_and_no_event(
    alice, bob, exchange, published, django_assert_num_queries, django_capture_on_commit_callbacks
):
    services.conversation_mark_read(user=bob, partner=alice)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        django_assert_num_queries(1) as queries,
    ):
        assert services.conversation_mark_read(user=bob, partner=alice) == 0

    assert queries.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
    assert callbacks == []
    assert events(published) == []


def test_a_stranger_edit_or_the_readers_own_messages_stay_as_they_were(alice, bob, carol, send):
    mine = send(bob, alice, "from bob")
    from_carol = send(carol, bob, "from carol")
    services.message_edit(user=carol, message=from_carol.pk, content="from carol, edited")
    services.conversation_mark_read(user=bob, partner=carol)
    services.message_edit(user=carol, message=from_carol.pk, content="edited again")

    assert services.conversation_mark_read(user=bob, partner=alice) == 0

    assert unread_notes(bob, actor=carol, kind="edit").count() == 1
    assert unread_notes(alice, message=mine).count() == 1


@pytest.mark.parametrize("size", [1, 60])
def test_reading_a_conversation_costs_the_same_however_much_is_unread(
    alice, bob, send, size, django_assert_max_num_queries
):
    for n in range(size):
        message = send(alice, bob, f"message {n}")
        services.message_edit(user=alice, message=message.pk, content=f"message {n}, edited")

    # Anything unread? (one query), then one transaction: savepoint, the messages
    # (UPDATE ... RETURNING their ids), their notifications and the partner's edits,
    # the inbox row's counter, release.
    with django_assert_max_num_queries(6):
        assert services.conversation_mark_read(user=bob, partner=alice) == size

    assert not unread_notes(bob).exists()


def test_reading_one_message_is_one_transaction_of_four_statements(
    alice, bob, exchange, django_assert_max_num_queries
):
    # Savepoint, the message, its read UPDATE, its notifications' UPDATE (the one
    # statement more than before they agreed), the inbox row's counter, release.
    with django_assert_max_num_queries(6):
        services.message_mark_read(user=bob, message=exchange.first.pk)


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reads_and_sends_at_once_leave_messages_and_notifications_agreeing(alice, bob):
    earlier = [services.message_send(sender=alice, receiver=bob, content=f"m{i}") for i in range(4)]

    run_together(
        *(lambda: services.message_send(sender=alice, receiver=bob, content="new") for _ in "abcd"),
        *(lambda m=m: services.message_mark_read(user=bob, message=m.pk) for m in earlier[:3]),
        *(lambda: services.conversation_mark_read(user=bob, partner=alice) for _ in range(2)),
    )

    for message in Message.objects.filter(receiver=bob):
        assert Notification.objects.get(message=message).read == message.read, message.content
    unread = Message.objects.filter(receiver=bob, read=False).count()
    assert Conversation.objects.get(owner=bob, partner=alice).unread_count == unread
    assert unread_notes(bob).count() == unread


# The API and the pages -----------------------------------------------------------


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def counts(client) -> tuple[int, int]:
    """(unread messages, unread notifications) as the API answers them."""
    messages = client.get("/api/v1/messages/unread/count/").json()["count"]
    notifications = client.get("/api/v1/notifications/unread-count/").json()["count"]
    return messages, notifications


@pytest.mark.django_db(transaction=True)  # real commits: the cached counts move as in production
def test_after_reading_a_conversation_through_the_api_the_counts_agree(alice, bob, exchange):
    client = api_as(bob)
    assert counts(client) == (4, 5)

    assert client.post("/api/v1/conversations/alice/read/").status_code == 204

    assert counts(client) == (1, 1)
    unread = client.get("/api/v1/notifications/?unread=true").json()["results"]
    assert [(note["actor"], note["message"]) for note in unread] == [
        ("carol", exchange.from_carol.pk)
    ]


@pytest.mark.django_db(transaction=True)
def test_reading_one_message_through_the_api_reads_its_notifications(alice, bob, exchange):
    client = api_as(bob)

    assert client.post(f"/api/v1/messages/{exchange.first.pk}/read/").status_code == 204

    assert counts(client) == (3, 3)  # `first` and its edit no longer count


def page_client(user, **headers) -> Client:
    client = Client(headers=headers)
    client.force_login(user)
    client.get("/")  # the CSRF cookie, as a browser holds it
    return client


def page_counts(client) -> dict[str, int]:
    return client.get("/live/counts/").json()


@pytest.mark.django_db(transaction=True)
def test_viewing_the_conversation_reads_its_notifications(alice, bob, exchange):
    client = page_client(bob, **SAME_ORIGIN)
    assert page_counts(client) == {"messages": 4, "notifications": 5}

    response = client.get("/conversations/alice/")

    assert response.status_code == 200
    assert page_counts(client) == {"messages": 1, "notifications": 1}
    # Seen again (now from the page cache, or not): nothing changes.
    assert client.get("/conversations/alice/").status_code == 200
    assert page_counts(client) == {"messages": 1, "notifications": 1}


@pytest.mark.django_db(transaction=True)
def test_another_sites_get_reads_nothing_and_the_button_reads_both(alice, bob, exchange):
    client = page_client(bob, **{"Sec-Fetch-Site": "cross-site"})

    response = client.get("/conversations/alice/")

    assert b"Mark conversation read" in response.content
    assert page_counts(client) == {"messages": 4, "notifications": 5}
    client.post("/conversations/alice/read/")
    assert page_counts(client) == {"messages": 1, "notifications": 1}
