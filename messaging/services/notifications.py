"""Notifications: one per new message (made by `post_save`), per edit; reading them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from .. import cache as cache_keys
from .. import selectors
from ..models import (
    Message,
    Notification,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


NOTIFICATION_PREVIEW_LENGTH = 80


def notification_text(
    kind: str, actor_name: str, content: str, *, group_name: str | None = None
) -> str:
    verbs: dict[str, str] = {
        Notification.Kind.MESSAGE: "sent you a message",
        Notification.Kind.REPLY: "replied to you",
        Notification.Kind.EDIT: "edited a message",
    }
    verb = verbs[kind]
    if group_name is not None:
        verb = ("replied in " if kind == Notification.Kind.REPLY else "wrote in ") + group_name
    preview = (
        content
        if len(content) <= NOTIFICATION_PREVIEW_LENGTH
        else (content[: NOTIFICATION_PREVIEW_LENGTH - 1] + "…")
    )
    return f"{actor_name} {verb}: {preview}"


def notification_create_for_message(message: Message) -> Notification | list[Notification]:
    """The receiver's one notification for a new message (called by `post_save`); for a
    group message, one for each other member who has not blocked the sender, in one
    statement."""
    kind = Notification.Kind.REPLY if message.parent_message_id else Notification.Kind.MESSAGE
    if message.group_id is not None:
        audience = getattr(message, "audience", None) or selectors.group_audience(
            message.sender, message.group_id
        )
        text = notification_text(
            kind, message.sender.username, message.content, group_name=audience.name
        )
        return Notification.objects.bulk_create(
            Notification(
                user_id=pk,
                message=message,
                kind=kind,
                actor=message.sender,
                text=text,
                created_at=message.timestamp,
            )
            for pk in audience.notified
        )
    return Notification.objects.create(
        user_id=message.receiver_pk,
        message=message,
        kind=kind,
        actor=message.sender,
        text=notification_text(kind, message.sender.username, message.content),
        created_at=message.timestamp,
    )


@transaction.atomic
def notification_mark_read(*, user: User, notification: Notification | int | str) -> None:
    pk = notification.pk if isinstance(notification, Notification) else notification
    notification = selectors.notification_get_for_user(user, pk)
    if Notification.objects.filter(pk=notification.pk, read=False).update(read=True):
        cache_keys.invalidate(users=[user.pk])


@transaction.atomic
def notification_mark_all_read(*, user: User) -> int:
    changed = Notification.objects.filter(user=user, read=False).update(read=True)
    if changed:
        cache_keys.invalidate(users=[user.pk])
    return changed
