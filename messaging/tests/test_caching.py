"""messaging/cache.py on its own: key hygiene, generations that move only on commit,
the epoch that makes entries unreachable when a bump was lost to an outage, and
live events that never announce a change before the caches have moved.

The conversation views are proven through HTTP in api/test_caching_api.py and
web/test_caching_web.py; a real Redis going down in test_cache_outage.py.
"""

from __future__ import annotations

import re
import threading
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import request_finished, request_started
from django.db import connection, transaction

from messaging import cache as keys
from messaging import selectors, services
from messaging.cache_backends import FaultTolerantCache
from messaging.models import Message
from messaging.realtime import publishing as realtime
from messaging.tests.utils import each_event, wait_for

pytestmark = pytest.mark.django_db

#: Characters a key may hold (memcached's rules are the strictest: no spaces or controls).
SAFE_KEY = re.compile(r"^[A-Za-z0-9:._-]{1,200}$")
HOSTILE_TEXTS = ["<script>alert(1)</script>", "a b\nc\x00d", "é" * 300, "../../etc/passwd"]


@pytest.fixture(autouse=True)
def _no_bumps_left_over():
    """Bumps gathered by earlier tests' rolled-back transactions wait for the next commit in
    this thread (harmless in production, where they are spare): start each test without."""
    keys._pending.keys = set()
    keys._lost_bumps.clear()
    yield
    keys._pending.keys = set()
    keys._lost_bumps.clear()


def every_key(user_id: int = 7, partner_id: int = 11) -> dict[str, str]:
    return {
        "user generation": keys.user_generation_key(user_id),
        "conversation generation": keys.conversation_generation_key(user_id, partner_id),
        "epoch": keys.EPOCH_KEY,
        "unread count": keys.unread_count_key(user_id),
        "notification unread count": keys.notification_unread_count_key(user_id),
        "inbox page": keys.inbox_page_key(
            user_id, "http://testserver/api/v1/conversations/?page_size=50"
        ),
        "conversation page": keys.conversation_page_key_prefix(user_id, partner_id),
        "conversation window": keys.conversation_window_key(user_id, partner_id, end="b42"),
        "message fragment": keys.message_fragment_key(user_id, 42, "v3r", "q41.1", "ab12cd34"),
    }


# Key hygiene -------------------------------------------------------------------


def test_every_key_starts_with_the_schema_prefix_and_is_safe_for_any_backend():
    for name, key in every_key().items():
        assert key.startswith(f"messaging:v{keys.SCHEMA}:"), name
        assert SAFE_KEY.match(key), (name, key)


def test_every_key_says_what_it_holds():
    named = every_key()
    assert named["unread count"].split(":")[2] == "unread-count"
    assert named["notification unread count"].split(":")[2] == "notification-unread-count"
    assert named["inbox page"].split(":")[2] == "inbox"
    assert named["conversation page"].split(":")[2:4] == ["page", "conversation"]
    assert named["conversation window"].split(":")[2:4] == ["fragment", "conversation-window"]
    assert named["message fragment"].split(":")[2:4] == ["fragment", "message"]


def test_keys_of_personal_data_hold_the_user_id_as_a_whole_segment():
    for user_id in (7, 70):
        named = every_key(user_id=user_id)
        for name in ("unread count", "notification unread count", "inbox page"):
            assert named[name].split(":")[3] == str(user_id), name
        # The viewer first, then the partner: two people never share one.
        for name in ("conversation page", "conversation window"):
            assert named[name].split(":")[4:6] == [str(user_id), "11"], name
        # A message's HTML: the viewer, then the message.
        assert named["message fragment"].split(":")[4:6] == [str(user_id), "42"]


def test_two_people_never_share_a_personal_key():
    mine, theirs = every_key(user_id=7, partner_id=11), every_key(user_id=11, partner_id=7)
    for name in (
        "unread count",
        "notification unread count",
        "inbox page",
        "conversation page",
        "conversation window",
        "message fragment",
    ):
        assert mine[name] != theirs[name], name
    # One conversation, one generation, whoever asks: a change is seen by both sides.
    assert mine["conversation generation"] == theirs["conversation generation"]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_user_supplied_text_is_hashed_into_keys(text):
    built = [
        keys.inbox_page_key(7, text),
        keys.conversation_page_key_prefix(7, 11, keys.hashed(text)),
    ]
    for key in built:
        assert SAFE_KEY.match(key), key
        assert text not in key
        assert len(key) < 200


def test_hashed_is_stable_and_tells_texts_apart():
    assert keys.hashed("page 1") == keys.hashed("page 1")
    assert keys.hashed("page 1") != keys.hashed("page 2")
    assert re.fullmatch(r"[0-9a-f]{32}", keys.hashed("anything"))


def test_keys_move_with_their_generation(alice, bob, django_capture_on_commit_callbacks):
    before = every_key(alice.pk, bob.pk)

    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[alice.pk], conversations=[(bob.pk, alice.pk)])

    after = every_key(alice.pk, bob.pk)
    for name in ("unread count", "notification unread count", "inbox page", "conversation page"):
        assert after[name] != before[name], name
    assert after["conversation window"] != before["conversation window"]
    # A message's HTML is keyed by its own version, not by generations.
    assert after["message fragment"] == before["message fragment"]
    # Built twice without a change in between: the same key, so caching works.
    assert every_key(alice.pk, bob.pk) == after


def test_bob_is_not_invalidated_by_a_change_of_alice_alone(
    alice, bob, django_capture_on_commit_callbacks
):
    before = keys.unread_count_key(bob.pk)

    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[alice.pk])

    assert keys.unread_count_key(bob.pk) == before


@pytest.mark.django_db(transaction=True)
def test_invalidating_everything_moves_every_key_once_committed(alice, bob, carol):
    # What a bulk import that sends no signals calls (see bench/dataset.py).
    before = {user.pk: every_key(user.pk, carol.pk) for user in (alice, bob)}

    with transaction.atomic():
        keys.invalidate_all()
        assert {user.pk: every_key(user.pk, carol.pk) for user in (alice, bob)} == before

    for user in (alice, bob):
        after = every_key(user.pk, carol.pk)
        for name in ("unread count", "notification unread count", "inbox page"):
            assert after[name] != before[user.pk][name], name
        assert after["conversation page"] != before[user.pk]["conversation page"]


# Generations move on commit ------------------------------------------------------


def test_invalidation_waits_for_the_commit(alice, bob, django_capture_on_commit_callbacks):
    before = keys.conversation_generation(alice.pk, bob.pk)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        keys.invalidate(conversations=[(alice.pk, bob.pk)])
        assert keys.conversation_generation(alice.pk, bob.pk) == before

    assert keys.conversation_generation(alice.pk, bob.pk) == before  # not committed yet
    for callback in callbacks:
        callback()
    assert keys.conversation_generation(alice.pk, bob.pk) != before


@pytest.mark.django_db(transaction=True)
def test_a_committed_write_moves_the_generations(alice, bob, send):
    user_before = keys.user_generation(bob.pk)
    conversation_before = keys.conversation_generation(alice.pk, bob.pk)

    send(alice, bob, "committed")

    assert keys.user_generation(bob.pk) != user_before
    assert keys.conversation_generation(alice.pk, bob.pk) != conversation_before


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_write_moves_nothing_and_the_cached_count_stays_right(alice, bob, send):
    assert selectors.unread_count(bob) == 0  # cached
    user_before = keys.user_generation(bob.pk)
    conversation_before = keys.conversation_generation(alice.pk, bob.pk)

    with pytest.raises(RuntimeError), transaction.atomic():
        send(alice, bob, "never committed")
        raise RuntimeError("roll back")

    assert not Message.objects.exists()
    assert keys.user_generation(bob.pk) == user_before
    assert keys.conversation_generation(alice.pk, bob.pk) == conversation_before
    assert selectors.unread_count(bob) == 0


@pytest.mark.django_db(transaction=True)
def test_a_write_committed_after_a_rolled_back_savepoint_is_seen(alice, bob, carol, send):
    alice_carol_before = keys.conversation_generation(alice.pk, carol.pk)

    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            send(alice, bob, "rolled back")
            raise RuntimeError("roll back the savepoint")
        send(alice, carol, "committed")

    assert keys.conversation_generation(alice.pk, carol.pk) != alice_carol_before
    assert list(Message.objects.values_list("content", flat=True)) == ["committed"]


@pytest.mark.django_db(transaction=True)
def test_one_transaction_bumps_each_generation_once_in_one_go(alice, bob, send, monkeypatch):
    bumps: list[set[str]] = []
    real_bump_all = keys._bump_all
    monkeypatch.setattr(
        keys, "_bump_all", lambda batch: bumps.append(set(batch)) or real_bump_all(batch)
    )
    before = [keys.user_generation(alice.pk), keys.user_generation(bob.pk)]

    with transaction.atomic():
        for n in range(5):
            send(alice, bob, f"message {n}")

    # One batch (on Redis, one pipelined round trip), each generation once.
    assert bumps == [
        {
            keys.user_generation_key(alice.pk),
            keys.user_generation_key(bob.pk),
            keys.conversation_generation_key(alice.pk, bob.pk),
        }
    ]
    assert [keys.user_generation(alice.pk), keys.user_generation(bob.pk)] != before


# Low-level values -----------------------------------------------------------------


def test_get_or_set_computes_once_then_serves_from_the_cache():
    calls = []
    key = keys.unread_count_key(5)

    assert keys.get_or_set(key, lambda: calls.append(1) or 3) == 3
    assert keys.get_or_set(key, lambda: calls.append(1) or 3) == 3

    assert calls == [1]


def test_get_or_set_caches_a_zero():
    calls = []
    key = keys.unread_count_key(5)

    for _ in range(3):
        assert keys.get_or_set(key, lambda: calls.append(1) or 0) == 0

    assert calls == [1]


# A cache that fails --------------------------------------------------------------


class RaisingLocMemCache(LocMemCache):
    """Local memory that raises on every call while `down`, keeping what it held:
    a Redis that stops answering for a while and comes back with its data."""

    down = False

    def _check(self):
        if FlakyCache.down:
            raise ConnectionError("the cache is down")


for _name in ("add", "get", "set", "touch", "delete", "has_key", "incr", "get_many", "set_many"):

    def _failing(self, *args, _name=_name, **kwargs):
        self._check()
        return getattr(LocMemCache, _name)(self, *args, **kwargs)

    setattr(RaisingLocMemCache, _name, _failing)


class FlakyCache(FaultTolerantCache, RaisingLocMemCache):
    """That cache under the product's outage policy (the one `FaultTolerantRedisCache`
    applies to Redis), asked again at once after each failure."""

    RETRY_AFTER = 0.0


@pytest.fixture
def flaky(settings):
    FlakyCache.down = False
    settings.CACHES = {
        "default": {"BACKEND": f"{__name__}.FlakyCache", "LOCATION": "messaging-flaky-cache"}
    }
    cache.clear()
    yield FlakyCache
    FlakyCache.down = False
    cache.clear()
    keys._lost_bumps.clear()


def test_an_unreachable_cache_serves_from_the_database_and_logs(
    alice, bob, send, flaky, caplog, django_capture_on_commit_callbacks
):
    flaky.down = True

    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "during the outage")

    assert selectors.unread_count(bob) == 1
    assert selectors.notification_unread_count(bob) == 1
    assert "cache unavailable" in caplog.text
    # No entry is shared by two readers while the generations cannot be read.
    assert keys.unread_count_key(bob.pk) != keys.unread_count_key(bob.pk)


def test_a_bump_lost_to_an_outage_makes_every_older_entry_unreachable(
    alice, bob, send, flaky, caplog, django_capture_on_commit_callbacks
):
    assert selectors.unread_count(bob) == 0
    stale_key = keys.unread_count_key(bob.pk)
    stale_page = keys.conversation_page_key_prefix(alice.pk, bob.pk)

    flaky.down = True
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "the bump of this one is lost")
    assert "cache unavailable (incr)" in caplog.text
    flaky.down = False

    # The cache came back with everything it held, the old generations included: only
    # the epoch keeps the stale count from being read again.
    assert cache.get(stale_key) == 0
    assert cache.get(keys.user_generation_key(bob.pk)) is not None
    assert keys.unread_count_key(bob.pk) != stale_key
    assert keys.conversation_page_key_prefix(alice.pk, bob.pk) != stale_page
    assert selectors.unread_count(bob) == 1
    # And caching works again once the background retry has moved the epoch (while it is
    # moving, a read does not wait for it and builds a key no entry has): one key.
    retry = keys._epoch.thread
    if retry is not None:
        retry.join(timeout=10)
    assert keys.unread_count_key(bob.pk) == keys.unread_count_key(bob.pk)
    assert not keys._lost_bumps.is_set()


def test_a_bump_lost_while_nobody_reads_is_made_good_by_the_next_write(
    alice, bob, send, flaky, django_capture_on_commit_callbacks
):
    assert selectors.unread_count(bob) == 0
    stale_key = keys.unread_count_key(bob.pk)
    flaky.down = True
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "lost")
    flaky.down = False

    with django_capture_on_commit_callbacks(execute=True):
        keys.invalidate(users=[alice.pk])  # any later commit moves the epoch too

    assert not keys._lost_bumps.is_set()
    assert keys.unread_count_key(bob.pk) != stale_key
    assert selectors.unread_count(bob) == 1


def test_the_epoch_waits_for_the_cache_to_answer(
    alice, bob, send, flaky, django_capture_on_commit_callbacks
):
    flaky.down = True
    with django_capture_on_commit_callbacks(execute=True):
        send(alice, bob, "lost")

    for _ in range(3):  # reads while still down: the flag survives them
        keys.unread_count_key(bob.pk)
    assert keys._lost_bumps.is_set()

    flaky.down = False
    # The next read moves the epoch, unless the background retry is moving it at that
    # moment (a read never waits for a move on its way): either way, it moves now.
    keys.unread_count_key(bob.pk)
    wait_for(lambda: not keys._lost_bumps.is_set(), what="the epoch moving once the cache is back")


def test_a_bump_lost_in_one_thread_is_made_good_by_a_read_in_another(alice, bob, flaky):
    selectors.unread_count(bob)
    stale_key = keys.unread_count_key(bob.pk)

    def lose_a_bump():
        flaky.down = True
        try:
            keys.invalidate(users=[bob.pk])  # no transaction in this thread: bumps now
        finally:
            flaky.down = False
            connection.close()

    worker = threading.Thread(target=lose_a_bump)
    worker.start()
    worker.join()

    assert keys.unread_count_key(bob.pk) != stale_key


def test_get_or_set_survives_a_cache_that_raises(flaky, caplog):
    flaky.down = True
    assert keys.get_or_set("messaging:v1:test", lambda: 42) == 42
    assert "cache unavailable (get)" in caplog.text


# Live events follow the caches -------------------------------------------------------


@pytest.fixture
def events_with_generations(alice, bob, monkeypatch):
    """Each event published, with the generations its user could read at that moment."""
    seen: list[dict] = []

    def record(user_id, event_type, data):
        seen.append({"type": event_type, "user": user_id, **generations_of(user_id, alice, bob)})

    monkeypatch.setattr(realtime, "submit", lambda batch: each_event(batch, record))
    return seen


def generations_of(user_id: int, alice, bob) -> dict:
    return {
        "user_generation": keys.user_generation(user_id),
        "conversation_generation": keys.conversation_generation(alice.pk, bob.pk),
    }


def _write(kind, alice, bob, send):
    first = send(alice, bob, "first")
    writes = {
        "send": lambda: send(alice, bob, "second"),
        "reply": lambda: send(bob, alice, "a reply", parent_message=first),
        "edit": lambda: services.message_edit(user=alice, message=first, content="edited"),
        "delete": lambda: services.message_delete(user=alice, message=first),
        "mark read": lambda: services.message_mark_read(user=bob, message=first),
        "mark conversation read": lambda: services.conversation_mark_read(user=bob, partner=alice),
    }
    return writes[kind]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "kind", ["send", "reply", "edit", "delete", "mark read", "mark conversation read"]
)
def test_a_live_event_goes_out_only_after_the_caches_it_announces_moved(
    kind, alice, bob, send, events_with_generations
):
    # A client that hears of a change re-reads at once: what it reads must be fresh.
    write = _write(kind, alice, bob, send)
    before = {user.pk: generations_of(user.pk, alice, bob) for user in (alice, bob)}
    events_with_generations.clear()

    write()

    assert events_with_generations, "the write published nothing"
    for event in events_with_generations:
        earlier = before[event["user"]]
        for name in ("user_generation", "conversation_generation"):
            assert event[name] != earlier[name], (event["type"], name)


# One read per request ----------------------------------------------------------------


def test_a_request_reads_each_generation_once_and_a_bump_in_it_is_seen(
    alice, bob, django_capture_on_commit_callbacks
):
    reads = mock.patch.object(cache, "get_many", wraps=cache.get_many)
    with reads as get_many:
        request_started.send(sender=None)
        try:
            first = keys.unread_count_key(bob.pk)
            assert keys.notification_unread_count_key(bob.pk)  # the same generation
            assert keys.unread_count_key(bob.pk) == first
            assert get_many.call_count == 1

            with django_capture_on_commit_callbacks(execute=True):
                keys.invalidate(users=[bob.pk])
            assert keys.unread_count_key(bob.pk) != first  # read again after the bump
            assert get_many.call_count == 2
        finally:
            request_finished.send(sender=None)

        # Outside a request nothing is kept: every call reads.
        get_many.reset_mock()
        keys.unread_count_key(bob.pk)
        keys.unread_count_key(bob.pk)
        assert get_many.call_count == 2
