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
    from .models import Message, Notification


def iso_time(value: datetime) -> str:
    text = timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message(message: Message) -> dict[str, Any]:
    """A message with both people's usernames (loaded with it: `messages_with_people`) and,
    when annotated, its number of direct replies."""
    return {
        "id": message.pk,
        "sender": message.sender.username,
        "receiver": message.receiver.username,
        "content": message.content,
        "timestamp": iso_time(message.timestamp),
        "edited": message.edited,
        "read": message.read,
        "parent_message": message.parent_message_id,
        "thread_root": message.root_id,
        "reply_count": getattr(message, "reply_count", 0) or 0,
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
