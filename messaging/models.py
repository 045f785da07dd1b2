"""The messaging data: messages in threads, their edit history, notifications, conversations,
blocks and the keys that keep look-alike usernames apart; and what counts as visible text.

Every row that belongs to a user is removed with the user by the database's
foreign keys (`on_delete=CASCADE`); nothing here may point at a deleted row.
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least, Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from .managers import MessageQuerySet, UnreadMessagesManager

MAX_CONTENT_LENGTH = 10_000

#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters
#: a renderer shows as nothing, whatever their category (the Hangul fillers are letters).
_DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
DEFAULT_IGNORABLE = frozenset(
    chr(code) for low, high in _DEFAULT_IGNORABLE_RANGES for code in range(low, high + 1)
)
#: Drawn as blank space though neither ignorable nor whitespace.
_BLANK_LOOKING = frozenset({"\u2800"})  # BRAILLE PATTERN BLANK
#: Format characters, controls and separators: nothing to see.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def is_invisible(char: str) -> bool:
    """Whether the character shows nothing: whitespace, a format character (zero-width
    spaces and joiners, direction marks, the BOM), a control, or a blank-looking filler."""
    return (
        char in DEFAULT_IGNORABLE
        or char in _BLANK_LOOKING
        or char.isspace()
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def has_visible_text(text: str) -> bool:
    """Whether `text` shows anything: a message of invisible characters only is empty."""
    return not all(is_invisible(char) for char in text)


class Message(models.Model):
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_messages"
    )
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_messages"
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

    objects = MessageQuerySet.as_manager()
    unread = UnreadMessagesManager()

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
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(sender=F("receiver")), name="msg_not_to_self"),
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
        return f"{self.sender_id} → {self.receiver_id}: {self.content[:40]}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the row held when loaded: `pre_save` compares against it to record edits.
        if "content" in field_names:
            instance._loaded_content = instance.content
        return instance

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.sender_id is not None and self.sender_id == self.receiver_id:
            errors["receiver"] = "You cannot send a message to yourself."
        if not has_visible_text(self.content or ""):
            errors["content"] = "A message cannot be empty."
        parent = self.parent_message
        if parent is not None and {parent.sender_id, parent.receiver_id} != {
            self.sender_id,
            self.receiver_id,
        }:
            errors["parent_message"] = "A reply stays between the same two people."
        if errors:
            raise ValidationError(errors)

    @property
    def root_id(self) -> int:
        """The id of this thread's first message (the message's own id for a first message)."""
        return self.thread_root_id or self.pk

    def is_participant(self, user) -> bool:
        return user.pk in (self.sender_id, self.receiver_id)


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
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.text}"


class Conversation(models.Model):
    """One user's side of their exchange with one partner: what their inbox row shows.

    Kept up to date by the services in the same transaction as the messages, so the
    inbox costs the same however many messages a user has.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    partner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    last_message = models.ForeignKey(
        Message, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_activity = models.DateTimeField(default=timezone.now)
    unread_count = models.PositiveIntegerField(default=0)
    # The owner blocked the partner: the conversation leaves the owner's inbox.
    hidden = models.BooleanField(default=False)

    class Meta:
        ordering = ["-last_activity", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "partner"], name="conversation_pair"),
            models.CheckConstraint(condition=~Q(owner=F("partner")), name="conversation_not_self"),
        ]
        indexes = [models.Index(fields=["owner", "-last_activity"], name="conversation_inbox")]

    def __str__(self) -> str:
        return f"{self.owner_id} ↔ {self.partner_id}"


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
