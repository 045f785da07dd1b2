"""In-process measurements through Django's test Client, against the benchmark database.

    python -m bench.inprocess queries --manifest FILE --out FILE
    python -m bench.inprocess profile --manifest FILE --workload inbox [--requests 200] [--out F]

`queries` counts the SQL queries of each workload's request (cold: the first one in a
fresh cache namespace; warm: the same request again, as wrk repeats it), times each
SELECT of the cold request with EXPLAIN ANALYZE, and times 40 warm requests made one
after another (latency without queueing, wall and CPU). It also mints an access token for the
heavy user with simplejwt (same SECRET_KEY as the server). `profile` runs a workload's
warm request many times under pyinstrument and writes the text report.

Runs with `DJANGO_SETTINGS_MODULE=bench.settings` and the DATABASE_URL, REDIS_URL and
CACHE_KEY_PREFIX that `bench.run` sets (or that you set by hand).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from .workloads import BY_KEY, WORKLOADS, Workload  # noqa: E402

_counter = itertools.count(1)
#: Warm requests timed one after another (in-process, no concurrency) per workload.
SINGLE_CLIENT_REQUESTS = 40


def _client(token: str) -> Client:
    # Behind the TLS proxy production runs behind: the proxy's header, no redirect.
    return Client(headers={"authorization": f"Bearer {token}", "x-forwarded-proto": "https"})


def _request(client: Client, workload: Workload, heavy: dict[str, Any]):
    path = workload.url_path(heavy)
    if workload.script == "nocache.lua":
        path += f"?bench_nocache=q-{next(_counter)}"
    if workload.method == "POST":
        partner = heavy["partner_usernames"][next(_counter) % 50]
        body = {"receiver": partner, "content": f"in-process benchmark message {next(_counter)}"}
        return client.post(path, data=json.dumps(body), content_type="application/json")
    return client.get(path)


def _explain_ms(sql: str) -> float | None:
    """Execution time PostgreSQL reports for one captured SELECT."""
    if connection.vendor != "postgresql" or not sql.lstrip().upper().startswith("SELECT"):
        return None
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return round(plan[0]["Execution Time"], 3)


def _shape(sql: str) -> str:
    """A query without its literal values, to compare shapes across dataset sizes."""
    return re.sub(r"\b\d+\b|'[^']*'", "?", sql)[:400]


def token_for(username: str) -> str:
    return str(AccessToken.for_user(get_user_model().objects.get(username=username)))


def queries(manifest: dict[str, Any]) -> dict[str, Any]:
    heavy = manifest["heavy"]
    token = token_for(heavy["username"])
    client = _client(token)
    results: dict[str, Any] = {}
    for workload in WORKLOADS:
        entry: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = _request(client, workload, heavy)
                elapsed = time.perf_counter() - started
            entry[phase] = {
                "status": response.status_code,
                "queries": len(captured.captured_queries),
                "ms": round(elapsed * 1000, 2),
                "bytes": len(response.content),
                "sql": [_shape(q["sql"]) for q in captured.captured_queries],
            }
            if phase == "cold":
                timings = [_explain_ms(q["sql"]) for q in captured.captured_queries]
                entry[phase]["sql_ms"] = timings
                entry[phase]["db_ms"] = round(sum(t for t in timings if t is not None), 3)
        # One client, no concurrency: the request's own latency, without queueing.
        wall, cpu = [], []
        for _ in range(SINGLE_CLIENT_REQUESTS):
            started, started_cpu = time.perf_counter(), time.process_time()
            _request(client, workload, heavy)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        entry["single_client"] = {
            "requests": SINGLE_CLIENT_REQUESTS,
            "p50_ms": round(statistics.median(wall), 3),
            "cpu_p50_ms": round(statistics.median(cpu), 3),
        }
        results[workload.key] = entry
    return {"token": token, "workloads": results}


def profile(manifest: dict[str, Any], key: str, requests: int) -> str:
    from pyinstrument import Profiler

    heavy = manifest["heavy"]
    client = _client(token_for(heavy["username"]))
    workload = BY_KEY[key]
    _request(client, workload, heavy)  # the cold request is not what wrk repeats
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for _ in range(requests):
            _request(client, workload, heavy)
    per_request = (time.perf_counter() - started) / requests * 1000
    header = f"# {workload.label}: {requests} warm requests, {per_request:.2f} ms each in-process\n"
    return header + profiler.output_text(unicode=True, color=False, show_all=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("queries")
    q.add_argument("--manifest", type=Path, required=True)
    q.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("profile")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--workload", choices=sorted(BY_KEY), required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    if args.command == "queries":
        args.out.write_text(json.dumps(queries(manifest), indent=2) + "\n")
    else:
        text = profile(manifest, args.workload, args.requests)
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
