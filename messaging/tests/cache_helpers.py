"""Helpers for the caching tests: which queries touched the message tables, what the
cache holds, and a GET that reports both."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import cache as keys

#: The tables a cached conversation view must not read on a warm hit.
MESSAGE_TABLES = re.compile(
    r"\bmessaging_(message|messagehistory|notification|conversation)\b", re.IGNORECASE
)


@dataclass
class Counted:
    response: object
    queries: list[str]

    @property
    def message_table_queries(self) -> list[str]:
        return [sql for sql in self.queries if MESSAGE_TABLES.search(sql)]

    @property
    def is_warm_hit(self) -> bool:
        return self.response.status_code == 200 and not self.message_table_queries


def counted_get(client, path: str, **extra) -> Counted:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **extra)
    return Counted(response, [query["sql"] for query in captured.captured_queries])


def warm(client, path: str, *, tries: int = 3, **extra) -> Counted:
    """GET until the answer comes from the cache (a page view marks messages read, which
    moves its generation once); fail if it never does."""
    for _ in range(tries):
        counted = counted_get(client, path, **extra)
        assert counted.response.status_code == 200, (path, counted.response.status_code)
        if counted.is_warm_hit:
            return counted
    raise AssertionError(f"{path} was never served from the cache: {counted.queries}")


def stored_keys() -> list[str]:
    """Every key the default cache holds, without the backend's own prefix and version."""
    backend_prefix = cache.make_key("")
    if hasattr(cache, "_cache") and isinstance(cache._cache, dict):  # LocMemCache
        raw = list(cache._cache)
    else:  # RedisCache: scanning is for tests only; the product never scans
        client = cache._cache.get_client(None, write=False)
        raw = [key.decode() for key in client.scan_iter(match=f"{backend_prefix}*")]
    return [key.removeprefix(backend_prefix) for key in raw if key.startswith(backend_prefix)]


PAGE_KEY = re.compile(
    rf"^views\.decorators\.cache\.cache_(page|header)\.{re.escape(keys.PREFIX)}"
    r":page:conversation:(?P<user>\d+):(?P<partner>\d+):"
)
FRAGMENT_KEY = re.compile(r"^template\.cache\.conversation_window\.[0-9a-f]{32}$")
#: Django REST framework's throttles keep their counters in the cache under their own keys.
THROTTLE_KEY = re.compile(r"^throttle_[a-z]+_\d+$")


def audit_keys(viewers: set[int]) -> list[str]:
    """Check every stored key's shape; answer the keys of cached pages.

    Ours start with the schema prefix; cached pages carry the viewer's id (one of
    `viewers`); fragments vary on a key from messaging/cache.py (hashed by the template
    tag); the throttles' counters are Django REST framework's.
    """
    pages = []
    for key in stored_keys():
        page = PAGE_KEY.match(key)
        if page:
            assert int(page["user"]) in viewers, key
            pages.append(key)
        else:
            assert (
                key.startswith(f"{keys.PREFIX}:")
                or FRAGMENT_KEY.match(key)
                or THROTTLE_KEY.match(key)
            ), key
    return pages
