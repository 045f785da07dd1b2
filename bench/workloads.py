"""The benchmark's workloads, all as the dataset's heaviest user, and how wrk sends each.

API requests carry the user's JWT (`Authorization: Bearer`), page requests the user's
session and CSRF cookies; a POST to a page also carries the CSRF token and the site's
`Origin`, as a browser's form post does. Every request carries the TLS proxy's
`X-Forwarded-Proto: https` (added by `bench.ruler.wrk_command`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .harness import HOST

WRK_DIR = Path(__file__).resolve().parent / "wrk"
#: Every request a path never seen before: the page cache misses each time.
NOCACHE = "nocache.lua"
#: A new message per request (unique body and Idempotency-Key), receivers rotating.
SEND = "send.lua"
#: Heavy's busiest partners the sends rotate through.
SEND_PARTNERS = 50
#: A new message per request to heavy's 100-person group (unique body and Idempotency-Key).
GROUP_SEND = "group_send.lua"
#: A new text per request for one of heavy's own messages, the messages rotating.
EDIT = "edit.lua"
#: A POST with no body (wrk alone sends GETs).
POST = "post.lua"


@dataclass(frozen=True)
class Workload:
    key: str
    label: str
    #: "api" (JWT) or "page" (session cookie).
    kind: str
    #: Formatted with the manifest's `heavy` entry (`top_partner`, `thread_root`, `group`, ...).
    path: str
    method: str = "GET"
    script: str | None = None
    #: The manifest's `heavy` list of message ids that `{message}` in `path` rotates through.
    messages: str | None = None

    @property
    def read(self) -> bool:
        return self.method == "GET"

    def url_paths(self, heavy: dict[str, Any]) -> list[str]:
        """Every path the workload requests: one, or one per message it rotates through."""
        if self.messages is None:
            return [self.path.format(**heavy)]
        return [self.path.format(**heavy, message=pk) for pk in heavy[self.messages]]

    def url_path(self, heavy: dict[str, Any]) -> str:
        """The path of the first request (wrk's URL; a script may rotate from it)."""
        return self.url_paths(heavy)[0]

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
        # Each request misses the page cache; the `{% cache %}` of its messages and each
        # message's fragment stay warm, as they do for anyone reopening a conversation.
        "conversation, first page (page cache missed)",
        "page",
        "/conversations/{top_partner}/",
        script=NOCACHE,
    ),
    Workload("thread_api", "50-message thread", "api", "/api/v1/messages/{thread_root}/thread/"),
    Workload("thread_page", "50-message thread", "page", "/messages/{thread_root}/"),
    Workload("unread_count", "unread count", "api", "/api/v1/messages/unread/count/"),
    Workload("notifications_api", "notifications", "api", "/api/v1/notifications/"),
    Workload("notifications_page", "notifications", "page", "/notifications/"),
    # A word in about one of six of heavy's messages: ranking and a page of what it found.
    Workload("search_api", "message search", "api", "/api/v1/messages/search/?q={search_word}"),
    # Heavy's group of 100 people with the longest history (a fifth of the direct messages):
    # its newest page, each message with heavy's own read state.
    Workload(
        "group_api", "100-person group, first page", "api", "/api/v1/groups/{group}/messages/"
    ),
    # Writes last: the reads see the generated data only.
    Workload("send_api", "send", "api", "/api/v1/messages/", method="POST", script=SEND),
    Workload(
        "send_page", "send", "page", "/conversations/{top_partner}/", method="POST", script=SEND
    ),
    # One message to 99 others: their notifications in one statement, their 100 inbox rows
    # in one UPDATE; every request to the same group, as a busy group's senders are.
    Workload(
        "group_send_api",
        "send to a 100-person group",
        "api",
        "/api/v1/groups/{group}/messages/",
        method="POST",
        script=GROUP_SEND,
    ),
    # A new text each time (a history row, an edit notification) for heavy's own messages,
    # one per conversation, rotating: concurrent edits do not all wait on one row's lock.
    Workload(
        "edit_api",
        "edit",
        "api",
        "/api/v1/messages/{message}/",
        method="PATCH",
        script=EDIT,
        messages="sent_message_ids",
    ),
    Workload(
        "edit_page",
        "edit",
        "page",
        "/messages/{message}/edit/",
        method="POST",
        script=EDIT,
        messages="sent_message_ids",
    ),
    # The open conversation marking itself read: after the first request nothing is unread,
    # so this is the common case, a read that finds nothing to change.
    Workload(
        "mark_read_api",
        "mark conversation read (nothing unread)",
        "api",
        "/api/v1/conversations/{top_partner}/read/",
        method="POST",
        script=POST,
    ),
    # The same for the 100-person group: its first request moves heavy's read pointer past
    # what the dataset left unread; every later one finds nothing (heavy's own sends are
    # never unread to heavy).
    Workload(
        "group_read_api",
        "mark 100-person group read (nothing unread)",
        "api",
        "/api/v1/groups/{group}/read/",
        method="POST",
        script=POST,
    ),
]
BY_KEY = {workload.key: workload for workload in WORKLOADS}


def request_headers(workload: Workload, credentials: dict[str, str], port: int) -> dict[str, str]:
    """The headers of every request of `workload` (the script adds per-request ones)."""
    if workload.kind == "api":
        headers = {"Authorization": f"Bearer {credentials['jwt']}"}
        if not workload.read:
            headers["Content-Type"] = "application/json"
        return headers
    headers = {"Cookie": f"{credentials['session_cookie']}; {credentials['csrf_cookie']}"}
    if not workload.read:
        headers.update(
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRFToken": credentials["csrf_token"],
                "Origin": f"https://{HOST}:{port}",
            }
        )
    return headers


def script_env(workload: Workload, heavy: dict[str, Any]) -> dict[str, str]:
    """What the Lua script reads from its environment."""
    if workload.script == SEND:
        return {
            "BENCH_PARTNERS": ",".join(heavy["partner_usernames"][:SEND_PARTNERS]),
            "BENCH_SEND_FORM": "1" if workload.kind == "page" else "",
        }
    if workload.script == GROUP_SEND:
        return {}
    if workload.script == EDIT:
        return {
            "BENCH_PATHS": ",".join(workload.url_paths(heavy)),
            "BENCH_METHOD": workload.method,
            "BENCH_EDIT_FORM": "1" if workload.kind == "page" else "",
        }
    return {}


def check_body(workload: Workload, heavy: dict[str, Any], text: str) -> bytes | None:
    """The body of one request of `workload` saying `text` (new each time for an edit),
    as its script sends it: `bench.run`'s request before the load."""
    if workload.script == SEND:
        receiver = heavy["top_partner"]
        if workload.kind == "page":
            return urlencode({"receiver": receiver, "content": text}).encode()
        return json.dumps({"receiver": receiver, "content": text}).encode()
    if workload.script == GROUP_SEND:
        return json.dumps({"content": text}).encode()
    if workload.script == EDIT:
        if workload.kind == "page":
            return urlencode({"content": text}).encode()
        return json.dumps({"content": text}).encode()
    return None
