"""A generation bump lost to a cache outage is made good on its own, and no process reads
an entry from before it once the cache answers again.

The first tests use a local-memory cache that fails while `down` and keeps what it held
(a Redis paused and resumed). The last ones pause a private `redis-server` (SIGSTOP)
while a bump is lost in this process, and read through the product's code in another
process, as another worker would.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache

from messaging import cache as keys
from messaging.cache_backends import FaultTolerantRedisCache
from messaging.realtime import publishing as realtime
from messaging.tests.utils import each_event, wait_for

from .test_cache_outage import needs_redis_server, redis_server, use_redis  # noqa: F401

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
RETRY_THREAD = "cache-epoch-retry"


def retry_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == RETRY_THREAD]


@pytest.fixture(autouse=True)
def _no_retry_left_over():
    """Each test starts and ends with no lost bump and no retry running."""

    def settle():
        keys._pending.keys = set()
        keys._lost_bumps.clear()
        for thread in retry_threads():
            thread.join(timeout=10)
        assert not retry_threads()

    settle()
    yield
    settle()


# A cache that fails, then answers again with what it held ------------------------


class PausingCache(LocMemCache):
    """Local memory that raises on every call while `down`, keeping what it held.

    It writes down which thread set the epoch, and can hold the retry's writes of it
    (`hold` cleared) to show what happens while a move is on its way. `send_set` only
    notes what the product handed over, as a paused Redis would hold it.
    """

    down = False
    hold = threading.Event()
    epoch_sets: list[str] = []
    #: Keys handed over with `send_set`, as to a paused Redis.
    sent: list[str] = []
    #: (thread, method) of each call made to the cache from outside it.
    calls: list[tuple[str, str]] = []
    _inside = threading.local()

    def _check(self, name, key=None):
        type(self).calls.append((threading.current_thread().name, name))
        if key == keys.EPOCH_KEY and name == "set":
            type(self).epoch_sets.append(threading.current_thread().name)
            if threading.current_thread().name == RETRY_THREAD:
                type(self).hold.wait(timeout=10)
        if type(self).down:
            raise ConnectionError("the cache is down")

    def send_set(self, key, value, timeout=None, version=None):
        type(self).sent.append(key)
        return True


for _name in ("add", "get", "set", "touch", "delete", "has_key", "incr", "get_many", "set_many"):

    def _pausing(self, *args, _name=_name, **kwargs):
        inside = self._inside
        if getattr(inside, "depth", 0):  # LocMemCache's get_many calls get: one call
            return getattr(LocMemCache, _name)(self, *args, **kwargs)
        self._check(_name, args[0] if args and isinstance(args[0], str) else None)
        inside.depth = 1
        try:
            return getattr(LocMemCache, _name)(self, *args, **kwargs)
        finally:
            inside.depth = 0

    setattr(PausingCache, _name, _pausing)


@pytest.fixture
def pausing(settings):
    PausingCache.down = False
    PausingCache.hold.set()
    PausingCache.epoch_sets = []
    PausingCache.calls = []
    PausingCache.sent = []
    settings.CACHES = {
        "default": {"BACKEND": f"{__name__}.PausingCache", "LOCATION": "messaging-pausing-cache"}
    }
    cache.clear()
    yield PausingCache
    PausingCache.down = False
    PausingCache.hold.set()
    keys._lost_bumps.clear()
    cache.clear()


def lose_a_bump(pausing, capture, user_id: int = 7) -> None:
    """A write commits while the cache is down: its bump is lost."""
    pausing.down = True
    try:
        with capture(execute=True):
            keys.invalidate(users=[user_id])
    finally:
        pausing.down = False
    assert keys._lost_bumps.is_set()


def test_a_lost_bump_moves_the_epoch_on_its_own_once_the_cache_answers(
    pausing, django_capture_on_commit_callbacks
):
    keys.user_generation(7)
    epoch_before = cache.get(keys.EPOCH_KEY)
    stale_key = keys.unread_count_key(7)
    pausing.down = True
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[7])
    assert keys._lost_bumps.is_set()

    pausing.epoch_sets = []
    pausing.down = False  # back, with every entry and generation it held

    # No request reads or writes anything: the process moves the epoch by itself.
    wait_for(lambda: cache.get(keys.EPOCH_KEY) != epoch_before, what="the epoch moved")
    wait_for(lambda: not keys._lost_bumps.is_set(), what="the lost bump was made good")
    wait_for(lambda: not retry_threads(), what="the retry stopped")
    assert set(pausing.epoch_sets) == {RETRY_THREAD}
    assert keys.unread_count_key(7) != stale_key
    assert keys.unread_count_key(7) == keys.unread_count_key(7)  # and caching works again


def test_a_write_whose_bump_is_lost_hands_the_epoch_move_over_before_announcing_it(
    pausing, monkeypatch, alice, bob, send, django_capture_on_commit_callbacks
):
    announced = []

    def publish(user_id, event_type, data):
        announced.append((event_type, list(pausing.sent)))

    monkeypatch.setattr(realtime, "submit", lambda batch: each_event(batch, publish))
    pausing.down = True
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "its bump is lost")

    assert announced
    # Handed over once for the write, before any event about it went out.
    assert all(sent == [keys.EPOCH_KEY] for _event, sent in announced), announced
    assert pausing.sent == [keys.EPOCH_KEY]


def test_one_retry_per_process_however_many_bumps_are_lost(
    pausing, django_capture_on_commit_callbacks
):
    pausing.down = True

    def write(user_id):
        keys._pending.keys = {keys.user_generation_key(user_id)}
        keys.bump_pending()  # what a commit in that thread runs

    writers = [threading.Thread(target=write, args=(user_id,)) for user_id in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[99])

    assert keys._lost_bumps.is_set()
    assert len(retry_threads()) == 1
    pausing.down = False
    wait_for(lambda: not keys._lost_bumps.is_set(), what="the lost bumps were made good")
    wait_for(lambda: not retry_threads(), what="the retry stopped")
    assert keys._epoch.thread is None


def test_a_read_while_the_epoch_move_is_on_its_way_neither_waits_nor_reads_old_entries(
    pausing, django_capture_on_commit_callbacks
):
    stale_key = keys.unread_count_key(7)
    cache.set(stale_key, "before the write")
    pausing.hold.clear()  # the retry's write of the epoch will hang until released
    lose_a_bump(pausing, django_capture_on_commit_callbacks)
    wait_for(lambda: RETRY_THREAD in pausing.epoch_sets, what="the retry is moving the epoch")
    pausing.calls = []

    began = time.monotonic()
    read = [keys.unread_count_key(7) for _ in range(3)]
    assert time.monotonic() - began < 0.5  # no waiting for the move
    # Not the old key, and no two reads share one: each reads the database.
    assert stale_key not in read and len(set(read)) == 3
    assert not [call for call in pausing.calls if call[0] != RETRY_THREAD]

    pausing.hold.set()
    wait_for(lambda: not keys._lost_bumps.is_set(), what="the lost bump was made good")
    assert keys.unread_count_key(7) == keys.unread_count_key(7) != stale_key


def test_a_bump_lost_while_the_epoch_moves_is_made_good_by_another_move(
    pausing, django_capture_on_commit_callbacks
):
    pausing.hold.clear()
    lose_a_bump(pausing, django_capture_on_commit_callbacks, user_id=7)
    wait_for(lambda: RETRY_THREAD in pausing.epoch_sets, what="the retry is moving the epoch")

    # The move on its way began before this write committed: it cannot make it good.
    lose_a_bump(pausing, django_capture_on_commit_callbacks, user_id=8)
    pausing.hold.set()
    wait_for(lambda: not keys._lost_bumps.is_set(), what="both lost bumps were made good")
    assert pausing.epoch_sets.count(RETRY_THREAD) >= 2


def test_the_retry_is_paced_and_gives_up_once_every_older_entry_has_expired(
    pausing, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(keys, "EPOCH_RETRY_FOR", 0.5, raising=False)
    pausing.down = True
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[7])

    wait_for(lambda: not retry_threads(), what="the retry gave up")

    attempts = pausing.epoch_sets.count(RETRY_THREAD)
    # At once, then after 0.05, 0.1, 0.2, 0.2 s: a handful, not a busy loop.
    assert 2 <= attempts <= 8, attempts
    assert not keys._lost_bumps.is_set()
    assert "could not be moved" in caplog.text
    assert [r.levelno for r in caplog.records if "could not be moved" in r.getMessage()] == [
        logging.ERROR
    ]


def test_nothing_is_retried_and_no_call_added_when_nothing_was_lost(
    pausing, django_capture_on_commit_callbacks
):
    keys.user_generation(7)  # the generations exist
    pausing.calls = []

    keys.user_generation(7)
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[7])

    assert [name for _thread, name in pausing.calls] == ["get_many", "incr"]
    assert not retry_threads()
    assert not keys._lost_bumps.is_set()


# A real Redis, paused while a bump is lost, read by another process ------------------

#: Another worker: the product's code, with a new cache backend for every request (as
#: under ASGI) and a socket timeout long enough to wait on a paused server.
READER = """
import json, sys
import django
django.setup()
from django.conf import settings
settings.CACHES["default"]["OPTIONS"]["socket_timeout"] = 5
from django.core.cache import cache, caches
from messaging import cache as keys
from messaging.realtime import publishing as realtime

def answer(**data):
    print(json.dumps(data), flush=True)

answer(ready=True)
for line in sys.stdin:
    command, user_id = line.split()
    try:
        del caches["default"]
    except AttributeError:
        pass
    answer(reading=True)
    key = keys.unread_count_key(int(user_id))
    if command == "warm":
        value = keys.get_or_set(key, lambda: "before the write")
    else:
        value = cache.get(key)
    answer(key=key, value=value, lost=keys._lost_bumps.is_set())
"""


class Reader:
    """The other worker: a Python process answering `warm` and `read` on its stdin."""

    def __init__(self, redis_url: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": "outage-test",  # what `use_redis` configures here
            "CACHE_VERSION": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", READER],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.next_answer(timeout=60)  # ready

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def next_answer(self, timeout: float = 10.0) -> dict:
        wait_for(lambda: self.lines, timeout=timeout, what="an answer from the reader")
        return self.lines.pop(0)

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def ask(self, command: str) -> dict:
        self.send(command)
        assert self.next_answer() == {"reading": True}
        return self.next_answer()

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def reader(redis_server):  # noqa: F811
    other = Reader(redis_server.url)
    yield other
    other.close()


@needs_redis_server
@pytest.mark.parametrize("retry", ["retried", "not retried"])
def test_after_a_redis_freeze_no_other_process_reads_an_entry_from_before_a_lost_bump(
    retry,
    redis_server,  # noqa: F811
    use_redis,  # noqa: F811
    reader,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    use_redis(redis_server.url)
    if retry == "not retried":  # what the write hands to the paused server is enough
        monkeypatch.setattr(keys, "_start_epoch_retry", lambda: None, raising=False)
    warmed = reader.ask("warm 7")
    assert reader.ask("read 7") == {**warmed, "value": "before the write"}  # a cached entry

    redis_server.pause()
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[7])  # the write committed; its bump times out
    assert keys._lost_bumps.is_set()

    # A request of the other worker that reaches the paused server after the write was
    # acknowledged, and is still waiting on it when it resumes...
    reader.send("read 7")
    assert reader.next_answer() == {"reading": True}
    time.sleep(0.2)  # (its command reaches the paused server's socket)
    redis_server.resume()
    waiting = reader.next_answer()
    # ...and one that starts once it has.
    after = reader.ask("read 7")

    for read in (waiting, after):
        assert read["value"] is None, read  # a miss: it reads the database
        assert read["key"] != warmed["key"]
        assert read["lost"] is False  # that worker lost nothing and knows of nothing
    if retry == "retried":
        wait_for(lambda: not keys._lost_bumps.is_set(), what="the lost bump was made good")
        wait_for(lambda: not retry_threads(), what="the retry stopped")
    assert keys.unread_count_key(7) != warmed["key"]


@needs_redis_server
def test_a_lost_bump_is_made_good_promptly_once_a_paused_redis_resumes(
    redis_server,  # noqa: F811
    use_redis,  # noqa: F811
    reader,
    django_capture_on_commit_callbacks,
):
    use_redis(redis_server.url)
    warmed = reader.ask("warm 7")
    redis_server.pause()
    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[7])
    time.sleep(FaultTolerantRedisCache.RETRY_AFTER)  # paused longer than any one timeout
    assert keys._lost_bumps.is_set()

    resumed = time.monotonic()
    redis_server.resume()
    wait_for(lambda: not keys._lost_bumps.is_set(), what="the lost bump was made good")
    assert time.monotonic() - resumed < 1.0
    wait_for(lambda: not retry_threads(), what="the retry stopped")
    assert reader.ask("read 7")["key"] != warmed["key"]


@pytest.fixture
def guarded_redis(tmp_path):
    """A private redis-server that wants a password; the URL selects database 3."""
    from .test_cache_outage import REDIS_SERVER, free_port

    port = free_port()
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            *("--port", str(port), "--bind", "127.0.0.1", "--requirepass", "secret"),
            *("--save", "", "--appendonly", "no", "--dir", str(tmp_path)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, password="secret", db=3, socket_connect_timeout=0.2)

    def answers():
        try:
            return client.ping()
        except redis.RedisError:
            return False

    try:
        wait_for(answers, timeout=10, what="redis-server started")
        yield process, client, f"redis://:secret@127.0.0.1:{port}/3"
    finally:
        process.send_signal(signal.SIGCONT)
        process.kill()
        process.wait(timeout=10)


@needs_redis_server
def test_writes_past_the_pause_authenticate_and_select_the_configured_database(guarded_redis):
    process, client, url = guarded_redis
    backend = FaultTolerantRedisCache(url, {"KEY_PREFIX": "p", "OPTIONS": {"socket_timeout": 0.5}})
    stored = backend.make_and_validate_key("epoch")

    assert backend.set_confirmed("epoch", 1, 60, wait=2) is True
    assert client.get(stored) == b"1" and 0 < client.ttl(stored) <= 60

    process.send_signal(signal.SIGSTOP)
    try:
        assert backend.get("epoch") is None  # times out: the backend now keeps away
        assert backend.send_set("epoch", 2, 60) is True  # handed over all the same
        assert backend.set_confirmed("epoch", 3, 60, wait=0.3) is False
    finally:
        process.send_signal(signal.SIGCONT)
    # Run in the order handed over, once the server resumes.
    wait_for(lambda: client.get(stored) == b"3", what="both writes ran")
    assert backend.set_confirmed("epoch", 4, None, wait=2) is True
    assert client.get(stored) == b"4" and client.ttl(stored) == -1

    wrong = FaultTolerantRedisCache(url.replace("secret", "wrong"), {"KEY_PREFIX": "p"})
    assert wrong.set_confirmed("epoch", 5, 60, wait=2) is False
    assert client.get(stored) == b"4"
