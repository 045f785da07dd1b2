"""`make bench`: every workload against the bare Django ceiling, measured in the same run.

    python -m bench.run [--preset small|large] [--shapes gunicorn[,uvicorn]]
                        [--duration 10] [--warmup 3] [--connections 16] [--workers 2]

1. A PostgreSQL database of the run's own, migrated and filled by `bench.dataset`
   (which checks its rows through the product's selectors), `--manifest` saying who
   the heaviest user is.
2. In-process (`bench.inprocess`): that user's JWT, session and CSRF cookie, minted
   with the product's code; each workload's queries per request, cold and warm, and
   its time split (database, templates, Python) sampled by pyinstrument.
3. Per server shape (`gunicorn` by default, production's; `uvicorn` on request), one
   server at a time with `--workers` workers: the ruler's bare ceiling and the
   product's stack on it (`bench.ruler`), then the product itself (`bench.settings`:
   production's settings on loopback, Redis database 9 under a key prefix of the run's
   own, the shape's database connections as docs/deploy.md sets them). wrk measures
   each workload as the heaviest user: a warm-up, then the best of three runs.
4. The verdict: the ruler's refusal rules over the ceiling, and its load-generator,
   other-work and failed-answer rules over every workload run.

Writes bench/results/bench-<preset>-<run>.json either way. When the verdict publishes:
bench/results/bench-<preset>-latest.json, docs/benchmarks.md, docs/benchmarks-<preset>.png
and the README's table; when it refuses: exit status 2, the reasons on standard error.
Every process started here is stopped before it returns; the run's database is dropped
(`--keep` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import report, ruler
from .harness import PG_URL, Http, Stack, own_database, run_checked, server_env
from .workloads import WORKLOADS, Workload, check_body, request_headers, script_env

ROOT = ruler.ROOT
RESULTS_DIR = ruler.RESULTS_DIR
WORK_DIR = ROOT / "var" / "bench"
REDIS_URL = "redis://127.0.0.1:6379/9"
PRESETS = ("small", "large")
DEFAULT_SHAPES = ("gunicorn",)
#: The ruler's stacks (bare Django, the product's middleware) live in these databases.
CEILING_DATABASE = "messaging_bench_ceiling"
#: How each shape connects to PostgreSQL in production (docs/deploy.md).
SHAPE_DATABASE_ENV = ruler.SHAPE_DATABASE_ENV
PRODUCT = Stack("workloads", "bench.settings", "config.asgi:application", "config.wsgi:application")
RUNS = ruler.RUNS
#: What the results keep of the dataset's manifest (besides heavy's entry).
DATASET_KEYS = (
    *("users", "messages", "unread", "replies", "edited", "conversations"),
    *("groups", "group_messages", "memberships"),
)


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# The database and the steps before the load -------------------------------------


def run_step(name: str, args: list[str], env: dict[str, str], timeout: float, logfile: Path):
    """`python <args>` with a time limit, its output in `logfile`; a failure stops the run."""
    log(f"{name}: python {' '.join(args)}")
    run_checked([sys.executable, *args], env=env, timeout=timeout, logfile=logfile)


def wait_for_quiet(limit: float, timeout: float) -> list[float]:
    """Wait up to `timeout` s for a 1-minute load average under `limit` (the ruler refuses
    a run that other work shared anyway; waiting first saves a refused run)."""
    deadline = time.monotonic() + timeout
    load = ruler.load_average()
    if load[0] >= limit and timeout > 0:
        log(f"load average {load[0]:.2f}: waiting up to {timeout:.0f} s for < {limit}")
        while load[0] >= limit and time.monotonic() < deadline:
            time.sleep(5)
            load = ruler.load_average()
    return load


# Load ---------------------------------------------------------------------------


def measure_workload(
    server: ruler.Server,
    workload: Workload,
    heavy: dict[str, Any],
    creds: dict[str, str],
    args: argparse.Namespace,
    database: str,
) -> dict[str, Any]:
    path = workload.url_path(heavy)
    headers = request_headers(workload, creds, server.port)
    # One request as wrk will send it (a send's or an edit's body included) before the load.
    body = check_body(workload, heavy, f"benchmark check {time.time_ns()}")
    answer = Http(server.port).call(workload.method, path, body=body, headers=headers)
    if not 0 < answer.status < 400:
        raise RuntimeError(
            f"{workload.key}: {workload.method} {path} answered {answer.status or answer.error}: "
            f"{answer.body[:300]!r}"
        )
    measured = ruler.measure(
        server,
        args,
        [database],
        one_connection=False,
        path=path,
        headers=headers,
        script=workload.script_path(),
        env={**os.environ, **script_env(workload, heavy)},
    )
    measured["check_status"] = answer.status
    log(
        f"  {workload.key:<27} {measured['best_rps']:8.1f} req/s "
        f"(spread {measured['spread']['pct']:4.1f}%)  p50 {measured['p50_ms']:7.2f} ms  "
        f"p99 {measured['p99_ms']:7.2f} ms  non-2xx {measured['non_2xx']}  "
        f"CPU server {max(measured['server_cpu_cores']):.2f} "
        f"database {max(measured['database_cpu_cores']):.2f} "
        f"wrk {max(measured['wrk_cpu_cores']):.2f} other {max(measured['other_cpu_cores']):.2f}"
    )
    return measured


def measure_ceiling(shape: str, args: argparse.Namespace, logfile: Path) -> dict[str, Any]:
    """The ruler's two stacks under `shape`: {stack: measurement}, as `ruler.refusals` reads."""
    urls = ruler.database_urls(CEILING_DATABASE)
    measured = {}
    for stack in ruler.STACKS:
        # The ceiling's stacks connect as the product does under the same shape.
        env = ruler.stack_env(stack, urls[stack.name], shape)
        cookie = ruler.prepare(stack, env, logfile)
        database = urls[stack.name].rsplit("/", 1)[1]
        measured[stack.name], _ = ruler.measure_stack(
            shape, stack, env, cookie, args, logfile, [database]
        )
    return measured


def measure_shape(
    shape: str,
    manifest: dict[str, Any],
    creds: dict[str, str],
    env: dict[str, str],
    args: argparse.Namespace,
    logfile: Path,
    database: str,
) -> dict[str, Any]:
    ceiling = measure_ceiling(shape, args, logfile)
    log(f"{shape}/product: {args.workers} workers, {len(WORKLOADS)} workloads")
    workloads = {}
    shape_env = {**env, **SHAPE_DATABASE_ENV[shape]}
    with ruler.Server(shape, PRODUCT, args.workers, shape_env, logfile) as server:
        server.wait_ready()
        for workload in WORKLOADS:
            log(f"  {workload.key}")
            workloads[workload.key] = measure_workload(
                server, workload, manifest["heavy"], creds, args, database
            )
        command = ruler.command_line(server.cmd)
    return {"ceiling": ceiling, "workloads": workloads, "server": command}


# The verdict --------------------------------------------------------------------


def verdict(shapes: dict[str, dict[str, Any]], *, connections: int, workers: int) -> list[str]:
    """Every reason not to publish: the ruler's over its ceiling stacks, and its
    load-generator, other-work and failure rules over every workload run; [] to publish."""
    reasons = ruler.refusals(
        {shape: measured["ceiling"] for shape, measured in shapes.items()},
        connections=connections,
        workers=workers,
    )
    for shape, measured in shapes.items():
        for key, m in measured["workloads"].items():
            label = f"{shape}/{key}"
            reasons += [
                reason
                for reason in (
                    ruler.loadgen_refusal(label, max(m["wrk_cpu_cores"])),
                    ruler.other_work_refusal(label, max(m["other_cpu_cores"])),
                    ruler.failure_refusal(label, m["non_2xx"], m["socket_errors"]),
                )
                if reason
            ]
    return reasons


def ratios(shapes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's ceiling (the fastest shape's bare Django) and every workload over it."""
    ceiling_shape = max(shapes, key=lambda s: shapes[s]["ceiling"]["bare"]["best_rps"])
    ceiling = shapes[ceiling_shape]["ceiling"]["bare"]["best_rps"]
    for measured in shapes.values():
        bare = measured["ceiling"]["bare"]["best_rps"]
        for m in [*measured["ceiling"].values(), *measured["workloads"].values()]:
            m["x_ceiling"] = round(m["best_rps"] / ceiling, 3)
            m["x_shape_bare"] = round(m["best_rps"] / bare, 3)
    return {"shape": ceiling_shape, "rps": ceiling}


# The run ------------------------------------------------------------------------


def preflight() -> list[str]:
    problems = []
    if shutil.which("wrk") is None:
        problems.append("wrk is not installed (apt-get install wrk)")
    try:
        import psycopg

        psycopg.connect(f"{PG_URL}/postgres", connect_timeout=5).close()
    except Exception as error:
        problems.append(f"PostgreSQL does not answer at {PG_URL}: {error}")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as error:
        problems.append(f"Redis does not answer at {REDIS_URL}: {error}")
    return problems


def cleanup_redis(*prefixes: str) -> None:
    """Delete this run's keys (its prefixes only: the Redis database may be shared)."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    except Exception as error:  # a leftover cache entry must not fail the benchmark
        log(f"redis cleanup skipped: {error}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=PRESETS, default="small")
    shapes = f"comma-separated, of {','.join(ruler.SHAPES)} (default: production's, gunicorn)"
    ruler.load_arguments(parser, DEFAULT_SHAPES, shapes)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile-requests", type=int, default=30, help="in-process, per workload")
    parser.add_argument("--quiet-load", type=float, default=1.0)
    parser.add_argument(
        "--quiet-timeout", type=float, default=120, help="seconds to wait for a quiet machine"
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's database")
    parser.add_argument(
        "--no-docs", action="store_true", help="write bench/results only, even when published"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if problems := preflight():
        print("bench: cannot start:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    work = WORK_DIR / run_id
    work.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    logfile = work / "log.txt"
    database = f"messaging_bench_{args.preset}_{run_id.lower()}"
    key_prefix = f"bench-{run_id}"
    manifest_path = work / "manifest.json"
    log(f"run {run_id}, preset {args.preset}, shapes {','.join(args.shapes)}; log {logfile}")

    shapes: dict[str, dict[str, Any]] = {}
    with own_database(database, keep=args.keep) as database_url:
        env = server_env(
            database_url=database_url, redis_url=REDIS_URL, key_prefix=key_prefix, pool=0
        )
        manifest_arg = ["--manifest", str(manifest_path)]
        creds_path, inprocess_path = work / "credentials.json", work / "inprocess.json"
        try:
            run_step("migrate", ["manage.py", "migrate", "--no-input", "-v0"], env, 600, logfile)
            load_started = time.monotonic()
            dataset = ["-m", "bench.dataset", "--preset", args.preset, "--seed", str(args.seed)]
            run_step("dataset", [*dataset, *manifest_arg], env, 4 * 3600, logfile)
            load_s = round(time.monotonic() - load_started, 1)
            static = ["manage.py", "collectstatic", "--no-input", "-v0"]
            run_step("collectstatic", static, env, 300, logfile)
            inprocess = ["-m", "bench.inprocess", "credentials", *manifest_arg]
            run_step("credentials", [*inprocess, "--out", str(creds_path)], env, 120, logfile)
            # The split is sampled wall time: measured on a quiet machine, like the load.
            wait_for_quiet(args.quiet_load, args.quiet_timeout)
            inprocess = ["-m", "bench.inprocess", "measure", *manifest_arg]
            inprocess += ["--out", str(inprocess_path)]
            inprocess += ["--profile-requests", str(args.profile_requests)]
            inprocess_env = dict(env, CACHE_KEY_PREFIX=f"{key_prefix}-inprocess")
            run_step("queries and time split", inprocess, inprocess_env, 1800, logfile)
            manifest = json.loads(manifest_path.read_text())
            creds = json.loads(creds_path.read_text())
            load_before = wait_for_quiet(args.quiet_load, args.quiet_timeout)
            for shape in args.shapes:
                shapes[shape] = measure_shape(shape, manifest, creds, env, args, logfile, database)
            load_after = ruler.load_average()
        finally:
            cleanup_redis(key_prefix, f"{key_prefix}-inprocess")

    reasons = verdict(shapes, connections=args.connections, workers=args.workers)
    document = {
        "run_id": run_id,
        "date": started.isoformat(timespec="seconds"),
        "preset": args.preset,
        "duration_min": round((datetime.now(UTC) - started).total_seconds() / 60, 1),
        "machine": ruler.versions(),
        "load_average": {"before": load_before, "after": load_after},
        "load": {
            "tool": "wrk --latency",
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": RUNS,
            "connections": args.connections,
            "threads": args.threads,
            "workers": args.workers,
            "settings": "bench.settings (config.settings.production on loopback)",
            "database_env": {shape: SHAPE_DATABASE_ENV[shape] for shape in args.shapes},
            "ceiling_database": CEILING_DATABASE,
        },
        "rules": ruler.RULES,
        "dataset": {
            **{k: manifest[k] for k in DATASET_KEYS},
            "heavy": {k: v for k, v in manifest["heavy"].items() if k != "partner_usernames"},
            "load_s": load_s,
        },
        "inprocess": json.loads(inprocess_path.read_text()),
        "ceiling": ratios(shapes),
        "shapes": shapes,
        "verdict": {"published": not reasons, "reasons": reasons},
    }
    for measured in shapes.values():
        bare = measured["ceiling"]["bare"]
        bare["p50_queued_over_one"] = round(
            ruler.queued_p50_ratio(
                bare["p50_ms"], bare["p50_one_ms"], args.connections, args.workers
            ),
            2,
        )
    return publish(document, RESULTS_DIR, docs=not args.no_docs)


def publish(document: dict[str, Any], results_dir: Path, *, docs: bool) -> int:
    """Write the run's results (`ruler.publish`: 2 when its verdict refuses); once published,
    render the documents too when `docs`."""
    print("\n" + report.workload_table(document))
    code = ruler.publish(document, results_dir, f"bench-{document['preset']}")
    if code == 0 and docs:
        report.write_all()
        log("wrote docs/benchmarks.md, its plots and the README's table")
    return code


if __name__ == "__main__":
    # A SIGTERM stops the run as Ctrl-C does: the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
