"""Real-time delivery: per-user groups on the channel layer, published after commit.

Services schedule events with `publish_on_commit`; the socket consumer
(`consumers.py`) joins the user's group and forwards each event as a JSON frame
`{"type": ..., "data": ...}`. A channel layer that is down loses the live push,
never the write: clients catch up through the API.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import cache

logger = logging.getLogger(__name__)

#: Seconds a publish may take before the event is given up (and logged).
PUBLISH_TIMEOUT = 2.0

#: The consumer method that handles pushed events (`type` on the channel layer).
EVENT_HANDLER = "event.push"
#: Sent to a user's group when the account is gone: every socket of theirs closes.
REVOKE_HANDLER = "session.revoke"


def user_group(user_id: int) -> str:
    return f"messaging.user.{user_id}"


def _group_send(user_id: int, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send() -> None:
        # Bounded: a Redis that hangs (rather than refuses) must not hold the request
        # that committed the write; the event is lost, the write is not.
        await asyncio.wait_for(layer.group_send(user_group(user_id), payload), PUBLISH_TIMEOUT)

    try:
        async_to_sync(send)()
    except Exception:
        logger.warning(
            "channel layer unavailable: %s to user %s", payload["type"], user_id, exc_info=True
        )


def publish(user_id: int, event_type: str, data: dict[str, Any]) -> None:
    _group_send(user_id, {"type": EVENT_HANDLER, "event": event_type, "data": data})


def publish_on_commit(user_id: int, event_type: str, build: Callable[[], dict[str, Any]]) -> None:
    """Send `build()` to every socket of the user once the current transaction commits.

    The payload is built after the commit, so it shows what was committed.
    """

    def send() -> None:
        # A client re-reads as soon as it hears: the caches' generations move first.
        cache.bump_pending()
        publish(user_id, event_type, build())

    transaction.on_commit(send)


def revoke_on_commit(user_id: int) -> None:
    transaction.on_commit(lambda: _group_send(user_id, {"type": REVOKE_HANDLER}))


# Payloads are the API's own serializations, built once per event, not per socket.


def message_payload(message) -> dict[str, Any]:
    from .api.serializers import MessageSerializer

    return dict(MessageSerializer(message).data)


def notification_payload(notification) -> dict[str, Any]:
    from .api.serializers import NotificationSerializer

    return dict(NotificationSerializer(notification).data)
