"""Messages: one by id for a participant, a conversation's, a thread, edit history, unread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from .. import cache as cache_keys
from ..exceptions import NotFound, PermissionDenied, ValidationError
from ..managers import MessageQuerySet
from ..models import Conversation, Group, Message, MessageHistory, MessagingProfile

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
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


def viewer_read(user: User) -> Case:
    """For a query of messages: whether `user` has read each one. A direct message's is
    its `read`; a group message is read by its sender, and by a member whose read pointer
    reached it (their row's `last_read_id`)."""
    pointer = Conversation.objects.filter(owner=user, group_id=OuterRef("group_id")).values(
        "last_read_id"
    )[:1]
    return Case(
        When(group__isnull=True, then=F("read")),
        When(sender=user, then=Value(True)),
        When(pk__lte=Subquery(pointer), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def messages_with_people() -> MessageQuerySet:
    return Message.objects.select_related("sender", "receiver")


def receiver_blocks_sender() -> Exists:
    """For a query of messages: whether the message's receiver blocks its sender."""
    return Exists(
        MessagingProfile.blocked.through.objects.filter(
            messagingprofile_id=OuterRef("receiver_id"), user_id=OuterRef("sender_id")
        )
    )


def message_for_idempotency_key(sender: User, key: str) -> Message | None:
    """The message `sender` sent with this `Idempotency-Key`, as the send answered it."""
    found = (
        messages_with_people()  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        .filter(sender=sender, idempotency_key=key)
        .annotate(reply_count=reply_count_subquery())
        .first()
    )
    if found is not None:
        found.viewer_read = True  # the sender's own message
    return found


def reply_parent(message_id: int) -> Message:
    """The message a reply answers (what the send needs of it), else ValidationError on
    `parent_message`. Whether it belongs to the conversation is the send's check."""
    parent = Message.objects.only(
        "id", "sender_id", "receiver_id", "group_id", "thread_root_id"
    ).filter(pk=message_id)
    found = parent.first()
    if found is None:
        raise ValidationError(
            "No message of this conversation has this id.", field="parent_message"
        )
    return found


def message_get_for_participant(
    user: User, message_id: Any, *, for_update: bool = False, with_block: bool = False
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
        queryset = queryset.annotate(receiver_blocks_sender=receiver_blocks_sender())  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
    try:
        return queryset.annotate(  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
            reply_count=reply_count_subquery(), viewer_read=viewer_read(user)
        ).get()
    except Message.DoesNotExist:
        raise NotFound() from None


def message_get_for_sender(user: User, message_id: Any) -> Message:
    """The message if `user` sent it: NotFound for a stranger, PermissionDenied for its receiver.

    What an edit form shows; the services decide again when the edit is saved.
    """
    message = message_get_for_participant(user, message_id)
    if message.sender_id != user.pk:
        raise PermissionDenied("Only the sender can change a message.")
    return message


def message_list_between(user: User, partner: User) -> MessageQuerySet:
    """The conversation between `user` and `partner`, newest first, with reply counts."""
    return (
        messages_with_people()  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        .between(user, partner)
        .annotate(reply_count=reply_count_subquery())
        .order_by("-timestamp", "-id")
    )


def thread_get(user: User, message_id: Any, *, asked: Message | None = None) -> Message:
    """The thread holding `message_id` as a tree: its first message, with nested replies.

    Two queries however deep or long the thread is: the asked message (which also
    proves the caller may see the thread: both people of a thread are the same; one
    the caller loaded with `message_get_for_participant` may be passed as `asked`),
    then every message of the thread by its indexed root. Each node gets a
    `replies` list (oldest first) and a `reply_count`.
    """
    if asked is None or asked.pk != int(message_id):
        asked = message_get_for_participant(user, message_id)
    nodes = list(
        messages_with_people()
        .in_thread(asked.root_id)
        .annotate(viewer_read=viewer_read(user))  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        .order_by("timestamp", "id")
    )
    by_id: dict[int | None, Message] = {node.pk: node for node in nodes}
    for node in nodes:
        node.replies_list = []
    root = by_id[asked.root_id]
    for node in nodes:
        parent = by_id.get(node.parent_message_id)
        if parent is not None:
            parent.replies_list.append(node)
            node.parent_message = parent  # loaded already: what a reply quotes costs no query
    for node in nodes:
        node.reply_count = len(node.replies_list)
    return root


#: What a conversation page shows of a message and of the message it answers.
WINDOW_FIELDS = (
    "id",
    "sender_id",
    "receiver_id",
    "group_id",
    "content",
    "timestamp",
    "edited",
    "read",
    "version",
    "parent_message_id",
    "thread_root_id",
    "parent_message__id",
    "parent_message__sender_id",
    "parent_message__content",
    "parent_message__version",
)
#: A group's page also names each sender and the sender of each message answered.
GROUP_WINDOW_FIELDS = (*WINDOW_FIELDS, "sender__username", "parent_message__sender__username")
#: However many are unread, a window stops here; the rest is one scroll up.
MAX_WINDOW = 300


def conversation_window(
    user: User,
    other: User | Group,
    *,
    before: int | None = None,
    at: int | None = None,
    size: int = 50,
) -> tuple[list[Message], bool]:
    """The conversation with `other` (a person, or a group `user` is a member of: the
    caller checked) as a chat shows it: the newest `size` messages (or those before
    message `before`, or up to and with message `at`), oldest first, each with the
    message it answers; and whether older ones exist.

    A group's messages also carry their sender's username (and that of the message they
    answer) and `viewer_read`, whether `user` has read each one.

    Opening at the latest (no `before`) when even the oldest shown is unread for
    `user`, the window grows to reach the first unread (up to `MAX_WINDOW`), so the
    page can open there. One query over the pair (or group) index, two in that case.
    """
    if isinstance(other, Group):
        mine: MessageQuerySet = Message.objects.filter(group_id=other.pk)
        window = (
            mine.select_related("sender", "parent_message__sender")
            .only(*GROUP_WINDOW_FIELDS)
            .annotate(viewer_read=viewer_read(user))  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        )
    else:
        mine = Message.objects.between(user, other)
        window = mine.select_related("parent_message").only(*WINDOW_FIELDS)
    window = window.order_by("-timestamp", "-id")
    end = before if before is not None else at
    if end is not None:
        # Only a message of this conversation: another's would cut the window at its time,
        # telling the caller when it was sent. Anything else anchors nothing: no rows.
        anchor = Subquery(mine.filter(pk=end).values("timestamp")[:1])
        same_time = (
            Q(timestamp=anchor, id__lt=end) if end == before else Q(timestamp=anchor, id__lte=end)
        )
        window = window.filter(Q(timestamp__lt=anchor) | same_time)
    rows = list(window[: size + 1])
    if end is None and len(rows) > size and unread_by(rows[size - 1], user):
        unread = (
            window.filter(viewer_read=False).count()  # type: ignore[misc]  # an annotation (stubs bug, django-stubs#2818)
            if isinstance(other, Group)
            else Message.unread.filter(receiver=user, sender=other).count()
        )
        grown = min(MAX_WINDOW, unread + 10)
        if grown > size:
            size = grown
            rows = list(window[: size + 1])
    has_older = len(rows) > size
    return rows[:size][::-1], has_older


def unread_by(message: Message, user: User) -> bool:
    """Whether `user` has yet to read `message`: a direct one they received and did not
    read, or a group one from someone else past their read pointer (`viewer_read`, as
    the group selectors load it; a group message loaded without it counts as read)."""
    if message.group_id is not None:
        return message.sender_id != user.pk and not getattr(message, "viewer_read", True)
    return message.receiver_id == user.pk and not message.read


def history_list(user: User, message_id: Any) -> QuerySet[MessageHistory]:
    """A message's earlier texts, newest first; only for its sender and receiver."""
    message = message_get_for_participant(user, message_id)
    return MessageHistory.objects.filter(message=message).order_by("-edited_at", "-id")


def unread_list(user: User) -> MessageQuerySet:
    """The user's unread messages, newest first, with what a `Message` shows: both
    usernames and `reply_count`, in the one query (no per-row lookups). Direct ones from
    people the user blocked are left out (see `UnreadMessagesManager.received_by`);
    those of their groups past their read pointer are in (`groups.group_unread`)."""
    from .groups import group_unread

    direct = Message.unread.received_by(user).order_by().values("pk")
    return (
        Message.objects.filter(pk__in=direct.union(group_unread(user).order_by().values("pk")))  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        .select_related("sender", "receiver")
        .only(
            *Message.unread.LIST_FIELDS,
            "group_id",
            "receiver__id",
            "receiver__username",
        )
        .annotate(reply_count=reply_count_subquery(), viewer_read=Value(False))
        .order_by("-timestamp", "-id")
    )


def unread_count(user: User) -> int:
    """How many messages `user` has not read: direct ones from people they have not
    blocked, and those of their groups past their read pointer.

    One query over the unread indexes, however long the history; cached under the
    user's generation, which a block or unblock moves (`services.blocks_changed`) and
    any message to them or their groups moves.
    """
    from .groups import group_unread

    def count() -> int:
        direct = Message.unread.received_by(user).order_by().values("pk")
        groups = group_unread(user).order_by().values("pk")
        return Message.objects.filter(pk__in=direct.union(groups, all=True)).count()

    return cache_keys.get_or_set(cache_keys.unread_count_key(user.pk), count)
