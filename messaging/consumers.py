"""The real-time socket, `/ws/events/` (API.md, "Real time").

A signed-in user's socket joins the user's group (`realtime.user_group`) and
forwards every event the services publish there as one JSON text frame
`{"type": ..., "data": ...}`. Who the user is was decided by `ws_auth`, which
also closes a socket without one (4401) before it gets here. The consumer closes
with 4401 too when the account is deleted (`session.revoke`) and when the
`?token=` the socket was opened with expires (the client reconnects with a fresh
access token, as it would retry an API call).

Client frames are optional: `{"type": "ping"}` is answered `{"type": "pong"}`,
anything else is ignored, and nothing a client sends can crash the consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import realtime
from .ws_auth import CLOSE_UNAUTHORIZED

logger = logging.getLogger(__name__)

#: Close code when the channel layer cannot be reached: the client retries later.
CLOSE_UNAVAILABLE = 1011
#: Client frames longer than this are not read (a ping is 16 bytes).
MAX_CLIENT_FRAME = 1024


class EventsConsumer(AsyncJsonWebsocketConsumer):
    #: Channel layers forget a group membership after `group_expiry` (a day by
    #: default), so a socket open that long would go quiet: it rejoins this often.
    group_renewal_seconds: float = 3600

    group_name: str | None = None
    closing = False
    _expiry: asyncio.TimerHandle | None = None
    _renewal: asyncio.TimerHandle | None = None
    # Strong references to the tasks the timers start, for as long as they run.
    _timer_tasks: set[asyncio.Task] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # ws_auth turns these away before the consumer; this guards other routings.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        group = realtime.user_group(user.pk)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: socket of user %s", user.pk, exc_info=True)
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.group_name = group
        await self.accept()
        loop = asyncio.get_running_loop()
        self._renewal = loop.call_later(self.group_renewal_seconds, self._start, self._renew_group)
        expires_at = self.scope.get("token_exp")
        if expires_at:
            delay = max(0.0, float(expires_at) - time.time())
            self._expiry = loop.call_later(delay, self._start, self._token_expired)

    def _start(self, coroutine_function) -> None:
        if self._timer_tasks is None:
            self._timer_tasks = set()
        task = asyncio.ensure_future(coroutine_function())
        self._timer_tasks.add(task)
        task.add_done_callback(self._timer_tasks.discard)

    async def _token_expired(self) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _renew_group(self) -> None:
        if self.group_name is None or self.closing:
            return
        try:
            await self.channel_layer.group_add(self.group_name, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: group renewal", exc_info=True)
        self._renewal = asyncio.get_running_loop().call_later(
            self.group_renewal_seconds, self._start, self._renew_group
        )

    async def disconnect(self, code: int) -> None:
        for timer in (self._expiry, self._renewal):
            if timer is not None:
                timer.cancel()
        if self.group_name is not None:
            group, self.group_name = self.group_name, None
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                # The group entry expires on its own (channels_redis group_expiry).
                logger.warning("channel layer unavailable on disconnect", exc_info=True)

    # Channel layer events (the `type` the publisher sends) ---------------------

    async def event_push(self, event: dict[str, Any]) -> None:
        if self.closing:
            return
        await self.send_json({"type": event["event"], "data": event["data"]})

    async def session_revoke(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Events still queued for this socket are dropped once it is closing:
        # the server refuses frames after a close.
        if self.closing:
            return
        self.closing = True
        await super().close(code=code, reason=reason)

    # Client frames ------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.closing or text_data is None or len(text_data) > MAX_CLIENT_FRAME:
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            return
        if isinstance(frame, dict) and frame.get("type") == "ping":
            await self.send_json({"type": "pong"})

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"))
