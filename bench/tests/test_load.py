"""`bench.load`'s verdict on a Locust record, and the one launcher it starts servers with."""

from __future__ import annotations

from pathlib import Path

from bench import harness, load
from bench.run import PRODUCT

CLEAN_ACCOUNTING = {"problems": []}


def record(frames: dict[str, list[int]], failures: list[str] | None = None) -> dict:
    sends = [
        {"sender": "day00", "receiver": "day01", "key": "k1", "id": 1, "parent": None},
        {"sender": "day01", "receiver": "day00", "key": "k2", "id": 2, "parent": None},
    ]
    return {"sends": sends, "frames": frames, "requests": [], "failures": failures or []}


def test_every_frame_heard_once_and_nothing_else_is_not_broken():
    frames, broken = load.judge(record({"day00": [2], "day01": [1]}), CLEAN_ACCOUNTING, [])

    assert frames == {"expected": 2, "received": 2, "lost": 0, "duplicated": 0}
    assert broken == []


def test_a_lost_a_doubled_and_a_strangers_frame_are_each_broken():
    # day00 never heard 2; day01 heard 1 twice, and 2, which was sent to day00.
    frames, broken = load.judge(record({"day00": [], "day01": [1, 1, 2]}), CLEAN_ACCOUNTING, [])

    assert frames == {"expected": 2, "received": 1, "lost": 1, "duplicated": 1}
    assert any(b.startswith("1 frames lost") and "'day00'" in b for b in broken)
    assert "1 frames duplicated" in broken
    assert "1 frames unexpected" in broken


def test_failures_accounting_problems_and_server_errors_are_broken():
    heard = {"day00": [2], "day01": [1]}
    _, broken = load.judge(
        record(heard, failures=["send (API): 500 (x1)"]),
        {"problems": ["1 acknowledged sends are not stored"]},
        ["2026-01-01 00:00:00,000 ERROR django.request Internal Server Error"],
    )

    assert broken[0] == "Locust's failures: send (API): 500 (x1)"
    assert broken[1] == "accounting: 1 acknowledged sends are not stored"
    assert broken[2].startswith("1 error lines in the server logs")


def test_a_run_without_a_single_send_proves_nothing():
    empty = {"sends": [], "frames": {}, "requests": [], "failures": []}

    assert load.judge(empty, CLEAN_ACCOUNTING, [])[1] == ["no send was acknowledged"]


def test_server_errors_are_errors_criticals_and_tracebacks_not_warnings():
    lines = [
        "2026-01-01 00:00:00,000 ERROR django.request Internal Server Error: /",
        "[2026-01-01 00:00:00 +0000] [42] [CRITICAL] WORKER TIMEOUT (pid:43)",
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        "2026-01-01 00:00:00,000 WARNING django.request Not Found: /x",
        "$ python -m gunicorn config.wsgi:application --log-level warning",
    ]

    assert [bool(load.SERVER_ERROR.search(line)) for line in lines] == [1, 1, 1, 1, 0, 0]


def test_the_launcher_adds_options_to_the_shapes_command():
    logfile = Path("unused.log")
    plain = harness.Server("uvicorn", PRODUCT, 1, {}, logfile)
    sockets = harness.Server("uvicorn", PRODUCT, 1, {}, logfile, load.WS_OPTIONS)

    assert plain.cmd == harness.server_command("uvicorn", PRODUCT, plain.port, 1)
    assert sockets.cmd == [
        *harness.server_command("uvicorn", PRODUCT, sockets.port, 1),
        *load.WS_OPTIONS,
    ]
    assert plain.proc is None  # nothing starts before the `with`
