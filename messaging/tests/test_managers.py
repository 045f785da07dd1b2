"""The query vocabulary of managers.py and the `Message.unread` manager."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save
from factory.django import mute_signals

from messaging import services
from messaging.managers import UnreadMessagesManager
from messaging.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(alice, bob, carol, send):
    """bob receives three messages (one already read) and sends one."""
    first = send(alice, bob, "first")
    read = send(carol, bob, "read one")
    services.message_mark_read(user=bob, message=read)
    last = send(carol, bob, "last")
    mine = send(bob, alice, "bob's own")
    between_others = send(alice, carol, "not bob's")
    return {"first": first, "read": read, "last": last, "mine": mine, "others": between_others}


def test_unread_for_user_is_the_unread_received_messages_newest_first(bob, mailbox):
    unread = list(Message.unread.unread_for_user(bob))

    assert unread == [mailbox["last"], mailbox["first"]]


def test_unread_for_user_orders_by_timestamp_not_id(alice, bob, send):
    older = send(alice, bob, "written second, dated first")
    newer = send(alice, bob, "dated last")
    Message.objects.filter(pk=older.pk).update(timestamp=newer.timestamp + timedelta(hours=1))

    assert list(Message.unread.unread_for_user(bob)) == [older, newer]


def test_unread_for_user_accepts_a_user_id(bob, mailbox):
    assert list(Message.unread.unread_for_user(bob.pk)) == [mailbox["last"], mailbox["first"]]


def test_unread_for_user_loads_only_the_listed_fields(bob, mailbox, django_assert_num_queries):
    with django_assert_num_queries(1):  # the messages joined with their senders
        unread = list(Message.unread.unread_for_user(bob))
        senders = [message.sender.username for message in unread]

    assert senders == ["carol", "alice"]
    message = unread[0]
    assert message.get_deferred_fields() == {"idempotency_key", "version"}
    assert message.sender.get_deferred_fields() == {
        "password",
        "last_login",
        "is_superuser",
        "first_name",
        "last_name",
        "email",
        "is_staff",
        "is_active",
        "date_joined",
    }
    assert message.receiver_id == bob.pk
    assert "receiver" not in message._state.fields_cache  # the id suffices, no join


def test_unread_manager_only_sees_unread_messages(bob, mailbox):
    assert mailbox["read"] not in Message.unread.all()
    assert set(Message.unread.all()) == {
        mailbox["first"],
        mailbox["last"],
        mailbox["mine"],
        mailbox["others"],
    }


def test_objects_stays_the_plain_default_manager(bob, mailbox):
    assert Message._default_manager is Message.objects
    assert Message._base_manager.name == "objects"
    assert not isinstance(Message.objects, UnreadMessagesManager)
    assert mailbox["read"] in Message.objects.all()
    assert Message.objects.filter(receiver=bob).count() == 3
    assert set(Message.objects.filter(receiver=bob, read=True)) == {mailbox["read"]}


def test_related_managers_keep_read_messages(bob, mailbox):
    assert mailbox["read"] in bob.received_messages.all()


def test_between_is_both_directions_of_one_pair_only(alice, bob, mailbox):
    assert set(Message.objects.between(alice, bob)) == {mailbox["first"], mailbox["mine"]}
    assert set(Message.objects.between(bob, alice)) == {mailbox["first"], mailbox["mine"]}


def test_for_participant_is_everything_sent_or_received(alice, bob, carol, mailbox):
    assert set(Message.objects.for_participant(alice)) == {
        mailbox["first"],
        mailbox["mine"],
        mailbox["others"],
    }
    assert Message.objects.for_participant(bob).count() == 4


def test_in_thread_is_the_root_and_every_reply_at_any_depth(alice, bob, send):
    root = send(alice, bob, "root")
    reply = send(bob, alice, "reply", parent_message=root)
    deeper = send(alice, bob, "deeper", parent_message=reply)
    send(alice, bob, "another thread")

    assert set(Message.objects.in_thread(root.pk)) == {root, reply, deeper}


def test_queryset_vocabulary_chains_on_the_unread_manager(alice, bob, carol):
    with mute_signals(post_save):
        Message.objects.create(sender=alice, receiver=bob, content="x")
        Message.objects.create(sender=carol, receiver=bob, content="y", read=True)

    assert Message.unread.for_participant(bob).count() == 1
    assert Message.unread.between(carol, bob).count() == 0
