"""In-process, through Django's test client, on the benchmark database.

    python -m bench.inprocess credentials --manifest FILE --out FILE
    python -m bench.inprocess measure --manifest FILE --out FILE [--profile-requests 30]

`credentials` mints the heavy user's JWT (simplejwt), a signed-in session (the test
client's `force_login`, stored where the server reads sessions) and a CSRF cookie and
token, with the product's own code: no HTTP log-in. `measure` counts each workload's
SQL queries (cold: the first request in a fresh cache namespace; warm: the same request
again, as wrk repeats it) and splits its warm requests' time, sampled by pyinstrument,
into database (Django's database backend and psycopg), template rendering (Django's
template engine, queries it triggers excluded) and the rest (Python). The writes run as
wrk sends them, after the reads: new messages, new texts for heavy's own messages, and
marking the busiest conversation read (its cold request marks what the dataset left
unread; every later one, wrk's included, finds nothing unread), and the same two for
heavy's 100-person group (messages to it, marking it read).

Runs with `DJANGO_SETTINGS_MODULE=bench.settings` and the environment `bench.run` sets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.middleware.csrf import get_token  # noqa: E402
from django.test import Client, RequestFactory  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from .workloads import (  # noqa: E402
    EDIT,
    GROUP_SEND,
    NOCACHE,
    SEND,
    SEND_PARTNERS,
    WORKLOADS,
    Workload,
)

_counter = itertools.count(1)
DB_PATHS = ("/django/db/backends/", "/psycopg/", "/psycopg_pool/")
TEMPLATE_PATHS = ("/django/template/", "/django/templatetags/")


def credentials(username: str) -> dict[str, str]:
    user = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(user)
    request = RequestFactory().get("/")
    token = get_token(request)
    return {
        "jwt": str(AccessToken.for_user(user)),
        "session_cookie": f"{settings.SESSION_COOKIE_NAME}="
        f"{client.cookies[settings.SESSION_COOKIE_NAME].value}",
        "csrf_cookie": f"{settings.CSRF_COOKIE_NAME}={request.META['CSRF_COOKIE']}",
        "csrf_token": token,
    }


def client_for(workload: Workload, creds: dict[str, str]) -> Client:
    # Behind the TLS proxy production runs behind: the proxy's header, no redirect.
    if workload.kind == "api":
        return Client(
            headers={"authorization": f"Bearer {creds['jwt']}", "x-forwarded-proto": "https"}
        )
    client = Client(headers={"x-forwarded-proto": "https"})
    for cookie in (creds["session_cookie"], creds["csrf_cookie"]):
        name, value = cookie.split("=", 1)
        client.cookies[name] = value
    return client


def request(client: Client, workload: Workload, heavy: dict[str, Any]):
    """One request of `workload` as wrk makes it (a new path, a new message or a new text
    each time)."""
    n = next(_counter)
    paths = workload.url_paths(heavy)
    path = paths[n % len(paths)]
    if workload.script == NOCACHE:
        path += f"?bench_nocache=i-{n}"
    if workload.read:
        return client.get(path)
    if workload.script == EDIT:
        content = f"in-process benchmark edit {time.time_ns()}-{n}"
        if workload.kind == "page":
            return client.post(path, {"content": content})
        return client.generic(
            workload.method,
            path,
            json.dumps({"content": content}),
            content_type="application/json",
        )
    if workload.script == GROUP_SEND:
        content = f"in-process benchmark group message {time.time_ns()}-{n}"
        return client.post(
            path,
            data=json.dumps({"content": content}),
            content_type="application/json",
            headers={"idempotency-key": f"bench-inprocess-group-{time.time_ns()}-{n}"},
        )
    if workload.script != SEND:  # a POST with no body (marking read)
        return client.generic(workload.method, path, "", content_type="application/json")
    receiver = heavy["partner_usernames"][n % SEND_PARTNERS]
    content = f"in-process benchmark message {time.time_ns()}-{n}"
    if workload.kind == "page":
        return client.post(path, {"receiver": receiver, "content": content})
    return client.post(
        path,
        data=json.dumps({"receiver": receiver, "content": content}),
        content_type="application/json",
        headers={"idempotency-key": f"bench-inprocess-{time.time_ns()}-{n}"},
    )


def split(frame, acc: dict[str, float], category: str = "python") -> dict[str, float]:
    """A pyinstrument frame tree's time by where it was spent (seconds)."""
    path = (frame.file_path or "").replace("\\", "/")
    if any(part in path for part in DB_PATHS):
        acc["database"] += frame.time
        return acc
    if category == "python" and any(part in path for part in TEMPLATE_PATHS):
        category = "template"
    children = frame.children
    acc[category] += max(0.0, frame.time - sum(child.time for child in children))
    for child in children:
        split(child, acc, category)
    return acc


def time_split(client: Client, workload: Workload, heavy: dict[str, Any], requests: int):
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for _ in range(requests):
            request(client, workload, heavy)
    wall_ms = (time.perf_counter() - started) / requests * 1000
    root = profiler.last_session.root_frame()
    acc = {"database": 0.0, "template": 0.0, "python": 0.0}
    if root is not None:
        split(root, acc)
    total = sum(acc.values()) or 1.0
    return {
        "requests": requests,
        "ms_per_request": round(wall_ms, 3),
        **{f"{name}_ms": round(value / requests * 1000, 3) for name, value in acc.items()},
        **{f"{name}_pct": round(value / total * 100, 1) for name, value in acc.items()},
    }


def measure(manifest: dict[str, Any], profile_requests: int) -> dict[str, Any]:
    heavy = manifest["heavy"]
    creds = credentials(heavy["username"])
    results: dict[str, Any] = {}
    for workload in WORKLOADS:
        client = client_for(workload, creds)
        entry: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            with CaptureQueriesContext(connection) as captured:
                response = request(client, workload, heavy)
            entry[f"status_{phase}"] = response.status_code
            entry[f"queries_{phase}"] = len(captured.captured_queries)
        entry["bytes"] = len(response.content)
        entry["split"] = time_split(client, workload, heavy, profile_requests)
        results[workload.key] = entry
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("command", choices=("credentials", "measure"))
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile-requests", type=int, default=30)
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text())
    if args.command == "credentials":
        result = credentials(manifest["heavy"]["username"])
    else:
        result = measure(manifest, args.profile_requests)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
