"""The inbox: one row per partner and per group."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, When
from django.db.models.functions import Coalesce

from ..models import Conversation, Message
from .messages import reply_count_subquery

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def group_unread_subquery() -> Coalesce:
    """For a query of group rows: how many of the group's messages lie past the row's
    read pointer, from someone else (the `msg_group_id` index: a range per row)."""
    unread = (
        Message.objects.filter(group_id=OuterRef("group_id"), pk__gt=OuterRef("last_read_id"))
        .exclude(sender_id=OuterRef("owner_id"))
        .order_by()
        .values("group_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(unread, output_field=IntegerField()), 0)


def conversation_list(user: User) -> QuerySet[Conversation]:
    """The inbox: one row per partner and per group, newest last message first; each
    with `unread`, how many of its messages the user has not read.

    Reads the per-user `Conversation` rows the services keep, so a page costs the
    same however many messages (or groups) the user has. A group shows from the moment
    the user is in it, before anyone writes.
    """
    return (
        Conversation.objects.filter(owner=user, hidden=False)
        .filter(Q(last_message__isnull=False) | Q(group__isnull=False))
        .select_related("partner", "group", "last_message__sender", "last_message__receiver")
        .annotate(
            last_message_reply_count=reply_count_subquery("last_message"),
            unread=Case(
                When(group__isnull=True, then=F("unread_count")),
                # Nothing past the pointer: no count at all (CASE skips the subquery).
                When(
                    Q(last_message__isnull=True) | Q(last_message_id__lte=F("last_read_id")), then=0
                ),
                default=group_unread_subquery(),
                output_field=IntegerField(),
            ),
        )
        .order_by("-last_activity", "-id")
    )
