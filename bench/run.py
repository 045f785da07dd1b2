"""`make bench`: the product under load on a production-shaped stack, at two dataset sizes.

    python -m bench.run [--preset small|large|both] [--duration 20] [--warmup 5]

Each preset gets a fresh PostgreSQL database `messaging_bench_<preset>`, migrated and
filled by `python -m bench.dataset`, which checks its rows through the product's
selectors before anything is measured; its query counts are measured in-process
(`bench.inprocess`). Then every preset's server is started, `uvicorn
config.asgi:application` with one worker per core and `bench.settings` (production
settings, DEBUG off, Redis database 9 under a key prefix of this run's own), and wrk,
a separate process on loopback, measures each workload as the heaviest user: a
warm-up, the ceiling for half of `--duration`, the workload for `--duration`, the
ceiling again for the other half; on one preset, then the other. Every comparison is
between neighbouring measurements on a machine whose other work drifts. The real-time
benchmark (`bench.ws_bench`) runs afterwards when it exists.

Writes bench/results/<date>.json (and latest.json), docs/benchmarks.md, docs/benchmarks.png
and the README's benchmark table. Every process it starts is stopped before it returns;
each step has a time limit. Databases are kept for later profiling
(`python -m bench.inprocess profile ...`); `--drop` removes them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from . import report
from .harness import free_port, stop_group
from .workloads import CEILING, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
WORK_DIR = ROOT / "var" / "bench"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/9"
HOST = "127.0.0.1"
#: What the TLS-terminating proxy in front of production adds to every request.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
PRESETS = ("small", "large")
WS_SOCKETS = 1000
WS_MESSAGES = 200


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# The stack -------------------------------------------------------------------


def database_name(preset: str) -> str:
    return f"messaging_bench_{preset}"


def admin_connection() -> psycopg.Connection:
    return psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=5)


DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")


def recreate_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(DROP.format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(name: str) -> None:
    with admin_connection() as conn:
        conn.execute(DROP.format(sql.Identifier(name)))


def stack_env(preset: str, key_prefix: str, conn_max_age: int, pool: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DB_CONN_MAX_AGE=str(conn_max_age),
        DB_POOL_MAX_SIZE=str(pool),
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{database_name(preset)}",
        REDIS_URL=REDIS_URL,
        CACHE_KEY_PREFIX=key_prefix,
        DEBUG="false",
        JWT_ACCESS_MINUTES="240",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def run_step(name: str, cmd: list[str], env: dict[str, str], timeout: float, logfile: Path) -> None:
    """A subprocess with a time limit; its output goes to `logfile`, its failure stops the run."""
    log(f"{name}: {' '.join(cmd[1:] if cmd[0] == sys.executable else cmd)}")
    with logfile.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            raise RuntimeError(f"{name} took over {timeout:.0f} s (log: {logfile})") from None
        except BaseException:  # interrupted: the step goes too
            stop_group(proc, grace=5)
            raise
    if code != 0:
        raise RuntimeError(f"{name} failed with exit code {code} (log: {logfile})")


def http_request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """uvicorn serving config.asgi with one worker per core, in its own process group."""

    def __init__(self, env: dict[str, str], workers: int, logfile: Path) -> None:
        self.env, self.workers, self.logfile = env, workers, logfile
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        log(f"server: uvicorn on {HOST}:{self.port}, {self.workers} workers")
        self._log = self.logfile.open("a")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_healthy(timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited (log: {self.logfile})")
            with contextlib.suppress(OSError):
                status, _ = http_request(self.port, "GET", "/healthz", PROXY_HEADERS)
                if status == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"no answer from /healthz in {timeout:.0f} s (log: {self.logfile})")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            log("server stopped")
        self._log.close()

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the server's group (master and workers)."""
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if self.proc is not None and int(fields[2]) == self.proc.pid:  # pgrp
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total / tick


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return total - idle, total


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(limit: float, timeout: float) -> float:
    """Wait (up to `timeout` s) until the 1-minute load average is under `limit`.

    Other work on the machine takes cores from the server and the load generator alike;
    the results record the load average either way.
    """
    deadline = time.monotonic() + timeout
    load = load_average()
    if load < limit:
        return load
    log(f"machine busy (load average {load:.1f}): waiting up to {timeout:.0f} s for < {limit}")
    while time.monotonic() < deadline:
        time.sleep(5)
        load = load_average()
        if load < limit:
            break
    log(f"load average now {load:.1f}")
    return load


class ConnectionSampler:
    """The most PostgreSQL sessions open on the benchmark database during a workload."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with contextlib.suppress(psycopg.Error), admin_connection() as conn:
            while not self._stop.is_set():
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.database,)
                ).fetchone()
                self.peak = max(self.peak, count)
                self._stop.wait(0.5)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# wrk -------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), counts and errors from `wrk --latency` output."""
    result: dict[str, Any] = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(match[1])
    for pct in ("50", "75", "90", "99"):
        if match := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.M):
            result[f"p{pct}_ms"] = round(_ms(match[1]), 3)
    if match := re.search(r"(\d+) requests in ([\d.]+\w+)", output):
        result["requests"] = int(match[1])
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx"] = int(match[1]) if match else 0
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    result["socket_errors"] = sum(int(g) for g in match.groups()) if match else 0
    if "rps" not in result or "p50_ms" not in result:
        raise ValueError("wrk printed no result:\n" + output)
    return result


def wrk(
    port: int,
    path: str,
    *,
    duration: float,
    token: str,
    connections: int,
    threads: int,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    post: bool = False,
) -> dict[str, Any]:
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "X-Forwarded-Proto: https",
    ]
    if post:
        cmd += ["-H", "Content-Type: application/json"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(f"http://{HOST}:{port}{path}")
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration + 60, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    return parse_wrk(proc.stdout)


# One preset ------------------------------------------------------------------


def obtain_token(port: int, manifest: dict[str, Any], minted: str) -> tuple[str, str]:
    """The API's own log-in when it answers, else the token minted with simplejwt."""
    body = json.dumps(
        {"username": manifest["heavy"]["username"], "password": manifest["password"]}
    ).encode()
    with contextlib.suppress(OSError, ValueError, KeyError):
        status, answer = http_request(
            port,
            "POST",
            "/api/v1/auth/token/",
            {"Content-Type": "application/json", "X-Forwarded-Proto": "https"},
            body,
        )
        if status == 200:
            return json.loads(answer)["access"], "POST /api/v1/auth/token/"
    return minted, "minted with simplejwt (the token endpoint did not answer 200)"


def check_workload(port: int, workload: Workload, path: str, token: str, partner: str):
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https"}
    body = None
    if workload.method == "POST":
        headers["Content-Type"] = "application/json"
        body = json.dumps({"receiver": partner, "content": "benchmark check"}).encode()
    return http_request(port, workload.method, path, headers, body)


def run_ws_bench(env: dict[str, str], manifest_path: Path, out: Path) -> dict[str, Any]:
    if not (ROOT / "bench" / "ws_bench.py").exists():
        return {"skipped": "bench/ws_bench.py does not exist"}
    cmd = [
        sys.executable,
        "-m",
        "bench.ws_bench",
        "--sockets",
        str(WS_SOCKETS),
        "--messages",
        str(WS_MESSAGES),
        "--out",
        str(out),
    ]
    ws_env = dict(env, BENCH_MANIFEST=str(manifest_path))
    log(f"ws_bench: {WS_SOCKETS} sockets, {WS_MESSAGES} messages")
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=ws_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            stop_group(proc)
            return {"error": "timed out after 420 s"}
        stop_group(proc, grace=1)
        if proc.returncode != 0:
            return {"error": f"exit code {proc.returncode}", "output": output[-2000:]}
        return json.loads(out.read_text())
    except (OSError, ValueError) as error:
        return {"error": str(error)}


@dataclass
class Prepared:
    """One preset's database, loaded and counted, ready to serve."""

    preset: str
    work: Path
    logfile: Path
    key_prefix: str
    env: dict[str, str]
    database: str
    manifest_path: Path
    manifest: dict[str, Any]
    counted: dict[str, Any]
    timings: dict[str, float]
    token: str = ""
    token_source: str = ""
    results: dict[str, Any] = field(default_factory=dict)
    ws: dict[str, Any] = field(default_factory=dict)


def prepare_preset(preset: str, args: argparse.Namespace, run_id: str) -> Prepared:
    """A fresh database for the preset: migrated, generated, its query counts measured."""
    work = WORK_DIR / run_id / preset
    work.mkdir(parents=True, exist_ok=True)
    logfile = work / "log.txt"
    key_prefix = f"bench-{run_id}-{preset}"
    env = stack_env(preset, key_prefix, args.conn_max_age, args.pool)
    database = database_name(preset)
    manifest_path = work / "manifest.json"
    timings: dict[str, float] = {}
    python = sys.executable

    started = time.monotonic()
    log(f"=== preset {preset}: database {database}")
    recreate_database(database)
    run_step("migrate", [python, "manage.py", "migrate", "--no-input", "-v0"], env, 300, logfile)
    timings["migrate_s"] = round(time.monotonic() - started, 1)
    gen_started = time.monotonic()
    generate = ["-m", "bench.dataset", "--preset", preset, "--seed", str(args.seed)]
    generate += ["--manifest", str(manifest_path)]
    run_step("dataset", [python, *generate], env, 3600, logfile)
    timings["generate_s"] = round(time.monotonic() - gen_started, 1)
    queries_path = work / "queries.json"
    count = ["queries", "--manifest", str(manifest_path), "--out", str(queries_path)]
    run_step(
        "query counts",
        [python, "-m", "bench.inprocess", *count],
        dict(env, CACHE_KEY_PREFIX=f"{key_prefix}-inprocess"),
        600,
        logfile,
    )
    run_step(
        "collectstatic",
        [python, "manage.py", "collectstatic", "--no-input", "-v0"],
        env,
        300,
        logfile,
    )
    return Prepared(
        preset=preset,
        work=work,
        logfile=logfile,
        key_prefix=key_prefix,
        env=env,
        database=database,
        manifest_path=manifest_path,
        manifest=json.loads(manifest_path.read_text()),
        counted=json.loads(queries_path.read_text()),
        timings=timings,
    )


class Measurer:
    """wrk against one preset's server, with the machine's and the server's CPU recorded."""

    def __init__(self, prepared: Prepared, server: Server, args: argparse.Namespace) -> None:
        self.p, self.server, self.args = prepared, server, args
        partners = ",".join(prepared.manifest["heavy"]["partner_usernames"][:50])
        self.wrk_env = dict(os.environ, BENCH_PARTNERS=partners)

    def _options(self, workload: Workload) -> dict[str, Any]:
        return {
            "token": self.p.token,
            "connections": self.args.connections,
            "threads": self.args.threads,
            "script": workload.script_path(),
            "env": self.wrk_env,
            "post": workload.method == "POST",
        }

    def warm_up(self, workload: Workload, path: str) -> None:
        if self.args.warmup > 0:
            wrk(self.server.port, path, duration=self.args.warmup, **self._options(workload))

    def measure(self, workload: Workload, path: str, duration: float) -> dict[str, Any]:
        load_before = load_average()
        cpu_before = self.server.cpu_seconds()
        busy_before, total_before = machine_cpu()
        with ConnectionSampler(self.p.database) as sampler:
            measured = wrk(self.server.port, path, duration=duration, **self._options(workload))
        busy_after, total_after = machine_cpu()
        cores = os.cpu_count() or 1
        measured["server_cpu_pct"] = round(
            (self.server.cpu_seconds() - cpu_before) / duration * 100, 1
        )
        measured["machine_cpu_pct"] = round(
            (busy_after - busy_before) / max(1, total_after - total_before) * 100 * cores, 1
        )
        measured["load_average"] = [load_before, load_average()]
        measured["pg_sessions_peak"] = sampler.peak
        log(
            f"{self.p.preset:<5} {workload.key:<22} {measured['rps']:8.1f} req/s"
            f"  p50 {measured['p50_ms']:7.2f} ms  p99 {measured['p99_ms']:7.2f} ms"
            f"  non-2xx {measured['non_2xx']}  CPU server {measured['server_cpu_pct']}%"
            f" all {measured['machine_cpu_pct']}%  pg {sampler.peak}"
        )
        return measured

    def run(self, workload: Workload) -> None:
        """Check the workload answers, warm it up, measure the ceiling, then the workload."""
        heavy = self.p.manifest["heavy"]
        path = workload.url_path(heavy)
        status, body = check_workload(
            self.server.port, workload, path, self.p.token, heavy["top_partner"]
        )
        counted = self.p.counted["workloads"][workload.key]
        entry: dict[str, Any] = {
            "label": workload.label,
            "method": workload.method,
            "path": path,
            "script": workload.script,
            "note": workload.note,
            "read": workload.read,
            "check_status": status,
            "bytes": len(body),
            "queries_cold": counted["cold"]["queries"],
            "queries_warm": counted["warm"]["queries"],
            "db_ms_cold": counted["cold"]["db_ms"],
            "single_client": counted.get("single_client", {}),
        }
        self.p.results[workload.key] = entry
        if status >= 400:
            entry["error"] = f"{workload.method} {path} answered {status}: {body[:200]!r}"
            log(f"{self.p.preset} {workload.key}: skipped, {entry['error']}")
            return
        self.warm_up(workload, path)
        if workload is CEILING or self.args.no_pairing:
            entry.update(self.measure(workload, path, self.args.duration))
            return
        # The ceiling for half the time right before and half right after: other work on
        # the machine drifts over a run, and a bracket cancels a steady drift.
        half = self.args.duration / 2
        before = self.measure(CEILING, CEILING.url_path(heavy), half)
        entry.update(self.measure(workload, path, self.args.duration))
        after = self.measure(CEILING, CEILING.url_path(heavy), half)
        entry["paired_ceiling"] = {
            "rps": round((before["rps"] + after["rps"]) / 2, 2),
            "p50_ms": round((before["p50_ms"] + after["p50_ms"]) / 2, 3),
            "p99_ms": round((before["p99_ms"] + after["p99_ms"]) / 2, 3),
            "non_2xx": before["non_2xx"] + after["non_2xx"],
            "before_rps": before["rps"],
            "after_rps": after["rps"],
        }


def measure_presets(prepared: list[Prepared], args: argparse.Namespace) -> None:
    """Every preset's server up at once; each workload measured on each preset in turn.

    Interleaving puts a workload's small and large measurements minutes apart at most,
    so the size comparison is not a comparison of two moments of a shared machine.
    """
    workers = os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        measurers = []
        for p in prepared:
            server = stack.enter_context(Server(p.env, workers, p.logfile))
            p.token, p.token_source = obtain_token(server.port, p.manifest, p.counted["token"])
            log(f"{p.preset}: token for {p.manifest['heavy']['username']!r}: {p.token_source}")
            measurers.append(Measurer(p, server, args))
        quiet = wait_for_quiet(args.quiet_load, args.quiet_timeout)
        for p in prepared:
            p.timings["load_average_at_start"] = quiet
        for workload in WORKLOADS:
            for measurer in measurers:
                measurer.run(workload)
    if not args.skip_ws:
        # It starts a server of its own on the preset's database (and removes its users).
        for p in prepared:
            p.ws = run_ws_bench(p.env, p.manifest_path, p.work / "ws.json")


def preset_result(p: Prepared, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "database": p.database,
        "manifest": p.manifest,
        "token_source": p.token_source,
        "workloads": p.results,
        "queries": p.counted["workloads"],
        "ws": p.ws,
        "timings": p.timings,
        "conn_max_age": args.conn_max_age,
        "db_pool_max_size": args.pool,
    }


def cleanup_redis(key_prefix: str) -> None:
    """Delete this run's keys (its prefixes only: the Redis database may be shared)."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"{key_prefix}:*", f"{key_prefix}-inprocess:*"):
            batch = []
            for key in client.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
    except Exception as error:  # a leftover cache entry must not fail the benchmark
        log(f"redis cleanup skipped: {error}")


# Facts about the machine -----------------------------------------------------


def machine_facts() -> dict[str, Any]:
    import platform

    import django
    import uvicorn

    facts: dict[str, Any] = {
        "cpu": "unknown",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "uvicorn": uvicorn.__version__,
        "kernel": platform.release(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                facts["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(psycopg.Error), admin_connection() as conn:
        facts["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        facts["redis"] = redis.Redis.from_url(REDIS_URL).info("server")["redis_version"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
        facts["wrk"] = (out.stdout or out.stderr).split("[")[0].strip()
    return facts


def preflight() -> None:
    problems = []
    if subprocess.run(["which", "wrk"], capture_output=True, check=False).returncode != 0:
        problems.append("wrk is not installed (apt-get install wrk)")
    try:
        admin_connection().close()
    except psycopg.Error as error:
        problems.append(f"PostgreSQL does not answer on {PG['host']}:{PG['port']}: {error}")
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as error:
        problems.append(f"Redis does not answer at {REDIS_URL}: {error}")
    if problems:
        raise SystemExit("bench: cannot start:\n  " + "\n  ".join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=[*PRESETS, "both"], default="both")
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per workload")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up per workload")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=0,
        help="DB_CONN_MAX_AGE for the server when --pool is 0 (see the docs)",
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=8,
        help="DB_POOL_MAX_SIZE per server process: psycopg's pool, as production runs "
        "(0: no pool, a connection per request unless --conn-max-age)",
    )
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=1.0,
        help="wait before loading until the 1-minute load average is below this",
    )
    parser.add_argument("--quiet-timeout", type=float, default=120, help="seconds, at most")
    parser.add_argument(
        "--no-pairing",
        action="store_true",
        help="measure the ceiling once per preset, not around each workload",
    )
    parser.add_argument("--skip-ws", action="store_true", help="do not run bench.ws_bench")
    parser.add_argument("--drop", action="store_true", help="drop the databases afterwards")
    parser.add_argument(
        "--no-docs", action="store_true", help="write bench/results only, not docs/ and README"
    )
    args = parser.parse_args(argv)
    preflight()
    presets = PRESETS if args.preset == "both" else (args.preset,)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    began = time.monotonic()
    results: dict[str, Any] = {
        "run_id": run_id,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "load": {
            "tool": "wrk",
            "threads": args.threads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "server": f"uvicorn config.asgi:application --workers {os.cpu_count()}",
            "settings": "bench.settings (config.settings.production, DEBUG off)",
        },
        "presets": {},
    }
    # Leaves every process group of ours on Ctrl-C too: Server and run_step clean up.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    prepared: list[Prepared] = []
    try:
        for preset in presets:
            prepared.append(prepare_preset(preset, args, run_id))
        measure_presets(prepared, args)
    finally:
        for p in prepared:
            cleanup_redis(p.key_prefix)
            if args.drop:
                drop_database(p.database)
    for p in prepared:
        results["presets"][p.preset] = preset_result(p, args)
    results["elapsed_s"] = round(time.monotonic() - began, 1)
    results["targets"] = report.evaluate(results)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2) + "\n"
    (RESULTS_DIR / f"{run_id}.json").write_text(text)
    (RESULTS_DIR / "latest.json").write_text(text)
    log(f"results: bench/results/{run_id}.json ({results['elapsed_s'] / 60:.1f} min)")
    if not args.no_docs:
        report.write_all(results)
        log("wrote docs/benchmarks.md, docs/benchmarks.png and the README's table")
    print(report.table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
