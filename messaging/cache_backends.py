"""A Redis cache that never fails a request: an outage is logged and reads as a miss.

Every page, count and generation the product caches can be rebuilt from the
database, so when Redis is unreachable the cache answers like an empty one
(reads miss, writes are dropped) and the request is served from the database.
After a failure the cache stays out of the way for `RETRY_AFTER` seconds, so a
dead server costs one connection timeout per backend instance (Django makes one per
thread) and period, not one per call.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class FaultTolerantRedisCache(RedisCache):
    RETRY_AFTER = 5.0

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._down_until = 0.0

    def _guard(self, operation: str, fallback: Any, call, *args, **kwargs) -> Any:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            return call(*args, **kwargs)
        except RedisError:
            self._down_until = time.monotonic() + self.RETRY_AFTER
            logger.warning(
                "cache unavailable (%s); serving without it for %.0f s",
                operation,
                self.RETRY_AFTER,
                exc_info=True,
            )
            return fallback

    @property
    def available(self) -> bool:
        """Whether Redis answers right now (a real round trip, for readiness checks)."""
        try:
            return bool(self._cache.get_client(write=True).ping())
        except RedisError:
            return False

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


_UNAVAILABLE = object()
