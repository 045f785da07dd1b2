"""The shaped reads: threads, the inbox, conversations, unread lists, notifications."""

from datetime import timedelta

import pytest

from messaging import selectors, services
from messaging.exceptions import NotFound
from messaging.models import Message

pytestmark = pytest.mark.django_db


def shape(node):
    """A thread as (content, reply_count, [replies...]) tuples."""
    return (node.content, node.reply_count, [shape(reply) for reply in node.replies_list])


@pytest.fixture
def thread(alice, bob, send):
    """root <- (a <- (a1, a2), b <- b1), sent in the order root, a, a1, b, a2, b1."""
    root = send(alice, bob, "root")
    a = send(bob, alice, "a", parent_message=root)
    a1 = send(alice, bob, "a1", parent_message=a)
    b = send(alice, bob, "b", parent_message=root)
    a2 = send(bob, alice, "a2", parent_message=a)
    b1 = send(bob, alice, "b1", parent_message=b)
    send(alice, bob, "another thread")
    return {"root": root, "a": a, "a1": a1, "b": b, "a2": a2, "b1": b1}


EXPECTED_THREAD = (
    "root",
    2,
    [("a", 2, [("a1", 0, []), ("a2", 0, [])]), ("b", 1, [("b1", 0, [])])],
)


@pytest.mark.parametrize("asked", ["root", "a", "a1", "b", "a2", "b1"])
def test_thread_get_answers_the_whole_tree_from_any_of_its_messages(alice, bob, thread, asked):
    for user in (alice, bob):
        root = selectors.thread_get(user, thread[asked].pk)

        assert root.pk == thread["root"].pk
        assert shape(root) == EXPECTED_THREAD


def test_thread_get_orders_replies_oldest_first_by_time_not_id(alice, bob, send):
    root = send(alice, bob, "root")
    late = send(bob, alice, "written first, dated later", parent_message=root)
    early = send(bob, alice, "written second, dated earlier", parent_message=root)
    Message.objects.filter(pk=late.pk).update(timestamp=early.timestamp + timedelta(minutes=5))

    tree = selectors.thread_get(alice, root.pk)

    assert [reply.pk for reply in tree.replies_list] == [early.pk, late.pk]


def test_thread_get_of_a_lone_message_is_a_leaf(alice, bob, send):
    message = send(alice, bob, "alone")

    assert shape(selectors.thread_get(bob, message.pk)) == ("alone", 0, [])


@pytest.mark.parametrize("message_id", ["stranger", 987654, "abc", None, 2**70])
def test_thread_get_for_a_stranger_or_unknown_id_is_not_found(carol, thread, message_id):
    with pytest.raises(NotFound):
        selectors.thread_get(carol, thread["a1"].pk if message_id == "stranger" else message_id)


def test_message_get_for_participant_counts_direct_replies(alice, bob, thread):
    message = selectors.message_get_for_participant(bob, str(thread["a"].pk))

    assert message.reply_count == 2
    assert message.sender.username == "bob"


def test_message_get_for_participant_hides_from_strangers(carol, thread):
    with pytest.raises(NotFound):
        selectors.message_get_for_participant(carol, thread["root"].pk)


def test_history_list_is_for_participants_only(alice, bob, carol, send):
    message = send(alice, bob, "v1")
    services.message_edit(user=alice, message=message, content="v2")

    assert [row.old_content for row in selectors.history_list(bob, message.pk)] == ["v1"]
    with pytest.raises(NotFound):
        selectors.history_list(carol, message.pk)


# Conversations ---------------------------------------------------------------


def test_conversation_list_is_one_row_per_partner_newest_first(alice, bob, carol, send):
    send(alice, bob, "to bob")
    send(carol, alice, "from carol")
    last_with_bob = send(bob, alice, "bob again")
    send(bob, carol, "not alice's")

    rows = list(selectors.conversation_list(alice))

    assert [(row.partner.username, row.last_message.content, row.unread_count) for row in rows] == [
        ("bob", "bob again", 1),
        ("carol", "from carol", 1),
    ]
    assert rows[0].last_message == last_with_bob
    assert rows[0].last_message_reply_count == 0


def test_conversation_list_counts_unread_per_partner_and_side(alice, bob, send):
    for text in ["one", "two", "three"]:
        send(bob, alice, text)
    send(alice, bob, "back")
    services.message_mark_read(user=alice, message=Message.objects.get(content="one"))

    [alice_row] = selectors.conversation_list(alice)
    [bob_row] = selectors.conversation_list(bob)

    assert (alice_row.partner, alice_row.unread_count) == (bob, 2)
    assert (bob_row.partner, bob_row.unread_count) == (alice, 1)


def test_conversation_list_reports_the_last_messages_replies(alice, bob, send):
    root = send(alice, bob, "root")
    send(bob, alice, "reply", parent_message=root)
    send(alice, bob, "reply 2", parent_message=root)
    Message.objects.filter(pk=root.pk).update(timestamp=root.timestamp + timedelta(days=1))
    services.message_delete(user=alice, message=send(alice, bob, "bump and go"))

    [row] = selectors.conversation_list(alice)

    assert (row.last_message, row.last_message_reply_count) == (root, 2)


def test_conversation_list_of_a_user_without_messages_is_empty(carol):
    assert list(selectors.conversation_list(carol)) == []


def test_message_list_between_is_that_pair_newest_first(alice, bob, carol, send):
    one = send(alice, bob, "one")
    two = send(bob, alice, "two", parent_message=one)
    send(alice, carol, "elsewhere")

    messages = list(selectors.message_list_between(bob, alice))

    assert messages == [two, one]
    assert [m.reply_count for m in messages] == [0, 1]


# Unread ----------------------------------------------------------------------


def test_unread_list_and_count_are_the_unread_received_messages(alice, bob, carol, send):
    first = send(alice, bob, "first")
    read = send(carol, bob, "read")
    last = send(carol, bob, "last")
    send(bob, alice, "sent by bob")
    services.message_mark_read(user=bob, message=read)

    assert list(selectors.unread_list(bob)) == [last, first]
    assert selectors.unread_count(bob) == 2
    assert selectors.unread_count(carol) == 0


def test_unread_count_is_cached_until_something_changes(
    alice, bob, send, django_assert_num_queries, django_capture_on_commit_callbacks
):
    send(alice, bob, "one")
    with django_assert_num_queries(1):  # cold: COUNT of unread received messages
        assert selectors.unread_count(bob) == 1
    with django_assert_num_queries(0):  # warm: from the cache
        assert selectors.unread_count(bob) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_mark_read(user=bob, partner=alice)

    assert selectors.unread_count(bob) == 0


# Notifications ---------------------------------------------------------------


def test_notification_unread_count_is_cached_until_something_changes(
    alice, bob, send, django_assert_num_queries, django_capture_on_commit_callbacks
):
    send(alice, bob, "one")
    with django_assert_num_queries(1):  # cold: COUNT of unread notifications
        assert selectors.notification_unread_count(bob) == 1
    with django_assert_num_queries(0):  # warm: from the cache
        assert selectors.notification_unread_count(bob) == 1

    with django_capture_on_commit_callbacks(execute=True):
        services.notification_mark_all_read(user=bob)

    assert selectors.notification_unread_count(bob) == 0


def test_notification_list_is_newest_first_with_an_unread_filter(alice, bob, carol, send):
    send(alice, bob, "one")
    send(carol, bob, "two")
    root = send(alice, bob, "three")
    send(alice, bob, "four", parent_message=root)
    send(bob, alice, "for alice")
    oldest, *_ = reversed(list(selectors.notification_list(bob)))
    services.notification_mark_read(user=bob, notification=oldest)

    everything = list(selectors.notification_list(bob))
    unread = list(selectors.notification_list(bob, unread=True))
    read = list(selectors.notification_list(bob, unread=False))

    assert [n.message.content for n in everything] == ["four", "three", "two", "one"]
    assert [n.kind for n in everything] == ["reply", "message", "message", "message"]
    assert [n.actor.username for n in everything] == ["alice", "alice", "carol", "alice"]
    assert unread == everything[:3]
    assert read == [oldest]
    assert selectors.notification_unread_count(bob) == 3


def test_notification_get_for_user_hides_other_peoples(alice, bob, send):
    send(alice, bob, "hi")
    [notification] = selectors.notification_list(bob)

    assert selectors.notification_get_for_user(bob, str(notification.pk)) == notification
    for user, pk in [(alice, notification.pk), (bob, "x"), (bob, None)]:
        with pytest.raises(NotFound):
            selectors.notification_get_for_user(user, pk)


def test_user_get_by_username_is_not_found_for_unknown_names(alice):
    assert selectors.user_get_by_username("alice") == alice
    for name in ["nobody", "", None]:
        with pytest.raises(NotFound):
            selectors.user_get_by_username(name)
