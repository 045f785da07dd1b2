"""What the models and the database refuse on their own, whatever code writes the rows."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from factory.django import mute_signals

from messaging.models import MAX_CONTENT_LENGTH, Conversation, Message

from .factories import MessageFactory

pytestmark = pytest.mark.django_db


def refused_by_database(**fields):
    """Whether a plain model save of these fields raises IntegrityError (no services)."""
    try:
        with transaction.atomic(), mute_signals(post_save):
            Message(**fields).save()
    except IntegrityError:
        return True
    return False


def test_database_refuses_a_message_to_oneself(alice, bob):
    assert refused_by_database(sender=alice, receiver=alice, content="self")
    assert not refused_by_database(sender=alice, receiver=bob, content="fine")


@pytest.mark.parametrize("content", ["", "x" * (MAX_CONTENT_LENGTH + 1)])
def test_database_refuses_empty_or_too_long_content(alice, bob, content):
    assert refused_by_database(sender=alice, receiver=bob, content=content)


def test_database_accepts_content_of_the_limits(alice, bob):
    assert not refused_by_database(sender=alice, receiver=bob, content="x")
    assert not refused_by_database(sender=alice, receiver=bob, content="é" * MAX_CONTENT_LENGTH)


def test_bulk_create_cannot_bypass_the_constraints(alice, bob):
    for bad in [
        Message(sender=alice, receiver=alice, content="self"),
        Message(sender=alice, receiver=bob, content=""),
    ]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Message.objects.bulk_create([bad])

    assert Message.objects.count() == 0


def test_database_refuses_a_reused_idempotency_key_of_one_sender(alice, bob, carol):
    with mute_signals(post_save):
        MessageFactory(sender=alice, receiver=bob, idempotency_key="k")
        MessageFactory(sender=bob, receiver=alice, idempotency_key="k")
        MessageFactory(sender=alice, receiver=bob, idempotency_key=None)
        MessageFactory(sender=alice, receiver=bob, idempotency_key=None)

    assert refused_by_database(sender=alice, receiver=carol, content="x", idempotency_key="k")


def test_database_refuses_a_conversation_with_oneself_or_twice(alice, bob):
    Conversation.objects.create(owner=alice, partner=bob)

    for fields in [{"owner": alice, "partner": alice}, {"owner": alice, "partner": bob}]:
        with pytest.raises(IntegrityError), transaction.atomic():
            Conversation.objects.create(**fields)


def test_clean_explains_every_broken_rule(alice, bob, carol):
    with mute_signals(post_save):
        elsewhere = MessageFactory(sender=bob, receiver=carol)

    with pytest.raises(DjangoValidationError) as error:
        Message(sender=alice, receiver=alice, content="  ", parent_message=elsewhere).clean()

    assert set(error.value.message_dict) == {"receiver", "content", "parent_message"}


def test_clean_accepts_a_reply_in_either_direction(alice, bob):
    with mute_signals(post_save):
        root = MessageFactory(sender=alice, receiver=bob)

    Message(sender=bob, receiver=alice, content="back", parent_message=root).clean()
    Message(sender=alice, receiver=bob, content="more", parent_message=root).clean()


def test_root_id_is_the_thread_root_or_the_message_itself(alice, bob, send):
    root = send(alice, bob, "root")
    reply = send(bob, alice, "reply", parent_message=root)

    assert root.root_id == root.pk
    assert reply.root_id == root.pk


def test_string_forms_are_short(alice, bob, send):
    message = send(alice, bob, "z" * 100)

    assert str(message) == f"{alice.pk} → {bob.pk}: {'z' * 40}"
    assert str(message.notifications.get()).startswith(f"{bob.pk}: alice sent you")
    assert str(Conversation.objects.get(owner=alice)) == f"{alice.pk} ↔ {bob.pk}"
