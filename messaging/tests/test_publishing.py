"""The sender of live events: off the request's thread, in order, held while the layer is
down and delivered when it answers again, bounded when it never does.

A recording channel layer stands in for Redis here (the real ones are exercised by
test_realtime.py, test_realtime_multiprocess.py and `make bench`'s socket run); it can be
told to fail or to hang. Every wait is for an event, with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from messaging.realtime import publishing
from messaging.tests.utils import wait_for


class RecordingLayer:
    """`group_send` records (group, event) and the thread it ran on; it may fail or hang."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.threads: set[int] = set()
        self.failures_left = 0
        self.hang = threading.Event()  # set: every send hangs until cleared
        self.attempts = 0

    async def group_send(self, group: str, message: dict) -> None:
        self.attempts += 1
        self.threads.add(threading.get_ident())
        while self.hang.is_set():
            await asyncio.sleep(0.01)
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("the layer is down")
        self.sent.append((group, message.get("event", message["type"])))


@pytest.fixture
def layer(monkeypatch):
    layer = RecordingLayer()
    monkeypatch.setattr(publishing, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(publishing, "RETRY_FIRST", 0.01)
    monkeypatch.setattr(publishing, "RETRY_CAP", 0.02)
    yield layer
    layer.hang.clear()


def batch(*events: str, user: int = 1) -> publishing.Batch:
    return [
        (publishing.user_group(user), {"type": publishing.EVENT_HANDLER, "event": event})
        for event in events
    ]


def test_a_batch_goes_out_in_order_and_not_on_the_callers_thread(layer):
    publishing.submit(batch("message.created", "notification.created"))
    publishing.submit(batch("message.updated", user=2))

    wait_for(lambda: len(layer.sent) == 3, what="three events sent")
    assert layer.sent == [
        ("messaging.user.1", "message.created"),
        ("messaging.user.1", "notification.created"),
        ("messaging.user.2", "message.updated"),
    ]
    assert threading.get_ident() not in layer.threads


def test_the_caller_never_waits_for_a_hung_layer(layer):
    layer.hang.set()

    for n in range(50):
        publishing.submit(batch(f"event.{n}"))  # returns although nothing can be sent

    assert layer.sent == []
    layer.hang.clear()
    wait_for(lambda: len(layer.sent) == 50, what="the 50 events once the layer answers")
    assert [event for _, event in layer.sent] == [f"event.{n}" for n in range(50)]


def test_events_wait_for_a_layer_that_is_down_and_none_is_lost_or_doubled(layer, caplog):
    layer.failures_left = 5

    with caplog.at_level(logging.WARNING, logger="messaging.realtime.publishing"):
        publishing.submit(batch("message.created", "notification.created"))
        publishing.submit(batch("message.read"))
        wait_for(lambda: len(layer.sent) == 3, what="every event once the layer is back")

    assert [event for _, event in layer.sent] == [
        "message.created",
        "notification.created",
        "message.read",
    ]
    assert layer.attempts == 3 + 5
    messages = [record.getMessage() for record in caplog.records]
    assert any("channel layer unavailable" in message for message in messages)
    assert any("answers again" in message for message in messages)


def test_a_batch_the_layer_never_takes_is_given_up_and_logged(layer, monkeypatch, caplog):
    monkeypatch.setattr(publishing, "GIVE_UP_AFTER", 0.05)
    layer.failures_left = 10_000

    with caplog.at_level(logging.ERROR, logger="messaging.realtime.publishing"):
        publishing.submit(batch("message.created"))
        wait_for(
            lambda: any("gave up" in r.getMessage() for r in caplog.records),
            what="the batch given up",
        )
    layer.failures_left = 0
    publishing.submit(batch("message.deleted"))

    wait_for(lambda: layer.sent, what="the next batch")
    assert [event for _, event in layer.sent] == ["message.deleted"]


def test_waiting_batches_are_bounded(layer, monkeypatch, caplog):
    monkeypatch.setattr(publishing, "MAX_PENDING", 3)
    layer.hang.set()
    publishing.submit(batch("first"))  # taken by the sender, hanging in group_send
    wait_for(lambda: layer.attempts == 1, what="the first send under way")

    with caplog.at_level(logging.ERROR, logger="messaging.realtime.publishing"):
        for n in range(5):
            publishing.submit(batch(f"then.{n}"))
        wait_for(
            lambda: sum("batches waiting" in r.getMessage() for r in caplog.records) == 3,
            what="three batches dropped",
        )
    layer.hang.clear()

    wait_for(lambda: len(layer.sent) == 3, what="what was kept")
    # The oldest waiting ones went; the one already being sent, and the newest, stayed.
    assert [event for _, event in layer.sent] == ["first", "then.3", "then.4"]


async def test_under_asgi_the_servers_own_loop_sends(layer):
    """Sync code run for the server (`sync_to_async`) hands its batch to the server's loop."""
    from asgiref.sync import sync_to_async

    await sync_to_async(publishing.submit)(batch("message.created"))

    for _ in range(200):
        if layer.sent:
            break
        await asyncio.sleep(0.01)
    assert layer.sent == [("messaging.user.1", "message.created")]
    assert layer.threads == {threading.get_ident()}  # this loop's thread


def test_a_process_that_exits_right_after_its_write_still_delivers(tmp_path):
    """A command (`manage.py shell -c`) publishes from the thread of its own loop, a
    daemon: the process waits for it at exit instead of dropping the events."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import asyncio, django, os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings.test')\n"
        "django.setup()\n"
        "from messaging.realtime import publishing\n"
        "class Slow:\n"
        "    async def group_send(self, group, message):\n"
        "        await asyncio.sleep(0.3)\n"
        f"        open({str(tmp_path / 'sent')!r}, 'a').write(message['event'] + '\\n')\n"
        "publishing.get_channel_layer = lambda: Slow()\n"
        "publishing.submit([('messaging.user.1', {'type': 'event.push', 'event': 'a'})])\n"
        "publishing.submit([('messaging.user.1', {'type': 'event.push', 'event': 'b'})])\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sent").read_text() == "a\nb\n"
