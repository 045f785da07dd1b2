"""The messaging data: messages in threads, their edit history, notifications, conversations,
blocks and the keys that keep look-alike usernames apart; and what counts as visible text.

Every row that belongs to a user is removed with the user by the database's
foreign keys (`on_delete=CASCADE`); nothing here may point at a deleted row.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least, Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from .content import MAX_CONTENT_LENGTH, clean_content
from .exceptions import ValidationError as ContentError
from .managers import MessageQuerySet, UnreadMessagesManager

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Message(models.Model):
    # Both people's columns are indexed by the composite indexes below (each leads one),
    # so neither needs an index of its own.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="sent_messages",
        db_index=False,
    )
    # A direct message has a receiver; a group message has a group instead (never both).
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="received_messages",
        db_index=False,
    )
    group = models.ForeignKey(
        "Group", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    content = models.TextField(max_length=MAX_CONTENT_LENGTH)
    timestamp = models.DateTimeField(default=timezone.now)
    edited = models.BooleanField(default=False)
    read = models.BooleanField(default=False)
    parent_message = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # The first message of the thread; null on that first message itself. With it a
    # whole thread, however deep, is one indexed query.
    thread_root = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="thread_messages",
        editable=False,
    )
    # Set by a client that may retry a send: a retry with the same key is the same message.
    # NULL, not "", for messages sent without a key: the unique constraint ignores NULLs.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True, editable=False
    )

    # Moves with every change of the text (`services.history_record_edit`): a message's
    # rendered HTML is cached under it (`web/fragments.py`), so an edit needs no purge.
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = MessageQuerySet.as_manager()
    unread = UnreadMessagesManager()

    # Not columns: attributes some instances carry, declared for the type checker only
    # (annotations without a value create nothing, so `getattr(message, name, default)`
    # still finds them missing on an instance that was not given them). Django takes
    # `annotate(reply_count=...)` (only fields' names are refused); django-stubs 5.2.3+
    # refuses any declared name (`no-redef`, typeddjango/django-stubs#2818), hence the
    # ignores on those `annotate()` calls.
    #: The text the row held when loaded (`from_db`); `pre_save` compares against it.
    _loaded_content: str
    #: Who makes the edit under way (`services.message_edit`), for its history row.
    _edited_by: User
    #: The receiver's notification, made by `post_save` when the message is created.
    notification: Notification
    #: Who a group message being sent reaches (`selectors.Audience`), found by the send.
    audience: Any
    #: The notifications of a group message's other members, made by `post_save`.
    group_notifications: list[Notification]
    #: Annotations of the selectors: direct replies, and whether the receiver blocks the sender.
    reply_count: int
    receiver_blocks_sender: bool
    #: For a group message: whether the person it was loaded for has read it (`read` is
    #: the receiver's state, and a group message has no receiver).
    viewer_read: bool
    #: A thread as a tree (`selectors.thread_get`).
    replies_list: list[Message]
    descendant_count: int

    class Meta:
        ordering = ["-timestamp", "-id"]
        base_manager_name = "objects"
        default_manager_name = "objects"
        indexes = [
            # A conversation's page, newest first, in both directions.
            models.Index(fields=["sender", "receiver", "-timestamp"], name="msg_pair_time"),
            models.Index(fields=["receiver", "sender", "-timestamp"], name="msg_pair_rev_time"),
            # Both directions of a pair in one ordered index (`between()` filters on it), so a
            # conversation's newest page stops after the page instead of sorting its history.
            models.Index(
                Least("sender", "receiver"),
                Greatest("sender", "receiver"),
                F("timestamp").desc(),
                F("id").desc(),
                name="msg_pair_key_time",
            ),
            # Unread lists and counts (per user and per conversation).
            models.Index(fields=["receiver", "sender"], condition=Q(read=False), name="msg_unread"),
            models.Index(fields=["thread_root", "timestamp"], name="msg_thread"),
            # What a person received and what they sent directly, newest first: message
            # search reads the newest of each (as of a group, `msg_group_time`) before it
            # turns to the word index (`selectors.message_search`).
            models.Index(
                fields=["receiver", "-timestamp", "-id"],
                condition=Q(receiver__isnull=False),
                name="msg_received_time",
            ),
            models.Index(
                fields=["sender", "-timestamp", "-id"],
                condition=Q(group__isnull=True),
                name="msg_sent_time",
            ),
            # A group's page, newest first; and what a member has not read (ids past their
            # read pointer), however long the group's history.
            models.Index(
                fields=["group", "-timestamp", "-id"],
                condition=Q(group__isnull=False),
                name="msg_group_time",
            ),
            models.Index(
                fields=["group", "id"], condition=Q(group__isnull=False), name="msg_group_id"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(sender=F("receiver")), name="msg_not_to_self"),
            models.CheckConstraint(
                condition=Q(receiver__isnull=False, group__isnull=True)
                | Q(receiver__isnull=True, group__isnull=False),
                name="msg_direct_or_group",
            ),
            models.CheckConstraint(
                condition=Q(
                    GreaterThanOrEqual(Length("content"), 1),
                    LessThanOrEqual(Length("content"), MAX_CONTENT_LENGTH),
                ),
                name="msg_content_length",
            ),
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="msg_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        to = f"group {self.group_id}" if self.group_id else self.receiver_id
        return f"{self.sender_id} → {to}: {self.content[:40]}"

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> Self:
        instance = super().from_db(db, field_names, values)
        # What the row held when loaded: `pre_save` compares against it to record edits.
        if "content" in field_names:
            instance._loaded_content = instance.content
        return instance

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.receiver_id is None) == (self.group_id is None):
            errors["receiver"] = "A message goes to one person or to one group."
        if self.sender_id is not None and self.sender_id == self.receiver_id:
            errors["receiver"] = "You cannot send a message to yourself."
        try:
            self.content = clean_content(self.content or "")
        except ContentError as error:
            errors["content"] = error.message
        parent = self.parent_message
        if parent is not None and not parent.same_conversation(self):
            errors["parent_message"] = "A reply stays in the same conversation."
        if errors:
            raise ValidationError(errors)

    def same_conversation(self, other: Message) -> bool:
        """Whether both messages belong to one conversation: the same group, or the same
        two people with no group."""
        if self.group_id is not None or other.group_id is not None:
            return self.group_id == other.group_id
        return {self.sender_id, self.receiver_id} == {other.sender_id, other.receiver_id}

    @property
    def direct_receiver(self) -> User:
        """The receiver of a direct message (a group message has none: ValueError)."""
        if self.receiver is None:
            raise ValueError(f"message {self.pk} is a group message: it has no receiver")
        return self.receiver

    @property
    def receiver_pk(self) -> int:
        """The receiver's id of a direct message (a group message has none: ValueError)."""
        if self.receiver_id is None:
            raise ValueError(f"message {self.pk} is a group message: it has no receiver")
        return self.receiver_id

    @property
    def group_pk(self) -> int:
        """The group's id of a group message (a direct message has none: ValueError)."""
        if self.group_id is None:
            raise ValueError(f"message {self.pk} is a direct message: it has no group")
        return self.group_id

    @property
    def root_id(self) -> int:
        """The id of this thread's first message (the message's own id for a first message)."""
        return self.thread_root_id or self.pk


class MessageHistory(models.Model):
    """The text a message had before an edit."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="history")
    old_content = models.TextField()
    edited_at = models.DateTimeField(default=timezone.now)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="message_edits",
    )

    class Meta:
        ordering = ["-edited_at", "-id"]
        verbose_name_plural = "message histories"
        indexes = [models.Index(fields=["message", "-edited_at"], name="history_by_message")]

    def __str__(self) -> str:
        return f"{self.message_id} @ {self.edited_at:%Y-%m-%d %H:%M}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        MESSAGE = "message", "New message"
        REPLY = "reply", "Reply"
        EDIT = "edit", "Edit"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MESSAGE)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    read = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notif_user_time"),
            models.Index(
                fields=["user", "-created_at"], condition=Q(read=False), name="notif_unread"
            ),
            # Opening a conversation asks (on every view) whether the partner's edits are
            # unread: a few rows, however many other notifications the person has.
            models.Index(
                fields=["user", "actor"],
                condition=Q(read=False, kind="edit"),
                name="notif_unread_edit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.text}"


class Group(models.Model):
    """A named conversation among two or more people: its members are the owners of its
    `Conversation` rows (one per member: their inbox row and read pointer)."""

    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    members: models.ManyToManyField[Any, Any] = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="Conversation",
        through_fields=("group", "owner"),
        related_name="message_groups",
    )

    #: `member_names`: the members' usernames, loaded by `selectors.group_get`.
    member_names: list[str]

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(GreaterThanOrEqual(Length("name"), 1)), name="group_name_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """One user's side of a conversation: with one partner, or in one group (then the row
    is the user's membership). What their inbox row shows.

    Kept up to date by the services in the same transaction as the messages, so the
    inbox costs the same however many messages a user has.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    # Exactly one of the two: the other person of a direct conversation, or the group.
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    group = models.ForeignKey(
        Group, null=True, on_delete=models.CASCADE, related_name="memberships"
    )
    last_message = models.ForeignKey(
        Message, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_activity = models.DateTimeField(default=timezone.now)
    # Direct rows only: how many of the partner's messages the owner has not read. A
    # group's is counted from `last_read_id` (`selectors.group_unread`).
    unread_count = models.PositiveIntegerField(default=0)
    # The owner blocked the partner: the conversation leaves the owner's inbox.
    hidden = models.BooleanField(default=False)
    # Group rows only: the owner has read every message of the group up to this id. Not a
    # foreign key: the message it names may be deleted, the pointer stays where it was.
    last_read_id = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-last_activity", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "partner"], name="conversation_pair"),
            models.UniqueConstraint(
                fields=["owner", "group"],
                condition=Q(group__isnull=False),
                name="conversation_membership",
            ),
            models.CheckConstraint(condition=~Q(owner=F("partner")), name="conversation_not_self"),
            models.CheckConstraint(
                condition=Q(partner__isnull=False, group__isnull=True)
                | Q(partner__isnull=True, group__isnull=False),
                name="conversation_partner_or_group",
            ),
        ]
        indexes = [models.Index(fields=["owner", "-last_activity"], name="conversation_inbox")]

    def __str__(self) -> str:
        return f"{self.owner_id} ↔ {self.partner_id or f'group {self.group_id}'}"

    @property
    def member_group(self) -> Group:
        """The group of a membership row (a direct conversation's row has none: ValueError)."""
        if self.group is None:
            raise ValueError(f"conversation {self.pk} is direct: it has no group")
        return self.group


class MessagingProfile(models.Model):
    """A person's messaging settings: for now, whom they have blocked.

    Keyed by the user's id, so "does A block B" is one lookup in the through table.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="messaging_profile",
    )
    blocked = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="blocked_by"
    )

    def __str__(self) -> str:
        return f"profile of {self.user_id}"


class UsernameKey(models.Model):
    """A username's folded forms, each unique among all users: names that look alike
    are one name. Written with the user (`post_save`), removed with it (CASCADE).

    `folded` is the name case-folded, then reduced to its UTS #39 skeleton; `skeleton`
    is the skeleton, then case-folded (`services.username_keys`). Neither order covers
    the other: "Ilya" and "ilya" differ only in case, yet the skeleton reads a capital
    I as an l; "paypaI" and "paypal" share a skeleton, yet case folding makes the I an
    i. Both are SHA-256 digests: a skeleton can be several times longer than the name,
    too long for an index entry on PostgreSQL.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="username_key",
    )
    # A digest, or for one of two names that looked alike before the rule, the digest
    # followed by ":" and the user's id (see migration 0005).
    folded = models.CharField(max_length=96, unique=True)
    skeleton = models.CharField(max_length=96, unique=True)

    def __str__(self) -> str:
        return f"username keys of {self.user_id}"


class EndedLogin(models.Model):
    """A token login (the `sid` its tokens share) that was logged out.

    Its tokens are refused until `expires_at`, when the last of them would have
    expired anyway; older rows are deleted at the next logout.
    """

    sid = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ended_logins"
    )
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"login {self.sid} of {self.user_id}"
