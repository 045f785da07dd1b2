"""Simultaneous writes on PostgreSQL: row locks and atomic counters keep every change.

Each worker thread has its own database connection (Django's are per thread) and
closes it when done; `transactional_db` lets the threads see committed rows.
"""

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from unittest import mock

import pytest
from django.db import connection

from messaging import selectors, services
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.services import conversations

from .factories import UserFactory
from .utils import postgres_only

pytestmark = [postgres_only, pytest.mark.postgres]

TIMEOUT = 30


@pytest.fixture(autouse=True)
def _no_live_push():
    """The channel layer is not under test here."""
    with mock.patch("messaging.realtime.publishing.submit"):
        yield


def in_thread(work: Callable[[], object], results: list, errors: list) -> threading.Thread:
    def run():
        try:
            results.append(work())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    return threading.Thread(target=run, daemon=True)


def run_together(*works: Callable[[], object]) -> list:
    """Start every `work` in its own thread at the same moment; their results."""
    barrier = threading.Barrier(len(works))
    results: list = []
    errors: list = []

    def waiting(work):
        def run():
            barrier.wait(timeout=TIMEOUT)
            return work()

        return run

    threads = [in_thread(waiting(work), results, errors) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    assert not errors, errors
    return results


def wait_until_a_session_waits_for_a_lock() -> None:
    deadline = time.monotonic() + TIMEOUT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("no session ever waited for a lock")


def test_simultaneous_edits_both_land_in_the_history(transactional_db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    message = services.message_send(sender=alice, receiver=bob, content="original")
    record = services.history_record_edit

    calls = itertools.count()

    def held_record(*args, **kwargs):
        # The first edit holds its transaction open until the second one waits for the
        # row lock: without the lock the second would read "original" too (and one
        # previous text would be lost), and no session would ever wait.
        if next(calls) == 0:
            wait_until_a_session_waits_for_a_lock()
        return record(*args, **kwargs)

    with mock.patch("messaging.services.history_record_edit", side_effect=held_record):
        run_together(
            lambda: services.message_edit(user=alice, message=message.pk, content="edit A"),
            lambda: services.message_edit(user=alice, message=message.pk, content="edit B"),
        )

    final = Message.objects.get(pk=message.pk)
    assert final.content in {"edit A", "edit B"}
    assert final.edited is True
    other = ({"edit A", "edit B"} - {final.content}).pop()
    history = list(MessageHistory.objects.filter(message=message).order_by("edited_at", "id"))
    assert [row.old_content for row in history] == ["original", other]
    assert Notification.objects.filter(kind=Notification.Kind.EDIT, user=bob).count() == 2


def test_simultaneous_sends_to_one_person_are_all_counted(transactional_db):
    receiver = UserFactory(username="popular")
    senders = [UserFactory(username=f"sender{i}") for i in range(5)]
    per_sender = 4
    services.message_send(sender=senders[0], receiver=receiver, content="an earlier one")
    services.conversation_mark_read(user=receiver, partner=senders[0])

    results = run_together(
        *(
            lambda sender=sender, n=n: services.message_send(
                sender=sender, receiver=receiver, content=f"{sender.username} #{n}"
            )
            for sender in senders
            for n in range(per_sender)
        )
    )

    total = len(senders) * per_sender
    assert len({message.pk for message in results}) == total
    new = Notification.objects.filter(user=receiver).exclude(message__content="an earlier one")
    assert new.count() == total
    assert Counter(new.values_list("kind", flat=True)) == {"message": total}
    rows = {row.partner_id: row for row in Conversation.objects.filter(owner=receiver)}
    assert {partner: row.unread_count for partner, row in rows.items()} == {
        sender.pk: per_sender for sender in senders
    }
    assert sum(row.unread_count for row in rows.values()) == total
    assert selectors.unread_count(receiver) == total
    for sender in senders:
        newest = Message.objects.filter(sender=sender).order_by("-timestamp", "-id").first()
        assert rows[sender.pk].last_message_id == newest.pk
        assert Conversation.objects.get(owner=sender, partner=receiver).unread_count == 0


@pytest.mark.parametrize("earlier_exchange", [False, True])
def test_two_people_writing_to_each_other_at_once_all_get_through(
    transactional_db, earlier_exchange
):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    if earlier_exchange:  # the inbox rows exist already (else they are created concurrently)
        services.message_send(sender=alice, receiver=bob, content="hi")
        services.message_send(sender=bob, receiver=alice, content="hi")
        services.conversation_mark_read(user=alice, partner=bob)
        services.conversation_mark_read(user=bob, partner=alice)
    each = 8

    run_together(
        *(
            lambda sender=sender, receiver=receiver: services.message_send(
                sender=sender, receiver=receiver, content=f"from {sender.username}"
            )
            for sender, receiver in [(alice, bob), (bob, alice)]
            for _ in range(each)
        )
    )

    newest = Message.objects.between(alice, bob).order_by("-timestamp", "-id").first()
    for owner, partner in [(alice, bob), (bob, alice)]:
        row = Conversation.objects.get(owner=owner, partner=partner)
        assert row.unread_count == each
        assert row.last_message_id == newest.pk
        assert row.last_activity == newest.timestamp


def test_deletes_reads_and_sends_at_once_leave_the_inbox_rows_right(transactional_db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    doomed = [services.message_send(sender=alice, receiver=bob, content=f"a{i}") for i in range(6)]
    to_read = [services.message_send(sender=bob, receiver=alice, content=f"b{i}") for i in range(4)]

    run_together(
        *(lambda m=m: services.message_delete(user=alice, message=m.pk) for m in doomed),
        *(lambda m=m: services.message_mark_read(user=alice, message=m.pk) for m in to_read),
        *(
            lambda sender=sender, receiver=receiver: services.message_send(
                sender=sender, receiver=receiver, content="new"
            )
            for sender, receiver in [(alice, bob), (bob, alice)] * 3
        ),
        lambda: services.conversation_mark_read(user=bob, partner=alice),
    )

    newest = Message.objects.between(alice, bob).order_by("-timestamp", "-id").first()
    for owner, partner in [(alice, bob), (bob, alice)]:
        row = Conversation.objects.get(owner=owner, partner=partner)
        really_unread = Message.objects.filter(sender=partner, receiver=owner, read=False)
        assert row.unread_count == really_unread.count()
        assert row.last_message_id == newest.pk


def test_simultaneous_retries_with_one_idempotency_key_store_one_message(transactional_db):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")

    results = run_together(
        *(
            lambda: services.message_send(
                sender=alice, receiver=bob, content="once", idempotency_key="retry-me"
            )
            for _ in range(8)
        )
    )

    assert len({message.pk for message in results}) == 1
    assert Message.objects.count() == 1
    assert Notification.objects.count() == 1
    assert Conversation.objects.get(owner=bob).unread_count == 1


def test_reading_a_conversation_while_a_message_is_read_and_another_arrives(transactional_db):
    """The counter must end equal to what is really unread, whatever the interleaving.

    bob reads one message while also reading the whole conversation; a new message
    from alice arrives in between. The new one is still unread afterwards.
    """
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    first, *_ = [
        services.message_send(sender=alice, receiver=bob, content=f"m{i}") for i in range(3)
    ]
    after_read = conversations._after_read
    single_read_holds_its_lock = threading.Event()
    let_single_read_finish = threading.Event()

    def paused_after_read(**kwargs):
        if threading.current_thread().name == "single-read":
            single_read_holds_its_lock.set()
            assert let_single_read_finish.wait(TIMEOUT)
        return after_read(**kwargs)

    results: list = []
    errors: list = []
    single = in_thread(
        lambda: services.message_mark_read(user=bob, message=first.pk), results, errors
    )
    single.name = "single-read"
    whole = in_thread(
        lambda: services.conversation_mark_read(user=bob, partner=alice), results, errors
    )
    with mock.patch("messaging.services.conversations._after_read", side_effect=paused_after_read):
        single.start()
        assert single_read_holds_its_lock.wait(TIMEOUT)
        whole.start()
        wait_until_a_session_waits_for_a_lock()  # the whole read waits for `first`
        services.message_send(sender=alice, receiver=bob, content="arrives meanwhile")
        let_single_read_finish.set()
        single.join(TIMEOUT)
        whole.join(TIMEOUT)
    assert not errors, errors

    really_unread = Message.objects.filter(sender=alice, receiver=bob, read=False)
    assert list(really_unread.values_list("content", flat=True)) == ["arrives meanwhile"]
    assert Conversation.objects.get(owner=bob, partner=alice).unread_count == 1
