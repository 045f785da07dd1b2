"""How `make bench` asks wrk for each workload: command line, headers, Lua script, environment."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from bench import ruler
from bench.workloads import (
    BY_KEY,
    WORKLOADS,
    WRK_DIR,
    Workload,
    check_body,
    request_headers,
    script_env,
)

HEAVY = {
    "username": "heavy",
    "top_partner": "user000007",
    "thread_root": 4242,
    "partner_usernames": [f"user{n:06d}" for n in range(1, 101)],
    "sent_message_ids": list(range(9050, 9000, -1)),
    "search_word": "deploy",
    "group": 3,
}
CREDS = {
    "jwt": "header.payload.signature",
    "session_cookie": "__Host-sessionid=s3ss10n",
    "csrf_cookie": "__Host-csrftoken=c00k1e",
    "csrf_token": "t0k3n",
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
    """The wrk command line of one run of `workload` as `bench.run` builds it (through
    `ruler.run_wrk`), and the environment its script reads."""
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


def invocation(key: str, port: int = 8123):
    return wrk_invocation(BY_KEY[key], HEAVY, CREDS, port, duration=10, connections=16, threads=2)


def headers(cmd: list[str]) -> dict[str, str]:
    pairs = [cmd[i + 1] for i, part in enumerate(cmd) if part == "-H"]
    return dict(pair.split(": ", 1) for pair in pairs)


def test_an_api_read_carries_the_jwt_and_the_proxy_header_and_no_script():
    cmd, env = invocation("inbox_api")

    assert cmd[:7] == ["wrk", "-t2", "-c16", "-d10s", "--timeout", "10s", "--latency"]
    assert headers(cmd) == {
        "Authorization": "Bearer header.payload.signature",
        "X-Forwarded-Proto": "https",
    }
    assert "-s" not in cmd
    assert cmd[-1] == "http://127.0.0.1:8123/api/v1/conversations/"
    assert env == {}


def test_a_page_read_carries_the_session_and_csrf_cookies_not_the_jwt():
    cmd, _ = invocation("thread_page")

    assert headers(cmd) == {
        "Cookie": "__Host-sessionid=s3ss10n; __Host-csrftoken=c00k1e",
        "X-Forwarded-Proto": "https",
    }
    assert cmd[-1] == "http://127.0.0.1:8123/messages/4242/"


def test_an_uncached_read_goes_through_the_script_that_changes_the_query_string():
    cmd, _ = invocation("conversation_page_uncached")

    assert cmd[cmd.index("-s") + 1] == str(WRK_DIR / "nocache.lua")
    assert cmd[-1] == "http://127.0.0.1:8123/conversations/user000007/"
    cached, _ = invocation("conversation_page")
    assert "-s" not in cached


def test_an_api_send_posts_json_through_the_send_script_with_50_partners():
    cmd, env = invocation("send_api")

    assert cmd[cmd.index("-s") + 1] == str(WRK_DIR / "send.lua")
    assert headers(cmd)["Content-Type"] == "application/json"
    assert env["BENCH_PARTNERS"].split(",") == HEAVY["partner_usernames"][:50]
    assert env["BENCH_SEND_FORM"] == ""


def test_a_page_send_posts_a_form_with_the_csrf_token_and_the_sites_origin():
    cmd, env = invocation("send_page", port=9001)

    sent = headers(cmd)
    assert sent["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent["X-CSRFToken"] == "t0k3n"
    assert sent["Origin"] == "https://127.0.0.1:9001"
    assert "__Host-sessionid=s3ss10n" in sent["Cookie"]
    assert env["BENCH_SEND_FORM"] == "1"
    assert cmd[-1] == "http://127.0.0.1:9001/conversations/user000007/"


def test_the_send_script_gives_every_request_its_own_idempotency_key_and_body():
    script = (WRK_DIR / "send.lua").read_text()

    assert 'headers["Idempotency-Key"] = key' in script
    assert "benchmark message ' .. key" in script
    assert "os.time()" in script  # a new key space for every wrk started


def test_every_workload_has_a_script_that_exists():
    for workload in WORKLOADS:
        path = workload.script_path()
        assert path is None or path.exists(), workload.key


def test_the_rulers_own_invocation_is_unchanged_by_the_builder():
    cmd = ruler.wrk_command(
        8000, duration=3, connections=1, threads=1, headers={"Cookie": "sessionid=x"}
    )

    assert cmd == [
        "wrk", "-t1", "-c1", "-d3s", "--timeout", "10s", "--latency",
        "-H", "Cookie: sessionid=x", "-H", "X-Forwarded-Proto: https",
        "http://127.0.0.1:8000/ceiling/",
    ]  # fmt: skip


def test_the_uncached_script_never_repeats_a_query_string_across_runs():
    script = (WRK_DIR / "nocache.lua").read_text()

    assert 'started .. "-" .. thread_id .. "-" .. counter' in script
    assert "local started = os.time()" in script


def test_an_api_edit_patches_json_through_the_edit_script_rotating_over_heavys_messages():
    cmd, env = invocation("edit_api")

    assert cmd[cmd.index("-s") + 1] == str(WRK_DIR / "edit.lua")
    assert headers(cmd)["Content-Type"] == "application/json"
    assert headers(cmd)["Authorization"] == "Bearer header.payload.signature"
    assert env["BENCH_METHOD"] == "PATCH"
    assert env["BENCH_EDIT_FORM"] == ""
    assert env["BENCH_PATHS"].split(",") == [
        f"/api/v1/messages/{n}/" for n in range(9050, 9000, -1)
    ]
    assert cmd[-1] == "http://127.0.0.1:8123/api/v1/messages/9050/"


def test_a_page_edit_posts_a_form_with_the_csrf_token_and_the_sites_origin():
    cmd, env = invocation("edit_page", port=9001)

    sent = headers(cmd)
    assert sent["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent["X-CSRFToken"] == "t0k3n"
    assert sent["Origin"] == "https://127.0.0.1:9001"
    assert "__Host-sessionid=s3ss10n" in sent["Cookie"]
    assert env["BENCH_METHOD"] == "POST"
    assert env["BENCH_EDIT_FORM"] == "1"
    assert env["BENCH_PATHS"].split(",")[:2] == ["/messages/9050/edit/", "/messages/9049/edit/"]
    assert cmd[-1] == "http://127.0.0.1:9001/messages/9050/edit/"


def test_marking_read_posts_to_the_busiest_conversation_through_the_post_script():
    cmd, env = invocation("mark_read_api")

    assert BY_KEY["mark_read_api"].method == "POST"
    assert cmd[cmd.index("-s") + 1] == str(WRK_DIR / "post.lua")
    assert headers(cmd)["Authorization"] == "Bearer header.payload.signature"
    assert env == {}
    assert cmd[-1] == "http://127.0.0.1:8123/api/v1/conversations/user000007/read/"
    assert "nothing unread" in BY_KEY["mark_read_api"].label


def test_message_search_asks_the_api_for_the_manifests_word_as_heavy():
    cmd, env = invocation("search_api")

    assert headers(cmd)["Authorization"] == "Bearer header.payload.signature"
    assert "-s" not in cmd and env == {}
    assert cmd[-1] == "http://127.0.0.1:8123/api/v1/messages/search/?q=deploy"


def test_the_writes_come_after_every_read():
    reads = [w.read for w in WORKLOADS]

    assert reads == sorted(reads, reverse=True)
    assert [w.key for w in WORKLOADS if not w.read][-4:] == [
        "edit_api",
        "edit_page",
        "mark_read_api",
        "group_read_api",
    ]


def test_the_check_request_before_the_load_has_the_body_the_script_sends():
    assert json.loads(check_body(BY_KEY["edit_api"], HEAVY, "check 1")) == {"content": "check 1"}
    assert check_body(BY_KEY["edit_page"], HEAVY, "check 1") == b"content=check+1"
    assert json.loads(check_body(BY_KEY["send_api"], HEAVY, "c")) == {
        "receiver": "user000007",
        "content": "c",
    }
    assert check_body(BY_KEY["send_page"], HEAVY, "c") == b"receiver=user000007&content=c"
    assert check_body(BY_KEY["mark_read_api"], HEAVY, "c") is None
    assert json.loads(check_body(BY_KEY["group_send_api"], HEAVY, "c")) == {"content": "c"}
    assert check_body(BY_KEY["group_read_api"], HEAVY, "c") is None
    assert check_body(BY_KEY["inbox_api"], HEAVY, "c") is None


def test_the_edit_script_gives_every_request_its_own_text():
    script = (WRK_DIR / "edit.lua").read_text()

    assert 'local key = "bench-" .. started .. "-" .. thread_id .. "-" .. counter' in script
    assert "local started = os.time()" in script
    assert 'body = "content=benchmark+edit+" .. key' in script
    assert """body = '{"content": "benchmark edit ' .. key .. '"}'""" in script
    assert "wrk.format(method, path, nil, body)" in script


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the servers wrk measures
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append((self.command, self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, *args):
        pass


def _through_wrk(key: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """What wrk really sends for `key` (its Lua script run), for a second."""
    _Recorder.seen = seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        cmd, env = wrk_invocation(
            BY_KEY[key],
            HEAVY,
            CREDS,
            server.server_address[1],
            duration=1,
            connections=2,
            threads=2,
        )
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert len(seen) > 20
    return seen


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")


@needs_wrk
def test_wrk_running_the_edit_script_patches_a_new_text_to_many_messages():
    seen = _through_wrk("edit_api")

    assert {method for method, _, _, _ in seen} == {"PATCH"}
    contents = [json.loads(body)["content"] for _, _, _, body in seen]
    assert len(set(contents)) == len(contents)
    assert all(content.startswith("benchmark edit bench-") for content in contents)
    paths = {path for _, path, _, _ in seen}
    assert len(paths) > 10
    assert paths <= {f"/api/v1/messages/{n}/" for n in HEAVY["sent_message_ids"]}
    assert all(h["Authorization"] == "Bearer header.payload.signature" for _, _, h, _ in seen)


@needs_wrk
def test_wrk_running_the_edit_script_for_the_page_posts_a_form_with_the_token():
    seen = _through_wrk("edit_page")

    assert {method for method, _, _, _ in seen} == {"POST"}
    contents = [parse_qs(body.decode())["content"][0] for _, _, _, body in seen]
    assert len(set(contents)) == len(contents)
    assert all(path.endswith("/edit/") for _, path, _, _ in seen)
    assert all(h["X-CSRFToken"] == "t0k3n" for _, _, h, _ in seen)


@needs_wrk
def test_wrk_running_the_post_script_posts_an_empty_body():
    seen = _through_wrk("mark_read_api")

    assert {(method, path) for method, path, _, _ in seen} == {
        ("POST", "/api/v1/conversations/user000007/read/")
    }
    assert all(h["Content-Length"] == "0" and body == b"" for _, _, h, body in seen)


def test_the_group_workloads_post_to_heavys_group_as_the_api_contract_says():
    send, send_env = invocation("group_send_api")
    read, read_env = invocation("group_read_api")
    page, _ = invocation("group_api")

    assert send[-1].endswith("/api/v1/groups/3/messages/")
    assert send[send.index("-s") + 1] == str(WRK_DIR / "group_send.lua")
    assert headers(send)["Content-Type"] == "application/json"
    assert read[-1].endswith("/api/v1/groups/3/read/")
    assert read[read.index("-s") + 1] == str(WRK_DIR / "post.lua")
    assert page[-1].endswith("/api/v1/groups/3/messages/") and "-s" not in page
    assert send_env == read_env == {}


@needs_wrk
def test_wrk_running_the_group_send_script_posts_a_new_message_each_time_to_the_group():
    seen = _through_wrk("group_send_api")

    assert {(method, path) for method, path, _, _ in seen} == {
        ("POST", "/api/v1/groups/3/messages/")
    }
    bodies = [json.loads(body) for _, _, _, body in seen]
    assert all(set(body) == {"content"} for body in bodies)
    contents = [body["content"] for body in bodies]
    keys = [h["Idempotency-Key"] for _, _, h, _ in seen]
    assert len(set(contents)) == len(contents) and len(set(keys)) == len(keys)
    assert all(
        content == f"benchmark group message {key}"
        for content, key in zip(contents, keys, strict=True)
    )
    assert all(h["Authorization"] == "Bearer header.payload.signature" for _, _, h, _ in seen)
