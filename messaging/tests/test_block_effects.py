"""What a block does to the blocker's view: the blocked person's edits and deletions
reach them neither as notifications nor as live frames, and their messages leave the
blocker's unread counts and lists, for as long as the block lasts.

The blocked person keeps control of their own text: their edits and deletions apply.
The same through a real socket: `test_block_effects_realtime.py`.
"""

from __future__ import annotations

import pytest

from messaging import selectors, services
from messaging.models import Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db

#: message_edit: SAVEPOINT, the locked message (with the receiver's block of the sender
#: in the same SELECT), INSERT history, UPDATE message, INSERT notification, RELEASE.
EDIT_QUERIES = 6
#: The same edit when the receiver blocks the sender: no notification.
EDIT_QUERIES_BLOCKED = 5
#: message_delete of a message without replies, as measured before the block check
#: joined the locked lookup: the lookup, the replies, the delete collector's reads and
#: deletes, the inbox rows' counters and last messages. The block check adds none.
DELETE_QUERIES = 14


def events(publish_mock, event_type: str) -> list[tuple]:
    return [c.args for c in publish_mock.call_args_list if c.args[1] == event_type]


# Edits and deletions ---------------------------------------------------------


def test_an_edit_by_a_blocked_person_neither_notifies_nor_reaches_the_blocker(
    alice, bob, send, published, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    message = send(alice, bob, "hello bob")
    services.user_block(user=bob, target=alice)
    published.reset_mock()

    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(EDIT_QUERIES_BLOCKED),
    ):
        services.message_edit(user=alice, message=message.pk, content="hello bob, edited")

    assert not Notification.objects.filter(kind=Notification.Kind.EDIT).exists()
    assert published.call_count == 0
    # Her own text is still hers to change.
    stored = Message.objects.get(pk=message.pk)
    assert (stored.content, stored.edited) == ("hello bob, edited", True)
    assert list(MessageHistory.objects.values_list("old_content", flat=True)) == ["hello bob"]


def test_an_edit_by_someone_not_blocked_still_notifies_at_the_same_cost(
    alice,
    bob,
    carol,
    send,
    published,
    django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):
    message = send(alice, bob, "hello bob")
    services.user_block(user=bob, target=carol)
    published.reset_mock()

    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(EDIT_QUERIES),
    ):
        services.message_edit(user=alice, message=message.pk, content="hello bob, edited")

    assert Notification.objects.filter(kind=Notification.Kind.EDIT, user=bob).count() == 1
    assert [(user_id, data["id"]) for user_id, _, data in events(published, "message.updated")] == [
        (bob.pk, message.pk)
    ]


def test_the_blocker_editing_still_reaches_the_person_they_blocked(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    # The contract silences the blocked person only; the blocker's own edits are not hidden.
    message = send(bob, alice, "hello alice")
    services.user_block(user=bob, target=alice)

    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(user=bob, message=message.pk, content="hello alice, edited")

    assert Notification.objects.filter(kind=Notification.Kind.EDIT, user=alice).count() == 1
    assert [user_id for user_id, *_ in events(published, "message.updated")] == [alice.pk]


def test_edits_notify_again_once_unblocked(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    message = send(alice, bob, "hello bob")
    services.user_block(user=bob, target=alice)
    services.user_unblock(user=bob, target=alice)

    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(user=alice, message=message.pk, content="hello again")

    assert Notification.objects.filter(kind=Notification.Kind.EDIT, user=bob).count() == 1
    assert len(events(published, "message.updated")) == 1


def test_a_delete_by_a_blocked_person_does_not_reach_the_blocker(
    alice, bob, send, published, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    message = send(alice, bob, "hello bob")
    send(alice, bob, "a later one")
    services.user_block(user=bob, target=alice)
    published.reset_mock()

    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(DELETE_QUERIES),
    ):
        services.message_delete(user=alice, message=message.pk)

    assert not Message.objects.filter(pk=message.pk).exists()
    assert published.call_count == 0


def test_a_delete_by_someone_not_blocked_still_reaches_the_receiver(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    message = send(alice, bob, "hello bob")

    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(user=alice, message=message.pk)

    assert events(published, "message.deleted") == [(bob.pk, "message.deleted", {"id": message.pk})]


# Unread counts and lists -----------------------------------------------------


@pytest.fixture
def unread_for_bob(alice, bob, carol, send):
    """bob has two unread messages from alice and one from carol."""
    return [send(alice, bob, "one"), send(alice, bob, "two"), send(carol, bob, "three")]


def test_unread_count_leaves_out_people_the_user_blocked(
    alice, bob, unread_for_bob, django_capture_on_commit_callbacks
):
    assert selectors.unread_count(bob) == 3

    with django_capture_on_commit_callbacks(execute=True):
        services.user_block(user=bob, target=alice)

    # The cached 3 is not served again: the block moved bob's generation.
    assert selectors.unread_count(bob) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.user_unblock(user=bob, target=alice)

    assert selectors.unread_count(bob) == 3


def test_the_blocked_person_still_counts_the_blockers_messages(
    alice, bob, send, django_capture_on_commit_callbacks
):
    send(bob, alice, "before the block")
    with django_capture_on_commit_callbacks(execute=True):
        services.user_block(user=bob, target=alice)

    assert selectors.unread_count(alice) == 1
    assert [m.content for m in selectors.unread_list(alice)] == ["before the block"]


def test_unread_list_leaves_out_people_the_user_blocked(alice, bob, carol, unread_for_bob):
    services.user_block(user=bob, target=alice)

    unread = list(selectors.unread_list(bob))

    assert [(m.sender.username, m.content) for m in unread] == [("carol", "three")]
    assert [m.content for m in Message.unread.unread_for_user(bob)] == ["three"]


@pytest.mark.parametrize("history", [0, 200])
def test_unread_count_and_list_stay_one_query_however_long_the_history(
    alice, bob, carol, send, history, django_assert_num_queries
):
    for n in range(history):
        message = send(alice, bob, f"old {n}")
        Message.objects.filter(pk=message.pk).update(read=True)
    send(alice, bob, "unread from alice")
    send(carol, bob, "unread from carol")
    services.user_block(user=bob, target=alice)
    from django.core.cache import cache

    cache.clear()
    with django_assert_num_queries(1):
        assert selectors.unread_count(bob) == 1
    with django_assert_num_queries(1):
        assert len(list(selectors.unread_list(bob))) == 1


def test_the_inbox_leaves_out_the_blocked_persons_conversation_and_its_unread(
    alice, bob, carol, unread_for_bob, django_assert_num_queries
):
    services.user_block(user=bob, target=alice)

    with django_assert_num_queries(1):
        rows = [
            (row.partner.username, row.unread_count) for row in selectors.conversation_list(bob)
        ]

    assert rows == [("carol", 1)]
