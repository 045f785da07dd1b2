"""The benchmark's workloads, all as the dataset's heaviest user: one list, read by every step."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRK_DIR = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    method: str
    #: Formatted with the manifest's `heavy` entry (`top_partner`, `thread_root`, ...).
    path: str
    #: A read that the ">= 60% of the ceiling" target applies to.
    read: bool = True
    #: A wrk Lua script in bench/wrk/ shaping each request (None: the same GET every time).
    script: str | None = None
    note: str = ""

    def url_path(self, heavy: dict[str, Any]) -> str:
        return self.path.format(**heavy)

    def script_path(self) -> Path | None:
        return WRK_DIR / self.script if self.script else None


CEILING = Workload(
    "ceiling",
    "ceiling (constant JSON)",
    "GET",
    "/bench/ceiling/",
    read=False,
    note="authenticated constant body: the server, JWT, permission and throttle only",
)

WORKLOADS = [
    CEILING,
    Workload("inbox", "inbox", "GET", "/api/v1/conversations/"),
    Workload(
        "conversation",
        "conversation page (cached)",
        "GET",
        "/api/v1/conversations/{top_partner}/messages/",
        note="first page with the busiest partner, as the app serves it (per-request cache_page)",
    ),
    Workload(
        "conversation_uncached",
        "conversation page (uncached)",
        "GET",
        "/api/v1/conversations/{top_partner}/messages/",
        script="nocache.lua",
        note="the same page with a query string new on every request: each one is a cache miss",
    ),
    Workload("thread", "50-message thread", "GET", "/api/v1/messages/{thread_root}/thread/"),
    Workload("unread_count", "unread count", "GET", "/api/v1/messages/unread/count/"),
    Workload(
        "send",
        "send",
        "POST",
        "/api/v1/messages/",
        read=False,
        script="send.lua",
        note="a new message per request, receivers rotating through heavy's 50 busiest partners",
    ),
]

BY_KEY = {workload.key: workload for workload in WORKLOADS}
