"""How `make bench` asks wrk for each workload: command line, headers, Lua script, environment."""

from __future__ import annotations

from bench import ruler
from bench.workloads import BY_KEY, WORKLOADS, WRK_DIR, wrk_invocation

HEAVY = {
    "username": "heavy",
    "top_partner": "user000007",
    "thread_root": 4242,
    "partner_usernames": [f"user{n:06d}" for n in range(1, 101)],
}
CREDS = {
    "jwt": "header.payload.signature",
    "session_cookie": "__Host-sessionid=s3ss10n",
    "csrf_cookie": "__Host-csrftoken=c00k1e",
    "csrf_token": "t0k3n",
}


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
