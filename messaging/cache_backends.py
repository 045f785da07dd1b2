"""A cache that never fails a request: an outage is logged and reads as a miss.

Every page, count and generation the product caches can be rebuilt from the
database, so when Redis is unreachable the cache answers like an empty one
(reads miss, writes are dropped) and the request is served from the database.
After a failure the cache stays out of the way for `RETRY_AFTER` seconds, so a
dead server costs one connection timeout per backend instance (Django makes one per
thread, and under ASGI one per request) and period, not one per call.

Two writes bypass that pause, for the cache-wide epoch that messaging/cache.py moves
when a generation bump was lost: `send_set` hands a SET to Redis without waiting for
it, and `set_confirmed` waits (as long as its caller allows) for Redis to confirm one.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any, cast

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from django.core.cache.backends.base import BaseCache

    _Backend = BaseCache  # what the mixin goes before
else:
    _Backend = object

logger = logging.getLogger(__name__)


class FaultTolerantCache(_Backend):
    """Mixed into a cache backend (before it): the one place that decides what an outage
    does. An error of `OUTAGE_ERRORS` is logged, the call answers like an empty cache
    (reads miss, writes are dropped, `incr` raises ValueError as for a missing key), and
    the backend stays out of the way for `RETRY_AFTER` seconds."""

    RETRY_AFTER = 5.0
    OUTAGE_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)  # type: ignore[call-arg, arg-type]  # the backend's, not BaseCache's
        self._down_until = 0.0

    def _guard(self, operation: str, fallback: Any, call, *args, **kwargs) -> Any:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            return call(*args, **kwargs)
        except self.OUTAGE_ERRORS:
            self._went_down(operation)
            return fallback

    def _went_down(self, operation: str) -> None:
        self._down_until = time.monotonic() + self.RETRY_AFTER
        logger.warning(
            "cache unavailable (%s); serving without it for %.0f s",
            operation,
            self.RETRY_AFTER,
            exc_info=True,
        )

    def get(self, key, default=None, version=None):
        return self._guard("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._guard("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._guard("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._guard("touch", False, super().touch, key, timeout, version)

    def incr(self, key, delta=1, version=None):
        # A missing key still raises ValueError, as the cache API promises.
        result = self._guard("incr", _UNAVAILABLE, super().incr, key, delta, version)
        if result is _UNAVAILABLE:
            raise ValueError(f"Key '{key}' not reachable: the cache is unavailable.")
        return result

    def delete(self, key, version=None):
        return self._guard("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._guard("delete_many", None, super().delete_many, keys, version)

    def clear(self):
        return self._guard("clear", False, super().clear)


class FaultTolerantRedisCache(FaultTolerantCache, RedisCache):
    """Django's RedisCache under `FaultTolerantCache`, with what only Redis can do: a
    readiness probe, generations bumped in one round trip, and the epoch's writes."""

    OUTAGE_ERRORS = (RedisError,)
    #: How long `send_set` may wait for its connection. A paused server's kernel still
    #: completes the handshake at once; only an unreachable host makes it wait.
    SEND_CONNECT_TIMEOUT = 0.2

    # RedisCache's client, a cached property the stubs leave out; its private parts
    # (`_serializer`, `_get_connection_pool`) are used below, which no stub describes.
    _cache: Any

    @property
    def available(self) -> bool:
        """Whether Redis answers right now (a real round trip, for readiness checks)."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except RedisError:
            return False

    def bump_many(self, keys, fresh: int, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        """Give each of `keys` a value no reader has seen, in one round trip: a key that
        exists is incremented; a missing one starts from `fresh` (SET NX) and is
        incremented past it. False if that may not have landed (the caller makes good)."""
        if time.monotonic() < self._down_until:
            return False
        try:
            pipe = self._cache.get_client(write=True).pipeline(transaction=False)
            # RedisCache's own timeout is whole seconds; the stubs only know BaseCache's.
            expiry = cast("int | None", self.get_backend_timeout(timeout))
            for key in keys:
                key = self.make_and_validate_key(key, version=version)
                pipe.set(key, fresh, ex=expiry, nx=True)
                pipe.incr(key)
            pipe.execute()
        except RedisError:
            self._went_down("bump_many")
            return False
        return True

    # Writes that must not wait for the pause to end -----------------------------------

    def send_set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        """Hand a SET to Redis on a new connection of its own and go on without the answer.

        A paused Redis (SIGSTOP, a stalled host) still has its kernel accept the
        connection and the command. When it resumes, it accepts waiting connections in
        the order they came and runs each one's commands in that order, so this SET runs
        before any command sent later on a connection opened later. False if it could not
        be handed over (nothing listens, TLS, which needs a handshake first).
        """
        return self._exchange(self._set_command(key, value, timeout, version), wait=None)

    def set_confirmed(self, key, value, timeout=DEFAULT_TIMEOUT, version=None, *, wait: float):
        """SET on a new connection of its own, waiting up to `wait` s for Redis to confirm it.

        True once Redis has; False otherwise. Neither heeds nor starts the pause after an
        error, so a caller pacing its own retries reaches Redis as soon as it answers.
        """
        if self._raw_options() is None:
            try:
                super().set(key, value, timeout, version)
            except RedisError:
                return False
            return True
        return self._exchange(self._set_command(key, value, timeout, version), wait=wait)

    def _set_command(self, key, value, timeout, version) -> tuple:
        key = self.make_and_validate_key(key, version=version)
        value = self._cache._serializer.dumps(value)
        timeout = self.get_backend_timeout(timeout)
        if timeout is None:
            return ("SET", key, value)
        if timeout == 0:
            return ("DEL", key)
        return ("SET", key, value, "EX", timeout)

    def _raw_options(self) -> dict[str, Any] | None:
        """The connection options of the server writes go to, if plain TCP or a Unix socket."""
        pool = self._cache._get_connection_pool(write=True)
        options = pool.connection_kwargs
        if issubclass(pool.connection_class, SSLConnection) or options.get("credential_provider"):
            return None
        return {"unix": issubclass(pool.connection_class, UnixDomainSocketConnection), **options}

    def _exchange(self, command: tuple, *, wait: float | None) -> bool:
        """Send `command` (after AUTH and SELECT as configured) on a fresh socket, pipelined
        so that nothing waits on a paused server; then read the answers for up to `wait`
        s, or, when `wait` is None, close without reading them."""
        options = self._raw_options()
        if options is None:
            return False
        commands = []
        if options.get("password"):
            username = [options["username"]] if options.get("username") else []
            commands.append(("AUTH", *username, options["password"]))
        if options.get("db"):
            commands.append(("SELECT", options["db"]))
        commands.append(command)
        deadline = time.monotonic() + (self.SEND_CONNECT_TIMEOUT if wait is None else wait)
        try:
            with _connect(options, timeout=max(0.01, deadline - time.monotonic())) as sock:
                sock.sendall(b"".join(_encode(part) for part in commands))
                if wait is None:
                    return True
                return _all_ok(_read_lines(sock, len(commands), deadline))
        except OSError:
            return False


def _connect(options: dict[str, Any], *, timeout: float) -> socket.socket:
    if options["unix"]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(options["path"])
        except OSError:
            sock.close()
            raise
        return sock
    address = (options.get("host") or "localhost", int(options.get("port") or 6379))
    return socket.create_connection(address, timeout=timeout)


#: redis-py's own encoder of commands (RESP); it never connects.
_PACKER = Connection()


def _encode(command: tuple) -> bytes:
    return b"".join(_PACKER.pack_command(*command))


def _read_lines(sock: socket.socket, count: int, deadline: float) -> list[bytes]:
    """`count` one-line answers (`+OK`, `:1`, `-ERR ...`: what AUTH, SELECT, SET, DEL answer)."""
    received = b""
    while received.count(b"\r\n") < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before answering")
        received += chunk
    return received.split(b"\r\n")[:count]


def _all_ok(answers: list[bytes]) -> bool:
    return all(answer[:1] in (b"+", b":") for answer in answers)  # OK, or DEL's count


_UNAVAILABLE = object()
