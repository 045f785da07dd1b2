"""Every shaped read of the product. Authorization by participation is decided here.

Anything a caller is not a participant of raises `NotFound`, exactly as if it did
not exist. Selectors return querysets or plain data, never cached querysets.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from . import cache as cache_keys
from .exceptions import NotFound, PermissionDenied
from .models import Conversation, Message, MessageHistory, MessagingProfile, Notification

User = get_user_model()


def reply_count_subquery(message_ref: str = "pk") -> Coalesce:
    """Direct replies of the outer query's `message_ref` (index on `parent_message`)."""
    counts = (
        Message.objects.filter(parent_message=OuterRef(message_ref))
        .order_by()
        .values("parent_message")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


def messages_with_people() -> QuerySet[Message]:
    return Message.objects.select_related("sender", "receiver")


# Users -----------------------------------------------------------------------


def user_get_by_username(username: str, *, viewer=None) -> Any:
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


def block_flags(user) -> dict[str, Exists]:
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


def blocked_list(user) -> QuerySet:
    """The people `user` has blocked, by name."""
    return User.objects.filter(blocked_by=getattr(user, "pk", user)).order_by("username")


def block_list(user) -> QuerySet:
    """The blocks `user` made, most recent first: rows of the relation, `.user` the
    blocked person (one query; the row's id orders them, as the relation has no time)."""
    blocks = MessagingProfile.blocked.through.objects
    return (
        blocks.filter(messagingprofile_id=getattr(user, "pk", user))
        .select_related("user")
        .only("id", "user__id", "user__username")
        .order_by("-id")
    )


def receiver_blocks_sender() -> Exists:
    """For a query of messages: whether the message's receiver blocks its sender."""
    return Exists(
        MessagingProfile.blocked.through.objects.filter(
            messagingprofile_id=OuterRef("receiver_id"), user_id=OuterRef("sender_id")
        )
    )


def is_blocked(user, other) -> bool:
    """Whether `user` blocks `other`."""
    return MessagingProfile.blocked.through.objects.filter(
        messagingprofile_id=user.pk, user_id=other.pk
    ).exists()


# Messages --------------------------------------------------------------------


def message_get_for_participant(
    user, message_id: Any, *, for_update: bool = False, with_block: bool = False
) -> Message:
    """The message if `user` sent or received it, with `reply_count`; else NotFound.

    With `for_update` the row is locked until the transaction ends, so concurrent
    writes to one message queue up instead of overwriting each other. With
    `with_block`, the same query answers `receiver_blocks_sender`.
    """
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    queryset = messages_with_people().for_participant(user).filter(pk=message_id)
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    if with_block:
        queryset = queryset.annotate(receiver_blocks_sender=receiver_blocks_sender())
    try:
        return queryset.annotate(reply_count=reply_count_subquery()).get()
    except Message.DoesNotExist:
        raise NotFound() from None


def message_get_for_sender(user, message_id: Any) -> Message:
    """The message if `user` sent it: NotFound for a stranger, PermissionDenied for its receiver.

    What an edit form shows; the services decide again when the edit is saved.
    """
    message = message_get_for_participant(user, message_id)
    if message.sender_id != user.pk:
        raise PermissionDenied("Only the sender can change a message.")
    return message


def message_list_between(user, partner) -> QuerySet[Message]:
    """The conversation between `user` and `partner`, newest first, with reply counts."""
    return (
        messages_with_people()
        .between(user, partner)
        .annotate(reply_count=reply_count_subquery())
        .order_by("-timestamp", "-id")
    )


def thread_get(user, message_id: Any) -> Message:
    """The thread holding `message_id` as a tree: its first message, with nested replies.

    Two queries however deep or long the thread is: the asked message (which also
    proves the caller may see the thread: both people of a thread are the same),
    then every message of the thread by its indexed root. Each node gets a
    `replies` list (oldest first) and a `reply_count`.
    """
    asked = message_get_for_participant(user, message_id)
    nodes = list(messages_with_people().in_thread(asked.root_id).order_by("timestamp", "id"))
    by_id = {node.pk: node for node in nodes}
    for node in nodes:
        node.replies_list = []
    root = by_id[asked.root_id]
    for node in nodes:
        parent = by_id.get(node.parent_message_id)
        if parent is not None:
            parent.replies_list.append(node)
    for node in nodes:
        node.reply_count = len(node.replies_list)
    return root


def conversation_thread_roots(user, partner) -> QuerySet[Message]:
    """The first messages of the threads between `user` and `partner`, newest first.

    What a conversation page pages over; `thread_trees` then loads the page's threads.
    """
    return (
        messages_with_people()
        .between(user, partner)
        .filter(thread_root__isnull=True)
        .order_by("-timestamp", "-id")
    )


def thread_trees(roots: list[Message], *, limit: int | None = None) -> list[Message]:
    """Each root of `roots` (already checked for the caller) with its whole thread as a tree.

    One query for every thread of the page, by the indexed `thread_root`, however many
    roots and however deep. Each node gets `replies_list` (oldest first), `reply_count`
    and `descendant_count`; each root also `thread_size` (its replies in the database)
    and `replies_loaded`. With `limit`, only each thread's newest `limit` replies are
    loaded; a reply whose parent was left out hangs from the root with `orphan = True`.
    """
    if not roots:
        return []
    by_id: dict[int, Message] = {}
    for root in roots:
        root.replies_list, root.orphan = [], False
        root.thread_size = root.replies_loaded = 0
        by_id[root.pk] = root
    replies = messages_with_people().filter(thread_root_id__in=list(by_id))
    if limit is not None:
        newest_first = [F("timestamp").desc(), F("id").desc()]
        replies = replies.annotate(
            position=Window(RowNumber(), partition_by=[F("thread_root_id")], order_by=newest_first),
            thread_size=Window(Count("pk"), partition_by=[F("thread_root_id")]),
        ).filter(position__lte=limit)
    nodes = sorted(replies, key=lambda node: (node.timestamp, node.pk))
    for node in nodes:
        node.replies_list, node.orphan = [], False
        by_id[node.pk] = node
    for node in nodes:
        root = by_id[node.thread_root_id]
        root.replies_loaded += 1
        root.thread_size = getattr(node, "thread_size", root.replies_loaded)
        parent = by_id.get(node.parent_message_id)
        if parent is None:
            parent, node.orphan = root, True
        parent.replies_list.append(node)

    # Parents before children, then counted children first: no recursion, however deep.
    order = list(roots)
    for node in order:
        order.extend(node.replies_list)
    for node in reversed(order):
        node.reply_count = len(node.replies_list)
        node.descendant_count = sum(1 + reply.descendant_count for reply in node.replies_list)
    return roots


def history_list(user, message_id: Any) -> QuerySet[MessageHistory]:
    """A message's earlier texts, newest first; only for its sender and receiver."""
    message = message_get_for_participant(user, message_id)
    return MessageHistory.objects.filter(message=message).order_by("-edited_at", "-id")


def unread_list(user) -> QuerySet[Message]:
    """The user's unread messages, newest first, with what a `Message` shows: both
    usernames and `reply_count`, in the one query (no per-row lookups). Messages from
    people the user blocked are left out (see `UnreadMessagesManager.received_by`)."""
    return (
        Message.unread.unread_for_user(user)
        .select_related("receiver")
        .only(*Message.unread.LIST_FIELDS, "receiver__id", "receiver__username")
        .annotate(reply_count=reply_count_subquery())
    )


def unread_count(user) -> int:
    """How many messages `user` has not read, from people they have not blocked.

    One query over the unread index, however long the history; cached under the
    user's generation, which a block or unblock moves (`services.blocks_changed`).
    """
    return cache_keys.get_or_set(
        cache_keys.unread_count_key(user.pk),
        lambda: Message.unread.received_by(user).count(),
    )


# Conversations ---------------------------------------------------------------


def conversation_list(user) -> QuerySet[Conversation]:
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


# Notifications ---------------------------------------------------------------


def notification_list(user, *, unread: bool | None = None) -> QuerySet[Notification]:
    queryset = Notification.objects.filter(user=user).select_related("actor")
    if unread is not None:
        queryset = queryset.filter(read=not unread)
    return queryset.order_by("-created_at", "-id")


def notification_unread_count(user) -> int:
    return cache_keys.get_or_set(
        cache_keys.notification_unread_count_key(user.pk),
        lambda: Notification.objects.filter(user=user, read=False).count(),
    )


def notification_get_for_user(user, notification_id: Any) -> Notification:
    try:
        return Notification.objects.get(pk=int(notification_id), user=user)
    except (Notification.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


# Accounts --------------------------------------------------------------------


def user_data_summary(user) -> dict[str, int]:
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


def user_export(user) -> dict[str, Any]:
    """Everything stored about the user, as one JSON-ready document."""

    def message_rows(queryset: QuerySet[Message]) -> list[dict[str, Any]]:
        return [
            {
                "id": m.pk,
                "sender": m.sender.username,
                "receiver": m.receiver.username,
                "content": m.content,
                "timestamp": m.timestamp.isoformat(),
                "edited": m.edited,
                "read": m.read,
                "parent_message": m.parent_message_id,
                "thread_root": m.root_id,
            }
            for m in queryset.select_related("sender", "receiver").order_by("timestamp", "id")
        ]

    history = (
        MessageHistory.objects.filter(Q(message__sender=user) | Q(message__receiver=user))
        .order_by("edited_at", "id")
        .values("message_id", "old_content", "edited_at")
    )
    notifications = (
        Notification.objects.filter(user=user).select_related("actor").order_by("created_at", "id")
    )
    return {
        "user": {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "date_joined": user.date_joined.isoformat(),
        },
        "messages_sent": message_rows(Message.objects.filter(sender=user)),
        "messages_received": message_rows(Message.objects.filter(receiver=user)),
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
