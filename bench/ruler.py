"""`make bench-ceiling`: the ruler every benchmark ratio divides by, measured so it can be trusted.

    python -m bench.ruler [--duration 10] [--connections 16] [--threads 2] [--workers 2]

The ceiling is bare Django (`bench.ceiling`: sessions, authentication, a view that loads
the signed-in user and answers 25 bytes of JSON) on a database of its own. The same view is
also served behind the product's whole stack (`bench.ceiling.product_settings`: the
benchmark server's settings and every middleware of the product), so what the product's
own stack costs is a ratio, not a guess.

Each stack is served, one server at a time, under each server shape, on a free loopback
port with `--workers` workers:
- `uvicorn`: ASGI, the shape the product ships (`config.asgi:application` for the product);
- `gunicorn`: sync WSGI workers (`config.wsgi:application` for the product).

Load is `wrk --latency` carrying the user's session cookie: a warm-up, then three
measured runs (the best is reported, with the spread), then one run at a single
connection. wrk's own CPU time (utime + stime from /proc/<pid>/stat, read as it exits)
over its wall time says whether the load generator took the server's cores; the machine's
busy time minus the server's, wrk's and (on PostgreSQL) the live backends of the stack's
database says what other work took.

The run is refused (exit status 2, the reasons on standard error) when:
- a bare ceiling's p50 under load, per request queued at each worker (p50 x workers /
  connections, which is what a closed loop of `connections` clients on `workers` busy
  workers waits for even on an idle machine), is more than 3x its p50 at one connection;
- wrk used more than half a core in a measured run;
- other work on the machine used more than half a core in a measured run;
- any answer was not a 2xx, or a socket failed.

Writes bench/results/ceiling-<time>.json either way, and bench/results/ceiling-latest.json
when the run is published. Every server started here is stopped before it returns.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .harness import HOST, PG_URL, PROXY_HEADERS, ROOT, Server, Stack, run_checked, stop_group

RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = ROOT / "var" / "bench" / "ceiling"
PATH = "/ceiling/"
#: The ceiling view's answer, byte for byte (bench/ceiling/views.py).
BODY_BYTES = b'{"user": "authenticated"}'

MAX_P50_RATIO = 3.0
MAX_LOADGEN_CORES = 0.5
MAX_OTHER_CORES = 0.5
RULES = {
    "max_p50_queued_over_one": MAX_P50_RATIO,
    "max_loadgen_cores": MAX_LOADGEN_CORES,
    "max_other_cores": MAX_OTHER_CORES,
}
RUNS = 3
SHAPES = ("uvicorn", "gunicorn")


def log(message: str) -> None:
    print(f"[ruler {datetime.now():%H:%M:%S}] {message}", flush=True)


# wrk's output -----------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def duration_ms(text: str) -> float:
    """A wrk duration (`812.00us`, `12.41ms`, `1.20s`, `2.00m`) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), request count and failures of `wrk --latency`."""
    result: dict[str, Any] = {}
    if match := re.search(r"^Requests/sec:\s+([\d.]+)\s*$", output, re.M):
        result["rps"] = float(match[1])
    for pct in ("50", "75", "90", "99"):
        if match := re.search(rf"^\s+{pct}(?:\.0+)?%\s+(\S+)\s*$", output, re.M):
            result[f"p{pct}_ms"] = round(duration_ms(match[1]), 3)
    if match := re.search(r"^\s*(\d+) requests in ([\d.]+\w+),", output, re.M):
        result["requests"] = int(match[1])
        result["elapsed_s"] = round(duration_ms(match[2]) / 1000, 3)
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(match[1]) if match else 0
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
        if match
        else {}
    )
    missing = [key for key in ("rps", "p50_ms", "p99_ms", "requests") if key not in result]
    if missing:
        raise ValueError(f"wrk's output has no {', '.join(missing)}:\n{output}")
    return result


# The refusal rules --------------------------------------------------------------


def queued_p50_ratio(
    p50_load_ms: float, p50_one_ms: float, connections: int, workers: int
) -> float:
    """p50 under load per request queued at each worker, over p50 at one connection.

    With `connections` clients that send again as soon as they are answered and `workers`
    busy workers, a request waits for about connections ÷ workers requests' service, so
    that is what an unstarved server's p50 is; what is left over is service time
    stretched by a shortage of CPU.
    """
    queued = max(1.0, connections / max(1, workers))
    return p50_load_ms / queued / p50_one_ms


def ceiling_latency_refusal(
    label: str,
    p50_load_ms: float,
    p50_one_ms: float,
    connections: int,
    workers: int,
    limit: float = MAX_P50_RATIO,
) -> str | None:
    ratio = queued_p50_ratio(p50_load_ms, p50_one_ms, connections, workers)
    if ratio <= limit:
        return None
    return (
        f"{label}: the bare ceiling's p50 under load ({p50_load_ms:.2f} ms at {connections} "
        f"connections, {workers} workers: {p50_load_ms * workers / connections:.2f} ms per "
        f"queued request) is {ratio:.1f}x its p50 at one connection ({p50_one_ms:.2f} ms), "
        f"over {limit:g}x: the server was starved of CPU"
    )


def loadgen_refusal(label: str, cores: float, limit: float = MAX_LOADGEN_CORES) -> str | None:
    if cores <= limit:
        return None
    return (
        f"{label}: the load generator used {cores:.2f} of a core, over {limit:g}: "
        "it took the server's CPU"
    )


def other_work_refusal(label: str, cores: float, limit: float = MAX_OTHER_CORES) -> str | None:
    if cores <= limit:
        return None
    return (
        f"{label}: other work on the machine used {cores:.2f} of a core during the run, "
        f"over {limit:g}: the machine was not quiet"
    )


def failure_refusal(label: str, non_2xx: int, socket_errors: int) -> str | None:
    if not non_2xx and not socket_errors:
        return None
    return (
        f"{label}: {non_2xx} answers were not 2xx and {socket_errors} socket errors: "
        "the load did not measure the view"
    )


def refusals(
    results: dict[str, dict[str, dict[str, Any]]],
    *,
    connections: int,
    workers: int,
    max_p50_ratio: float = MAX_P50_RATIO,
    max_loadgen_cores: float = MAX_LOADGEN_CORES,
    max_other_cores: float = MAX_OTHER_CORES,
) -> list[str]:
    """Every reason not to publish `results` ({shape: {stack: measurement}}); [] to publish.

    A measurement has `p50_ms` (its best run's), `p50_one_ms`, `wrk_cpu_cores` and
    `other_cpu_cores` (one per measured run, the single-connection run included),
    `non_2xx` and `socket_errors`.
    """
    reasons: list[str | None] = []
    for shape, stacks in results.items():
        for stack, measured in stacks.items():
            label = f"{shape}/{stack}"
            if stack == "bare":
                reasons.append(
                    ceiling_latency_refusal(
                        label,
                        measured["p50_ms"],
                        measured["p50_one_ms"],
                        connections,
                        workers,
                        max_p50_ratio,
                    )
                )
            reasons.append(
                loadgen_refusal(label, max(measured["wrk_cpu_cores"]), max_loadgen_cores)
            )
            reasons.append(
                other_work_refusal(label, max(measured["other_cpu_cores"]), max_other_cores)
            )
            reasons.append(failure_refusal(label, measured["non_2xx"], measured["socket_errors"]))
    return [reason for reason in reasons if reason]


# CPU accounting -------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (field 3 on), None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float | None:
    fields = stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def group_cpu_seconds(pgrp: int) -> float:
    """CPU time so far of every live process in process group `pgrp` (a server's workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        if fields is not None and int(fields[2]) == pgrp:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


#: A PostgreSQL backend's title: `postgres: [cluster: ]user database host(port) state`.
_BACKEND = re.compile(r"postgres: (?:\S+: )?[^\s:]+ ([^\s:]+) (?:\[local\]|\S+\(\d+\))")


def backend_database(title: str) -> str | None:
    """The database a PostgreSQL backend serves, from its process title; None if not one."""
    match = _BACKEND.match(title)
    return match[1] if match else None


def is_postmaster(title: str) -> bool:
    """Whether a process title is PostgreSQL's postmaster (`.../bin/postgres -D ...`)."""
    return title.split(" ", 1)[0].endswith("/bin/postgres")


def database_cpu_seconds(databases: Collection[str]) -> float:
    """CPU time so far of the PostgreSQL work serving `databases` (the server's queries run
    there: that is the served stack's work, not other work on the machine): its live
    backends, plus the postmaster's exited children. A query on a large table hands parts
    of its scan to parallel workers, processes of their own that exit when it ends; their
    time, like that of a closed connection's backend, is then only in the postmaster's
    children's time. On the quiet machine the ruler asks for, that is the stack's."""
    if not databases:
        return 0.0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        postmaster = is_postmaster(title)
        if not postmaster and backend_database(title) not in databases:
            continue
        fields = stat_fields(int(entry.name))
        if fields is None:
            continue
        # utime, stime; for the postmaster its reaped children's cutime, cstime instead.
        total += (
            int(fields[13]) + int(fields[14]) if postmaster else int(fields[11]) + int(fields[12])
        )
    return total / TICK


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def load_average() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


# wrk ------------------------------------------------------------------------------


def wrk_command(
    port: int,
    *,
    duration: float,
    connections: int,
    threads: int,
    path: str = PATH,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> list[str]:
    """`wrk --latency` against `path` on loopback, every request with `headers` and the
    proxy's; `script` (a Lua file) shapes each request when given."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s"]
    cmd += ["--timeout", "10s", "--latency"]
    for name, value in {**(headers or {}), **PROXY_HEADERS}.items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(f"http://{HOST}:{port}{path}")
    return cmd


def run_wrk(
    port: int,
    cookie: str | None,
    *,
    duration: float,
    connections: int,
    threads: int,
    server_pgrp: int | None = None,
    path: str = PATH,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    databases: Collection[str] = (),
) -> dict[str, Any]:
    """One wrk run; its parsed output plus wrk's, the server's, its database backends' (those
    serving `databases`) and other work's CPU (cores)."""
    headers = {**({"Cookie": cookie} if cookie else {}), **(headers or {})}
    load = {"duration": duration, "connections": connections, "threads": threads}
    cmd = wrk_command(port, **load, path=path, headers=headers, script=script)
    server_before = group_cpu_seconds(server_pgrp) if server_pgrp else 0.0
    database_before = database_cpu_seconds(databases)
    busy_before = machine_busy_seconds()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    began = time.monotonic()
    deadline = began + duration + 60
    cpu = 0.0
    try:
        # Wait for wrk to exit without reaping it: its /proc/<pid>/stat then holds the CPU
        # time of all its threads, and is read before the process is gone.
        while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            cpu = process_cpu_seconds(proc.pid) or cpu
            if time.monotonic() > deadline:
                raise RuntimeError(f"wrk ran over {duration + 60:.0f} s")
            time.sleep(0.05)
        wall = time.monotonic() - began
        cpu = process_cpu_seconds(proc.pid) or cpu
        busy_after = machine_busy_seconds()
        server_after = group_cpu_seconds(server_pgrp) if server_pgrp else 0.0
        database_after = database_cpu_seconds(databases)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        output, errors = proc.stdout.read(), proc.stderr.read()
    finally:
        if proc.returncode is None:
            stop_group(proc, grace=1)
        proc.stdout.close()
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {errors or output}")
    result = parse_wrk(output)
    wrk_cores = cpu / wall
    server_cores = (server_after - server_before) / wall
    # A backend that exits during the run takes its CPU time with it: never below zero.
    database_cores = max(0.0, database_after - database_before) / wall
    result.update(
        connections=connections,
        threads=threads,
        wall_s=round(wall, 3),
        wrk_cpu_cores=round(wrk_cores, 3),
        wrk_cpu_cores_rusage=round((usage.ru_utime + usage.ru_stime) / wall, 3),
        server_cpu_cores=round(server_cores, 3),
        database_cpu_cores=round(database_cores, 3),
        other_cpu_cores=round(
            max(0.0, (busy_after - busy_before) / wall - wrk_cores - server_cores - database_cores),
            3,
        ),
    )
    return result


# The stacks and the servers -------------------------------------------------------


STACKS = (
    Stack(
        "bare",
        "bench.ceiling.settings",
        "bench.ceiling.asgi:application",
        "bench.ceiling.wsgi:application",
    ),
    Stack(
        "product",
        "bench.ceiling.product_settings",
        "config.asgi:application",
        "config.wsgi:application",
    ),
)


def database_urls(pg_database: str | None) -> dict[str, str]:
    """Each stack's database: SQLite files under var/bench/ceiling/, or PostgreSQL databases
    `<pg_database>` and `<pg_database>_product` (created when missing)."""
    if pg_database:
        return {
            "bare": f"{PG_URL}/{pg_database}",
            "product": f"{PG_URL}/{pg_database}_product",
        }
    return {
        "bare": f"sqlite:///{WORK_DIR / 'bare.sqlite3'}",
        "product": f"sqlite:///{WORK_DIR / 'product.sqlite3'}",
    }


#: How each shape connects to PostgreSQL, as docs/deploy.md sets it: gunicorn's sync
#: workers keep a connection; uvicorn's threads share psycopg's pool.
SHAPE_DATABASE_ENV = {
    "gunicorn": {"DB_CONN_MAX_AGE": "60", "DB_POOL_MAX_SIZE": "0"},
    "uvicorn": {"DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "4"},
}


def stack_env(
    stack: Stack, database_url: str, shape: str | None = None, conn_max_age: int = 0
) -> dict[str, str]:
    """The stack's environment: with `shape`, the database connections docs/deploy.md gives
    that shape; without, `conn_max_age` and no pool (SQLite)."""
    env = dict(os.environ)
    # The product's cache and channel layer stay in-process: the view uses neither, and
    # the run must not depend on, or disturb, the machine's Redis.
    for name in ("REDIS_URL", "DATABASE_URL", "CEILING_DATABASE_URL", "DB_POOL_MAX_SIZE"):
        env.pop(name, None)
    env.update(
        DJANGO_SETTINGS_MODULE=stack.settings,
        DEBUG="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    unshaped = {"DB_CONN_MAX_AGE": str(conn_max_age), "DB_POOL_MAX_SIZE": "0"}
    env.update(SHAPE_DATABASE_ENV[shape] if shape else unshaped)
    env["CEILING_DATABASE_URL" if stack.name == "bare" else "DATABASE_URL"] = database_url
    return env


def prepare(stack: Stack, env: dict[str, str], logfile: Path) -> str:
    """Migrate the stack's database, sign its user in; the `Cookie:` header of that session."""
    cmd = [sys.executable, "-m", "bench.ceiling.prepare"]
    output = run_checked(cmd, env=env, timeout=600, logfile=logfile)
    cookie = json.loads(output.strip().splitlines()[-1])
    return f"{cookie['name']}={cookie['value']}"


# Measuring ------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    """The runs' range, and that range as a share of the best."""
    best = max(values)
    return {
        "min": round(min(values), 1),
        "max": round(best, 1),
        "pct": round((best - min(values)) / best * 100, 1) if best else 0.0,
    }


def summarise(runs: list[dict[str, Any]], one: dict[str, Any] | None = None) -> dict[str, Any]:
    """The best of the runs, their spread, and the CPU and failures the rules judge (of
    the single-connection run `one` too, when there is one)."""
    best = max(runs, key=lambda run: run["rps"])
    measured = [*runs, one] if one else runs
    summary = {
        "runs_rps": [run["rps"] for run in runs],
        "best_rps": best["rps"],
        "spread": spread([run["rps"] for run in runs]),
        "p50_ms": best["p50_ms"],
        "p99_ms": best["p99_ms"],
    }
    if one:
        summary.update(p50_one_ms=one["p50_ms"], p99_one_ms=one["p99_ms"], rps_one=one["rps"])
    summary.update(
        wrk_cpu_cores=[run["wrk_cpu_cores"] for run in measured],
        server_cpu_cores=[run["server_cpu_cores"] for run in measured],
        database_cpu_cores=[run.get("database_cpu_cores", 0.0) for run in measured],
        other_cpu_cores=[run["other_cpu_cores"] for run in measured],
        non_2xx=sum(run["non_2xx"] for run in measured),
        socket_errors=sum(sum(run["socket_errors"].values()) for run in measured),
        runs=runs,
    )
    if one:
        summary["one_connection"] = one
    return summary


def measure(
    server: Server,
    args: argparse.Namespace,
    databases: Collection[str] = (),
    *,
    cookie: str | None = None,
    one_connection: bool = True,
    **request: Any,
) -> dict[str, Any]:
    """A warm-up, the measured runs and (for the ceiling) one run at a single connection
    against `server`; their summary. `request`: `run_wrk`'s path, headers, script, env."""
    assert server.proc is not None
    options = {"server_pgrp": server.proc.pid, "databases": databases, **request}
    load = {"connections": args.connections, "threads": args.threads}
    if args.warmup > 0:
        run_wrk(server.port, cookie, duration=args.warmup, **load, **options)
    runs = []
    for number in range(1, RUNS + 1):
        run = run_wrk(server.port, cookie, duration=args.duration, **load, **options)
        log(
            f"  run {number}: {run['rps']:8.1f} req/s  p50 {run['p50_ms']:7.2f} ms  "
            f"p99 {run['p99_ms']:7.2f} ms  CPU server {run['server_cpu_cores']:.2f} "
            f"wrk {run['wrk_cpu_cores']:.2f} other {run['other_cpu_cores']:.2f}"
        )
        runs.append(run)
    if not one_connection:
        return summarise(runs)
    one = run_wrk(server.port, cookie, duration=args.duration, connections=1, threads=1, **options)
    log(
        f"  one connection: {one['rps']:8.1f} req/s  p50 {one['p50_ms']:7.2f} ms  "
        f"wrk {one['wrk_cpu_cores']:.2f}"
    )
    return summarise(runs, one)


def measure_stack(
    shape: str,
    stack: Stack,
    env: dict[str, str],
    cookie: str,
    args: argparse.Namespace,
    logfile: Path,
    databases: Collection[str],
) -> tuple[dict[str, Any], str]:
    """One stack served under one shape, measured; and the server's command line."""
    log(f"{shape}/{stack.name}: {args.workers} workers")
    with Server(shape, stack, args.workers, env, logfile) as server:
        server.wait_ready(PATH, cookie=cookie, body=BODY_BYTES)
        return measure(server, args, databases, cookie=cookie), command_line(server.cmd)


def command_line(cmd: list[str]) -> str:
    return " ".join("python" if part == sys.executable else part for part in cmd)


def ratios(results: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """The ceiling (the fastest shape's bare req/s) and every measurement's ratio to it."""
    ceiling_shape = max(results, key=lambda shape: results[shape]["bare"]["best_rps"])
    ceiling = results[ceiling_shape]["bare"]["best_rps"]
    table = {}
    for shape, stacks in results.items():
        bare, product = stacks["bare"]["best_rps"], stacks["product"]["best_rps"]
        table[shape] = {
            "bare_to_ceiling": round(bare / ceiling, 3),
            "product_to_ceiling": round(product / ceiling, 3),
            "product_to_same_shape_bare": round(product / bare, 3),
        }
    return {"ceiling": {"shape": ceiling_shape, "rps": ceiling}, "ratios": table}


def versions() -> dict[str, str]:
    import django
    import gunicorn
    import uvicorn

    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "python": platform.python_version(),
        "django": django.__version__,
        "uvicorn": uvicorn.__version__,
        "gunicorn": gunicorn.__version__,
        "wrk": (wrk.stdout or wrk.stderr).split("[", 1)[0].strip(),
        "kernel": platform.release(),
        "cpus": str(os.cpu_count()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ruler", description=__doc__.split("\n")[0]
    )
    load_arguments(parser, SHAPES, "comma-separated: uvicorn,gunicorn")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE for both stacks (Django's and the product's default: 0)",
    )
    parser.add_argument(
        "--pg-database",
        default=os.environ.get("CEILING_PG_DATABASE"),
        help="serve from PostgreSQL databases NAME and NAME_product on 127.0.0.1:5432 "
        "(created when missing; default: $CEILING_PG_DATABASE, else SQLite files in var/)",
    )
    args = parser.parse_args(argv)
    shapes = args.shapes
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1

    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    logfile = WORK_DIR / f"{run_id}.log"
    urls = database_urls(args.pg_database)
    log(f"run {run_id}: load average {load_average()}; server output in {logfile}")

    def env_for(stack: Stack, shape: str) -> dict[str, str]:
        # On PostgreSQL each shape connects as it does in production; SQLite as told.
        shaped = shape if args.pg_database else None
        return stack_env(stack, urls[stack.name], shaped, args.conn_max_age)

    cookies = {}
    for stack in STACKS:
        log(f"preparing {stack.name} ({stack.settings}, {urls[stack.name]})")
        cookies[stack.name] = prepare(stack, env_for(stack, shapes[0]), logfile)

    load_before = load_average()
    results: dict[str, dict[str, dict[str, Any]]] = {}
    commands: dict[str, dict[str, str]] = {}
    # A server at a time: an idle one would still be a process on the cores.
    for shape in shapes:
        for stack in STACKS:
            databases = [urls[stack.name].rsplit("/", 1)[1]] if args.pg_database else []
            env = env_for(stack, shape)
            measured, command = measure_stack(
                shape, stack, env, cookies[stack.name], args, logfile, databases
            )
            results.setdefault(shape, {})[stack.name] = measured
            commands.setdefault(shape, {})[stack.name] = command
    reasons = refusals(results, connections=args.connections, workers=args.workers)
    for stacks in results.values():
        bare = stacks["bare"]
        bare["p50_load_over_one"] = round(bare["p50_ms"] / bare["p50_one_ms"], 2)
        bare["p50_queued_over_one"] = round(
            queued_p50_ratio(bare["p50_ms"], bare["p50_one_ms"], args.connections, args.workers), 2
        )
    document = {
        "date": started.isoformat(timespec="seconds"),
        "run_id": run_id,
        "duration_min": round((datetime.now(UTC) - started).total_seconds() / 60, 1),
        "machine": versions(),
        "load_average": {"before": load_before, "after": load_average()},
        "load": {
            "tool": "wrk --latency",
            "path": PATH,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": RUNS,
            "connections": args.connections,
            "threads": args.threads,
            "one_connection": {"connections": 1, "threads": 1, "duration_s": args.duration},
            "workers": args.workers,
            "conn_max_age": args.conn_max_age,
            "databases": urls,
        },
        "servers": commands,
        "rules": RULES,
        "results": results,
        **ratios(results),
        "verdict": {"published": not reasons, "reasons": reasons},
    }
    print_summary(document)
    return publish(document, RESULTS_DIR, "ceiling")


def load_arguments(
    parser: argparse.ArgumentParser, shapes: Sequence[str], shapes_help: str
) -> None:
    """The options of the load `bench.ruler` and `bench.run` both measure with."""
    parser.add_argument("--duration", type=float, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="server workers per shape")
    parser.add_argument("--shapes", type=shape_list, default=",".join(shapes), help=shapes_help)


def shape_list(text: str) -> list[str]:
    shapes = [shape.strip() for shape in text.split(",") if shape.strip()]
    for shape in shapes:
        if shape not in SHAPES:
            raise argparse.ArgumentTypeError(
                f"unknown shape {shape!r} (known: {', '.join(SHAPES)})"
            )
    return shapes


def publish(document: dict[str, Any], results_dir: Path, stem: str) -> int:
    """Write the run's results as <stem>-<run>.json; when its verdict refuses, say why and
    answer 2, else make it <stem>-latest.json too and answer 0."""
    path = results_dir / f"{stem}-{document['run_id']}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    if reasons := document["verdict"]["reasons"]:
        print(f"\nREFUSED: not published ({path})", file=sys.stderr)
        for reason in reasons:
            print(f"  - {reason}", file=sys.stderr)
        return 2
    (results_dir / f"{stem}-latest.json").write_text(path.read_text())
    log(f"published: {path} (and {stem}-latest.json)")
    return 0


def print_summary(document: dict[str, Any]) -> None:
    ceiling = document["ceiling"]
    print(f"\nceiling: {ceiling['rps']:.0f} req/s ({ceiling['shape']}, bare)")
    print(
        f"{'shape':<9} {'stack':<8} {'best req/s':>10} {'spread':>7} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'p50 c1':>7} {'x ceiling':>9} {'x bare':>7} {'wrk CPU':>7} {'other':>6}"
    )
    for shape, stacks in document["results"].items():
        for stack, m in stacks.items():
            ratio = document["ratios"][shape]
            to_bare = ratio["product_to_same_shape_bare"] if stack == "product" else 1.0
            to_ceiling = ratio[f"{stack}_to_ceiling"]
            print(
                f"{shape:<9} {stack:<8} {m['best_rps']:>10.1f} {m['spread']['pct']:>6.1f}% "
                f"{m['p50_ms']:>7.2f} {m['p99_ms']:>7.2f} {m['p50_one_ms']:>7.2f} "
                f"{to_ceiling:>9.2f} {to_bare:>7.2f} {max(m['wrk_cpu_cores']):>7.2f} "
                f"{max(m['other_cpu_cores']):>6.2f}"
            )


if __name__ == "__main__":
    # A SIGTERM stops the run as Ctrl-C does: the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
