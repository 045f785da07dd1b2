"""A Redis that goes away never fails a request, and never leaves a stale page behind.

Each test that needs a server starts its own `redis-server` on a free port (never the
shared one), points the cache at it (`FaultTolerantRedisCache`, as production does when
REDIS_URL is set), and stops, pauses or restarts it. Skipped where `redis-server` is
not installed.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from messaging import cache as keys
from messaging.cache_backends import FaultTolerantRedisCache
from messaging.tests.cache_helpers import counted_get, warm
from messaging.tests.conftest import PASSWORD, SAME_ORIGIN

from .api.conftest import bearer

REDIS_SERVER = shutil.which("redis-server")
needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed: no Redis to stop"
)

API_URL = "/api/v1/conversations/bob/messages/"
PAGE_URL = "/conversations/bob/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A private redis-server: start, stop (killed), pause and resume (SIGSTOP, SIGCONT)."""

    def __init__(self, port: int, directory) -> None:
        self.port, self.directory, self.process = port, directory, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused server cannot die otherwise
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def caches_for(url: str) -> dict:
    """The production cache settings (config/settings/base.py), at `url`."""
    return {
        "default": {
            "BACKEND": "messaging.cache_backends.FaultTolerantRedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "outage-test",
            "VERSION": 1,
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def use_redis(settings, monkeypatch):
    """Point the default cache at a URL; `settings` sends `setting_changed`, whose
    receiver closes the cache connections and rebuilds `caches` from the new CACHES."""
    # Give up on a dead server for a moment only, so the tests can watch it come back.
    monkeypatch.setattr(FaultTolerantRedisCache, "RETRY_AFTER", 1.0)

    def point_at(url: str) -> None:
        settings.CACHES = caches_for(url)
        settings.REDIS_URL = url
        assert cache._cache._servers == [url]  # the new settings are in force

    yield point_at
    keys._lost_bumps.clear()


def wait_past_retry() -> None:
    time.sleep(FaultTolerantRedisCache.RETRY_AFTER + 0.05)


def texts(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def people(alice, bob, send):
    send(bob, alice, "before the outage")
    send(alice, bob, "my answer")
    token = bearer(alice)
    browser = Client(headers=SAME_ORIGIN)
    browser.force_login(alice)
    browser.cookies["csrftoken"] = "c" * 32
    return {"api": {"HTTP_AUTHORIZATION": token}, "browser": browser}


def get_api(client, people):
    return client.get(API_URL, **people["api"])


# A server that is not there at all -------------------------------------------------


def test_a_cache_with_no_server_answers_like_an_empty_one_and_says_so(caplog):
    backend = FaultTolerantRedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    caplog.set_level(logging.WARNING, logger="messaging.cache_backends")

    assert backend.get("key", "default") == "default"
    assert backend.get_many(["a", "b"]) == {}
    assert backend.add("key", 1) is False
    assert backend.set("key", 1) is None
    assert backend.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert backend.has_key("key") is False
    assert backend.delete("key") is False
    with pytest.raises(ValueError):  # as for a missing key: callers already handle it
        backend.incr("key")
    assert backend.available is False

    # One warning, then quiet until the retry period is over.
    assert len([r for r in caplog.records if "cache unavailable" in r.getMessage()]) == 1


@pytest.mark.django_db(transaction=True)
def test_readyz_says_redis_is_unavailable_when_nobody_listens(use_redis, client):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}


# A real server that goes away -------------------------------------------------------


@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_readyz_follows_the_redis_server(redis_server, use_redis, client):
    use_redis(redis_server.url)
    alive = client.get("/readyz")
    redis_server.stop()
    dead = client.get("/readyz")
    redis_server.start()
    back = client.get("/readyz")

    assert alive.status_code == 200
    assert alive.json()["checks"] == {"database": "ok", "redis": "ok"}
    assert dead.status_code == 503
    assert dead.json()["checks"]["redis"] == "unavailable"
    assert back.status_code == 200


@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_a_stopped_redis_costs_nothing_but_speed_and_comes_back_fresh(
    redis_server, use_redis, people, client, alice, bob, caplog
):
    use_redis(redis_server.url)
    browser = people["browser"]
    assert warm(client, API_URL, **people["api"]).response.json()["results"]
    warm(browser, PAGE_URL)
    assert redis_server.process.poll() is None

    redis_server.stop()
    caplog.clear()
    api_down = get_api(client, people)
    page_down = browser.get(PAGE_URL)

    assert [m["content"] for m in api_down.json()["results"]] == ["my answer", "before the outage"]
    assert "before the outage" in texts(page_down)
    assert any(
        record.levelno == logging.WARNING and "cache unavailable" in record.getMessage()
        for record in caplog.records
    )
    # Everything else that reads the cache (counts, badges, throttles) answers too.
    for path in ("/", "/notifications/", "/live/counts/"):
        assert browser.get(path).status_code == 200, path
    # Alice's page read her notification with the conversation; Bob has not read his.
    counts = client.get("/api/v1/notifications/unread-count/", HTTP_AUTHORIZATION=bearer(bob))
    assert counts.json() == {"count": 1}
    login = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200

    # Writes go on: the database has them, the cache is told nothing.
    wait_past_retry()
    written = client.post(
        "/api/v1/messages/",
        {"receiver": "alice", "content": "sent during the outage"},
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(bob),
    )
    assert written.status_code == 201
    assert "sent during the outage" in texts(get_api(client, people))
    assert "sent during the outage" in texts(browser.get(PAGE_URL))

    redis_server.start()
    wait_past_retry()

    # Back: fresh first, then cached again.
    assert "sent during the outage" in texts(get_api(client, people))
    api_hit = counted_get(client, API_URL, **people["api"])
    assert api_hit.is_warm_hit
    assert "sent during the outage" in texts(api_hit.response)
    page_hit = warm(browser, PAGE_URL)
    assert "sent during the outage" in texts(page_hit.response)
    assert cache.get(keys.conversation_generation_key(alice.pk, bob.pk)) is not None

    # And invalidation works again.
    client.post(
        "/api/v1/messages/",
        {"receiver": "alice", "content": "after the outage"},
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(bob),
    )
    assert "after the outage" in texts(get_api(client, people))
    assert "after the outage" in texts(browser.get(PAGE_URL))


@needs_redis_server
@pytest.mark.django_db(transaction=True)
def test_a_redis_that_stalls_and_comes_back_with_its_data_serves_no_stale_page(
    redis_server, use_redis, people, client, bob, caplog
):
    # The harder case: the server keeps every entry and every old generation through
    # the outage, so a bump lost meanwhile would bring the old pages back.
    use_redis(redis_server.url)
    browser = people["browser"]
    warm(client, API_URL, **people["api"])
    warm(browser, PAGE_URL)
    counts_url = "/api/v1/messages/unread/count/"
    assert client.get(counts_url, **people["api"]).json() == {"count": 0}  # the page read it

    redis_server.pause()
    started = time.monotonic()
    written = client.post(
        "/api/v1/messages/",
        {"receiver": "alice", "content": "sent while redis stalled"},
        content_type="application/json",
        HTTP_AUTHORIZATION=bearer(bob),
    )
    assert written.status_code == 201
    assert time.monotonic() - started < 5  # timeouts, not a hang
    assert "cache unavailable" in caplog.text
    assert "sent while redis stalled" in texts(get_api(client, people))
    redis_server.resume()
    wait_past_retry()

    stale_entries = [key for key in redis.Redis(port=redis_server.port).scan_iter("*page*")]
    assert stale_entries  # the old pages are still in Redis...
    api = get_api(client, people)  # ...and never served again
    assert "sent while redis stalled" in texts(api)
    assert client.get(counts_url, **people["api"]).json() == {"count": 1}
    assert "sent while redis stalled" in texts(browser.get(PAGE_URL))
    assert client.get(counts_url, **people["api"]).json() == {"count": 0}  # the page read it
    assert "sent while redis stalled" in texts(warm(client, API_URL, **people["api"]).response)
