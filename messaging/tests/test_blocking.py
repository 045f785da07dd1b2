"""Blocking: a many-to-many on the messaging profile whose changes drive their effects."""

import pytest
from django.db.models.signals import m2m_changed

from messaging import cache, selectors, services
from messaging.exceptions import NotFound, ValidationError
from messaging.models import Conversation, Message, MessagingProfile


def inbox_partners(user) -> list[str]:
    return [row.partner.username for row in selectors.conversation_list(user)]


def test_blocked_person_cannot_send_to_the_blocker(alice, bob, send):
    services.user_block(user=alice, target="bob")

    with pytest.raises(ValidationError) as refused:
        send(bob, alice, "hello?")

    assert refused.value.field == "receiver"
    assert "does not accept" in refused.value.message
    assert not Message.objects.exists()


def test_blocker_cannot_send_to_the_blocked_person(alice, bob, send):
    services.user_block(user=alice, target=bob)

    with pytest.raises(ValidationError) as refused:
        send(alice, "bob", "one more thing")

    assert "unblock" in refused.value.message
    assert not Message.objects.exists()


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

    assert list(selectors.blocked_list(alice)) == [bob]


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
    assert list(selectors.blocked_list(alice)) == [bob]


def test_deleting_a_blocker_leaves_no_block_behind(alice, bob):
    services.user_block(user=alice, target=bob)

    services.delete_user(user=alice, password="correct horse battery staple")

    assert not MessagingProfile.blocked.through.objects.exists()
    assert not MessagingProfile.objects.exists()


def test_send_by_username_checks_blocks_in_the_same_lookup(
    alice, bob, send, django_assert_max_num_queries
):
    send(alice, bob, "first")
    # receiver lookup with block flags, message, notification, inbox insert + update
    # (and the test transaction's savepoint pair)
    with django_assert_max_num_queries(8):
        send(alice, "bob", "second")
