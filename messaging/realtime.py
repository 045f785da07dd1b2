"""Real-time delivery: per-user groups on the channel layer, published after commit.

Services schedule events with `publish_on_commit`; the socket consumer
(`consumers.py`) joins the user's group and forwards each event as a JSON frame
`{"type": ..., "data": ...}`. A channel layer that is down loses the live push,
never the write: clients catch up through the API.

Each socket also joins the group of the login that opened it (`login_group`), so
ending a login closes its sockets on every worker: `revoke_login_on_commit` (a
logout) closes one login's, `revoke_on_commit` (a password change, the account's
deletion) all of the user's but those of `keep_login`. They close with 4401.
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


def login_group(login_id: str) -> str:
    """Every socket opened by one login (`auth_tokens.session_login_id`/`token_login_id`)."""
    return f"messaging.login.{login_id}"


def _group_send(user_id: int, payload: dict[str, Any]) -> None:
    _send_to_group(user_group(user_id), payload, f"user {user_id}")


def _send_to_group(group: str, payload: dict[str, Any], whom: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send() -> None:
        # Bounded: a Redis that hangs (rather than refuses) must not hold the request
        # that committed the write; the event is lost, the write is not.
        await asyncio.wait_for(layer.group_send(group, payload), PUBLISH_TIMEOUT)

    try:
        async_to_sync(send)()
    except Exception:
        logger.warning("channel layer unavailable: %s to %s", payload["type"], whom, exc_info=True)


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


def revoke_on_commit(user_id: int, *, keep_login: str | None = None) -> None:
    """Close every socket of the user once the transaction commits, on every worker,
    except those opened by `keep_login` (the login that changed the password)."""
    payload: dict[str, Any] = {"type": REVOKE_HANDLER}
    if keep_login:
        payload["keep_login"] = keep_login
    transaction.on_commit(lambda: _group_send(user_id, payload))


def revoke_login_on_commit(login_id: str) -> None:
    """Close the sockets one login opened (a logout) once the transaction commits."""
    if not login_id:
        return  # no login, no sockets (a session that never had a key)
    transaction.on_commit(
        lambda: _send_to_group(login_group(login_id), {"type": REVOKE_HANDLER}, login_id)
    )


# Payloads are the API's own serializations, built once per event, not per socket.


def message_payload(message) -> dict[str, Any]:
    from .api.serializers import MessageSerializer

    return dict(MessageSerializer(message).data)


def notification_payload(notification) -> dict[str, Any]:
    from .api.serializers import NotificationSerializer

    return dict(NotificationSerializer(notification).data)
