"""A person's mixed day, for Locust: log in, read the inbox, open a conversation, send,
and hold a socket open the whole time.

    locust -f bench/locustfile.py --host http://127.0.0.1:8000 \\
        --users 20 --spawn-rate 5 --run-time 2m --headless    # or without --headless: web UI

Runs against a server loaded with `python -m bench.dataset --manifest FILE`; the
manifest (`BENCH_MANIFEST`, default var/bench/manifest.json) names the people and
their shared password. The simulated people are the heaviest user's partners, each
writing to the next one, so each both sends and hears live events. Locust
shows requests, failures and percentiles as they come; the socket's frames count as
a "ws" entry per frame type, so a lost live event shows as a gap between sends and
frames.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

MANIFEST = Path(os.environ.get("BENCH_MANIFEST", "var/bench/manifest.json"))


def _manifest() -> dict:
    return json.loads(MANIFEST.read_text())


_people = None


def _next_person() -> tuple[str, str, str]:
    """(username, password, the person they write to), one partner after another.

    The people are the heaviest user's partners in a ring, each writing to the next,
    so every simulated person both sends and receives live events.
    """
    global _people
    if _people is None:
        manifest = _manifest()
        names = manifest["heavy"]["partner_usernames"]
        ring = zip(names, names[1:] + names[:1], strict=True)
        _people = itertools.cycle((name, manifest["password"], to) for name, to in ring)
    return next(_people)


class Person(HttpUser):
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.username, password, self.partner = _next_person()
        tokens = self.client.post(
            "/api/v1/auth/token/",
            json={"username": self.username, "password": password},
            name="/api/v1/auth/token/",
        ).json()
        self.auth = {"Authorization": f"Bearer {tokens['access']}"}
        # The pages: a session of their own, logged in through the log-in form.
        self.client.get("/accounts/login/", name="/accounts/login/")
        self.client.post(
            "/accounts/login/",
            data={"username": self.username, "password": password},
            headers={"X-CSRFToken": self.client.cookies.get("csrftoken", "")},
            name="/accounts/login/ (POST)",
        )
        self.socket = gevent.spawn(self._hold_socket, tokens["access"])

    def on_stop(self) -> None:
        self.socket.kill(block=False)

    def _hold_socket(self, access: str) -> None:
        """One socket for the whole run; each frame is reported like a request."""
        url = self.host.replace("http", "ws", 1) + f"/ws/events/?token={access}"
        while True:
            try:
                with connect(url, open_timeout=10) as socket:
                    opened = time.monotonic()
                    for raw in socket:
                        frame = json.loads(raw)
                        events.request.fire(
                            request_type="ws",
                            name=frame.get("type", "?"),
                            response_time=(time.monotonic() - opened) * 1000,
                            response_length=len(raw),
                            exception=None,
                            context={},
                        )
                        opened = time.monotonic()
            except (ConnectionClosed, OSError) as error:
                events.request.fire(
                    request_type="ws",
                    name="closed",
                    response_time=0,
                    response_length=0,
                    exception=error,
                    context={},
                )
                gevent.sleep(1)

    @task(5)
    def inbox(self) -> None:
        self.client.get("/api/v1/conversations/", headers=self.auth, name="inbox (API)")

    @task(2)
    def inbox_page(self) -> None:
        self.client.get("/", name="inbox (page)")

    @task(4)
    def conversation(self) -> None:
        self.client.get(
            f"/api/v1/conversations/{self.partner}/messages/",
            headers=self.auth,
            name="conversation (API)",
        )

    @task(2)
    def conversation_page(self) -> None:
        self.client.get(
            f"/conversations/{self.partner}/",
            headers={"Sec-Fetch-Site": "same-origin"},
            name="conversation (page)",
        )

    @task(1)
    def unread(self) -> None:
        self.client.get("/api/v1/messages/unread/count/", headers=self.auth, name="unread count")

    @task(2)
    def send(self) -> None:
        self.client.post(
            "/api/v1/messages/",
            json={"receiver": self.partner, "content": f"load {uuid.uuid4().hex[:12]}"},
            headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
            name="send (API)",
        )
