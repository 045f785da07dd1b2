"""People: by name, by the start of a name (search), as a recipient (with the block check),
blocks, and what is stored about one."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Collate, Upper

from .. import payloads
from ..content import storable
from ..exceptions import NotFound, ValidationError
from ..models import Conversation, Message, MessageHistory, MessagingProfile, Notification
from .messages import viewer_read

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import WithAnnotations
else:
    User = get_user_model()


class _BlockFlags(TypedDict):
    """What `block_flags` annotates a user with."""

    blocks_them: bool
    blocked_by_them: bool


class _RecipientAttributes(_BlockFlags):
    #: Set by `recipient` on the user it answers: the id of the sender it was checked for.
    recipient_of: int


def user_get_by_username(username: str, *, viewer: User | None = None) -> User:
    """The user named `username`, else NotFound. With `viewer`, the same query also
    answers `blocks_them` and `blocked_by_them` (see `block_flags`) for the viewer."""
    if not isinstance(username, str) or "\x00" in username:
        # Nobody has such a name, and PostgreSQL refuses a NUL in a query.
        raise NotFound("No such user.")
    users = User.objects.all() if viewer is None else User.objects.annotate(**block_flags(viewer))
    try:
        return users.get(username=username)
    except (User.DoesNotExist, ValueError, TypeError):  # ValueError: an unpaired surrogate
        raise NotFound("No such user.") from None


def recipient(*, sender: User, username: str | None = None, user_id: int | None = None) -> User:
    """The person `sender` may write to, by username or id, else ValidationError on
    `receiver`: nobody by that name, the sender, or a block either way. One query: the
    lookup carries the block flags. The user is marked (`recipient_of`) as checked for
    this sender, so the send does not check again."""
    users = cast(
        "QuerySet[WithAnnotations[User, _RecipientAttributes]]",
        User.objects.annotate(**block_flags(sender)),
    )
    if username is not None:
        found = users.filter(username=username).first() if storable(username) else None
    else:
        found = users.filter(pk=user_id).first() if user_id is not None else None
    if found is None or not found.is_active:
        raise ValidationError("No user has this username.", field="receiver")
    if found.pk == sender.pk:
        raise ValidationError("You cannot send a message to yourself.", field="receiver")
    if found.blocks_them:
        raise ValidationError(
            "You have blocked this person: unblock them to send a message.", field="receiver"
        )
    if found.blocked_by_them:
        raise ValidationError("This person does not accept your messages.", field="receiver")
    found.recipient_of = sender.pk
    return found


#: How people search orders names, for its paginator: `name_key` (see `_name_key`), then
#: the name itself between names that differ only in letter case.
PEOPLE_SEARCH_ORDER = ("name_key", "username")


def people_search(*, viewer: User, prefix: str) -> QuerySet[User]:
    """The people `viewer` could write to whose username starts with `prefix`, in any
    letter case, ordered by name with letter case ignored (`PEOPLE_SEARCH_ORDER`):
    active, not the viewer, and no block either way (the rules of `recipient`, so every
    name offered can be written to). Someone who blocked the viewer is left out too: a
    send to them already answers that they do not accept the viewer's messages, so
    leaving them out tells nothing more, and the person who blocked is not offered to
    the one they blocked.

    The prefix is taken as a name is stored (NFKC): full-width "al" finds "alice". Only
    `id` and `username` are loaded, never the email. Unsliced, for the paginator (at
    most 20 a page). On PostgreSQL one index, `user_username_prefix` (migration 0006),
    finds the prefix, gives the order and takes up at a cursor, so a page reads about as
    many index entries as it answers, however common the prefix; SQLite finds the
    prefix by that index and sorts what it found.
    """
    prefix = unicodedata.normalize("NFKC", prefix)
    blocks = block_flags(viewer)
    return (
        User.objects.filter(
            ~blocks["blocks_them"],
            ~blocks["blocked_by_them"],
            username__istartswith=prefix,
            is_active=True,
        )
        .exclude(pk=viewer.pk)
        .annotate(name_key=_name_key())
        .only("id", "username")
        .order_by(*PEOPLE_SEARCH_ORDER)
    )


def _name_key() -> Upper | Collate:
    """A username's place in people search: `UPPER(username)`, what `istartswith`
    matches, so a cursor's position is the key itself and names that differ only in
    letter case share it (DRF's cursor then counts past them). On PostgreSQL in the "C"
    collation: the leading column of the index `user_username_prefix` (migration 0006),
    which so serves the prefix, the order and the cursor at once."""
    if connection.vendor == "postgresql":
        return Collate(Upper("username"), "C")
    return Upper("username")


def block_flags(user: User | int) -> dict[str, Exists]:
    """Annotations for a query of users: whether `user` blocks them, and they `user`."""
    blocks = MessagingProfile.blocked.through.objects
    return {
        "blocks_them": Exists(
            blocks.filter(messagingprofile_id=getattr(user, "pk", user), user_id=OuterRef("pk"))
        ),
        "blocked_by_them": Exists(
            blocks.filter(messagingprofile_id=OuterRef("pk"), user_id=getattr(user, "pk", user))
        ),
    }


def block_list(user: User | int) -> QuerySet[Any]:
    """The blocks `user` made, most recent first: rows of the relation, `.user` the
    blocked person (one query; the row's id orders them, as the relation has no time)."""
    blocks = MessagingProfile.blocked.through.objects
    return (
        blocks.filter(messagingprofile_id=getattr(user, "pk", user))
        .select_related("user")
        .only("id", "user__id", "user__username")
        .order_by("-id")
    )


def user_data_summary(user: User) -> dict[str, int]:
    """What deleting the account removes, counted: shown before the user confirms."""
    counts = Message.objects.for_participant(user).aggregate(
        messages_sent=Count("pk", filter=Q(sender=user)),
        messages_received=Count("pk", filter=Q(receiver=user)),
    )
    return {
        **counts,
        "messages": counts["messages_sent"] + counts["messages_received"],
        "conversations": Conversation.objects.filter(owner=user).count(),
        "notifications": Notification.objects.filter(user=user).count(),
    }


def user_export(user: User) -> dict[str, Any]:
    """Everything stored about the user, as one JSON-ready document."""

    def message_rows(queryset: QuerySet[Message]) -> list[dict[str, Any]]:
        return [
            {
                "id": m.pk,
                "sender": m.sender.username,
                "receiver": m.receiver.username if m.receiver is not None else None,
                "group": m.group_id,
                "content": m.content,
                "timestamp": m.timestamp.isoformat(),
                "edited": m.edited,
                "read": getattr(m, "viewer_read", m.read),
                "parent_message": m.parent_message_id,
                "thread_root": m.root_id,
            }
            for m in queryset.select_related("sender", "receiver")
            .annotate(viewer_read=viewer_read(user))  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
            .order_by("timestamp", "id")
        ]

    history = (
        MessageHistory.objects.filter(Q(message__sender=user) | Q(message__receiver=user))
        .order_by("edited_at", "id")
        .values("message_id", "old_content", "edited_at")
    )
    notifications = (
        Notification.objects.filter(user=user).select_related("actor").order_by("created_at", "id")
    )
    from . import groups as group_selectors  # the groups' selectors build on these

    groups = group_selectors.group_named(list(group_selectors.group_list(user)))
    group_ids = [group.pk for group in groups]
    return {
        "user": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "date_joined": user.date_joined.isoformat(),
        },
        "messages_sent": message_rows(Message.objects.filter(sender=user)),
        "messages_received": message_rows(Message.objects.filter(receiver=user)),
        "groups": [
            {**payloads.group(group), "created_at": group.created_at.isoformat()}
            for group in groups
        ],
        "group_messages_received": message_rows(
            Message.objects.filter(group_id__in=group_ids).exclude(sender=user)
        )
        if group_ids
        else [],
        "history": [
            {
                "message": row["message_id"],
                "old_content": row["old_content"],
                "edited_at": row["edited_at"].isoformat(),
            }
            for row in history
        ],
        "notifications": [
            {
                "id": n.pk,
                "kind": n.kind,
                "message": n.message_id,
                "actor": n.actor.username,
                "text": n.text,
                "created_at": n.created_at.isoformat(),
                "read": n.read,
            }
            for n in notifications
        ],
    }
