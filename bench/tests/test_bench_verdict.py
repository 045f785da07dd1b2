"""A run that the ruler refuses is not published, and says why."""

from __future__ import annotations

import json

from bench import run
from bench.tests.test_bench_report import document, measurement


def shapes(**workloads) -> dict:
    doc = document()
    measured = doc["shapes"]["gunicorn"]
    if workloads:
        measured["workloads"] = workloads
    else:
        measured["workloads"]["inbox_page"]["non_2xx"] = 0
    return doc["shapes"]


def test_a_clean_run_has_no_reason_to_refuse():
    assert run.verdict(shapes(), connections=16, workers=2) == []


def test_a_starved_ceiling_refuses_the_whole_run():
    measured = shapes()
    measured["gunicorn"]["ceiling"]["bare"]["p50_ms"] = 60.0  # 7.5 ms per queued, 1.7 at one

    reasons = run.verdict(measured, connections=16, workers=2)

    assert len(reasons) == 1 and reasons[0].startswith("gunicorn/bare:")
    assert "starved of CPU" in reasons[0]


def test_other_work_during_a_workload_refuses_and_names_it():
    measured = shapes(send_page=measurement(100, other_cpu_cores=[0.1, 0.9, 0.2]))

    reasons = run.verdict(measured, connections=16, workers=2)

    assert reasons == [
        "gunicorn/send_page: other work on the machine used 0.90 of a core during the run, "
        "over 0.5: the machine was not quiet"
    ]


def test_a_busy_load_generator_and_failed_answers_during_a_workload_refuse():
    measured = shapes(
        inbox_api=measurement(100, wrk_cpu_cores=[0.7, 0.2, 0.2], non_2xx=3, socket_errors=1)
    )

    reasons = run.verdict(measured, connections=16, workers=2)

    assert [reason.split(":")[0] for reason in reasons] == ["gunicorn/inbox_api"] * 2
    assert "load generator used 0.70" in reasons[0]
    assert "3 answers were not 2xx and 1 socket errors" in reasons[1]


def test_a_refused_run_exits_2_with_its_reasons_and_publishes_nothing(
    tmp_path, capsys, monkeypatch
):
    rendered = []
    monkeypatch.setattr(run.report, "write_all", lambda: rendered.append(True))
    doc = document(["gunicorn/bare: the server was starved of CPU"])

    code = run.publish(doc, tmp_path, docs=True)

    assert code == 2
    err = capsys.readouterr().err
    assert "REFUSED: not published" in err
    assert "  - gunicorn/bare: the server was starved of CPU" in err
    assert [p.name for p in tmp_path.iterdir()] == ["bench-small-20261206T100000Z.json"]
    assert rendered == []


def test_a_published_run_becomes_the_latest_and_renders_the_documents(tmp_path, monkeypatch):
    rendered = []
    monkeypatch.setattr(run.report, "write_all", lambda: rendered.append(True))

    code = run.publish(document(), tmp_path, docs=True)

    assert code == 0
    latest = json.loads((tmp_path / "bench-small-latest.json").read_text())
    assert latest["run_id"] == "20261206T100000Z"
    assert rendered == [True]


def test_the_database_backends_of_the_served_stack_are_found_by_their_title():
    title = "postgres: 15/main: postgres messaging_bench_small_x 127.0.0.1(53358) idle  "

    assert run.ruler.backend_database(title) == "messaging_bench_small_x"
    assert run.ruler.backend_database("postgres: app shop [local] SELECT") == "shop"
    assert run.ruler.backend_database("postgres: 15/main: checkpointer ") is None
    assert run.ruler.backend_database("postgres: 15/main: logical replication launcher ") is None
    assert run.ruler.backend_database("/usr/lib/postgresql/15/bin/postgres -D /x") is None


def test_the_postmaster_is_recognised_by_its_title():
    assert run.ruler.is_postmaster("/usr/lib/postgresql/15/bin/postgres -D /var/lib/x -c a=b")
    assert not run.ruler.is_postmaster("postgres: 15/main: parallel worker for PID 1234 ")
    assert not run.ruler.is_postmaster("postgres: postgres bench 127.0.0.1(5000) idle")
