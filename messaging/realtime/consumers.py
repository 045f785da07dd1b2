"""The real-time socket, `/ws/events/` (API.md, "Real time").

A signed-in user's socket joins the user's group (`publishing.user_group`) and the
group of the login that opened it (`publishing.login_group`: a browser session or a
family of JWTs, named by `realtime.auth` in `scope["login_id"]`), and forwards every
event the services publish there as one JSON text frame `{"type": ..., "data": ...}`.

Close codes (the number is the contract; the reason is for people):

- **4401** "who are you?": sent by `realtime.auth` to a socket without a valid credential,
  and by the consumer when the login that opened the socket ends while it is open:
  its logout (`publishing.revoke_login_on_commit`), a password change
  (`publishing.revoke_on_commit`), the account's deletion, or the expiry of the
  `?token=` it was opened with. Reconnect only with a fresh credential.
- **4000** "reconnect": the browser session that changed the password stays signed
  in under a new session key; its sockets are closed with this code so that they
  reconnect at once with the new cookie (a copy of the old one is refused).
- **4008** "too many open sockets": the person opened more than
  `settings.SOCKETS_PER_USER` sockets, across all workers; their oldest is closed.
  Do not reconnect at once: the new socket would close the next oldest, and so on.
- **1009** "message too big": a client frame over 4096 bytes (`MAX_CLIENT_FRAME`).
  uvicorn started with `--ws-max-size 4096` closes such a socket itself first.
- **1011**: the channel layer cannot be reached; retry later, with backoff.

How the oldest socket is found, with nothing stored but the channel layer's groups:
a new socket reads the size of the user's group (one Redis ZCOUNT; dead members
included). Within the limit, that is all. Over it, the newcomer asks the person's
sockets, through the group, when they opened (`sockets.census`); each open socket
answers the newcomer directly (`sockets.present`: its open time and channel). After
`census_seconds` (or as soon as every other member answered), the newcomer counts
the answers and itself and, when they are more than the limit, tells the oldest to
close (`sockets.displace`). A socket whose worker
died stays in the group until `group_expiry` but never answers, so it never counts
(it only makes the next connects of that person ask). Sockets opened at the same
moment: the last to join sees all of them and closes the oldest, and the others
close a subset of the same oldest ones. The race accepted: an answer slower than
`census_seconds` (or dropped by a full channel) is not counted, so the person may
keep a socket over the limit until their next socket opens and counts again.

Client frames are optional: `{"type": "ping"}` is answered `{"type": "pong"}`,
other frames up to 4096 bytes are ignored, and nothing a client sends can crash
the consumer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import publishing as realtime
from .auth import CLOSE_UNAUTHORIZED

logger = logging.getLogger(__name__)

#: Close code when the channel layer cannot be reached: the client retries later.
CLOSE_UNAVAILABLE = 1011
#: Close code for the sockets of a login whose credentials were renewed (the session
#: that changed the password): the client reconnects at once with its new cookie.
CLOSE_RECONNECT = 4000
#: Close code for a client frame over MAX_CLIENT_FRAME bytes (RFC 6455 "message too big").
CLOSE_TOO_BIG = 1009
#: Close code for the oldest socket of a person who opened one more than SOCKETS_PER_USER.
CLOSE_TOO_MANY_SOCKETS = 4008
TOO_MANY_SOCKETS_REASON = "too many open sockets"
#: Client frames longer than this, in bytes, close the socket (a ping is 16 bytes).
MAX_CLIENT_FRAME = 4096

#: Channel-layer message types between one person's sockets (consumer methods below).
CENSUS = "sockets.census"
PRESENT = "sockets.present"
DISPLACE = "sockets.displace"

#: What a timer of the consumer runs (`_later`): one of its own coroutine methods.
_TimerCallback = Callable[[], Coroutine[Any, Any, None]]


def _frame_size(text_data: str | None, bytes_data: bytes | None) -> int:
    if bytes_data is not None:
        return len(bytes_data)
    if text_data is None:
        return 0
    if len(text_data) > MAX_CLIENT_FRAME or len(text_data) * 4 <= MAX_CLIENT_FRAME:
        return len(text_data)  # over in characters, or under even at 4 bytes each
    return len(text_data.encode("utf-8", "surrogatepass"))


class EventsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    #: Channel layers forget a group membership after `group_expiry` (two hours in
    #: settings), so a socket open that long would go quiet: it rejoins this often.
    group_renewal_seconds: float = 3600
    #: How long a new socket waits for the person's other sockets to say when they opened.
    #: Counting ends sooner once every member of the group has answered: the deadline
    #: only matters when a member is dead (its worker died) or slow to answer.
    census_seconds: float = 2.0

    user_id: int | None = None
    login_id: str | None = None
    opened_at: float | None = None
    closing = False
    _joined: tuple[str, ...] = ()
    # Answers to this socket's census while it is being taken (channel -> open time).
    _present: dict[str, float] | None = None
    _expected: int | None = None
    _timers: list[asyncio.TimerHandle] | None = None
    # Strong references to the tasks the timers start, for as long as they run.
    _timer_tasks: set[asyncio.Task[None]] | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # ws_auth turns these away before the consumer; this guards other routings.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user_id = user.pk
        self.login_id = self.scope.get("login_id")
        groups = [realtime.user_group(user.pk)]
        if self.login_id:
            groups.append(realtime.login_group(self.login_id))
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: socket of user %s", user.pk, exc_info=True)
            self._joined = tuple(groups)
            await self.accept()
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self._joined = tuple(groups)
        await self.accept()
        self.opened_at = time.time()
        self._later(self.group_renewal_seconds, self._renew_groups)
        expires_at = self.scope.get("token_exp")
        if expires_at:
            self._later(max(0.0, float(expires_at) - time.time()), self._token_expired)
        await self._take_census()

    # Timers ---------------------------------------------------------------------

    def _later(self, delay: float, coroutine_function: _TimerCallback) -> None:
        handle = asyncio.get_running_loop().call_later(delay, self._start, coroutine_function)
        if self._timers is None:
            self._timers = []
        self._timers = [timer for timer in self._timers if not timer.cancelled()]
        self._timers.append(handle)

    def _start(self, coroutine_function: _TimerCallback) -> None:
        if self._timer_tasks is None:
            self._timer_tasks = set()
        task = asyncio.ensure_future(coroutine_function())
        self._timer_tasks.add(task)
        task.add_done_callback(self._timer_tasks.discard)

    async def _token_expired(self) -> None:
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _renew_groups(self) -> None:
        if not self._joined or self.closing:
            return
        try:
            for group in self._joined:
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.warning("channel layer unavailable: group renewal", exc_info=True)
        self._later(self.group_renewal_seconds, self._renew_groups)

    async def disconnect(self, code: int) -> None:
        for timer in self._timers or ():
            timer.cancel()
        self._present = None
        groups, self._joined = self._joined, ()
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                # The group entry expires on its own (channels_redis group_expiry).
                logger.warning("channel layer unavailable on disconnect", exc_info=True)
                break

    # At most SOCKETS_PER_USER sockets per person ------------------------------------

    async def _take_census(self) -> None:
        limit = settings.SOCKETS_PER_USER
        if limit <= 0 or self.user_id is None:
            return
        group = realtime.user_group(self.user_id)
        members = await self._group_size(group)
        if members is not None and members <= limit:
            return  # within the limit even if every member is alive: nobody to ask
        self._present = {}
        # Once every other member has answered, counting need not wait for the deadline.
        self._expected = members - 1 if members is not None else None
        try:
            await self.channel_layer.group_send(
                group, {"type": CENSUS, "reply_to": self.channel_name}
            )
        except Exception:
            # Without the layer there is no counting; the socket is closed by then anyway.
            logger.warning("channel layer unavailable: socket census", exc_info=True)
            self._present = None
            return
        self._later(self.census_seconds, self._count)

    async def _group_size(self, group: str) -> int | None:
        """How many channels the layer holds in `group`, dead ones too; None if it cannot say.

        An upper bound on the person's open sockets, read without a message to any of
        them. Reads the two layers' own structures (the in-memory layer's `groups`,
        channels_redis' sorted set per group); any other layer is always counted.
        """
        layer = self.channel_layer
        try:
            groups = getattr(layer, "groups", None)
            if isinstance(groups, dict):  # InMemoryChannelLayer
                return len(groups.get(group, ()))
            if hasattr(layer, "_group_key") and hasattr(layer, "consistent_hash"):
                connection = layer.connection(layer.consistent_hash(group))
                live_since = int(time.time()) - int(layer.group_expiry)
                return int(await connection.zcount(layer._group_key(group), live_since, "+inf"))
        except Exception:
            logger.debug("channel layer cannot size group %s", group, exc_info=True)
        return None

    async def sockets_census(self, event: dict[str, Any]) -> None:
        reply_to = event.get("reply_to")
        if self.closing or self.opened_at is None or not reply_to or reply_to == self.channel_name:
            return
        try:
            answer = {"type": PRESENT, "channel": self.channel_name, "opened_at": self.opened_at}
            await self.channel_layer.send(reply_to, answer)
        except Exception:
            # ChannelFull and the like: the newcomer counts one socket fewer.
            logger.debug("socket census answer lost", exc_info=True)

    async def sockets_present(self, event: dict[str, Any]) -> None:
        if self._present is not None:
            self._present[str(event["channel"])] = float(event["opened_at"])
            if self._expected is not None and len(self._present) >= self._expected:
                await self._count()

    async def _count(self) -> None:
        present, self._present = self._present, None
        if present is None or self.closing or self.opened_at is None:
            return
        present[self.channel_name] = self.opened_at
        excess = len(present) - settings.SOCKETS_PER_USER
        if excess <= 0:
            return
        oldest = sorted(present.items(), key=lambda item: (item[1], item[0]))[:excess]
        logger.info("user %s has %s sockets open: closing %s", self.user_id, len(present), excess)
        for channel, _opened_at in oldest:
            if channel == self.channel_name:
                await self._displaced()
                continue
            try:
                await self.channel_layer.send(channel, {"type": DISPLACE})
            except Exception:
                logger.warning("channel layer unavailable: socket displacement", exc_info=True)

    async def sockets_displace(self, event: dict[str, Any]) -> None:
        await self._displaced()

    async def _displaced(self) -> None:
        await self.close(code=CLOSE_TOO_MANY_SOCKETS, reason=TOO_MANY_SOCKETS_REASON)

    # Channel layer events (the `type` the publisher sends) ---------------------

    async def event_push(self, event: dict[str, Any]) -> None:
        if self.closing:
            return
        await self.send_json({"type": event["event"], "data": event["data"]})

    async def session_revoke(self, event: dict[str, Any]) -> None:
        keep = event.get("keep_login")
        if keep and keep == self.login_id:
            # The login that changed the password stays signed in, under a new session
            # key: its sockets reconnect with it at once. A copy of its old cookie (a
            # stolen one) cannot follow: that session no longer exists.
            await self.close(code=CLOSE_RECONNECT)
            return
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
        if self.closing:
            return
        if _frame_size(text_data, bytes_data) > MAX_CLIENT_FRAME:
            await self.close(code=CLOSE_TOO_BIG, reason="message too big")
            return
        if text_data is None:
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
