"""The "## Sockets" section docs/benchmarks.md renders from `make bench-sockets` runs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bench import report
from bench.tests.test_bench_report import document as bench_document

FIXTURE = Path(__file__).parent / "ws_results" / "ws-1000-latest.json"
NOTES = "Where 5,000 broke (2026-12-06): on CPU."
ROW_1000 = (
    "| 1,000 (2 per person) | 1,000 / 0 in 2.0 s | 500 / 500 | 1,000 / 1,000 / 0 / 0 "
    "| 22 / 131 / 328 ms | 63.9 KiB |"
)


@pytest.fixture
def run_1000() -> dict:
    return json.loads(FIXTURE.read_text())


def run_5000(run_1000: dict) -> dict:
    """The same run at 5,000 sockets, 2,500 people, on another day."""
    run = copy.deepcopy(run_1000)
    run["date"] = "2026-12-07T09:00:00+00:00"
    run["settings"].update(sockets=5000, users=2500)
    run["dataset"]["users"] = 2500
    run["placement"].update(users_with_sockets=2500, users_on_both_servers=2500)
    run["open"].update(opened=5000, seconds=10.6)
    run["send"]["cpu"]["other"] = 0.34
    run["latency_ms"]["from_timestamp"].update(p50=57.0, p99=152.6, max=712.2)
    run["memory"]["per_socket_kb"] = 70.74
    return run


def test_a_run_is_one_row_of_the_hand_written_columns(run_1000):
    table = report.socket_table([run_1000]).splitlines()

    assert table[0] == report.SOCKET_COLUMNS
    assert table[0].count("|") - 1 == table[1].count("|") - 1 == 6
    assert table[2] == ROW_1000


def test_refused_sends_are_counted_by_status(run_1000):
    run_1000["send"].update(acknowledged=493, failed=7, failed_by_status={"503": 5, "0": 2})

    row = report.socket_row(run_1000)

    assert "| 493 / 500 (5 × 503, 2 × no answer) |" in row  # noqa: RUF001


def test_a_run_without_latencies_shows_a_dash(run_1000):
    run_1000["latency_ms"]["from_timestamp"] = {"count": 0, "p50": None, "p99": None, "max": None}

    assert "| - |" in report.socket_row(run_1000)


def test_sockets_that_do_not_divide_evenly_are_at_most_so_many_per_person(run_1000):
    run_1000["settings"]["sockets"] = 750
    run_1000["placement"]["sockets_per_user"] = 2

    assert report.socket_row(run_1000).startswith("| 750 (up to 2 per person) |")


def test_the_section_says_how_the_runs_were_made_then_the_table_then_the_notes(run_1000):
    lines = report.sockets_section([run_5000(run_1000), run_1000][::-1], NOTES)
    text = "\n".join(lines)

    assert lines[:2] == ["## Sockets", ""]
    how = lines[2]
    assert "`make bench-sockets`" in how
    assert "Two uvicorn processes (1 worker each, a database pool of 4)" in how
    assert "500 messages through the API at 50/s to people holding sockets on both servers" in how
    assert "Measured 2026-12-06 and 2026-12-07 on 2 cores" in how
    assert how.endswith("other work (PostgreSQL included) at most 0.34 of a core:")
    rows = [line for line in text.splitlines() if "per person) |" in line]
    assert rows == [
        ROW_1000,
        "| 5,000 (2 per person) | 5,000 / 0 in 10.6 s | 500 / 500 | 1,000 / 1,000 / 0 / 0 "
        "| 57 / 153 / 712 ms | 70.7 KiB |",
    ]
    assert (
        "The servers' channel layer: `channels_redis.core.RedisChannelLayer` from "
        "`bench.settings`, capacity 100 messages per channel, expiry 60 s, group_expiry "
        "86,400 s (the backend's defaults: the settings set none of them)." in lines
    )
    assert text.index("| 5,000 (2 per person)") < text.index(NOTES)
    assert lines[-2:] == [NOTES, ""]


def test_settings_the_runs_do_not_share_are_given_per_run(run_1000):
    other = run_5000(run_1000)
    other["settings"]["rate"] = 25.0
    other["channel_layer"].update(capacity=1000, set_in_settings=["capacity"])

    lines = report.sockets_section([run_1000, other], NOTES)

    assert "at 50/s / 25/s (at 1,000 / 5,000 sockets) to people" in lines[2]
    layer = next(line for line in lines if line.startswith("The servers' channel layer"))
    assert "at 1,000 sockets, `channels_redis" in layer
    assert "at 5,000 sockets, `channels_redis" in layer
    assert "capacity 1,000 messages per channel" in layer
    assert "(capacity set in the settings, the rest the backend's defaults)" in layer


def test_one_socket_per_person_is_not_said_to_be_on_both_servers(run_1000):
    run_1000["placement"].update(sockets_per_user=1, users_on_both_servers=0)

    assert "to people holding sockets (the sends" in report.sockets_section([run_1000], "")[2]


def test_without_a_published_run_the_notes_are_the_section(run_1000):
    assert report.sockets_section([], f"\n{NOTES}\n") == ["## Sockets", "", NOTES, ""]


def test_the_latest_runs_are_read_and_sorted_by_sockets_not_by_name(tmp_path, run_1000):
    small = copy.deepcopy(run_1000)
    small["settings"]["sockets"] = 500
    (tmp_path / "ws-1000-latest.json").write_text(json.dumps(run_1000))
    (tmp_path / "ws-500-latest.json").write_text(json.dumps(small))
    (tmp_path / "ws-1000-20261206T100500Z.json").write_text(json.dumps(run_1000))
    (tmp_path / "mixed-latest.json").write_text("{}")

    runs = report.socket_runs(tmp_path)

    assert [run["settings"]["sockets"] for run in runs] == [500, 1000]


def test_the_document_renders_the_published_socket_runs(tmp_path, monkeypatch, run_1000):
    notes = tmp_path / "sockets.md"
    notes.write_text(NOTES + "\n")
    monkeypatch.setattr(report, "SOCKETS", notes)
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    empty = report.markdown({"small": bench_document()})
    (tmp_path / "ws-1000-latest.json").write_text(json.dumps(run_1000))

    published = report.markdown({"small": bench_document()})

    assert f"## Sockets\n\n{NOTES}\n" in empty and ROW_1000 not in empty
    section = published.split("## Sockets")[1].split("\n## ")[0]
    assert ROW_1000 in section and section.rstrip().endswith(NOTES)
