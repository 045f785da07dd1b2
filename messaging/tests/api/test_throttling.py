"""Rate limits: RATE_LIMIT_AUTH per IP, RATE_LIMIT_SEND per user on sends,
RATE_LIMIT_USER per user on every request; 429 with Retry-After. RATE_LIMIT_SEARCH:
tests/api/test_people_search.py."""

from __future__ import annotations

import pytest

from messaging.models import Message
from messaging.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    """`rates(auth=..., send=..., user=..., search=...)`: the rate strings for this test."""

    def set_rates(auth="1000/min", send="1000/min", user="1000/min", search="1000/min"):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"auth": auth, "send": send, "user": user, "search": search},
        }

    return set_rates


def assert_throttled(response) -> None:
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}),
        ("/api/v1/auth/register/", {"username": "", "password": ""}),
        ("/api/v1/auth/token/refresh/", {"refresh": "nope"}),
    ],
)
def test_auth_attempts_are_limited_per_ip(api, alice, rates, path, body):
    rates(auth="3/min")
    client = api()

    statuses = [client.post(path, body).status_code for _ in range(3)]
    throttled = client.post(path, body)

    assert 429 not in statuses
    assert_throttled(throttled)
    # Another IP trying another account is not held back by this one's attempts.
    elsewhere = {**body, "username": "somebody-else"} if body.get("username") else body
    other_ip = client.post(path, elsewhere, REMOTE_ADDR="10.0.0.2")
    assert other_ip.status_code != 429


def test_a_forged_forwarded_for_header_does_not_reset_the_auth_limit(api, alice, rates):
    rates(auth="2/min")
    client = api()

    # Another account each time, so that only the per-IP limit can hold them back.
    statuses = [
        client.post(
            "/api/v1/auth/token/",
            {"username": f"someone{i}", "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"10.9.8.{i}",
        ).status_code
        for i in range(3)
    ]

    assert statuses == [401, 401, 429]


def test_behind_a_proxy_the_limit_follows_the_address_the_proxy_appended(
    api, alice, rates, settings
):
    rates(auth="2/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    client = api()

    def attempt(i: int, forwarded_for: str) -> int:
        body = {"username": f"someone{i}", "password": "wrong"}
        return client.post(
            "/api/v1/auth/token/", body, HTTP_X_FORWARDED_FOR=forwarded_for
        ).status_code

    # The client forges a new first address each time; the proxy appends the real one.
    statuses = [attempt(i, f"10.9.8.{i}, 203.0.113.7") for i in range(3)]
    elsewhere = attempt(9, "10.9.8.1, 203.0.113.8")

    assert statuses == [401, 401, 429]
    assert elsewhere == 401


def test_auth_limit_counts_register_token_and_refresh_together(api, alice, rates):
    rates(auth="2/min")
    client = api()
    client.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})
    client.post("/api/v1/auth/token/refresh/", {"refresh": "nope"})

    assert_throttled(client.post("/api/v1/auth/register/", {"username": "x", "password": "y"}))


def test_sends_are_limited_per_user(api, alice, bob, carol, rates):
    rates(send="2/min")
    client = api(alice)

    for _ in range(2):
        assert (
            client.post("/api/v1/messages/", {"receiver": "bob", "content": "hi"}).status_code
            == 201
        )
    throttled = client.post("/api/v1/messages/", {"receiver": "bob", "content": "hi"})

    assert_throttled(throttled)
    assert Message.objects.count() == 2
    # Reads are not sends, and other people send on their own budget.
    assert client.get("/api/v1/messages/unread/").status_code == 200
    assert (
        api(carol).post("/api/v1/messages/", {"receiver": "bob", "content": "hi"}).status_code
        == 201
    )


def test_every_request_is_limited_per_user(api, alice, bob, rates):
    rates(user="3/min")
    client = api(alice)

    statuses = [
        client.get("/api/v1/users/me/").status_code,
        client.get("/api/v1/conversations/").status_code,
        client.get("/api/v1/notifications/unread-count/").status_code,
    ]
    throttled = client.get("/api/v1/messages/unread/")

    assert statuses == [200, 200, 200]
    assert_throttled(throttled)
    assert api(bob).get("/api/v1/users/me/").status_code == 200


def test_the_user_limit_applies_to_sends_too(api, alice, bob, rates):
    rates(user="1/min")
    client = api(alice)
    client.get("/api/v1/users/me/")

    assert_throttled(client.post("/api/v1/messages/", {"receiver": "bob", "content": "hi"}))
    assert not Message.objects.exists()


def test_anonymous_callers_get_401_not_429(api, db, rates):
    rates(user="1/min")
    client = api()

    assert [client.get("/api/v1/users/me/").status_code for _ in range(3)] == [401, 401, 401]


def test_a_cache_that_fails_lets_requests_through(api, alice, rates, monkeypatch):
    rates(user="1/min")

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle.cache, "get", broken)
    client = api(alice)

    assert [client.get("/api/v1/users/me/").status_code for _ in range(3)] == [200, 200, 200]
