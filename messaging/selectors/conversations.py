"""The inbox: one row per partner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from ..models import Conversation
from .messages import reply_count_subquery

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def conversation_list(user: User) -> QuerySet[Conversation]:
    """The inbox: one row per partner, newest last message first.

    Reads the per-user `Conversation` rows the services keep, so a page costs the
    same however many messages the user has.
    """
    return (
        Conversation.objects.filter(owner=user, last_message__isnull=False, hidden=False)
        .select_related("partner", "last_message__sender", "last_message__receiver")
        .annotate(last_message_reply_count=reply_count_subquery("last_message"))
        .order_by("-last_activity", "-id")
    )
