"""A person's mixed day, for Locust; `python -m bench.load` runs it and accounts for it.

    BENCH_PEOPLE=day00,day01,day02 BENCH_PASSWORD=... BENCH_WS_HOST=ws://127.0.0.1:8001 \\
    BENCH_RECORD=var/load/record.json locust -f bench/locustfile.py --headless \\
        --host http://127.0.0.1:8000 --users 3 --spawn-rate 3 --run-time 1m --stop-timeout 30

The people are a ring: user i is person i and writes to person i+1 (so start exactly as
many users as people). Each logs in (a token, and a page session through the log-in
form), holds a socket on BENCH_WS_HOST's /ws/events/ for the whole run and, once every
socket is open, reads the inbox (API, page), opens a conversation with a neighbour (API,
page), reads the unread count and sends with an Idempotency-Key. Every request carries
the TLS proxy's `X-Forwarded-Proto: https`, and the client sends the Secure cookies as
that proxy would.

At the end every acknowledged send has its frame, or FRAME_WAIT s have passed; then
BENCH_RECORD gets the acknowledged sends, the `message.created` ids each person
heard, and Locust's rows per request name.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from http.cookiejar import DefaultCookiePolicy

import gevent
from gevent.event import Event
from locust import HttpUser, between, events, task
from websockets.sync.client import connect

PEOPLE = os.environ.get("BENCH_PEOPLE", "").split(",")
PASSWORD = os.environ.get("BENCH_PASSWORD", "")
WS_HOST = os.environ.get("BENCH_WS_HOST", "")
#: After the last user stopped, how long the last frames may take.
FRAME_WAIT = 15.0

_index = itertools.count()
SENDS: list[dict] = []
FRAMES: dict[str, list[int]] = {name: [] for name in PEOPLE}
OPEN: set[str] = set()
SOCKETS: dict[str, object] = {}
ALL_OPEN, STOPPING = Event(), Event()


# TLS ends at the proxy this client stands for: its Secure cookies go over plain HTTP.
DefaultCookiePolicy.return_ok_secure = lambda self, cookie, request: True


class Person(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        i = next(_index)
        self.username = PEOPLE[i]
        self.partner, writer = PEOPLE[(i + 1) % len(PEOPLE)], PEOPLE[i - 1]
        self.neighbours = (self.partner, writer)
        self.client.headers["X-Forwarded-Proto"] = "https"
        login = {"username": self.username, "password": PASSWORD}
        access = self.call("POST", "/api/v1/auth/token/", "log in (API)", json=login)
        self.auth = {"Authorization": f"Bearer {access.json()['access']}"}
        self.call("GET", "/accounts/login/", "log in (page)")
        origin = self.host.replace("http://", "https://", 1)
        self.call(
            "POST", "/accounts/login/", "log in (page, POST)", 302,
            data={**login, "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", "")},
            headers={"Origin": origin, "Referer": f"{origin}/accounts/login/"},
        )  # fmt: skip
        gevent.spawn(self.hold_socket, access.json()["access"])
        ALL_OPEN.wait(timeout=60)

    def call(self, method: str, path: str, name: str, expect: int = 200, **kwargs):
        """One request, a failure unless it answers `expect` (redirects are not followed)."""
        with self.client.request(
            method, path, name=name, catch_response=True, allow_redirects=False, **kwargs
        ) as response:
            if response.status_code != expect:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            return response

    def hold_socket(self, access: str) -> None:
        """One socket, reopened after a drop; a drop or a failed opening is a failure."""
        while not STOPPING.is_set():
            began = time.perf_counter()
            error = None
            try:
                with connect(f"{WS_HOST}/ws/events/?token={access}", open_timeout=10) as socket:
                    SOCKETS[self.username] = socket
                    events.request.fire(
                        request_type="WS", name="/ws/events/ (open)", response_length=0,
                        response_time=(time.perf_counter() - began) * 1000, exception=None,
                        context={},
                    )  # fmt: skip
                    OPEN.add(self.username)
                    if len(OPEN) == len(PEOPLE):
                        ALL_OPEN.set()
                    for raw in socket:
                        frame = json.loads(raw)
                        if frame.get("type") == "message.created":
                            FRAMES[self.username].append(int(frame["data"]["id"]))
            except Exception as caught:
                error = caught
            OPEN.discard(self.username)
            if STOPPING.is_set():
                return
            events.request.fire(
                request_type="WS", name="/ws/events/ (closed)", response_time=0,
                response_length=0, exception=error or ConnectionError("closed by the server"),
                context={},
            )  # fmt: skip
            gevent.sleep(1)

    @task(5)
    def inbox(self) -> None:
        self.call("GET", "/api/v1/conversations/", "inbox (API)", headers=self.auth)

    @task(2)
    def inbox_page(self) -> None:
        self.call("GET", "/", "inbox (page)")

    @task(4)
    def conversation(self) -> None:
        other = random.choice(self.neighbours)
        path = f"/api/v1/conversations/{other}/messages/"
        self.call("GET", path, "conversation (API)", headers=self.auth)

    @task(2)
    def conversation_page(self) -> None:
        # As a browser following the site's own link: the page marks what it shows read.
        other = random.choice(self.neighbours)
        path = f"/conversations/{other}/"
        self.call("GET", path, "conversation (page)", headers={"Sec-Fetch-Site": "same-origin"})

    @task(1)
    def unread(self) -> None:
        self.call("GET", "/api/v1/messages/unread/count/", "unread count", headers=self.auth)

    @task(2)
    def send(self) -> None:
        key = uuid.uuid4().hex
        response = self.call(
            "POST", "/api/v1/messages/", "send (API)", 201,
            json={"receiver": self.partner, "content": f"day {key[:12]}"},
            headers={**self.auth, "Idempotency-Key": key},
        )  # fmt: skip
        if response.status_code == 201:
            SENDS.append(
                {"sender": self.username, "receiver": self.partner, "key": key,
                 "id": int(response.json()["id"]), "parent": None}
            )  # fmt: skip


@events.test_stop.add_listener
def _record(environment, **_kwargs) -> None:
    """Wait for the frame of every acknowledged send (or FRAME_WAIT s), then write it all."""
    expected = {(send["receiver"], send["id"]) for send in SENDS}
    deadline = time.monotonic() + FRAME_WAIT
    while time.monotonic() < deadline:
        heard = {(name, mid) for name, ids in FRAMES.items() for mid in ids}
        if expected <= heard:
            break
        gevent.sleep(0.1)
    STOPPING.set()
    for socket in SOCKETS.values():
        socket.close()
    stats = environment.stats
    rows = [
        {
            "name": entry.name,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": round(entry.total_rps, 1),
            "p50_ms": entry.get_response_time_percentile(0.5) or 0,
            "p99_ms": entry.get_response_time_percentile(0.99) or 0,
        }
        for entry in [*sorted(stats.entries.values(), key=lambda e: e.name), stats.total]
    ]
    failures = [f"{e.name}: {e.error} (x{e.occurrences})" for e in stats.errors.values()]
    failures += [f"{e['msg']} (x{e['count']})" for e in environment.runner.exceptions.values()]
    record = {"sends": SENDS, "frames": FRAMES, "requests": rows, "failures": failures}
    with open(os.environ["BENCH_RECORD"], "w") as out:
        json.dump(record, out)
