"""The write services: each success and each refusal, and what they leave behind."""

from datetime import datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.signals import post_save
from factory.django import mute_signals

from messaging import selectors, services
from messaging.content import clean_content, clean_idempotency_key
from messaging.exceptions import NotFound, PermissionDenied, ValidationError
from messaging.models import (
    MAX_CONTENT_LENGTH,
    Conversation,
    Message,
    MessageHistory,
    Notification,
)
from messaging.services.conversations import _conversations_record

from .conftest import PASSWORD
from .factories import MessageFactory, UserFactory

User = get_user_model()

pytestmark = pytest.mark.django_db


def events(publish_mock, event_type):
    return [c.args for c in publish_mock.call_args_list if c.args[1] == event_type]


def conversation(owner, partner):
    return Conversation.objects.get(owner=owner, partner=partner)


def assert_nothing_stored():
    assert Message.objects.count() == 0
    assert Notification.objects.count() == 0
    assert Conversation.objects.count() == 0


# Content rules (content.clean_content) ---------------------------------------
# Every interface cleans the content once with `clean_content` (the API's and the
# pages' `ContentField`, `Message.clean`), then hands it to the services. What a
# client sees of these refusals: messaging/tests/api/test_send_rules.py.


def test_clean_content_strips_the_text():
    assert clean_content("  \n hello bob \t ") == "hello bob"


def test_clean_content_accepts_10000_characters_once_stripped():
    content = "x" * MAX_CONTENT_LENGTH

    assert clean_content(f"   {content}   ") == content


@pytest.mark.parametrize("content", ["", " ", "\n\t  \r\n"])
def test_clean_content_refuses_empty_or_whitespace_content(content):
    with pytest.raises(ValidationError) as error:
        clean_content(content)

    assert error.value.field == "content"


def test_clean_content_refuses_more_than_10000_characters():
    with pytest.raises(ValidationError) as error:
        clean_content("x" * (MAX_CONTENT_LENGTH + 1))

    assert error.value.field == "content"


@pytest.mark.parametrize("content", [None, 42, b"bytes", ["hello"], {"text": "hello"}])
def test_clean_content_refuses_content_that_is_not_text(content):
    with pytest.raises(ValidationError) as error:
        clean_content(content)

    assert error.value.field == "content"


def test_clean_content_refuses_nul_characters():
    with pytest.raises(ValidationError) as error:
        clean_content("a\x00b")

    assert error.value.field == "content"


# Idempotency-Key rules (content.clean_idempotency_key) -----------------------


def test_clean_idempotency_key_accepts_64_characters_and_strips():
    assert clean_idempotency_key("k" * 64) == "k" * 64
    assert clean_idempotency_key("  key-1 \t") == "key-1"


@pytest.mark.parametrize("key", ["k" * 65, "", "   "])
def test_clean_idempotency_key_refuses_a_key_too_long_or_blank(key):
    with pytest.raises(ValidationError) as error:
        clean_idempotency_key(key)

    assert error.value.field == "idempotency_key"


# The receiver (selectors.recipient, and the service for a User it is given) ---


def test_the_recipient_is_found_by_username_or_id_and_the_send_takes_it(alice, bob, send):
    by_name = selectors.recipient(sender=alice, username="bob")
    by_id = selectors.recipient(sender=alice, user_id=bob.pk)

    assert by_name == by_id == bob
    assert send(alice, by_name, "hi").receiver == bob


@pytest.mark.parametrize("as_username", [False, True])
def test_send_refuses_a_message_to_oneself(alice, send, as_username):
    with pytest.raises(ValidationError) as error:
        receiver = selectors.recipient(sender=alice, username="alice") if as_username else alice
        send(alice, receiver, "note to self")

    assert error.value.field == "receiver"
    assert_nothing_stored()


@pytest.mark.parametrize(
    "lookup",
    [{"username": "nobody"}, {"username": ""}, {"username": None}, {"user_id": 12345}],
    ids=["nobody", "blank", "none", "unknown-id"],
)
def test_recipient_refuses_an_unknown_receiver(alice, lookup):
    with pytest.raises(ValidationError) as error:
        selectors.recipient(sender=alice, **lookup)

    assert error.value.field == "receiver"


def test_send_refuses_a_receiver_deleted_meanwhile(alice, bob, send):
    stale = User.objects.get(pk=bob.pk)
    User.objects.filter(pk=bob.pk).delete()

    with pytest.raises(ValidationError) as error:
        send(alice, stale, "hello?")

    assert error.value.field == "receiver"
    assert_nothing_stored()


@pytest.mark.parametrize("as_username", [False, True])
def test_send_refuses_an_inactive_receiver(alice, send, as_username):
    gone = UserFactory(username="gone", is_active=False)

    with pytest.raises(ValidationError) as error:
        receiver = selectors.recipient(sender=alice, username="gone") if as_username else gone
        send(alice, receiver, "hello?")

    assert error.value.field == "receiver"
    assert_nothing_stored()


# message_send ----------------------------------------------------------------


def test_send_stores_the_clean_content_between_the_two_people(alice, bob, send):
    message = send(alice, bob, clean_content("  \n hello bob \t "))

    stored = Message.objects.get()
    assert stored == message
    assert stored.content == "hello bob"
    assert (stored.sender, stored.receiver) == (alice, bob)
    assert stored.parent_message_id is None
    assert stored.thread_root_id is None
    assert message.root_id == message.pk
    assert message.reply_count == 0
    assert (stored.read, stored.edited) == (False, False)


def test_send_stores_10000_characters(alice, bob, send):
    content = "x" * MAX_CONTENT_LENGTH

    message = send(alice, bob, clean_content(f"   {content}   "))

    assert Message.objects.get(pk=message.pk).content == content


def test_reply_joins_the_thread_of_its_parent(alice, bob, send):
    root = send(alice, bob, "root")
    reply = send(bob, alice, "reply", parent_message=root)
    reply_to_reply = send(alice, bob, "deeper", parent_message=selectors.reply_parent(reply.pk))

    assert (reply.parent_message_id, reply.thread_root_id) == (root.pk, root.pk)
    assert (reply_to_reply.parent_message_id, reply_to_reply.thread_root_id) == (reply.pk, root.pk)
    assert reply_to_reply.root_id == root.pk


@pytest.mark.parametrize("by_id", [False, True])
def test_send_refuses_a_parent_from_another_pair(alice, bob, carol, send, by_id):
    elsewhere = send(bob, carol, "between bob and carol")

    with pytest.raises(ValidationError) as error:
        parent = selectors.reply_parent(elsewhere.pk) if by_id else elsewhere
        send(alice, bob, "reply?", parent_message=parent)

    assert error.value.field == "parent_message"
    assert Message.objects.count() == 1
    assert Notification.objects.count() == 1


@pytest.mark.parametrize("parent", [987654, -1, 0, 2**70, "deleted"])
def test_reply_parent_refuses_an_unknown_id(alice, bob, send, parent):
    if parent == "deleted":
        deleted = send(alice, bob, "soon gone")
        parent = deleted.pk
        services.message_delete(user=alice, message=deleted)

    with pytest.raises(ValidationError) as error:
        selectors.reply_parent(parent)

    assert error.value.field == "parent_message"


# A retry whose insert collides on the key's unique index (a concurrent retry) answers
# the first message; the API answers an earlier one before reading the body
# (messaging/tests/api/test_messages.py).


def test_send_with_idempotency_key_retry_answers_the_first_message(alice, bob, send):
    first = send(alice, bob, "once", idempotency_key="key-1")

    retry = send(alice, bob, "once", idempotency_key="key-1")

    assert retry.pk == first.pk
    assert Message.objects.count() == 1
    assert Notification.objects.count() == 1
    assert conversation(bob, alice).unread_count == 1


def test_idempotency_retry_answers_the_first_message_even_with_other_content(alice, bob, send):
    first = send(alice, bob, "once", idempotency_key="key-1")

    retry = send(alice, bob, "twice?", idempotency_key="key-1")

    assert (retry.pk, retry.content) == (first.pk, "once")
    assert Message.objects.count() == 1


def test_idempotency_keys_are_per_sender_and_per_key(alice, bob, send):
    send(alice, bob, "one", idempotency_key="key-1")
    send(alice, bob, "two", idempotency_key="key-2")
    send(bob, alice, "three", idempotency_key="key-1")
    send(alice, bob, "four")
    send(alice, bob, "five")

    assert Message.objects.count() == 5
    assert Notification.objects.count() == 5


def test_send_accepts_an_idempotency_key_of_64_characters(alice, bob, send):
    message = send(alice, bob, "hi", idempotency_key=clean_idempotency_key("k" * 64))

    assert Message.objects.get().idempotency_key == "k" * 64
    assert send(alice, bob, "hi", idempotency_key="k" * 64).pk == message.pk


def test_the_earlier_message_is_found_by_sender_and_key(alice, bob, send):
    first = send(alice, bob, "once", idempotency_key="key-1")
    send(bob, alice, "other sender", idempotency_key="key-2")

    earlier = selectors.message_for_idempotency_key(alice, "key-1")

    assert (earlier.pk, earlier.reply_count) == (first.pk, 0)
    assert selectors.message_for_idempotency_key(alice, "key-2") is None
    assert selectors.message_for_idempotency_key(bob, "key-1") is None


def test_send_keeps_both_inbox_rows_on_the_last_message(alice, bob, send):
    send(alice, bob, "one")
    send(bob, alice, "two")
    last = send(alice, bob, "three")

    for owner, partner in [(alice, bob), (bob, alice)]:
        row = conversation(owner, partner)
        assert row.last_message_id == last.pk
        assert row.last_activity == last.timestamp
    assert conversation(bob, alice).unread_count == 2
    assert conversation(alice, bob).unread_count == 1
    assert Conversation.objects.count() == 2


def test_an_inbox_row_never_moves_back_to_an_older_message(alice, bob, send):
    newer = send(alice, bob, "newer")
    with mute_signals(post_save):
        older = MessageFactory(
            sender=bob, receiver=alice, timestamp=newer.timestamp - timedelta(seconds=1)
        )

    # What a send that committed after a newer one does to the rows.
    _conversations_record(older)

    for owner, partner in [(alice, bob), (bob, alice)]:
        row = conversation(owner, partner)
        assert (row.last_message_id, row.last_activity) == (newer.pk, newer.timestamp)
    assert conversation(alice, bob).unread_count == 1
    assert conversation(bob, alice).unread_count == 1


def test_send_publishes_the_message_to_the_receiver_after_commit(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = send(alice, bob, "live")
    assert published.call_count == 0

    for callback in callbacks:
        callback()

    [(user_id, _, data)] = events(published, "message.created")
    assert user_id == bob.pk
    assert (data["id"], data["sender"], data["content"]) == (message.pk, "alice", "live")


# message_edit ----------------------------------------------------------------


def test_edit_keeps_previous_text_in_history(alice, bob, send):
    message = send(alice, bob, "first")

    edited = services.message_edit(user=alice, message=message, content=clean_content("  second "))

    stored = Message.objects.get(pk=message.pk)
    assert (stored.content, stored.edited) == ("second", True)
    assert edited.content == "second"
    [history] = MessageHistory.objects.filter(message=message)
    assert (history.old_content, history.edited_by) == ("first", alice)


def test_edit_notifies_the_receiver(alice, bob, send):
    message = send(alice, bob, "first")

    services.message_edit(user=alice, message=message.pk, content="second")

    notification = Notification.objects.get(kind=Notification.Kind.EDIT)
    assert (notification.user, notification.actor, notification.message_id) == (
        bob,
        alice,
        message.pk,
    )
    assert "second" in notification.text
    assert Notification.objects.filter(user=alice).count() == 0


def test_edits_keep_every_previous_text_newest_first(alice, bob, send):
    message = send(alice, bob, "v1")
    services.message_edit(user=alice, message=message, content="v2")
    services.message_edit(user=alice, message=message, content="v3")

    history = selectors.history_list(bob, message.pk)

    assert [row.old_content for row in history] == ["v2", "v1"]
    assert Message.objects.get(pk=message.pk).content == "v3"


@pytest.mark.parametrize("content", ["same", "  same  "])
def test_edit_to_the_same_content_changes_nothing(alice, bob, send, content):
    message = send(alice, bob, "same")

    answer = services.message_edit(user=alice, message=message, content=clean_content(content))

    assert answer.pk == message.pk
    assert Message.objects.get(pk=message.pk).edited is False
    assert MessageHistory.objects.count() == 0
    assert Notification.objects.filter(kind=Notification.Kind.EDIT).count() == 0


def test_receiver_cannot_edit(alice, bob, send):
    message = send(alice, bob, "mine")

    with pytest.raises(PermissionDenied):
        services.message_edit(user=bob, message=message, content="hijacked")

    assert Message.objects.get(pk=message.pk).content == "mine"
    assert MessageHistory.objects.count() == 0


@pytest.mark.parametrize("message_id", ["stranger", 987654, "abc"])
def test_stranger_editing_gets_not_found(alice, bob, carol, send, message_id):
    message = send(alice, bob, "private")

    with pytest.raises(NotFound):
        services.message_edit(
            user=carol, message=message.pk if message_id == "stranger" else message_id, content="x"
        )

    assert Message.objects.get(pk=message.pk).content == "private"


# An edit's content is cleaned by the same `clean_content` (the API's and the pages'
# `ContentField`); an edit breaking a content rule changes nothing:
# messaging/tests/api/test_send_rules.py.


def test_edit_publishes_the_update_to_the_receiver(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    message = send(alice, bob, "first")

    with django_capture_on_commit_callbacks(execute=True):
        services.message_edit(user=alice, message=message, content="second")

    [(user_id, _, data)] = events(published, "message.updated")
    assert user_id == bob.pk
    assert (data["id"], data["content"], data["edited"]) == (message.pk, "second", True)


# message_delete --------------------------------------------------------------


@pytest.fixture
def tree(alice, bob, send):
    """root <- a <- (a1, a2), root <- b <- b1, sent in this order (so oldest first)."""
    root = send(alice, bob, "root")
    a = send(bob, alice, "a", parent_message=root)
    a1 = send(alice, bob, "a1", parent_message=a)
    b = send(alice, bob, "b", parent_message=root)
    a2 = send(bob, alice, "a2", parent_message=a)
    b1 = send(bob, alice, "b1", parent_message=b)
    return {"root": root, "a": a, "a1": a1, "a2": a2, "b": b, "b1": b1}


def links(messages):
    """{content: (parent content, root content)} read back from the database."""
    rows = Message.objects.filter(pk__in=[m.pk for m in messages.values()])
    by_id = {m.pk: m.content for m in rows}
    return {m.content: (by_id.get(m.parent_message_id), by_id.get(m.thread_root_id)) for m in rows}


def test_delete_removes_the_message_its_history_and_notifications(alice, bob, send):
    message = send(alice, bob, "oops")
    services.message_edit(user=alice, message=message, content="oops!")

    services.message_delete(user=alice, message=message)

    assert not Message.objects.filter(pk=message.pk).exists()
    assert MessageHistory.objects.count() == 0
    assert Notification.objects.count() == 0


def test_delete_of_a_middle_message_moves_its_replies_to_its_parent(alice, tree):
    services.message_delete(user=alice, message=tree["b"].pk)  # alice sent "b"
    del tree["b"]

    assert links(tree) == {
        "root": (None, None),
        "a": ("root", "root"),
        "a1": ("a", "root"),
        "a2": ("a", "root"),
        "b1": ("root", "root"),
    }


def test_delete_of_the_first_message_makes_its_oldest_reply_the_first(alice, tree):
    services.message_delete(user=alice, message=tree["root"])
    del tree["root"]

    assert links(tree) == {
        "a": (None, None),
        "a1": ("a", "a"),
        "a2": ("a", "a"),
        "b": ("a", "a"),
        "b1": ("b", "a"),
    }
    thread = selectors.thread_get(alice, tree["b1"].pk)
    assert thread.pk == tree["a"].pk
    assert [r.content for r in thread.replies_list] == ["a1", "b", "a2"]


def test_delete_of_a_first_message_without_replies_leaves_other_threads(alice, bob, send):
    lonely = send(alice, bob, "lonely")
    other = send(alice, bob, "other root")
    reply = send(bob, alice, "reply", parent_message=other)

    services.message_delete(user=alice, message=lonely)

    assert list(Message.objects.order_by("pk").values_list("pk", flat=True)) == [
        other.pk,
        reply.pk,
    ]
    assert Message.objects.get(pk=reply.pk).thread_root_id == other.pk


def test_only_the_sender_can_delete(alice, bob, carol, send):
    message = send(alice, bob, "keep")

    with pytest.raises(PermissionDenied):
        services.message_delete(user=bob, message=message)
    with pytest.raises(NotFound):
        services.message_delete(user=carol, message=message)
    with pytest.raises(NotFound):
        services.message_delete(user=alice, message=987654)

    assert Message.objects.filter(pk=message.pk).exists()


def test_delete_keeps_inbox_rows_on_the_newest_remaining_message(alice, bob, send):
    first = send(alice, bob, "first")
    last = send(alice, bob, "second")

    services.message_delete(user=alice, message=last)

    for owner, partner in [(alice, bob), (bob, alice)]:
        row = conversation(owner, partner)
        assert row.last_message_id == first.pk
        assert row.last_activity == first.timestamp
    assert conversation(bob, alice).unread_count == 1


def test_delete_of_an_older_message_keeps_the_last_message(alice, bob, send):
    first = send(alice, bob, "first")
    last = send(bob, alice, "second")

    services.message_delete(user=alice, message=first)

    assert conversation(alice, bob).last_message_id == last.pk
    assert conversation(bob, alice).last_message_id == last.pk
    assert conversation(bob, alice).unread_count == 0
    assert conversation(alice, bob).unread_count == 1


def test_delete_of_a_read_message_leaves_the_unread_count(alice, bob, send):
    read = send(alice, bob, "read")
    send(alice, bob, "unread")
    services.message_mark_read(user=bob, message=read)

    services.message_delete(user=alice, message=read)

    assert conversation(bob, alice).unread_count == 1


def test_deleting_the_last_message_removes_both_inbox_rows(alice, bob, carol, send):
    only = send(alice, bob, "only")
    send(alice, carol, "elsewhere")

    services.message_delete(user=alice, message=only)

    assert not Conversation.objects.filter(owner__in=[alice, bob], partner__in=[alice, bob])
    assert list(selectors.conversation_list(bob)) == []
    assert [row.partner for row in selectors.conversation_list(alice)] == [carol]


def test_delete_publishes_to_the_receiver(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    message = send(alice, bob, "gone soon")
    message_id = message.pk

    with django_capture_on_commit_callbacks(execute=True):
        services.message_delete(user=alice, message=message)

    assert events(published, "message.deleted") == [(bob.pk, "message.deleted", {"id": message_id})]


# message_mark_read / conversation_mark_read ----------------------------------


def test_receiver_marks_a_message_read(alice, bob, send):
    message = send(alice, bob, "read me")
    send(alice, bob, "me too")

    services.message_mark_read(user=bob, message=message.pk)

    assert Message.objects.get(pk=message.pk).read is True
    assert conversation(bob, alice).unread_count == 1
    assert selectors.unread_count(bob) == 1


def test_marking_read_twice_changes_nothing_more(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    message = send(alice, bob, "read me")
    send(alice, bob, "me too")

    with django_capture_on_commit_callbacks(execute=True):
        services.message_mark_read(user=bob, message=message)
        services.message_mark_read(user=bob, message=message)

    assert conversation(bob, alice).unread_count == 1
    assert events(published, "message.read") == [(alice.pk, "message.read", {"id": message.pk})]


def test_sender_cannot_mark_read_and_stranger_gets_not_found(alice, bob, carol, send):
    message = send(alice, bob, "read me")

    with pytest.raises(PermissionDenied):
        services.message_mark_read(user=alice, message=message)
    with pytest.raises(NotFound):
        services.message_mark_read(user=carol, message=message)

    assert Message.objects.get(pk=message.pk).read is False
    assert conversation(bob, alice).unread_count == 1


def test_conversation_mark_read_reads_everything_from_that_partner_only(alice, bob, carol, send):
    send(alice, bob, "one")
    send(alice, bob, "two")
    send(carol, bob, "from carol")
    mine = send(bob, alice, "from bob")

    changed = services.conversation_mark_read(user=bob, partner="alice")

    assert changed == 2
    assert not Message.objects.filter(sender=alice, receiver=bob, read=False).exists()
    assert Message.objects.get(pk=mine.pk).read is False
    assert conversation(bob, alice).unread_count == 0
    assert conversation(bob, carol).unread_count == 1
    assert conversation(alice, bob).unread_count == 1
    assert selectors.unread_count(bob) == 1
    assert services.conversation_mark_read(user=bob, partner=alice) == 0


def test_conversation_mark_read_with_an_unknown_partner_is_not_found(bob):
    with pytest.raises(NotFound):
        services.conversation_mark_read(user=bob, partner="nobody")


def test_conversation_mark_read_publishes_ids_to_the_partner(
    alice, bob, send, published, django_capture_on_commit_callbacks
):
    ids = sorted([send(alice, bob, "one").pk, send(alice, bob, "two").pk])

    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_mark_read(user=bob, partner=alice)

    [(user_id, _, data)] = events(published, "message.read")
    assert user_id == alice.pk
    assert (data["partner"], sorted(data["ids"])) == ("bob", ids)


# Notifications ---------------------------------------------------------------


def test_notification_mark_read_reads_one_own_notification(alice, bob, send):
    send(alice, bob, "one")
    send(alice, bob, "two")
    first, _ = Notification.objects.filter(user=bob)

    services.notification_mark_read(user=bob, notification=first.pk)

    assert list(Notification.objects.filter(read=True)) == [first]
    assert selectors.notification_unread_count(bob) == 1


def test_notification_mark_read_by_a_stranger_is_not_found(alice, bob, carol, send):
    send(alice, bob, "one")
    notification = Notification.objects.get()

    for user, pk in [(carol, notification.pk), (alice, notification.pk), (bob, "garbage")]:
        with pytest.raises(NotFound):
            services.notification_mark_read(user=user, notification=pk)

    assert Notification.objects.get().read is False


def test_notification_mark_all_read_reads_only_the_users_notifications(alice, bob, carol, send):
    send(alice, bob, "one")
    send(carol, bob, "two")
    send(bob, alice, "three")

    assert services.notification_mark_all_read(user=bob) == 2

    assert not Notification.objects.filter(user=bob, read=False).exists()
    assert Notification.objects.get(user=alice).read is False
    assert services.notification_mark_all_read(user=bob) == 0
    assert services.notification_mark_all_read(user=carol) == 0


# Accounts --------------------------------------------------------------------


def test_register_creates_an_account_with_a_hashed_password(db):
    user = services.user_register(username=" dora ", password=PASSWORD, email="dora@example.com")

    stored = User.objects.get(username="dora")
    assert stored == user
    assert stored.check_password(PASSWORD)
    assert stored.password != PASSWORD


def test_register_refuses_a_taken_name(alice):
    with pytest.raises(ValidationError) as error:
        services.user_register(username="alice", password=PASSWORD)

    assert error.value.field == "username"
    assert User.objects.count() == 1


@pytest.mark.parametrize("password", ["123", "password", "12345678901", "", None])
def test_register_refuses_a_weak_password(db, password):
    with pytest.raises(ValidationError) as error:
        services.user_register(username="dora", password=password)

    assert error.value.field == "password"
    assert not User.objects.exists()


@pytest.fixture
def world(alice, bob, carol, send):
    """alice's data tangled with bob's, plus bob-carol data that must survive her."""
    a_to_b = send(alice, bob, "to bob")
    b_to_a = send(bob, alice, "to alice", parent_message=a_to_b)
    services.message_edit(user=alice, message=a_to_b, content="to bob, edited")
    services.message_edit(user=bob, message=b_to_a, content="to alice, edited")
    send(carol, alice, "carol to alice")
    services.message_mark_read(user=alice, message=b_to_a)
    kept = [
        send(bob, carol, "bob to carol"),
        send(carol, bob, "carol to bob"),
    ]
    services.message_edit(user=carol, message=kept[1], content="carol to bob, edited")
    return kept


def snapshot(users):
    """Every row tied to these users, as plain tuples."""
    messages = Message.objects.filter(Q(sender__in=users) | Q(receiver__in=users))
    return {
        "messages": sorted(
            messages.values_list("pk", "sender", "receiver", "content", "read", "edited")
        ),
        "history": sorted(
            MessageHistory.objects.filter(message__in=messages).values_list(
                "pk", "message", "old_content", "edited_by"
            )
        ),
        "notifications": sorted(
            Notification.objects.filter(user__in=users).values_list(
                "pk", "user", "actor", "message", "read"
            )
        ),
        "conversations": sorted(
            Conversation.objects.filter(owner__in=users).values_list(
                "pk", "owner", "partner", "last_message", "unread_count"
            )
        ),
    }


def test_delete_user_with_a_wrong_password_deletes_nothing(alice, bob, carol, world):
    before = snapshot([alice, bob, carol])

    for password in ["wrong", "", None]:
        with pytest.raises(ValidationError) as error:
            services.delete_user(user=alice, password=password)
        assert error.value.field == "password"

    assert User.objects.filter(pk=alice.pk).exists()
    assert snapshot([alice, bob, carol]) == before


def test_delete_user_leaves_no_row_pointing_at_the_user_or_their_messages(alice, bob, carol, world):
    others_before = snapshot([bob, carol])
    alice_id = alice.pk
    message_ids = list(Message.objects.for_participant(alice).values_list("pk", flat=True))
    assert len(message_ids) == 3

    services.delete_user(user=alice, password=PASSWORD)

    assert not User.objects.filter(pk=alice_id).exists()
    assert not Message.objects.filter(
        Q(sender=alice_id)
        | Q(receiver=alice_id)
        | Q(pk__in=message_ids)
        | Q(parent_message__in=message_ids)
        | Q(thread_root__in=message_ids)
    ).exists()
    assert not Notification.objects.filter(
        Q(user=alice_id) | Q(actor=alice_id) | Q(message__in=message_ids)
    ).exists()
    assert not MessageHistory.objects.filter(
        Q(message__in=message_ids) | Q(edited_by=alice_id)
    ).exists()
    assert not Conversation.objects.filter(
        Q(owner=alice_id) | Q(partner=alice_id) | Q(last_message__in=message_ids)
    ).exists()
    # bob and carol keep exactly what they had between themselves.
    others_after = snapshot([bob, carol])
    assert others_after["messages"] == [
        row for row in others_before["messages"] if row[0] not in message_ids
    ]
    assert len(others_after["messages"]) == 2
    assert others_after["history"] == [
        row for row in others_before["history"] if row[1] not in message_ids
    ]
    assert len(others_after["history"]) == 1
    assert others_after["notifications"] == [
        row for row in others_before["notifications"] if row[3] not in message_ids
    ]
    assert others_after["conversations"] == [
        row for row in others_before["conversations"] if alice_id not in row[1:3]
    ]
    assert len(others_after["conversations"]) == 2


def test_user_export_holds_everything_about_the_user(alice, bob, send):
    sent = send(alice, bob, "hello")
    received = send(bob, alice, "hi back", parent_message=sent)
    services.message_edit(user=alice, message=sent, content="hello!")

    document = selectors.user_export(alice)

    assert set(document) == {
        "user",
        "messages_sent",
        "messages_received",
        "groups",
        "group_messages_received",
        "history",
        "notifications",
    }
    assert document["groups"] == document["group_messages_received"] == []
    assert document["user"] == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "date_joined": alice.date_joined.isoformat(),
    }
    [sent_row] = document["messages_sent"]
    assert sent_row == {
        "id": sent.pk,
        "sender": "alice",
        "receiver": "bob",
        "group": None,
        "content": "hello!",
        "timestamp": sent.timestamp.isoformat(),
        "edited": True,
        "read": False,
        "parent_message": None,
        "thread_root": sent.pk,
    }
    [received_row] = document["messages_received"]
    assert (received_row["id"], received_row["parent_message"], received_row["thread_root"]) == (
        received.pk,
        sent.pk,
        sent.pk,
    )
    [history] = document["history"]
    assert (history["message"], history["old_content"]) == (sent.pk, "hello")
    datetime.fromisoformat(history["edited_at"])
    [notification] = document["notifications"]
    assert notification == {
        "id": notification["id"],
        "kind": "reply",
        "message": received.pk,
        "actor": "bob",
        "text": notification["text"],
        "created_at": notification["created_at"],
        "read": False,
    }
    assert datetime.fromisoformat(notification["created_at"]).tzinfo is not None


def test_user_export_leaves_out_other_peoples_data(alice, bob, carol, send):
    send(bob, carol, "not alice's business")

    document = selectors.user_export(alice)

    assert document["messages_sent"] == document["messages_received"] == []
    assert document["history"] == document["notifications"] == []


def test_user_data_summary_counts_what_deletion_removes(alice, bob, carol, send):
    send(alice, bob, "one")
    send(bob, alice, "two")
    send(carol, alice, "three")

    assert selectors.user_data_summary(alice) == {
        "messages_sent": 1,
        "messages_received": 2,
        "messages": 3,
        "conversations": 2,
        "notifications": 2,
    }


def test_register_refuses_a_name_taken_in_other_letter_case(alice):
    with pytest.raises(ValidationError) as refused:
        services.user_register(username="ALICE", password=PASSWORD)

    assert refused.value.field == "username"
    assert get_user_model().objects.count() == 1
