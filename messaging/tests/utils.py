"""Helpers shared by the test modules."""

import time

import pytest
from django.db import connection

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (row locks, concurrent sessions)"
)


def set_throttle_rates(settings, **rates: str) -> None:
    """Override some of DRF's throttle rates (`search="2/min"`) for one test, through
    pytest-django's `settings` fixture (the throttles read them on every request)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def each_event(batch, handle) -> None:
    """Call `handle(user_id, type, data)` for each live event of a batch handed to the
    channel layer (`realtime.publishing.submit`)."""
    from messaging.realtime.publishing import EVENT_HANDLER

    for group, message in batch:
        if message["type"] == EVENT_HANDLER:
            handle(int(group.rsplit(".", 1)[1]), message["event"], message["data"])


def wait_for(condition, timeout: float = 5.0, what: str = "the condition"):
    """Poll `condition` until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)
