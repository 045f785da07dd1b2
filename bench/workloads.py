"""The benchmark's workloads, all as the dataset's heaviest user, and how wrk sends each.

API requests carry the user's JWT (`Authorization: Bearer`), page requests the user's
session and CSRF cookies; a POST to a page also carries the CSRF token and the site's
`Origin`, as a browser's form post does. Every request carries the TLS proxy's
`X-Forwarded-Proto: https` (added by `bench.ruler.wrk_command`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import ruler

WRK_DIR = Path(__file__).resolve().parent / "wrk"
#: Every request a path never seen before: the page cache misses each time.
NOCACHE = "nocache.lua"
#: A new message per request (unique body and Idempotency-Key), receivers rotating.
SEND = "send.lua"
#: Heavy's busiest partners the sends rotate through.
SEND_PARTNERS = 50


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    #: "api" (JWT) or "page" (session cookie).
    kind: str
    #: Formatted with the manifest's `heavy` entry (`top_partner`, `thread_root`, ...).
    path: str
    method: str = "GET"
    script: str | None = None

    @property
    def read(self) -> bool:
        return self.method == "GET"

    def url_path(self, heavy: dict[str, Any]) -> str:
        return self.path.format(**heavy)

    def script_path(self) -> Path | None:
        return WRK_DIR / self.script if self.script else None


WORKLOADS = [
    Workload("inbox_api", "inbox", "api", "/api/v1/conversations/"),
    Workload("inbox_page", "inbox", "page", "/"),
    Workload(
        "conversation_api",
        "conversation, first page (cached)",
        "api",
        "/api/v1/conversations/{top_partner}/messages/",
    ),
    Workload(
        "conversation_api_uncached",
        "conversation, first page (uncached)",
        "api",
        "/api/v1/conversations/{top_partner}/messages/",
        script=NOCACHE,
    ),
    Workload(
        "conversation_page",
        "conversation, first page (cached)",
        "page",
        "/conversations/{top_partner}/",
    ),
    Workload(
        "conversation_page_uncached",
        "conversation, first page (uncached)",
        "page",
        "/conversations/{top_partner}/",
        script=NOCACHE,
    ),
    Workload("thread_api", "50-message thread", "api", "/api/v1/messages/{thread_root}/thread/"),
    Workload("thread_page", "50-message thread", "page", "/messages/{thread_root}/"),
    Workload("unread_count", "unread count", "api", "/api/v1/messages/unread/count/"),
    Workload("notifications_api", "notifications", "api", "/api/v1/notifications/"),
    Workload("notifications_page", "notifications", "page", "/notifications/"),
    # Sends last: the reads see the generated data only.
    Workload("send_api", "send", "api", "/api/v1/messages/", method="POST", script=SEND),
    Workload(
        "send_page", "send", "page", "/conversations/{top_partner}/", method="POST", script=SEND
    ),
]
BY_KEY = {workload.key: workload for workload in WORKLOADS}


def request_headers(workload: Workload, credentials: dict[str, str], port: int) -> dict[str, str]:
    """The headers of every request of `workload` (the script adds per-request ones)."""
    if workload.kind == "api":
        headers = {"Authorization": f"Bearer {credentials['jwt']}"}
        if workload.method == "POST":
            headers["Content-Type"] = "application/json"
        return headers
    headers = {"Cookie": f"{credentials['session_cookie']}; {credentials['csrf_cookie']}"}
    if workload.method == "POST":
        headers.update(
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": credentials["csrf_token"],
                "Origin": f"https://{ruler.HOST}:{port}",
            }
        )
    return headers


def script_env(workload: Workload, heavy: dict[str, Any]) -> dict[str, str]:
    """What the Lua script reads from its environment."""
    if workload.script != SEND:
        return {}
    return {
        "BENCH_PARTNERS": ",".join(heavy["partner_usernames"][:SEND_PARTNERS]),
        "BENCH_SEND_FORM": "1" if workload.kind == "page" else "",
    }


def wrk_invocation(
    workload: Workload,
    heavy: dict[str, Any],
    credentials: dict[str, str],
    port: int,
    *,
    duration: float,
    connections: int,
    threads: int,
) -> tuple[list[str], dict[str, str]]:
    """The wrk command line of one run of `workload`, and the environment its script reads."""
    cmd = ruler.wrk_command(
        port,
        duration=duration,
        connections=connections,
        threads=threads,
        path=workload.url_path(heavy),
        headers=request_headers(workload, credentials, port),
        script=workload.script_path(),
    )
    return cmd, script_env(workload, heavy)
