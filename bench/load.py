"""`make bench-load`: Locust's mixed day on a production-shaped stack, every send accounted for.

    python -m bench.load [--duration 180] [--users 20] [--keep]

The product is served as docs/deploy.md serves it, with `bench.settings` (production
settings, DEBUG off, throttles far above the load): `gunicorn config.wsgi` (a sync worker
per core, DB_CONN_MAX_AGE=60) for the pages and the API, `uvicorn config.asgi` (one
worker, DB_POOL_MAX_SIZE=4, `--ws-max-size 4096`) for /ws/. PostgreSQL is the machine's,
in a database of the run's own (`messaging_load`, dropped afterwards unless `--keep`);
Redis is a redis-server of the run's own on a free port, since a shared Redis database
is flushed by any test run's `cache.clear()`, channel-layer groups included.

`--users` fresh people (day00, day01, ...) register through the API; then Locust runs
bench/locustfile.py headless for `--duration` s, one user per person, its console
stats as the progress display. Afterwards:
- the database (bench/accounting.py): every acknowledged send stored once, one
  notification each, inbox rows consistent with the messages;
- the sockets: each acknowledged send's `message.created` heard once by its receiver;
- no request failed, no socket dropped, neither server logged an error.

Writes bench/results/mixed-<run>.json, and mixed-latest.json (rendered by
bench/report.py) when nothing is broken; exits 1 when something is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg

from . import accounting, report, ws_bench
from .harness import (
    HOST,
    PASSWORD,
    ROOT,
    Http,
    PrivateRedis,
    Server,
    own_database,
    prepare_database,
    register,
    server_env,
    stop_group,
)
from .ruler import RESULTS_DIR
from .run import PRODUCT, SHAPE_DATABASE_ENV

DATABASE = "messaging_load"
WS_OPTIONS = ("--ws-max-size", "4096")
#: Seconds Locust's users get to finish the request they are in when the time is up.
STOP_TIMEOUT = 30
SERVER_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback")


def say(message: str) -> None:
    print(f"[load {datetime.now():%H:%M:%S}] {message}", flush=True)


def run_locust(duration: int, people: list[str], http_port: int, ws_port: int, work: Path):
    """Locust headless, its output on this terminal; what bench/locustfile.py recorded."""
    record = work / "locust.json"
    users = str(len(people))
    cmd = [
        *(sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py")),
        *("--headless", "--host", f"http://{HOST}:{http_port}"),
        *("--users", users, "--spawn-rate", users, "--run-time", f"{duration}s"),
        *("--stop-timeout", str(STOP_TIMEOUT)),
    ]
    env = {
        **os.environ,
        "BENCH_PEOPLE": ",".join(people),
        "BENCH_PASSWORD": PASSWORD,
        "BENCH_WS_HOST": f"ws://{HOST}:{ws_port}",
        "BENCH_RECORD": str(record),
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        proc.wait(timeout=duration + STOP_TIMEOUT + 120)
    finally:
        stop_group(proc, grace=5)
    if not record.exists():
        raise RuntimeError(f"Locust exited ({proc.returncode}) without writing {record}")
    return json.loads(record.read_text())


def judge(record: dict[str, Any], accounted: dict[str, Any], server_errors: list[str]):
    """The frames' accounting ({expected, received, lost, duplicated}) and what is broken."""
    expected = {send["id"]: {send["receiver"]} for send in record["sends"]}
    heard = [(name, mid) for name, ids in record["frames"].items() for mid in ids]
    counted = ws_bench.account(expected, heard)
    frames = {key: counted[key] for key in ("expected", "received", "lost", "duplicated")}
    broken = []
    if not record["sends"]:
        broken.append("no send was acknowledged")
    if record["failures"]:
        broken.append(f"Locust's failures: {'; '.join(record['failures'][:10])}")
    if counted["lost"]:
        broken.append(f"{counted['lost']} frames lost, e.g. {counted['lost_examples'][:3]}")
    for key in ("duplicated", "unexpected"):
        if counted[key]:
            broken.append(f"{counted[key]} frames {key}")
    broken += [f"accounting: {problem}" for problem in accounted["problems"]]
    if server_errors:
        broken.append(f"{len(server_errors)} error lines in the server logs: {server_errors[:3]}")
    return frames, broken


def description(users: int, duration: int, workers: int) -> str:
    return (
        f"Locust {version('locust')}, {users} people (day00…day{users - 1:02d}, registered "
        f"through the API just before) for {duration} s, all spawned at once, against "
        f"`gunicorn config.wsgi` ({workers} sync workers, DB_CONN_MAX_AGE=60) for the pages "
        "and the API and `uvicorn config.asgi` (1 worker, DB_POOL_MAX_SIZE=4) for /ws/, "
        "`bench.settings`, PostgreSQL, and a redis-server of the run's own, on one "
        f"{os.cpu_count()}-core machine with the load generator. The people are a ring, "
        "each writing to the next. Each logs in (a token, and a page session through the "
        "log-in form) and holds a socket on /ws/events/ the whole run; once every socket "
        "is open, each picks, 0.5 to 2 s apart, among reading its inbox (API, page), "
        "opening the conversation with a neighbour (API, page; the page marks it read), "
        "reading its unread count and sending to the next person with an Idempotency-Key "
        "(weights in bench/locustfile.py)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=int, default=180, help="seconds of Locust")
    parser.add_argument("--users", type=int, default=20, help="people, one Locust user each")
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DATABASE}")
    args = parser.parse_args(argv)
    if args.users < 2 or args.duration < 1:
        parser.error("--users must be at least 2 and --duration positive")
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / "var" / "load" / run_id
    work.mkdir(parents=True, exist_ok=True)
    people = [f"day{i:02d}" for i in range(args.users)]
    workers = os.cpu_count() or 1
    redis = PrivateRedis(work / "redis", work / "redis.log")
    logs = {shape: work / f"{shape}.log" for shape in ("gunicorn", "uvicorn")}
    with own_database(DATABASE, keep=args.keep) as database_url, contextlib.ExitStack() as stack:
        redis.start()
        stack.callback(redis.stop)
        env = server_env(
            database_url=database_url, redis_url=redis.url(), key_prefix=f"load-{run_id}", pool=0
        )
        say(f"{DATABASE}: migrate and collectstatic")
        prepare_database(env, work / "setup.log")

        def serve(shape: str, workers: int, options: tuple[str, ...] = ()) -> Server:
            shaped = {**env, **SHAPE_DATABASE_ENV[shape]}  # the connections of docs/deploy.md
            server = Server(shape, PRODUCT, workers, shaped, logs[shape], options)
            return stack.enter_context(server)

        http, ws = serve("gunicorn", workers), serve("uvicorn", 1, WS_OPTIONS)
        for server in (http, ws):
            server.wait_ready()
        client = Http(http.port)
        for name in people:
            register(client, name)
        say(f"gunicorn on {http.port}, uvicorn on {ws.port}; {len(people)} people registered")
        record = run_locust(args.duration, people, http.port, ws.port, work)
        with psycopg.connect(database_url, autocommit=True) as conn:
            accounted = accounting.account(conn, usernames=people, sends=record["sends"])
    server_errors = [
        line
        for path in logs.values()
        for line in path.read_text(errors="replace").splitlines()
        if SERVER_ERROR.search(line)
    ]
    frames, broken = judge(record, accounted, server_errors)
    document = {
        "run_id": run_id,
        "date": started.isoformat(timespec="seconds"),
        "command": f"`{shlex.join(['python', '-m', 'bench.load', *(argv or sys.argv[1:])])}`",
        "description": description(args.users, args.duration, workers),
        "requests": record["requests"],
        "frames": frames,
        "accounting": accounted,
        "broken": broken,
    }
    text = json.dumps(document, indent=2) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"mixed-{run_id}.json").write_text(text)
    if not broken:
        (RESULTS_DIR / "mixed-latest.json").write_text(text)
    print("\n".join(report.mixed_section(document)))
    print("\n".join(["BROKEN:", *(f"  - {b}" for b in broken)]) if broken else "nothing broken")
    say(f"wrote bench/results/mixed-{run_id}.json; server logs in {work}")
    return 1 if broken else 0


if __name__ == "__main__":
    # A SIGTERM stops the run as Ctrl-C does: Locust, servers, Redis and database go.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
