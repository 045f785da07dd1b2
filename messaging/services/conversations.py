"""Conversations: both people's inbox rows, and reading (one message or all of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import connections, router, transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest

from .. import cache as cache_keys
from .. import selectors
from ..exceptions import PermissionDenied
from ..models import (
    Conversation,
    Message,
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
            (message.sender_id, message.receiver_id, message.pk, when, 0, False),
            (message.receiver_id, message.sender_id, message.pk, when, unread, False),
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
            "(owner_id, partner_id, last_message_id, last_activity, unread_count, hidden) "
            "VALUES (%s, %s, %s, %s, %s, %s), (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (owner_id, partner_id) DO UPDATE SET "
            f"last_message_id = CASE WHEN {newer} THEN excluded.last_message_id "
            f"ELSE {table}.last_message_id END, "
            f"last_activity = CASE WHEN {newer} THEN excluded.last_activity "
            f"ELSE {table}.last_activity END, "
            f"unread_count = {table}.unread_count + excluded.unread_count",
            [value for row in rows for value in row],
        )


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


@transaction.atomic
def message_mark_read(*, user: User, message: Message | int) -> None:
    """The receiver has read the message. Idempotent."""
    message = selectors.message_get_for_participant(user, _pk(message))
    if message.receiver_id != user.pk:
        raise PermissionDenied("Only the receiver can mark a message read.")
    changed = Message.objects.filter(pk=message.pk, read=False).update(read=True)
    if changed:
        _after_read(reader=user, partner_id=message.sender_id, ids=[message.pk])


def conversation_mark_read(*, user: User, partner: User | str) -> int:
    """Every message from `partner` (a user or a username) to `user` is read.

    Answers how many messages changed. Viewing a conversation calls this on every
    view, so when nothing is unread it only reads (no write transaction, no lock).
    """
    if isinstance(partner, str):
        partner = selectors.user_get_by_username(partner)
    unread = Message.objects.filter(sender=partner, receiver=user, read=False)
    if not unread.exists():
        return 0
    return _conversation_mark_read(user=user, partner=partner, unread=unread)


@transaction.atomic
def _conversation_mark_read(*, user: User, partner: User, unread: QuerySet[Message]) -> int:
    # Locked: a message read meanwhile by `message_mark_read` is left out (and not
    # counted down twice); one that arrives meanwhile stays unread and counted.
    ids = list(unread.select_for_update().values_list("pk", flat=True))
    changed = Message.objects.filter(pk__in=ids, read=False).update(read=True) if ids else 0
    if changed:
        _after_read(reader=user, partner_id=partner.pk, ids=ids, partner_name=partner.username)
    return changed


def _after_read(*, reader: User, partner_id: int, ids: list[int], partner_name: str = "") -> None:
    # `.update()` sends no signals: counters, caches and the sender's sockets by hand.
    _conversations_unread_decrement(owner_id=reader.pk, partner_id=partner_id, by=len(ids))
    cache_keys.invalidate(users=[reader.pk, partner_id], conversations=[(reader.pk, partner_id)])
    if len(ids) == 1 and not partner_name:
        send_on_commit(Event((partner_id,), "message.read", lambda: {"id": ids[0]}))
    else:
        send_on_commit(
            Event((partner_id,), "message.read", lambda: {"partner": reader.username, "ids": ids})
        )


def _pk(message: Message | int) -> int:
    return message.pk if isinstance(message, Message) else message
