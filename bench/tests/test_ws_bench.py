"""The socket benchmark's frame accounting, percentiles, placement and verdict."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from bench.ws_bench import (
    SERVERS,
    account,
    judge,
    parse_time,
    percentile,
    server_of,
    summary,
    write_results,
)

SOUND = json.loads((Path(__file__).parent / "ws_results" / "ws-1000-latest.json").read_text())


def test_every_expected_frame_once_is_nothing_lost_nothing_doubled():
    expected = {10: {0, 1}, 11: {2}}
    result = account(expected, [(0, 10), (1, 10), (2, 11)])
    assert result["expected"] == result["received"] == 3
    assert result["lost"] == result["duplicated"] == result["unexpected"] == 0
    assert result["messages_with_loss"] == 0


def test_a_missing_frame_is_lost_on_that_socket_only():
    expected = {10: {0, 1}, 11: {2}}
    result = account(expected, [(1, 10), (2, 11)])
    assert (result["received"], result["lost"], result["messages_with_loss"]) == (2, 1, 1)
    assert result["lost_examples"] == [{"socket": 0, "message": 10}]


def test_copies_are_duplicates_and_strangers_are_unexpected():
    expected = {10: {0}, 11: {0}}
    frames = [(0, 10), (0, 10), (0, 10), (1, 10), (0, 99)]
    result = account(expected, frames)
    assert result["received"] == 1
    assert result["duplicated"] == 2
    # Another socket's frame of an expected message, and a message nobody sent.
    assert result["unexpected"] == 2
    assert result["lost"] == 1
    # Each frame is received, duplicated or unexpected; nothing else.
    assert result["received"] + result["duplicated"] + result["unexpected"] == len(frames)


def test_a_message_acknowledged_to_nobody_expects_nothing():
    result = account({10: set()}, [])
    assert result["expected"] == result["lost"] == 0


@pytest.mark.parametrize(
    ("pct", "want"),
    [(0, 1), (1, 1), (50, 50), (50.5, 51), (99, 99), (99.5, 100), (100, 100)],
)
def test_percentile_is_the_nearest_rank(pct, want):
    values = list(range(100, 0, -1))  # order does not matter
    assert percentile(values, pct) == want


def test_percentile_of_few_values():
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1, 2], 50) == 1
    assert percentile([1, 2, 3], 50) == 2
    assert percentile([1, 2, 3], 99) == 3


def test_summary_rounds_to_a_tenth_of_a_millisecond():
    values = [float(v) + 0.04 for v in range(1, 201)]
    assert summary(values) == {"count": 200, "p50": 100.0, "p99": 198.0, "max": 200.0}
    assert summary([]) == {"count": 0, "p50": None, "p99": None, "max": None}


def test_timestamps_from_the_payload_are_seconds_since_the_epoch():
    assert parse_time("1970-01-01T00:00:01.250000Z") == 1.25
    assert parse_time("2026-01-01T01:00:00+01:00") == parse_time("2026-01-01T00:00:00Z")


@pytest.mark.parametrize(("sockets", "users"), [(1000, 500), (5000, 2500), (5000, 500), (7, 3)])
def test_a_persons_sockets_alternate_between_the_servers(sockets, users):
    servers_of: dict[int, list[int]] = {}
    for number in range(sockets):
        servers_of.setdefault(number % users, []).append(server_of(number, users))

    for servers in servers_of.values():
        assert servers == [(servers[0] + k) % SERVERS for k in range(len(servers))]
    load = Counter(server_of(number, users) for number in range(sockets))
    assert max(load.values()) - min(load.values()) <= 1


def test_fewer_sockets_than_people_alternate_socket_by_socket():
    assert [server_of(number, 500) for number in range(6)] == [0, 1, 0, 1, 0, 1]


def test_a_sound_run_has_nothing_broken():
    assert judge(SOUND) == []


@pytest.mark.parametrize(
    ("section", "key", "value", "reason"),
    [
        ("open", "failed", 3, "3 sockets failed to open"),
        ("open", "closed_by_server_before_end", 2, "2 sockets closed by a server before the end"),
        ("send", "acknowledged", 493, "7 sends not acknowledged"),
        ("frames", "lost", 1, "1 frames lost"),
        ("frames", "duplicated", 1200, "1,200 frames duplicated"),
        ("frames", "unexpected", 4, "4 frames on a socket that should not have had them"),
    ],
)
def test_each_way_a_run_breaks_is_named(section, key, value, reason):
    run = copy.deepcopy(SOUND)
    run[section][key] = value

    assert judge(run) == [reason]


def test_a_sound_run_is_also_the_latest(tmp_path):
    run = copy.deepcopy(SOUND) | {"broken": []}

    paths = write_results(run, None, tmp_path)

    assert [path.name for path in paths] == [
        "ws-1000-20261206T100500Z.json",
        "ws-1000-latest.json",
    ]
    assert json.loads((tmp_path / "ws-1000-latest.json").read_text()) == run


def test_a_broken_run_is_kept_but_not_published(tmp_path):
    (tmp_path / "ws-1000-latest.json").write_text("earlier sound run")
    run = copy.deepcopy(SOUND) | {"broken": ["1 frames lost"]}

    paths = write_results(run, tmp_path / "elsewhere" / "run.json", tmp_path)

    assert paths == [tmp_path / "elsewhere" / "run.json"]
    assert json.loads(paths[0].read_text())["broken"] == ["1 frames lost"]
    assert (tmp_path / "ws-1000-latest.json").read_text() == "earlier sound run"
