"""Messages and notifications as plain dicts: the JSON the API answers and the sockets push.

One definition of each shape, knowing nothing of DRF: the API's serializers answer these
dicts (their declared fields document them), the live events carry them. Times are ISO
8601 in the current time zone, UTC written as `Z`, as the API has always written them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from .models import Group, Message, Notification


def iso_time(value: datetime) -> str:
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message(message: Message) -> dict[str, Any]:
    """A message with both people's usernames (loaded with it: `messages_with_people`) and,
    when annotated, its number of direct replies.

    A group message has no receiver; its `read` is the state of the person it was loaded
    for (`viewer_read`, set by the selectors and services that know who that is)."""
    group_id = message.group_id
    return {
        "id": message.pk,
        "sender": message.sender.username,
        "receiver": message.direct_receiver.username if group_id is None else None,
        "group": group_id,
        "content": message.content,
        "timestamp": iso_time(message.timestamp),
        "edited": message.edited,
        "read": message.read if group_id is None else getattr(message, "viewer_read", False),
        "parent_message": message.parent_message_id,
        "thread_root": message.root_id,
        "reply_count": getattr(message, "reply_count", 0) or 0,
    }


def group(group: Group) -> dict[str, Any]:
    """A group with its members' usernames (`member_names`, loaded with it)."""
    return {
        "id": group.pk,
        "name": group.name,
        "members": group.member_names,
        "created_by": group.created_by.username if group.created_by is not None else None,
        "created_at": iso_time(group.created_at),
    }


def notification(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "message": notification.message_id,
        "actor": notification.actor.username,
        "text": notification.text,
        "created_at": iso_time(notification.created_at),
        "read": notification.read,
    }
