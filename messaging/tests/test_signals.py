"""Each receiver of signals.py: its effect when connected, and none when muted."""

import json
from unittest import mock

import pytest
from django.core import serializers
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from factory.django import mute_signals

from messaging import cache, selectors, services
from messaging.models import Message, MessageHistory, Notification
from messaging.realtime import publishing as realtime

from .factories import MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def raw_message(sender, receiver, content="plain save"):
    """A message saved by the model alone, as loaddata or a shell would."""
    return Message.objects.create(sender=sender, receiver=receiver, content=content)


def load_fixture(tmp_path, rows):
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(rows))
    call_command("loaddata", str(path), verbosity=0)


# notify_receiver (post_save Message) ------------------------------------------


def test_a_new_message_creates_exactly_one_notification_for_its_receiver(alice, bob):
    message = raw_message(alice, bob, "hello")

    notification = Notification.objects.get()
    assert (notification.user, notification.actor, notification.message) == (bob, alice, message)
    assert notification.kind == Notification.Kind.MESSAGE
    assert notification.text == "alice sent you a message: hello"
    assert notification.created_at == message.timestamp


def test_a_reply_notifies_with_kind_reply(alice, bob):
    root = raw_message(alice, bob, "root")

    reply = Message.objects.create(
        sender=bob, receiver=alice, content="reply", parent_message=root, thread_root=root
    )

    notification = Notification.objects.get(message=reply)
    assert (notification.kind, notification.user) == (Notification.Kind.REPLY, alice)
    assert Notification.objects.count() == 2


def test_saving_an_existing_message_again_notifies_nobody(alice, bob):
    message = raw_message(alice, bob, "hello")

    message.read = True
    message.save()
    message.content = "changed"
    message.save()

    assert Notification.objects.count() == 1


def test_notification_preview_is_cut_to_fit(alice, bob):
    raw_message(alice, bob, "y" * 500)

    text = Notification.objects.get().text
    assert text.endswith("…")
    assert len(text) <= 255


def test_a_rolled_back_message_leaves_no_notification(alice, bob):
    with pytest.raises(Boom), transaction.atomic():
        raw_message(alice, bob, "never")
        assert Notification.objects.count() == 1  # written in the message's transaction
        raise Boom

    assert Message.objects.count() == 0
    assert Notification.objects.count() == 0


def test_a_failing_notification_rolls_the_message_back(alice, bob, send):
    with (
        mock.patch(
            "messaging.services.notification_create_for_message", side_effect=IntegrityError
        ),
        pytest.raises(IntegrityError),
    ):
        send(alice, bob, "all or nothing")

    assert Message.objects.count() == 0


def test_muted_post_save_creates_no_notification(alice, bob):
    with mute_signals(post_save):
        MessageFactory(sender=alice, receiver=bob)

    assert Message.objects.count() == 1
    assert Notification.objects.count() == 0


def test_loaddata_creates_no_notification(alice, bob, tmp_path):
    load_fixture(
        tmp_path,
        [
            {
                "model": "messaging.message",
                "pk": 4242,
                "fields": {
                    "sender": alice.pk,
                    "receiver": bob.pk,
                    "content": "from a fixture",
                    "timestamp": "2026-01-01T00:00:00Z",
                },
            }
        ],
    )

    assert Message.objects.get().content == "from a fixture"
    assert Notification.objects.count() == 0


# record_edit_history (pre_save Message) ---------------------------------------


def test_saving_changed_content_records_the_previous_text(alice, bob):
    message = raw_message(alice, bob, "before")
    loaded = Message.objects.get(pk=message.pk)

    loaded.content = "after"
    loaded.save()

    [history] = MessageHistory.objects.all()
    assert (history.message, history.old_content, history.edited_by) == (message, "before", alice)
    assert Message.objects.get(pk=message.pk).edited is True


def test_an_instance_never_loaded_compares_with_the_stored_text(alice, bob):
    message = raw_message(alice, bob, "before")
    message.content = "after"
    message.save()
    message.content = "again"
    message.save(update_fields=["content", "edited"])

    assert list(MessageHistory.objects.values_list("old_content", flat=True)) == [
        "after",
        "before",
    ]


def test_a_save_that_keeps_the_content_records_nothing(alice, bob):
    message = raw_message(alice, bob, "same")
    loaded = Message.objects.get(pk=message.pk)

    loaded.read = True
    loaded.save()
    loaded.save(update_fields=["content"])
    message.save()

    assert MessageHistory.objects.count() == 0
    assert Message.objects.get(pk=message.pk).edited is False


def test_a_save_that_does_not_write_the_content_records_nothing(alice, bob):
    message = Message.objects.get(pk=raw_message(alice, bob, "stored").pk)

    message.content = "not written"
    message.read = True
    message.save(update_fields=["read"])

    assert MessageHistory.objects.count() == 0
    assert Message.objects.get(pk=message.pk).content == "stored"


def test_a_new_message_records_no_history(alice, bob, send):
    send(alice, bob, "first version")

    assert MessageHistory.objects.count() == 0


def test_loaddata_over_an_existing_message_records_nothing(alice, bob, tmp_path):
    message = raw_message(alice, bob, "original")
    [row] = json.loads(serializers.serialize("json", [message]))
    row["fields"]["content"] = "restored from a fixture"

    load_fixture(tmp_path, [row])

    assert Message.objects.get(pk=message.pk).content == "restored from a fixture"
    assert MessageHistory.objects.count() == 0


def test_muted_pre_save_records_no_history(alice, bob):
    message = raw_message(alice, bob, "before")

    with mute_signals(pre_save):
        message.content = "after"
        message.save()

    assert MessageHistory.objects.count() == 0
    assert Message.objects.get(pk=message.pk).edited is False


# flush_conversation_cache (post_save / post_delete Message) -------------------


def generations_of(a, b):
    return (
        cache.user_generation(a.pk),
        cache.user_generation(b.pk),
        cache.conversation_generation(a.pk, b.pk),
    )


def test_a_saved_message_bumps_both_people_and_their_conversation_after_commit(
    alice, bob, django_capture_on_commit_callbacks
):
    before = generations_of(alice, bob)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raw_message(alice, bob)
    assert generations_of(alice, bob) == before  # not before the commit
    for callback in callbacks:
        callback()

    assert all(new != old for new, old in zip(generations_of(alice, bob), before, strict=True))


def test_a_new_message_refreshes_the_cached_unread_count(
    alice, bob, send, django_capture_on_commit_callbacks
):
    assert selectors.unread_count(bob) == 0

    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "count me")

    assert selectors.unread_count(bob) == 1


def test_a_deleted_message_bumps_the_generations(alice, bob, django_capture_on_commit_callbacks):
    message = raw_message(alice, bob)
    before = generations_of(alice, bob)

    with django_capture_on_commit_callbacks(execute=True):
        message.delete()

    assert all(new != old for new, old in zip(generations_of(alice, bob), before, strict=True))


def test_muted_message_signals_bump_nothing(alice, bob, django_capture_on_commit_callbacks):
    assert selectors.unread_count(bob) == 0
    before = generations_of(alice, bob)

    with (
        mute_signals(post_save, post_delete),
        django_capture_on_commit_callbacks(execute=True),
    ):
        raw_message(alice, bob).delete()
        raw_message(alice, bob)

    assert generations_of(alice, bob) == before
    assert selectors.unread_count(bob) == 0  # stale: nothing told the cache


# publish_notification (post_save Notification) --------------------------------


def test_a_new_notification_is_pushed_to_its_user_after_commit_right_after_its_message(
    alice, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.message_send(sender=alice, receiver=bob, content="hi")
    assert published.call_count == 0
    for callback in callbacks:
        callback()

    (created, noticed) = [call.args for call in published.call_args_list]
    assert created[:2] == (bob.pk, "message.created")
    assert created[2]["id"] == message.pk
    notification = message.notifications.get()
    assert noticed[:2] == (bob.pk, "notification.created")
    assert noticed[2]["id"] == notification.pk
    assert (noticed[2]["kind"], noticed[2]["actor"], noticed[2]["message"]) == (
        "message",
        "alice",
        message.pk,
    )


def test_a_rolled_back_message_pushes_nothing(
    alice, bob, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Boom), transaction.atomic():
            services.message_send(sender=alice, receiver=bob, content="never")
            raise Boom
        UserFactory()  # the outer transaction still commits

    assert published.call_count == 0


def test_updating_a_notification_pushes_nothing(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    send(alice, bob, "hi")
    notification = Notification.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        notification.read = True
        notification.save()

    assert published.call_count == 0


def test_muted_notification_signal_pushes_nothing(
    alice, bob, published, django_capture_on_commit_callbacks
):
    with mute_signals(post_save), django_capture_on_commit_callbacks(execute=True):
        message = MessageFactory(sender=alice, receiver=bob)
        services.notification_create_for_message(message)

    assert Notification.objects.count() == 1
    assert published.call_count == 0


# flush_notification_cache (post_save / post_delete Notification) --------------


def test_a_new_or_deleted_notification_refreshes_the_unread_count(
    alice, bob, django_capture_on_commit_callbacks
):
    with mute_signals(post_save):
        message = MessageFactory(sender=alice, receiver=bob)
    assert selectors.notification_unread_count(bob) == 0

    with django_capture_on_commit_callbacks(execute=True):
        notification = services.notification_create_for_message(message)
    assert selectors.notification_unread_count(bob) == 1

    with django_capture_on_commit_callbacks(execute=True):
        notification.delete()
    assert selectors.notification_unread_count(bob) == 0


def test_muted_notification_signals_leave_the_cached_count(
    alice, bob, django_capture_on_commit_callbacks
):
    assert selectors.notification_unread_count(bob) == 0
    before = cache.user_generation(bob.pk)

    with (
        mute_signals(post_save, post_delete),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.notification_create_for_message(MessageFactory(sender=alice, receiver=bob))

    assert cache.user_generation(bob.pk) == before
    assert selectors.notification_unread_count(bob) == 0  # stale: nothing told the cache


# forget_deleted_user (post_delete User) ---------------------------------------


def test_a_deleted_user_has_their_sockets_closed_and_cache_forgotten(
    alice, django_capture_on_commit_callbacks
):
    alice_id = alice.pk
    before = cache.user_generation(alice_id)

    with (
        mock.patch("messaging.realtime.publishing.submit") as submit,
        django_capture_on_commit_callbacks(execute=True),
    ):
        alice.delete()

    submit.assert_called_once_with(
        [(realtime.user_group(alice_id), {"type": realtime.REVOKE_HANDLER})]
    )
    assert cache.user_generation(alice_id) != before


def test_muted_user_deletion_closes_nothing(alice, django_capture_on_commit_callbacks):
    before = cache.user_generation(alice.pk)

    with (
        mock.patch("messaging.realtime.publishing.submit") as submit,
        mute_signals(post_delete),
        django_capture_on_commit_callbacks(execute=True),
    ):
        alice_id = alice.pk
        alice.delete()

    assert submit.call_count == 0
    assert cache.user_generation(alice_id) == before


def test_edit_saved_with_content_alone_still_stores_the_edited_mark(alice, bob, send):
    message = send(alice, bob, "before")
    message.content = "after"

    message.save(update_fields=["content"])

    message.refresh_from_db()
    assert message.edited is True
    assert list(message.history.values_list("old_content", flat=True)) == ["before"]
