"""Blocking: a many-to-many on the messaging profile whose changes drive their effects."""

import pytest
from django.db import connection
from django.db.models.signals import m2m_changed
from django.test.utils import CaptureQueriesContext

from messaging import cache, selectors, services
from messaging.exceptions import NotFound, ValidationError
from messaging.models import Conversation, Message, MessagingProfile


def inbox_partners(user) -> list[str]:
    return [row.partner.username for row in selectors.conversation_list(user)]


def blocked_people(user) -> list:
    """Whom `user` blocks, one entry per row of the relation, newest first."""
    return [row.user for row in selectors.block_list(user)]


def test_blocked_person_cannot_send_to_the_blocker(alice, bob, send):
    services.user_block(user=alice, target="bob")

    with pytest.raises(ValidationError) as refused:
        send(bob, alice, "hello?")

    assert refused.value.field == "receiver"
    assert "does not accept" in refused.value.message
    assert not Message.objects.exists()


@pytest.mark.parametrize("by_username", [False, True])
def test_blocker_cannot_send_to_the_blocked_person(alice, bob, send, by_username):
    services.user_block(user=alice, target=bob)

    with pytest.raises(ValidationError) as refused:
        receiver = selectors.recipient(sender=alice, username="bob") if by_username else bob
        send(alice, receiver, "one more thing")

    assert refused.value.field == "receiver"
    assert "unblock" in refused.value.message
    assert not Message.objects.exists()


@pytest.mark.parametrize("by_username", [False, True])
def test_the_recipient_lookup_refuses_a_block_either_way(alice, bob, by_username):
    services.user_block(user=alice, target=bob)

    def lookup(user):
        return {"username": user.username} if by_username else {"user_id": user.pk}

    with pytest.raises(ValidationError) as blocker:
        selectors.recipient(sender=alice, **lookup(bob))
    with pytest.raises(ValidationError) as blocked:
        selectors.recipient(sender=bob, **lookup(alice))

    assert (blocker.value.field, blocked.value.field) == ("receiver", "receiver")
    assert "unblock" in blocker.value.message
    assert "does not accept" in blocked.value.message


def test_a_recipient_checked_for_one_sender_is_checked_again_for_another(alice, bob, carol, send):
    """`selectors.recipient` marks the user as checked for that sender only: the send
    checks a user found for somebody else, as it checks any user it is given."""
    bob_for_alice = selectors.recipient(sender=alice, username="bob")
    services.user_block(user=bob, target=carol)

    with pytest.raises(ValidationError) as refused:
        send(carol, bob_for_alice, "hello?")

    assert "does not accept" in refused.value.message
    assert not Message.objects.exists()
    assert send(alice, bob_for_alice, "hi").receiver == bob


def test_block_hides_the_conversation_from_the_blocker_only(alice, bob, carol, send):
    send(alice, bob, "hi bob")
    send(alice, carol, "hi carol")

    services.user_block(user=alice, target=bob)

    assert inbox_partners(alice) == ["carol"]
    assert inbox_partners(bob) == ["alice"]


def test_unblock_brings_the_conversation_back_and_allows_messages(alice, bob, send):
    send(alice, bob, "hi bob")
    services.user_block(user=alice, target=bob)

    services.user_unblock(user=alice, target="bob")

    assert inbox_partners(alice) == ["bob"]
    assert send(bob, alice, "welcome back").pk


def test_block_is_idempotent(alice, bob):
    services.user_block(user=alice, target=bob)
    services.user_block(user=alice, target=bob)

    assert blocked_people(alice) == [bob]


def test_block_refuses_oneself_and_unknown_people(alice):
    with pytest.raises(ValidationError):
        services.user_block(user=alice, target=alice)
    with pytest.raises(NotFound):
        services.user_block(user=alice, target="nobody")
    assert not MessagingProfile.objects.filter(blocked__isnull=False).exists()


def test_block_from_the_other_side_of_the_relation_has_the_same_effects(alice, bob, send):
    send(alice, bob, "hi bob")
    profile = MessagingProfile.objects.create(user=alice)

    bob.blocked_by.add(profile)

    assert inbox_partners(alice) == []
    with pytest.raises(ValidationError):
        send(bob, alice, "hello?")


def test_clearing_blocks_unhides_every_conversation(alice, bob, carol, send):
    send(alice, bob, "hi bob")
    send(alice, carol, "hi carol")
    services.user_block(user=alice, target=bob)
    services.user_block(user=alice, target=carol)

    alice.messaging_profile.blocked.clear()

    assert sorted(inbox_partners(alice)) == ["bob", "carol"]


def test_block_invalidates_the_cached_inbox_generation(
    alice, bob, send, django_capture_on_commit_callbacks
):
    send(alice, bob, "hi bob")
    before = cache.user_generation(alice.pk)

    with django_capture_on_commit_callbacks(execute=True):
        services.user_block(user=alice, target=bob)

    assert cache.user_generation(alice.pk) != before


def test_block_with_the_signal_muted_changes_only_the_relation(alice, bob, send):
    from factory.django import mute_signals

    send(alice, bob, "hi bob")
    with mute_signals(m2m_changed):
        services.user_block(user=alice, target=bob)

    assert Conversation.objects.get(owner=alice).hidden is False
    assert blocked_people(alice) == [bob]


def test_deleting_a_blocker_leaves_no_block_behind(alice, bob):
    services.user_block(user=alice, target=bob)

    services.delete_user(user=alice, password="correct horse battery staple")

    assert not MessagingProfile.blocked.through.objects.exists()
    assert not MessagingProfile.objects.exists()


def test_send_by_username_checks_blocks_in_the_same_lookup(
    alice, bob, send, django_assert_num_queries
):
    send(alice, bob, "first")
    # The receiver's lookup carries the block flags: one query.
    with django_assert_num_queries(1):
        receiver = selectors.recipient(sender=alice, username="bob")

    # receiver lookup with block flags, message, notification, inbox rows
    # (and the test transaction's savepoint pair)
    with CaptureQueriesContext(connection) as by_username:
        send(alice, selectors.recipient(sender=alice, username="bob"), "second")
    # The send does not look up again a receiver the lookup checked for this sender ...
    with CaptureQueriesContext(connection) as checked:
        send(alice, receiver, "third")
    # ... and checks, in that same one query, a user it was given otherwise.
    with CaptureQueriesContext(connection) as unchecked:
        send(alice, bob, "fourth")

    assert len(by_username) <= 8
    assert len(checked) == len(by_username) - 1
    assert len(unchecked) == len(by_username)
