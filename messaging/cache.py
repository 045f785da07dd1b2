"""Every cache key, version and invalidation of the product, in one place.

Keys look like `messaging:v{SCHEMA}:{thing}:{user_id}:...`. They are versioned twice:
`SCHEMA` changes when the shape of a cached value changes, and a *generation* per
user and per conversation changes when the data does. A write bumps the generations
it affects once its transaction commits; readers build keys from the current
generations, so stale entries are never read again and nothing is ever scanned.

What a cache outage does is decided in one place, the backend
(`cache_backends.FaultTolerantRedisCache`): it logs, reads miss and writes are dropped,
so every function here computes from the database as on any miss. A generation bump
that may not have landed is made good by moving the epoch (`bump_pending`).

Nothing here knows about requests: the per-request whole-response cache is
`web.page_cache`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction

logger = logging.getLogger(__name__)

SCHEMA = 1
PREFIX = f"messaging:v{SCHEMA}"
#: Upper bound for any cached value; generations make it irrelevant for freshness.
DEFAULT_TIMEOUT = 300
#: Generations must outlive every entry built from them.
GENERATION_TIMEOUT = 7 * 24 * 3600

T = TypeVar("T")


def _key(*parts: object) -> str:
    return ":".join([PREFIX, *(str(part) for part in parts)])


def hashed(text: str) -> str:
    """User-supplied text never goes into a key as it is."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# Generations -----------------------------------------------------------------


def user_generation_key(user_id: int) -> str:
    return _key("gen", "user", user_id)


def conversation_generation_key(a_id: int, b_id: int) -> str:
    low, high = sorted((a_id, b_id))
    return _key("gen", "conversation", low, high)


def group_generation_key(group_id: int) -> str:
    return _key("gen", "group", group_id)


def _fresh_generation() -> int:
    # Time-based, so an evicted generation never comes back as an old value.
    return time.time_ns()


EPOCH_KEY = _key("gen", "epoch")


def generations(*keys: str) -> list[int]:
    """The current generation for each key, creating missing ones.

    Each is folded with the cache-wide epoch, which moves when a bump was lost
    to an outage (see `bump_pending`): then every earlier entry is unreachable.
    Until it has moved, this process reads nothing from the cache.

    Within one request each generation is read once (`_memo`): a page builds several
    keys from the same generations (its page-cache key, its fragments', its header's
    counts), and a request sees one state of them, as it sees one state of the
    database. A bump made during the request forgets what was read.
    """
    if _lost_bumps.is_set() and not _move_epoch():
        _start_epoch_retry()
        return [_fresh_generation() for _ in keys]
    memo: dict[str, int] | None = getattr(_memo, "values", None)
    if memo is not None and all(key in memo for key in keys):
        return [memo[key] for key in keys]
    folded = _read_generations(keys)
    if memo is not None:
        memo.update(zip(keys, folded, strict=True))
    return folded


def _read_generations(keys: tuple[str, ...]) -> list[int]:
    found = cache.get_many([*keys, EPOCH_KEY])
    for key in [*keys, EPOCH_KEY]:
        if key not in found:
            # Missing, or the cache is down: then the fresh value is what the key is
            # built with, one no entry was ever stored under, and the caller misses.
            value = _fresh_generation()
            if not cache.add(key, value, GENERATION_TIMEOUT):
                value = cache.get(key, value)
            found[key] = value
    epoch = found[EPOCH_KEY]
    return [_fold(epoch, found[key]) for key in keys]


def _fold(epoch: int, generation: int) -> int:
    digest = hashlib.blake2b(f"{epoch}:{generation}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def user_generation(user_id: int) -> int:
    return generations(user_generation_key(user_id))[0]


def conversation_generation(a_id: int, b_id: int) -> int:
    return generations(conversation_generation_key(a_id, b_id))[0]


def group_generation(group_id: int) -> int:
    return generations(group_generation_key(group_id))[0]


_pending = threading.local()
# The generations read during the request under way in this thread (None outside one).
_memo = threading.local()


def _begin_request(**kwargs: object) -> None:
    _memo.values = {}


def _end_request(**kwargs: object) -> None:
    _memo.values = None


def _forget_read_generations() -> None:
    if getattr(_memo, "values", None) is not None:
        _memo.values = {}


request_started.connect(_begin_request, dispatch_uid="messaging.cache.begin_request")
request_finished.connect(_end_request, dispatch_uid="messaging.cache.end_request")
# Set in this process while a generation bump that could not be stored (cache outage)
# has not been made good by moving the epoch.
_lost_bumps = threading.Event()

#: The epoch move after a lost bump is retried in the background: first at once, then
#: 0.05 s after the previous attempt began, doubling up to 0.2 s. Each attempt waits up to
#: `EPOCH_RETRY_WAIT` s for the cache to confirm, and one that timed out is followed at
#: once: a paused server always has an attempt waiting on it, answered as it resumes.
EPOCH_RETRY_FIRST, EPOCH_RETRY_CAP, EPOCH_RETRY_WAIT = 0.05, 0.2, 5.0
#: Retrying stops this long after the latest lost bump: by then every entry stored before
#: it has expired (no entry outlives `DEFAULT_TIMEOUT`), so none can be read again.
EPOCH_RETRY_FOR = DEFAULT_TIMEOUT + 30


class _EpochMove:
    """What this process knows about its lost bumps, under one lock: how many were lost
    (a move made good only those lost before it began), when the latest was, whether a
    move is on its way (one at a time), and the one thread retrying it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.losses = 0
        self.last_loss = 0.0
        self.moving = False
        self.thread: threading.Thread | None = None


_epoch = _EpochMove()
# A forked child has no retry thread, and its copy of the lock may be held by a thread
# that did not follow: it starts over (a lost bump it inherited is retried at its first read).
os.register_at_fork(after_in_child=_epoch.__init__)  # type: ignore[misc]  # the reset; no subclass


def bump_pending() -> None:
    """Bump now what this thread's committed transactions invalidated (`invalidate`).

    Runs on commit; whatever announces a change to clients after a commit (the live
    events) calls it first, so a client that re-reads at once never reads a stale entry.
    A bump that does not land is made good by moving the epoch: the move is handed to
    the cache before this returns, and retried in the background until it is confirmed.
    """
    keys: set[str] = getattr(_pending, "keys", set())
    _pending.keys = set()
    _forget_read_generations()
    made_good = _epoch.losses if _lost_bumps.is_set() else None
    if not keys and made_good is None:
        return  # an earlier callback of this commit bumped them all
    # While an earlier bump is lost, the epoch moves too; failing that loses nothing new.
    landed = _bump_all(keys if made_good is None else keys | {EPOCH_KEY})
    if keys - landed:
        _lose()
    elif EPOCH_KEY in landed and made_good is not None:
        _settle(made_good)


def _bump_all(keys: set[str]) -> set[str]:
    """Bump `keys`; the ones that surely landed. One round trip where the backend can
    (`FaultTolerantRedisCache.bump_many`), else one call per key."""
    if not keys:
        return set()
    bump_many = getattr(cache, "bump_many", None)
    if bump_many is not None:
        return set(keys) if bump_many(keys, _fresh_generation(), GENERATION_TIMEOUT) else set()
    return {key for key in keys if _bump(key)}


def _bump(key: str) -> bool:
    """Give `key` a value no reader has seen; False if that may not have landed."""
    try:
        try:
            cache.incr(key)
        except ValueError:  # absent: any fresh value differs from what readers saw
            value = _fresh_generation()
            cache.set(key, value, GENERATION_TIMEOUT)
            stored: int | None = cache.get(key)
            return stored == value
    except Exception:
        logger.warning("cache unavailable: bumping %s", key, exc_info=True)
        return False
    return True


def _lose() -> None:
    """A bump did not land: every entry of this cache may be stale until the epoch moves.

    Other processes know nothing of it and read the cache as soon as it answers again,
    so the move is handed to the cache now, before the write is acknowledged or
    announced: a paused server runs it before anything sent afterwards on a newer
    connection (see `FaultTolerantRedisCache.send_set`), and under ASGI every request
    opens its own, since Django makes a cache backend per request. Then a retry confirms
    it, or moves the epoch itself if the cache never received it (a server that was
    down, not paused).
    """
    _forget_read_generations()
    with _epoch.lock:
        _epoch.losses += 1
        _epoch.last_loss = time.monotonic()
        _lost_bumps.set()
    send = getattr(cache, "send_set", None)
    if send is not None:
        try:
            send(EPOCH_KEY, _fresh_generation(), GENERATION_TIMEOUT)
        except Exception:
            logger.warning("cache unavailable: sending the epoch", exc_info=True)
    _start_epoch_retry()


def _settle(losses: int) -> None:
    """The epoch moved after `losses` losses: clear the flag unless another came since."""
    with _epoch.lock:
        if _epoch.losses == losses:
            _lost_bumps.clear()


def _move_epoch(*, wait: float | None = None) -> bool:
    """A bump did not land: once the cache answers again, make every old entry unreachable.

    True once no lost bump is left to make good. Never waits for a move already on its
    way (False at once). `wait` is for the retry, which may wait that long for the cache
    to confirm; a request only makes its ordinary cache calls.
    """
    with _epoch.lock:
        if not _lost_bumps.is_set():
            return True
        if _epoch.moving:
            return False
        _epoch.moving = True
        losses = _epoch.losses
    moved = False
    _forget_read_generations()
    try:
        moved = _set_epoch(wait)
    finally:
        with _epoch.lock:
            _epoch.moving = False
            if moved and _epoch.losses == losses:
                _lost_bumps.clear()
            settled = not _lost_bumps.is_set()
    return settled


def _set_epoch(wait: float | None) -> bool:
    value = _fresh_generation()
    try:
        confirm = getattr(cache, "set_confirmed", None) if wait is not None else None
        if confirm is not None:
            confirmed: bool = confirm(EPOCH_KEY, value, GENERATION_TIMEOUT, wait=wait)
            return confirmed
        cache.set(EPOCH_KEY, value, GENERATION_TIMEOUT)
        stored: int | None = cache.get(EPOCH_KEY)
        return stored == value
    except Exception:
        logger.log(
            logging.DEBUG if wait is not None else logging.WARNING,
            "cache unavailable: moving the epoch",
            exc_info=True,
        )
        return False


def _start_epoch_retry() -> None:
    """Start this process's one epoch retry, unless it is running."""
    with _epoch.lock:
        running = _epoch.thread is not None and _epoch.thread.is_alive()
        if running or not _lost_bumps.is_set():
            return
        _epoch.thread = threading.Thread(
            target=_retry_epoch_move, name="cache-epoch-retry", daemon=True
        )
        _epoch.thread.start()


def _retry_epoch_move() -> None:
    """Move the epoch until it has moved past every lost bump, pacing the attempts.

    Runs in a thread of its own, so no request waits for it, and stops as soon as no
    lost bump is left (whoever made it good: this, a read, or the next write).
    """
    began, attempts, delay = time.monotonic(), 0, EPOCH_RETRY_FIRST
    logger.warning("cache: a generation bump was lost; moving the epoch once the cache answers")
    while True:
        with _epoch.lock:
            if not _lost_bumps.is_set():
                _epoch.thread = None
                logger.warning(
                    "cache: the epoch moved %.2f s after the lost bump (%d attempts)",
                    time.monotonic() - began,
                    attempts,
                )
                return
            if time.monotonic() - _epoch.last_loss > EPOCH_RETRY_FOR:
                _lost_bumps.clear()
                _epoch.thread = None
                logger.error(
                    "cache: the epoch could not be moved for %.0f s (%d attempts); every "
                    "entry older than the lost bump has expired since",
                    time.monotonic() - began,
                    attempts,
                )
                return
        attempts += 1
        attempt_began = time.monotonic()
        if _move_epoch(wait=EPOCH_RETRY_WAIT):
            continue
        time.sleep(max(0.0, attempt_began + delay - time.monotonic()))
        delay = min(delay * 2, EPOCH_RETRY_CAP)


def invalidate(
    *,
    users: Iterable[int] = (),
    conversations: Iterable[tuple[int, int]] = (),
    groups: Iterable[int] = (),
) -> None:
    """Bump the generations of these users and conversations once the transaction commits.

    Keys are gathered per thread and bumped once, however many rows a transaction
    touched (deleting an account deletes thousands of messages). Keys gathered in a
    transaction that rolls back are bumped with the next commit: a spare
    invalidation is harmless.
    """
    _gather(
        *(user_generation_key(user_id) for user_id in users),
        *(conversation_generation_key(a, b) for a, b in conversations),
        *(group_generation_key(group_id) for group_id in groups),
    )


def invalidate_all() -> None:
    """Make every entry cached so far unreachable once the transaction commits.

    For writes too wide to name whom they touch (a bulk import that sends no signals):
    one bump of the epoch that every generation is folded with.
    """
    _gather(EPOCH_KEY)


def _gather(*keys: str) -> None:
    pending = getattr(_pending, "keys", None)
    if pending is None:
        pending = _pending.keys = set()
    pending.update(keys)
    transaction.on_commit(bump_pending)


# Values ----------------------------------------------------------------------


def get_or_set(key: str, compute: Callable[[], T], timeout: int = DEFAULT_TIMEOUT) -> T:
    """The cached value, or `compute()` stored for next time (a down cache misses)."""
    value: T | None = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, timeout)
    return value


def unread_count_key(user_id: int) -> str:
    return _key("unread-count", user_id, f"g{user_generation(user_id)}")


def notification_unread_count_key(user_id: int) -> str:
    return _key("notification-unread-count", user_id, f"g{user_generation(user_id)}")


def inbox_page_key(user_id: int, url: str) -> str:
    """One page of a user's inbox as served at `url` (cursor and page size included)."""
    return _key("inbox", user_id, f"g{user_generation(user_id)}", hashed(url))


def inbox_list_key(user_id: int, *, page: str) -> str:
    """What the `{% cache %}` of one page of a user's inbox page varies on: the user, their
    generation (any message, read or block of theirs moves it) and the page asked for."""
    return _key("fragment", "inbox", user_id, f"g{user_generation(user_id)}", hashed(page))


def thread_tree_key(user_id: int, partner_id: int, message_id: int) -> str:
    """The thread page's tree as `user_id` sees it with `message_id` highlighted, under the
    conversation's generation."""
    generation = conversation_generation(user_id, partner_id)
    return _key("fragment", "thread", user_id, partner_id, f"g{generation}", message_id)


def group_thread_tree_key(user_id: int, group_id: int, message_id: int) -> str:
    """`thread_tree_key` for a thread of a group, under the group's generation."""
    generation = group_generation(group_id)
    return _key("fragment", "group-thread", user_id, group_id, f"g{generation}", message_id)


def message_fragment_key(viewer_id: int, message_id: int, *parts: object) -> str:
    """One message's HTML as `viewer_id` sees it. `parts` say which state of it (its
    version and read state, the version of the message it quotes, the markup's), so
    a changed message is a new key and nothing needs purging."""
    return _key("fragment", "message", viewer_id, message_id, *parts)


# Whole responses -------------------------------------------------------------


def conversation_page_key_prefix(user_id: int, partner_id: int, *extra: str) -> str:
    """Prefix for `cache_page` entries of one user's view of one conversation.

    It holds the viewer's id (never shared between users, whatever the
    authentication) and the conversation's generation (a send, edit, delete or
    read in it makes a new prefix at once, so the timeout is only an upper bound).
    """
    generation = conversation_generation(user_id, partner_id)
    return _key("page", "conversation", user_id, partner_id, f"g{generation}", *extra)


def group_window_key(user_id: int, group_id: int, *, end: str) -> str:
    """`conversation_window_key` for a group: the viewer, the group's generation (any
    message, read or membership change in it moves it) and where the window ends."""
    generation = group_generation(group_id)
    return _key("fragment", "group-window", user_id, group_id, f"g{generation}", end)


def conversation_window_key(user_id: int, partner_id: int, *, end: str) -> str:
    """What the `{% cache %}` of a conversation page's messages varies on: the viewer,
    the conversation's generation and where the window ends (`end`: "b<id>" before a
    message, "a<id>" at one, "" the newest). The template tag hashes it once more into
    its own key; building it here puts the schema version in it like in every key."""
    generation = conversation_generation(user_id, partner_id)
    return _key("fragment", "conversation-window", user_id, partner_id, f"g{generation}", end)
