"""The ruler's reading of wrk and its rules for refusing a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import harness, ruler

CAPTURED = Path(__file__).parent / "wrk_output"


def captured(name: str) -> str:
    return (CAPTURED / name).read_text()


def test_parse_reads_a_loaded_run_as_wrk_printed_it():
    result = ruler.parse_wrk(captured("gunicorn_c16.txt"))

    assert result["rps"] == 712.10
    assert result["p50_ms"] == 22.38
    assert result["p75_ms"] == 22.85
    assert result["p90_ms"] == 23.62
    assert result["p99_ms"] == 27.32
    assert result["requests"] == 5700
    assert result["elapsed_s"] == 8.0
    assert result["non_2xx"] == 0
    assert result["socket_errors"] == {}


def test_parse_reads_a_single_connection_run():
    result = ruler.parse_wrk(captured("gunicorn_c1.txt"))

    assert (result["rps"], result["p50_ms"], result["p99_ms"]) == (678.84, 1.37, 2.75)
    assert result["requests"] == 5435


def test_parse_reads_latencies_of_hundreds_of_milliseconds():
    result = ruler.parse_wrk(captured("gunicorn_1worker_c64.txt"))

    assert (result["p50_ms"], result["p99_ms"], result["rps"]) == (245.9, 360.07, 275.56)


def test_parse_counts_answers_that_were_not_2xx():
    result = ruler.parse_wrk(captured("no_session_401.txt"))

    assert result["non_2xx"] == 1509 == result["requests"]


def test_parse_refuses_output_without_a_result():
    with pytest.raises(ValueError, match="no rps"):
        ruler.parse_wrk(captured("refused_port.txt"))


def test_parse_reads_socket_errors():
    output = captured("gunicorn_c16.txt").replace(
        "Requests/sec:", "  Socket errors: connect 0, read 3, write 1, timeout 2\nRequests/sec:"
    )

    assert ruler.parse_wrk(output)["socket_errors"] == {
        "connect": 0,
        "read": 3,
        "write": 1,
        "timeout": 2,
    }


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.50us", 0.8125), ("12.41ms", 12.41), ("1.20s", 1200.0), ("2.00m", 120_000.0)],
)
def test_duration_units_are_read_in_milliseconds(text, ms):
    assert ruler.duration_ms(text) == pytest.approx(ms)


def test_duration_refuses_what_wrk_does_not_print():
    with pytest.raises(ValueError):
        ruler.duration_ms("12 ms")


# The refusal rules -----------------------------------------------------------------


def test_queued_ratio_takes_out_the_wait_a_closed_loop_always_has():
    # 16 connections on 2 busy workers: each request waits for about 8 services.
    assert ruler.queued_p50_ratio(12.0, 1.0, connections=16, workers=2) == pytest.approx(1.5)
    # No queue when there are no more connections than workers.
    assert ruler.queued_p50_ratio(3.0, 1.0, connections=1, workers=2) == pytest.approx(3.0)


def test_an_unstarved_ceiling_is_published():
    # Bare Django under gunicorn, 2 sync workers on 2 quiet cores: ~1,250 req/s, p50 ~12 ms.
    assert ruler.ceiling_latency_refusal("gunicorn/bare", 12.0, 1.0, 16, 2) is None


def test_a_starved_ceiling_is_refused():
    # The ceiling that served 77 req/s at a 196 ms p50, where one request takes ~2.8 ms.
    reason = ruler.ceiling_latency_refusal("uvicorn/bare", 196.46, 2.8, 16, 2)

    assert reason is not None
    assert reason.startswith("uvicorn/bare: ")
    assert "8.8x" in reason
    assert "starved" in reason


def test_the_latency_rule_allows_exactly_three_times():
    assert ruler.ceiling_latency_refusal("s", 24.0, 1.0, 16, 2) is None
    assert ruler.ceiling_latency_refusal("s", 24.1, 1.0, 16, 2) is not None


def test_a_load_generator_over_half_a_core_is_refused():
    assert ruler.loadgen_refusal("s", 0.5) is None
    reason = ruler.loadgen_refusal("s", 0.51)
    assert reason is not None
    assert "0.51 of a core" in reason


def test_other_work_over_half_a_core_is_refused():
    assert ruler.other_work_refusal("s", 0.2) is None
    reason = ruler.other_work_refusal("s", 1.7)
    assert reason is not None
    assert "not quiet" in reason


def test_failed_answers_are_refused():
    assert ruler.failure_refusal("s", 0, 0) is None
    assert "3 answers were not 2xx" in ruler.failure_refusal("s", 3, 0)
    assert "2 socket errors" in ruler.failure_refusal("s", 0, 2)


def measurement(**overrides):
    base = {
        "p50_ms": 12.0,
        "p50_one_ms": 1.0,
        "wrk_cpu_cores": [0.1, 0.12, 0.11, 0.02],
        "other_cpu_cores": [0.05, 0.04, 0.06, 0.03],
        "non_2xx": 0,
        "socket_errors": 0,
    }
    return {**base, **overrides}


def test_a_clean_run_has_no_reason_to_refuse():
    results = {shape: {"bare": measurement(), "product": measurement()} for shape in ruler.SHAPES}

    assert ruler.refusals(results, connections=16, workers=2) == []


def test_every_reason_is_named_with_its_shape_and_stack():
    results = {
        "uvicorn": {
            "bare": measurement(p50_ms=60.0),
            "product": measurement(wrk_cpu_cores=[0.1, 0.7, 0.1, 0.0]),
        },
        "gunicorn": {
            "bare": measurement(other_cpu_cores=[1.6, 1.7, 1.5, 1.8]),
            "product": measurement(non_2xx=12),
        },
    }

    reasons = ruler.refusals(results, connections=16, workers=2)

    assert [reason.split(":", 1)[0] for reason in reasons] == [
        "uvicorn/bare",
        "uvicorn/product",
        "gunicorn/bare",
        "gunicorn/product",
    ]


def test_the_latency_rule_judges_the_bare_ceiling_only():
    results = {"uvicorn": {"bare": measurement(), "product": measurement(p50_ms=80.0)}}

    assert ruler.refusals(results, connections=16, workers=2) == []


# Summaries -------------------------------------------------------------------------


def wrk_run(rps, p50, p99=30.0, wrk_cpu=0.1, other=0.0):
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": 0,
        "socket_errors": {},
        "wrk_cpu_cores": wrk_cpu,
        "server_cpu_cores": 1.8,
        "other_cpu_cores": other,
    }


def test_the_best_run_is_reported_with_the_spread_of_all_three():
    runs = [wrk_run(1200.0, 13.0), wrk_run(1250.0, 12.5, p99=20.0), wrk_run(1000.0, 16.0)]
    summary = ruler.summarise(runs, wrk_run(900.0, 1.1, wrk_cpu=0.03))

    assert summary["best_rps"] == 1250.0
    assert (summary["p50_ms"], summary["p99_ms"]) == (12.5, 20.0)
    assert summary["p50_one_ms"] == 1.1
    assert summary["spread"] == {"min": 1000.0, "max": 1250.0, "pct": 20.0}
    assert summary["runs_rps"] == [1200.0, 1250.0, 1000.0]
    assert summary["wrk_cpu_cores"] == [0.1, 0.1, 0.1, 0.03]


def test_ratios_divide_by_the_fastest_bare_shape():
    results = {
        "uvicorn": {"bare": {"best_rps": 500.0}, "product": {"best_rps": 250.0}},
        "gunicorn": {"bare": {"best_rps": 1250.0}, "product": {"best_rps": 500.0}},
    }

    found = ruler.ratios(results)

    assert found["ceiling"] == {"shape": "gunicorn", "rps": 1250.0}
    assert found["ratios"]["uvicorn"] == {
        "bare_to_ceiling": 0.4,
        "product_to_ceiling": 0.2,
        "product_to_same_shape_bare": 0.5,
    }
    assert found["ratios"]["gunicorn"]["product_to_same_shape_bare"] == 0.4


def test_server_commands_name_the_shape_and_its_workers():
    bare = ruler.STACKS[0]

    uvicorn = harness.server_command("uvicorn", bare, 8123, 2)
    gunicorn = harness.server_command("gunicorn", bare, 8123, 2)

    assert uvicorn[1:4] == ["-m", "uvicorn", "bench.ceiling.asgi:application"]
    assert uvicorn[uvicorn.index("--workers") + 1] == "2"
    assert gunicorn[1:4] == ["-m", "gunicorn", "bench.ceiling.wsgi:application"]
    assert gunicorn[gunicorn.index("--worker-class") + 1] == "sync"
    assert gunicorn[gunicorn.index("--bind") + 1] == "127.0.0.1:8123"


def test_a_process_cpu_time_is_read_from_proc():
    assert ruler.process_cpu_seconds(1 << 30) is None
    import os

    assert ruler.process_cpu_seconds(os.getpid()) > 0
