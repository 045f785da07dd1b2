"""Conversations: both people's inbox rows, and reading (one message or all of them, with
their notifications)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest

from .. import cache as cache_keys
from .. import selectors
from ..exceptions import PermissionDenied
from ..models import (
    Conversation,
    Message,
    Notification,
)
from ..realtime.publishing import Event, send_on_commit

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def _conversations_record(message: Message) -> None:
    """Both people's inbox rows show `message` last; the receiver's counts it unread.

    One statement whatever the history's size: both rows inserted, or, where they
    exist, updated (`INSERT ... ON CONFLICT DO UPDATE`, the same SQL on PostgreSQL and
    SQLite). Concurrent sends commit in any order, so a row only moves to a newer
    message. The rows go in one order for everybody (by owner): two people writing to
    each other at once would otherwise each hold one row and wait for the other's.
    """
    connection = connections[router.db_for_write(Conversation)]
    table = connection.ops.quote_name(Conversation._meta.db_table)
    when = connection.ops.adapt_datetimefield_value(message.timestamp)
    unread = 0 if message.read else 1
    rows = sorted(
        [
            (message.sender_id, message.receiver_id, message.pk, when, 0, False, 0),
            (message.receiver_id, message.sender_id, message.pk, when, unread, False, 0),
        ]
    )
    newer = (
        f"{table}.last_message_id IS NULL OR {table}.last_activity < excluded.last_activity "
        f"OR ({table}.last_activity = excluded.last_activity "
        f"AND {table}.last_message_id < excluded.last_message_id)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} "  # names from the model, values as parameters
            "(owner_id, partner_id, last_message_id, last_activity, unread_count, hidden, "
            "last_read_id) VALUES (%s, %s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (owner_id, partner_id) DO UPDATE SET "
            f"last_message_id = CASE WHEN {newer} THEN excluded.last_message_id "
            f"ELSE {table}.last_message_id END, "
            f"last_activity = CASE WHEN {newer} THEN excluded.last_activity "
            f"ELSE {table}.last_activity END, "
            f"unread_count = {table}.unread_count + excluded.unread_count",
            [value for row in rows for value in row],
        )


def _group_conversations_record(message: Message) -> None:
    """Every member's inbox row of the group shows `message` last: one statement, however
    many members. Nothing per member is counted: what is unread lies past each one's read
    pointer (`selectors.group_unread`)."""
    when = message.timestamp
    Conversation.objects.filter(group_id=message.group_pk).filter(
        Q(last_message__isnull=True)
        | Q(last_activity__lt=when)
        | Q(last_activity=when, last_message_id__lt=message.pk)
    ).update(last_message_id=message.pk, last_activity=when)


def _conversations_unread_decrement(*, owner_id: int, partner_id: int, by: int) -> None:
    if by:
        Conversation.objects.filter(owner_id=owner_id, partner_id=partner_id).update(
            unread_count=Greatest(F("unread_count") - by, Value(0))
        )


def _conversations_refresh_last(a_id: int, b_id: int) -> None:
    """After a delete: each side's row shows the newest remaining message, or goes.

    Only rows that showed the deleted message (emptied by its `SET_NULL`) move: a row
    that a concurrent send moved on meanwhile keeps its newer message.
    """
    latest = (
        Message.objects.between(a_id, b_id).order_by("-timestamp", "-id").only("id", "timestamp")
    ).first()
    rows = Conversation.objects.filter(owner_id__in=(a_id, b_id), partner_id__in=(a_id, b_id))
    if latest is None:
        rows.delete()
    else:
        rows.filter(last_message__isnull=True).update(
            last_message=latest, last_activity=latest.timestamp
        )


def _group_refresh_last(group_id: int) -> None:
    """After a delete in a group: the members' rows that showed it show the newest
    remaining message (or none, keeping their time)."""
    latest = (
        Message.objects.filter(group_id=group_id)
        .order_by("-timestamp", "-id")
        .only("id", "timestamp")
    ).first()
    if latest is not None:
        Conversation.objects.filter(group_id=group_id, last_message__isnull=True).update(
            last_message=latest, last_activity=latest.timestamp
        )


@transaction.atomic
def message_mark_read(*, user: User, message: Message | int) -> None:
    """The receiver (or, in a group, any member) has read the message, and with it every
    notification of theirs about it (its own, its edits'). Idempotent."""
    message = selectors.message_get_for_participant(user, _pk(message))
    if message.group_id is not None:
        from .groups import group_message_mark_read

        group_message_mark_read(user=user, message=message)
        return
    if message.receiver_id != user.pk:
        raise PermissionDenied("Only the receiver can mark a message read.")
    changed = Message.objects.filter(pk=message.pk, read=False).update(read=True)
    if changed:
        _notifications_read(user, Q(message_id=message.pk))
        _after_read(reader=user, partner=message.sender, ids=[message.pk], single=True)


def conversation_mark_read(*, user: User, partner: User | str) -> int:
    """Every message from `partner` (a user or a username) to `user` is read, and so are
    `user`'s notifications about them and about `partner`'s edits: whoever opened the
    conversation has seen its current text.

    Answers how many messages changed. Viewing a conversation calls this on every
    view, so when nothing is unread it is one read-only query (no write transaction,
    no lock): is any message from `partner`, or any notification of an edit by
    `partner`, unread?
    """
    if isinstance(partner, str):
        partner = selectors.user_get_by_username(partner)
    if not isinstance(partner, User):  # not a person: nothing from them to read
        return 0
    messages, edits = _unread_from(user=user, partner=partner)
    if not (messages or edits):
        return 0
    return _conversation_mark_read(user=user, partner=partner, messages=messages)


def _unread_from(*, user: User, partner: User) -> tuple[bool, bool]:
    """Whether any message from `partner` to `user` is unread, and any notification of
    `user`'s about an edit by `partner`: one statement over the two unread indexes.

    Written as SQL: it runs on every view of a conversation, and the ORM's compiling of
    two `Exists` cost more than the query (profile: 1.4 of 4.0 ms of the page's view).
    """
    connection = connections[router.db_for_read(Message)]
    quote = connection.ops.quote_name
    messages, notes = (quote(m._meta.db_table) for m in (Message, Notification))
    read = quote("read")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {messages} WHERE receiver_id = %s AND sender_id = %s"
            f" AND NOT {read}), EXISTS (SELECT 1 FROM {notes} WHERE user_id = %s"
            f" AND actor_id = %s AND kind = %s AND NOT {read})",
            [user.pk, partner.pk, user.pk, partner.pk, Notification.Kind.EDIT],
        )
        row = cursor.fetchone()
    return bool(row[0]), bool(row[1])


@transaction.atomic
def _conversation_mark_read(*, user: User, partner: User, messages: bool) -> int:
    ids = _messages_read(sender_id=partner.pk, receiver_id=user.pk) if messages else []
    notes = _notifications_read(
        user, Q(message_id__in=ids) | Q(kind=Notification.Kind.EDIT, actor=partner)
    )
    if ids:
        _after_read(reader=user, partner=partner, ids=ids)
    elif notes:  # only edits were unread: the reader's counts and sockets
        cache_keys.invalidate(users=[user.pk])
        send_on_commit(_conversation_read_event(reader=user, partner=partner, ids=[]))
    return len(ids)


def _messages_read(*, sender_id: int, receiver_id: int) -> list[int]:
    """Mark read every unread message from `sender_id` to `receiver_id`; their ids.

    One statement (`UPDATE ... RETURNING`, the same SQL on PostgreSQL and SQLite 3.35+)
    that locks what it changes: a message read meanwhile by `message_mark_read` is left
    out (and not counted down twice); one that arrives meanwhile stays unread and counted.
    """
    connection = connections[router.db_for_write(Message)]
    table = connection.ops.quote_name(Message._meta.db_table)
    read = connection.ops.quote_name("read")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {read} = %s "  # the table from the model, values as parameters
            f"WHERE receiver_id = %s AND sender_id = %s AND NOT {read} RETURNING id",
            [True, receiver_id, sender_id],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _notifications_read(user: User, which: Q) -> int:
    """`user`'s unread notifications that match `which` are read: one UPDATE."""
    return Notification.objects.filter(which, user=user, read=False).update(read=True)


def _after_read(*, reader: User, partner: User, ids: list[int], single: bool = False) -> None:
    # `.update()` sends no signals: counters, caches and sockets by hand. The caches'
    # generations cover both people's counts (messages and notifications) and pages.
    _conversations_unread_decrement(owner_id=reader.pk, partner_id=partner.pk, by=len(ids))
    cache_keys.invalidate(users=[reader.pk, partner.pk], conversations=[(reader.pk, partner.pk)])
    receipt: dict[str, Any] = {"id": ids[0]} if single else {"partner": reader.username, "ids": ids}
    send_on_commit(
        Event((partner.pk,), "message.read", lambda: receipt),
        _conversation_read_event(reader=reader, partner=partner, ids=ids),
    )


def _conversation_read_event(*, reader: User, partner: User, ids: list[int]) -> Event:
    """To every socket of the reader: they read `ids` from `partner` (maybe none, when
    only edits were new) and the notifications about them, so each of their open pages
    updates its counts. Not in API.md's table (yet): an addition, as new fields are."""
    return Event(
        (reader.pk,), "conversation.read", lambda: {"partner": partner.username, "ids": ids}
    )


def _pk(message: Message | int) -> int:
    return message.pk if isinstance(message, Message) else message
