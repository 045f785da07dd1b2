"""Live events after commit: per-user groups on the channel layer, sent off the request path.

A service declares the events its write causes (`send_on_commit`, in the order clients
must hear them); once the transaction commits, the cache generations it touched move
(one round trip, `cache.bump_pending`), each event's payload is built from what was
committed, and the whole batch is handed to this process's sender, which publishes it
in order on an event loop, never on the request's thread:

- under ASGI, the server's own loop (the one the sockets live on);
- under WSGI (gunicorn), or in a command, a loop on a thread of this process.

The request never waits for the channel layer. A layer that is slow or down holds
the batches in order, retries them (backing off up to `RETRY_CAP` s) and delivers them
when it answers again; a batch still undelivered after `GIVE_UP_AFTER` s, or beyond
`MAX_PENDING` waiting batches, is dropped and logged (clients catch up through the API
when their socket reconnects). A process that exits waits up to `EXIT_WAIT` s for its
events to go. The write itself is never lost.

Each socket also joins the group of the login that opened it (`login_group`), so
ending a login closes its sockets on every worker: `revoke_login_on_commit` (a logout)
closes one login's, `revoke_on_commit` (a password change, the account's deletion) all
of the user's but those of `keep_login`. They close with 4401.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync
from channels.layers import get_channel_layer
from django.db import transaction

from .. import cache

logger = logging.getLogger(__name__)

#: Seconds one group send may take before it counts as failed and is retried.
PUBLISH_TIMEOUT = 2.0
#: Retries back off from `RETRY_FIRST` s, doubling up to `RETRY_CAP` s ...
RETRY_FIRST, RETRY_CAP = 0.05, 1.0
#: ... and a batch is given up this many seconds after it was committed.
GIVE_UP_AFTER = 60.0
#: Batches a process holds while the layer does not answer; beyond, the oldest is dropped.
MAX_PENDING = 10_000
#: Seconds a process that exits (a command, a stopping worker) waits for its events to go.
EXIT_WAIT = 5.0

#: The consumer method that handles pushed events (`type` on the channel layer).
EVENT_HANDLER = "event.push"
#: Sent to a user's group when the account is gone: every socket of theirs closes.
REVOKE_HANDLER = "session.revoke"


def user_group(user_id: int) -> str:
    return f"messaging.user.{user_id}"


def login_group(login_id: str) -> str:
    """Every socket opened by one login (`auth_tokens.session_login_id`/`token_login_id`)."""
    return f"messaging.login.{login_id}"


@dataclass(frozen=True)
class Event:
    """`type` for each of `user_ids`; `build()` makes its payload once the write committed."""

    user_ids: tuple[int, ...]
    type: str
    build: Callable[[], dict[str, Any]]


Batch = list[tuple[str, dict[str, Any]]]


def send_on_commit(*events: Event) -> None:
    """Publish `events`, in this order, once the current transaction commits.

    The caches' generations move first, so a client that re-reads as soon as it hears
    never reads a stale entry. Nothing is sent if the transaction rolls back.
    """

    def send() -> None:
        cache.bump_pending()
        submit(
            [
                (user_group(user_id), {"type": EVENT_HANDLER, "event": event.type, "data": data})
                for event in events
                for data in [event.build()]
                for user_id in event.user_ids
            ]
        )

    transaction.on_commit(send)


def revoke_on_commit(user_id: int, *, keep_login: str | None = None) -> None:
    """Close every socket of the user once the transaction commits, on every worker,
    except those opened by `keep_login` (the login that changed the password)."""
    payload: dict[str, Any] = {"type": REVOKE_HANDLER}
    if keep_login:
        payload["keep_login"] = keep_login
    transaction.on_commit(lambda: submit([(user_group(user_id), payload)]))


def revoke_login_on_commit(login_id: str) -> None:
    """Close the sockets one login opened (a logout) once the transaction commits."""
    if not login_id:
        return  # no login, no sockets (a session that never had a key)
    transaction.on_commit(lambda: submit([(login_group(login_id), {"type": REVOKE_HANDLER})]))


# The sender ------------------------------------------------------------------


def submit(batch: Batch) -> None:
    """Hand `batch` to this process's sender and return at once."""
    layer = get_channel_layer()
    if layer is None or not batch:
        return
    loop = _server_loop() or _own_loop()
    try:
        loop.call_soon_threadsafe(_enqueue, layer, batch, time.monotonic())
    except RuntimeError:  # the server's loop closed meanwhile (a test's, a shutdown)
        _own_loop().call_soon_threadsafe(_enqueue, layer, batch, time.monotonic())


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The ASGI server's loop, when this sync code runs on its behalf (`sync_to_async`)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(local, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


class _OwnLoop:
    """A loop on a daemon thread of this process, started on first use (after any fork)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self.lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="realtime-publisher", daemon=True
                ).start()
                self.loop = loop
                # A command or a worker that ends right after its write still delivers.
                atexit.register(self.drain, loop)
            return self.loop

    def drain(self, loop: asyncio.AbstractEventLoop, timeout: float = EXIT_WAIT) -> bool:
        """Wait up to `timeout` s for what waits on `loop` to be sent; False if some is left."""
        if loop is not self.loop or loop.is_closed():
            return True  # another process's (before a fork), or gone
        done = asyncio.run_coroutine_threadsafe(_sent_all(), loop)
        try:
            done.result(timeout)
        except TimeoutError:
            done.cancel()
            logger.error("channel layer: events left undelivered at exit")
            return False
        return True


_own = _OwnLoop()
# A forked child (a gunicorn worker) has no thread running its parent's loop.
os.register_at_fork(after_in_child=_own.__init__)  # type: ignore[misc]  # the reset; no subclass


def _own_loop() -> asyncio.AbstractEventLoop:
    return _own.get()


class _Queue:
    """The batches waiting on one loop, and the task sending them (touched on that loop only)."""

    def __init__(self) -> None:
        self.batches: deque[tuple[Any, Batch, float]] = deque()
        self.task: asyncio.Task[None] | None = None


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()


def _enqueue(layer: Any, batch: Batch, committed: float) -> None:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _Queue()
    if len(queue.batches) >= MAX_PENDING:
        _, dropped, _ = queue.batches.popleft()
        logger.error("channel layer: %d batches waiting; dropped %s", MAX_PENDING, _kinds(dropped))
    queue.batches.append((layer, list(batch), committed))
    if queue.task is None or queue.task.done():
        queue.task = loop.create_task(_drain(queue))


async def _drain(queue: _Queue) -> None:
    """Send the waiting batches in order; retry the first until it goes or is given up."""
    delay, failing = RETRY_FIRST, False
    while queue.batches:
        layer, batch, committed = queue.batches[0]
        try:
            while batch:
                group, message = batch[0]
                await asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT)
                batch.pop(0)
        except Exception:
            if time.monotonic() - committed > GIVE_UP_AFTER:
                queue.batches.popleft()
                logger.error("channel layer unavailable: gave up %s", _kinds(batch))
            else:
                if not failing:
                    logger.warning(
                        "channel layer unavailable: %s waits (%d batches)",
                        _kinds(batch),
                        len(queue.batches),
                        exc_info=True,
                    )
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP)
            continue
        queue.batches.popleft()
        if failing:
            logger.warning("channel layer answers again: %d batches waiting", len(queue.batches))
        delay, failing = RETRY_FIRST, False


async def _sent_all() -> None:
    queue = _queues.get(asyncio.get_running_loop())
    while queue is not None and (queue.batches or (queue.task and not queue.task.done())):
        await asyncio.sleep(0.01)


def _kinds(batch: Iterable[tuple[str, dict[str, Any]]]) -> str:
    return ", ".join(
        f"{message.get('event', message['type'])} to {group}" for group, message in batch
    )
