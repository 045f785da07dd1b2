"""The tables `make bench` writes into docs/benchmarks.md and the README."""

from __future__ import annotations

import copy

import pytest

from bench import report


def measurement(rps: float, **extra) -> dict:
    return {
        "best_rps": rps,
        "runs_rps": [rps * 0.98, rps, rps * 0.99],
        "spread": {"min": rps * 0.98, "max": rps, "pct": 2.0},
        "p50_ms": 12.5,
        "p99_ms": 30.25,
        "wrk_cpu_cores": [0.1, 0.12, 0.11],
        "server_cpu_cores": [1.8, 1.9, 1.85],
        "other_cpu_cores": [0.02, 0.03, 0.01],
        "non_2xx": 0,
        "socket_errors": 0,
        **extra,
    }


def document(reasons: list[str] | None = None) -> dict:
    ceiling = {
        "bare": measurement(1000, x_ceiling=1.0, p50_one_ms=1.7, p50_queued_over_one=1.05),
        "product": measurement(720, x_ceiling=0.72, p50_one_ms=2.4),
    }
    return {
        "run_id": "20261206T100000Z",
        "date": "2026-12-06T10:00:00+00:00",
        "preset": "small",
        "duration_min": 9.5,
        "machine": {
            "cpus": "2",
            "python": "3.11.7",
            "django": "5.2",
            "gunicorn": "23.0.0",
            "uvicorn": "0.54.0",
            "wrk": "wrk 4.1.0",
        },
        "load_average": {"before": [0.2, 0.3, 0.4], "after": [1.9, 1.0, 0.6]},
        "load": {
            "duration_s": 10,
            "warmup_s": 3,
            "runs": 3,
            "connections": 16,
            "threads": 2,
            "workers": 2,
            "database_env": {"gunicorn": {"DB_CONN_MAX_AGE": "60"}},
        },
        "rules": {"max_p50_queued_over_one": 3.0, "max_loadgen_cores": 0.5, "max_other_cores": 0.5},
        "dataset": {
            "users": 500,
            "messages": 10000,
            "unread": 2000,
            "replies": 3000,
            "edited": 100,
            "conversations": 4000,
            "load_s": 1.2,
            "heavy": {
                "username": "heavy",
                "partners": 100,
                "messages": 1035,
                "top_partner_messages": 200,
                "thread_size": 50,
            },
        },
        "inprocess": {
            "inbox_api": {
                "queries_cold": 3,
                "queries_warm": 2,
                "split": {"database_ms": 1.25, "template_ms": 0.0, "python_ms": 6.5},
            },
            "inbox_page": {
                "queries_cold": 4,
                "queries_warm": 4,
                "split": {"database_ms": 2.0, "template_ms": 8.04, "python_ms": 5.0},
            },
        },
        "ceiling": {"shape": "gunicorn", "rps": 1000},
        "shapes": {
            "gunicorn": {
                "ceiling": ceiling,
                "workloads": {
                    "inbox_api": measurement(450, x_ceiling=0.45),
                    "inbox_page": measurement(300, x_ceiling=0.3, non_2xx=4),
                },
                "server": "python -m gunicorn config.wsgi:application",
            }
        },
        "verdict": {"published": not reasons, "reasons": reasons or []},
    }


def rows(table: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]
    ]


def test_the_workload_table_puts_the_ceiling_first_then_each_workload_with_its_ratio():
    table = rows(report.workload_table(document()))

    assert table[0][:3] == ["**bare Django ceiling**", "-", "gunicorn"]
    assert table[0][4] == "1,000" and table[0][6] == "1.00"
    assert table[1] == [
        "inbox",
        "api",
        "gunicorn",
        "3 → 2",
        "450",
        "2.0%",
        "0.45",
        "12.50",
        "30.25",
        "1.2 / 0.0 / 6.5",
    ]
    assert table[2][3] == "4"  # the same count cold and warm is written once
    assert table[2][4] == "300 (4 non-2xx!)"
    assert table[2][9] == "2.0 / 8.0 / 5.0"


def test_a_workload_without_in_process_figures_shows_dashes():
    doc = document()
    del doc["inprocess"]["inbox_page"]

    assert rows(report.workload_table(doc))[2][3] == "-"
    assert rows(report.workload_table(doc))[2][9] == "-"


def test_the_ruler_table_names_each_stack_and_the_queued_latency_ratio():
    table = rows(report.ruler_table(document()))

    assert table[0][:5] == ["bare Django", "gunicorn", "1,000", "2.0%", "1.00"]
    assert table[0][8] == "1.05"
    assert table[1][0] == "the product's middleware" and table[1][8] == "-"


def test_the_document_says_whether_the_run_was_published():
    published = report.markdown({"small": document()})
    refused = report.markdown({"small": document(["gunicorn/bare: starved"])})

    assert "Published: every refusal rule passed." in published
    assert (
        "## Small dataset" in published
        and "starved ceiling" not in published.split("## History")[0]
    )
    assert "Refused:\n- gunicorn/bare: starved" in refused
    assert "(benchmarks-small.png)" in published


def test_the_readme_block_replaces_only_what_is_between_its_markers():
    text = f"intro\n{report.README_START}\nold table\n{report.README_END}\noutro\n"

    new = report.replace_block(text, report.readme_block({"small": document()}))

    assert new.startswith("intro\n" + report.README_START)
    assert new.endswith(report.README_END + "\noutro\n")
    assert "old table" not in new and "| inbox | api | gunicorn |" in new


def test_a_readme_without_markers_gets_a_section_at_the_end():
    new = report.replace_block("intro\n", "BLOCK")

    assert new == "intro\n\n## Benchmarks\n\nBLOCK\n"


def test_the_plot_draws_one_bar_per_workload_and_shape(tmp_path):
    pytest.importorskip("matplotlib")
    doc = document()
    doc["shapes"]["uvicorn"] = copy.deepcopy(doc["shapes"]["gunicorn"])
    path = tmp_path / "plot.png"

    report.plot(doc, path)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_group_workloads_appear_in_the_table_with_their_queries_and_the_dataset_line():
    doc = document()
    doc["dataset"].update(groups=4, group_messages=2070, memberships=147)
    doc["dataset"]["heavy"].update(
        group=1, group_name="Everyone", group_members=100, group_messages=2000, group_unread=40
    )
    for key, queries in (("group_send_api", (7, 6)), ("group_read_api", (9, 3))):
        doc["inprocess"][key] = {
            "queries_cold": queries[0],
            "queries_warm": queries[1],
            "split": {"database_ms": 1.0, "template_ms": 0.0, "python_ms": 2.0},
        }
        doc["shapes"]["gunicorn"]["workloads"][key] = measurement(200, x_ceiling=0.2)

    table = rows(report.workload_table(doc))

    assert table[3][:4] == ["send to a 100-person group", "api", "gunicorn", "7 → 6"]
    assert table[4][:4] == [
        "mark 100-person group read (nothing unread)",
        "api",
        "gunicorn",
        "9 → 3",
    ]
    line = report._dataset_line(doc)
    assert "2,070 group messages in 4 groups" in line
    assert "`Everyone`: 100 people, 2,000 messages, 40 of them unread to heavy" in line


def test_a_dataset_from_before_groups_says_nothing_of_them():
    assert "group" not in report._dataset_line(document())
