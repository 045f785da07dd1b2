"""Query vocabulary for messages: who a message is between, and what is unread."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.apps import apps
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Greatest, Least

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .models import Message  # noqa: F401  (named in the string type arguments below)


def _user_id(user: User | int) -> int:
    return user if isinstance(user, int) else user.pk


def visible_to(user: User | int) -> Q:
    """The condition of `MessageQuerySet.for_participant`, for queries that build their own."""
    memberships = apps.get_model("messaging", "Conversation").objects.filter(
        owner=user, group__isnull=False
    )
    return (
        Q(sender=user, group__isnull=True)
        | Q(receiver=user)
        | Q(group_id__in=memberships.values("group_id"))
    )


class MessageQuerySet(models.QuerySet["Message"]):
    def between(self, a: User | int, b: User | int) -> MessageQuerySet:
        """Messages exchanged by the two users, in either direction.

        Written as (least id, greatest id) rather than an OR of both directions: the
        `msg_pair_key_time` index then serves it in timestamp order, so a page of a long
        conversation reads one page of rows, not the whole history.
        """
        low, high = sorted((_user_id(a), _user_id(b)))
        return self.alias(
            pair_low=Least("sender_id", "receiver_id"),
            pair_high=Greatest("sender_id", "receiver_id"),
        ).filter(pair_low=low, pair_high=high)

    def for_participant(self, user: User | int) -> MessageQuerySet:
        """Everything the user may see: the direct messages they sent or received, and the
        messages of the groups they belong to now (none of a group they left, their own
        included)."""
        return self.filter(visible_to(user))

    def in_thread(self, root_id: int) -> MessageQuerySet:
        """Every message of the thread whose first message is `root_id`, root included."""
        return self.filter(Q(pk=root_id) | Q(thread_root_id=root_id))

    def not_from_blocked(self, user: User | int) -> MessageQuerySet:
        """Leaves out messages whose sender `user` has blocked.

        An anti-join with the user's blocks (indexed by blocker) in the same query:
        no extra query, and no cost beyond the rows already selected.
        """
        blocks = apps.get_model("messaging", "MessagingProfile").blocked.through.objects
        return self.filter(
            ~Exists(
                blocks.filter(
                    messagingprofile_id=getattr(user, "pk", user), user_id=OuterRef("sender_id")
                )
            )
        )


# A name of its own: django-stubs types `from_queryset` only when it is assigned to one.
_UnreadMessagesManagerBase = models.Manager.from_queryset(MessageQuerySet)


class UnreadMessagesManager(_UnreadMessagesManagerBase["Message"]):
    """`Message.unread`: unread messages only, loading just what a list of them shows."""

    #: What an unread list shows: who sent it, a preview, when, and where it sits in a thread.
    LIST_FIELDS = (
        "id",
        "sender__id",
        "sender__username",
        "receiver_id",
        "group_id",
        "content",
        "timestamp",
        "edited",
        "read",
        "parent_message_id",
        "thread_root_id",
    )

    def get_queryset(self) -> MessageQuerySet:
        # The manager's queryset class is MessageQuerySet (`from_queryset`); the stubs say QuerySet.
        return cast(MessageQuerySet, super().get_queryset()).filter(read=False)

    def received_by(self, user: User | int) -> MessageQuerySet:
        """The user's unread received messages, less those from people they blocked: what
        their unread counts count (the `msg_unread` index serves it)."""
        return self.get_queryset().filter(receiver=user).not_from_blocked(user)

    def unread_for_user(self, user: User | int) -> MessageQuerySet:
        """`received_by(user)`, newest first, with only the listed fields."""
        return (
            self.received_by(user)
            .select_related("sender")
            .only(*self.LIST_FIELDS)
            .order_by("-timestamp", "-id")
        )
