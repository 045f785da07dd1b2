"""Messages: send, edit, delete; the edit history the `pre_save` signal keeps.

Arguments arrive clean: the content passed `content.clean_content`, the receiver came
from `selectors.recipient` (which checked blocks), the parent from
`selectors.reply_parent`. What only the write can know is checked here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .. import payloads, selectors
from ..exceptions import PermissionDenied, ValidationError
from ..models import Group, Message, MessageHistory, Notification
from ..realtime.publishing import Event, send_on_commit
from .conversations import (
    _conversations_record,
    _conversations_refresh_last,
    _conversations_unread_decrement,
    _group_conversations_record,
    _group_refresh_last,
    _pk,
)
from .notifications import notification_text

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def message_send(
    *,
    sender: User,
    receiver: User | None = None,
    group: Group | int | None = None,
    content: str,
    parent: Message | None = None,
    idempotency_key: str | None = None,
) -> Message:
    """Send `content` from `sender` to `receiver`, or to every other member of `group`,
    maybe as a reply to `parent`.

    One transaction: the message (its `post_save` signal creates the notifications:
    the receiver's, or one per other member in one statement), the inbox rows (both
    people's, or every member's) in one statement; after the commit,
    `message.created` then `notification.created` to the sockets of whoever it reaches.
    With an `idempotency_key`, a retry by the same sender answers the first message and
    stores nothing new: the key's unique index decides, so a concurrent retry cannot
    double it. A send to a group costs the same number of queries for 3 or 100 members.
    """
    audience = None
    if group is not None:
        audience = selectors.group_audience(sender, group.pk if isinstance(group, Group) else group)
    elif receiver is None:
        raise ValidationError("Say who the message is for.", field="receiver")
    elif getattr(receiver, "recipient_of", None) != sender.pk:
        receiver = selectors.recipient(sender=sender, user_id=receiver.pk)
    message = Message(
        sender=sender,
        receiver=receiver if audience is None else None,
        group_id=audience.group_id if audience is not None else None,
        content=content,
        parent_message=parent,
        thread_root_id=parent.root_id if parent else None,
        idempotency_key=idempotency_key,
    )
    if parent is not None and not parent.same_conversation(message):
        raise ValidationError(
            "No message of this conversation has this id.", field="parent_message"
        )
    message.audience = audience
    try:
        with transaction.atomic():
            message.save(force_insert=True)
            if audience is None:
                _conversations_record(message)
                send_on_commit(
                    *_created_events(message, (message.receiver_pk,), [message.notification])
                )
            else:
                _group_conversations_record(message)
                # Those who blocked the sender hear nothing of it (it is in the group
                # when they open it).
                send_on_commit(
                    *_created_events(message, audience.notified, message.group_notifications)
                )
    except IntegrityError:
        # Only a retry whose first attempt committed collides (on the key's unique index).
        earlier = (
            selectors.message_for_idempotency_key(sender, idempotency_key)
            if idempotency_key is not None
            else None
        )
        if earlier is None:
            raise
        return earlier
    message.reply_count = 0
    message.viewer_read = True  # the sender has read what they sent
    return message


def _created_events(
    message: Message, to: tuple[int, ...], notifications: list[Notification]
) -> list[Event]:
    """`message.created` to `to`, then each notification to its person."""

    def created() -> dict[str, Any]:
        payload = payloads.message(message)
        return {**payload, "read": False} if message.group_id else payload

    return [
        Event(to, "message.created", created),
        *(
            Event((note.user_id,), "notification.created", partial(payloads.notification, note))
            for note in notifications
        ),
    ]


@transaction.atomic
def message_edit(*, user: User, message: Message | int, content: str) -> Message:
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
    if content == message.content:
        message.viewer_read = True
        return message
    message.content = content
    message._edited_by = user
    # The pre_save signal stores the previous text and sets `edited`.
    message.save(update_fields=["content", "edited", "version"])
    if message.group_id is not None:
        # No notification in a group (every member would get one per edit): the new text
        # reaches the members' pages, each with their own read state.
        message.viewer_read = True
        send_on_commit(*_group_events(message, "message.updated"))
        return message
    if message.receiver_blocks_sender:
        return message
    notification = Notification.objects.create(
        user_id=message.receiver_pk,
        message=message,
        kind=Notification.Kind.EDIT,
        actor=user,
        text=notification_text(Notification.Kind.EDIT, user.username, content),
    )
    send_on_commit(
        Event((message.receiver_pk,), "message.updated", lambda: payloads.message(message)),
        Event(
            (message.receiver_pk,),
            "notification.created",
            lambda: payloads.notification(notification),
        ),
    )
    return message


@transaction.atomic
def message_delete(*, user: User, message: Message | int) -> None:
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
    _detach_replies(message)
    message_id, was_unread = message.pk, not message.read
    if message.group_id is not None:
        events = _group_events(message, "message.deleted", lambda: {"id": message_id})
        message.delete()
        _group_refresh_last(message.group_pk)
        send_on_commit(*events)
        return
    message.delete()
    if was_unread:
        _conversations_unread_decrement(
            owner_id=message.receiver_pk, partner_id=message.sender_id, by=1
        )
    _conversations_refresh_last(message.sender_id, message.receiver_pk)
    if not message.receiver_blocks_sender:
        send_on_commit(Event((message.receiver_pk,), "message.deleted", lambda: {"id": message_id}))


def _detach_replies(message: Message) -> None:
    """Before `message` is deleted, its replies stay in the thread: they move up to its
    parent; when it is the thread's first message, its oldest reply becomes the first
    message and the others reply to it, so nothing is left pointing at the deleted row."""
    replies = Message.objects.filter(parent_message=message)
    if message.parent_message_id is not None:
        replies.update(parent_message_id=message.parent_message_id)
        return
    new_root = replies.order_by("timestamp", "id").first()
    if new_root is not None:
        Message.objects.filter(thread_root=message).exclude(pk=new_root.pk).update(
            thread_root=new_root
        )
        replies.exclude(pk=new_root.pk).update(parent_message=new_root)
        Message.objects.filter(pk=new_root.pk).update(parent_message=None, thread_root=None)


def _group_events(
    message: Message, kind: str, build: Callable[[], dict[str, Any]] | None = None
) -> list[Event]:
    """`kind` about a group message to its other members (not those who blocked its
    sender): one query for who they are and how far each has read, then one event for
    those who read it and one for the rest (a `Message` carries the reader's own `read`)."""
    readers: list[int] = []
    unread: list[int] = []
    rows = selectors.group_audience_rows(message.group_pk, sender_id=message.sender_id)
    for owner, pointer, blocks_sender in rows:
        if owner != message.sender_id and not blocks_sender:
            (readers if pointer >= message.pk else unread).append(owner)
    if build is not None:
        return [Event((*readers, *unread), kind, build)]
    payload = partial(payloads.message, message)
    return [
        Event(tuple(readers), kind, lambda: {**payload(), "read": True}),
        Event(tuple(unread), kind, lambda: {**payload(), "read": False}),
    ]


def history_record_edit(
    message: Message,
    *,
    old_content: str,
    edited_by: User | None = None,
    persist: Collection[str] = (),
) -> MessageHistory:
    """Called by `pre_save` when a message's text changes: keep the old text, mark it
    edited and move its version on.

    `persist` names the fields of `edited` and `version` that the save under way will
    not write itself (a save with `update_fields` that leaves them out).
    """
    message.edited = True
    message.version += 1
    changes = {"edited": True, "version": F("version") + 1}
    if persist:
        Message.objects.filter(pk=message.pk).update(**{field: changes[field] for field in persist})
    return MessageHistory.objects.create(
        message_id=message.pk,
        old_content=old_content,
        edited_at=timezone.now(),
        edited_by_id=getattr(edited_by, "pk", None) or message.sender_id,
    )
