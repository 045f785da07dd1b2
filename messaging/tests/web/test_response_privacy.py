"""A response to a signed-in request is never stored by a browser or a shared cache.

Every such response says `Cache-Control: private, no-store` and varies on the
credentials that signed it in (`Cookie` for the session, `Authorization` for a
Bearer token). Responses nobody signed in for (the log-in and sign-up pages,
static files, /healthz, the public OpenAPI schema, refusals of anonymous
requests) carry exactly the headers they would carry without this rule.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, modify_settings
from django.utils.cache import add_never_cache_headers, cc_delim_re

from messaging.tests.api.conftest import bearer

MIDDLEWARE = "config.middleware.PrivateResponseMiddleware"
STATIC_FILE = "/static/messaging/app.css"

#: Pages for people in a browser: the session signs in, a Bearer token does not.
PAGES = [
    "/",
    "/notifications/",
    "/account/",
    "/account/export/",
    "/live/counts/",
    "/conversations/carol/",
    "/search/?q=hello",
]
#: The API: either credential signs in.
API = [
    "/api/v1/users/me/",
    "/api/v1/users/me/export/",
    "/api/v1/users/me/blocked/",
    "/api/v1/users/?q=ca",
    "/api/v1/messages/search/?q=hello",
    "/api/v1/conversations/",
    "/api/v1/conversations/carol/messages/",
    "/api/v1/messages/unread/",
    "/api/v1/messages/unread/count/",
    "/api/v1/notifications/",
    "/api/v1/notifications/unread-count/",
]
#: Served the same to everyone, whoever asks.
PUBLIC = ["/accounts/signup/", "/healthz", "/api/v1/schema/", STATIC_FILE]

SIGNED_IN = [
    *((path, "session", "cookie") for path in [*PAGES, *API]),
    *((path, "jwt", "authorization") for path in API),
]
NOT_SIGNED_IN = [
    *((path, "anonymous") for path in [*PAGES, *API, *PUBLIC, "/accounts/login/"]),
    # Pages do not read tokens: a token alone is nobody there.
    *((path, "jwt") for path in PAGES),
    # The schema reads no credentials and static files are served before anyone is asked.
    *((path, auth) for path in ["/api/v1/schema/", STATIC_FILE] for auth in ("session", "jwt")),
]
#: What `add_never_cache_headers` says: the per-user cached conversation pages keep it.
NEVER_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"


@pytest.fixture(autouse=True)
def _static_files_from_the_source_tree(settings):
    # Tests run without collectstatic: let WhiteNoise find the files where they are.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture
def people(alice, bob, carol, send):
    send(alice, carol, "alice to carol")
    send(carol, alice, "carol to alice")
    send(bob, alice, "bob to alice")
    return {"alice": alice}


def client_as(auth: str, user) -> Client:
    """A fresh client (middleware as the settings say now), signed in as `auth` says."""
    if auth == "jwt":
        return Client(HTTP_AUTHORIZATION=bearer(user))
    client = Client()
    if auth == "session":
        client.force_login(user)
        client.get("/")  # a CSRF cookie, as a browser holds after any page with a form
    return client


def directives(response) -> dict[str, str | None]:
    found = {}
    for directive in cc_delim_re.split(response.get("Cache-Control", "")):
        if directive.strip():
            name, _, value = directive.strip().partition("=")
            found[name.lower()] = value or None
    return found


def vary(response) -> set[str]:
    return {name.strip().lower() for name in cc_delim_re.split(response.get("Vary", "")) if name}


@pytest.mark.parametrize(("path", "auth", "credential"), SIGNED_IN)
def test_signed_in_responses_are_private_and_never_stored(people, path, auth, credential):
    response = client_as(auth, people["alice"]).get(path)

    assert response.status_code == 200, (path, response.status_code)
    cache_control = directives(response)
    assert "private" in cache_control, response.get("Cache-Control")
    assert "no-store" in cache_control, response.get("Cache-Control")
    assert "public" not in cache_control
    assert credential in vary(response), response.get("Vary")


@pytest.mark.parametrize(("path", "auth"), NOT_SIGNED_IN)
def test_responses_nobody_signed_in_for_are_untouched(people, path, auth):
    measured = client_as(auth, people["alice"]).get(path)
    with modify_settings(MIDDLEWARE={"remove": [MIDDLEWARE]}):
        baseline = client_as(auth, people["alice"]).get(path)

    assert measured.status_code == baseline.status_code
    assert measured.status_code in {200, 302, 401}, (path, measured.status_code)
    assert measured.get("Cache-Control") == baseline.get("Cache-Control")
    assert measured.get("Vary") == baseline.get("Vary")


def test_a_static_file_keeps_its_caching_for_someone_signed_in(people):
    response = client_as("session", people["alice"]).get(STATIC_FILE)

    assert response.status_code == 200
    assert "no-store" not in directives(response)


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/conversations/carol/", "session"),
        ("/api/v1/conversations/carol/messages/", "session"),
        ("/api/v1/conversations/carol/messages/", "jwt"),
    ],
)
def test_cached_conversation_pages_keep_their_own_directives(people, path, auth):
    client = client_as(auth, people["alice"])

    miss, hit = client.get(path), client.get(path)

    for response in (miss, hit):
        assert response.status_code == 200
        assert response["Cache-Control"] == NEVER_CACHE
        assert {"authorization", "cookie"} <= vary(response)


def test_a_bearer_token_and_a_session_vary_on_the_token_that_answered(people, bob):
    # Bearer authentication comes first; the response is the token's, whatever the cookie.
    client = client_as("session", bob)

    response = client.get("/api/v1/users/me/", HTTP_AUTHORIZATION=bearer(people["alice"]))

    assert response.json()["username"] == "alice"
    assert "no-store" in directives(response)
    assert "authorization" in vary(response)


def test_directives_a_view_set_are_merged_not_replaced(rf, alice):
    from config.middleware import PrivateResponseMiddleware

    def view(request):
        response = HttpResponse("hello")
        response["Cache-Control"] = "public, max-age=600"
        return response

    request = rf.get("/")
    request.user = alice

    response = PrivateResponseMiddleware(view)(request)

    assert directives(response) == {"max-age": "600", "private": None, "no-store": None}


def test_a_response_already_private_keeps_its_directives(rf, alice):
    from config.middleware import PrivateResponseMiddleware

    def view(request):
        response = HttpResponse("hello")
        add_never_cache_headers(response)
        return response

    request = rf.get("/")
    request.user = alice

    response = PrivateResponseMiddleware(view)(request)

    assert response["Cache-Control"] == NEVER_CACHE
    assert vary(response) == {"cookie"}


def test_an_answer_that_never_asked_who_is_signed_in_costs_no_query(
    people, django_assert_num_queries
):
    # /healthz never looks at the user: the session cookie alone decides, without the
    # session and user lookups that asking would cost (and that fail while the database
    # is down).
    client = client_as("session", people["alice"])

    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert "no-store" in directives(response)
    assert "cookie" in vary(response)


def test_a_signed_in_request_during_a_database_outage_is_still_answered(people):
    client = client_as("session", people["alice"])
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("connection refused"),
    ):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert "no-store" in directives(response)


def test_it_sees_the_final_response():
    # Outermost: no other middleware can change a response after it.
    assert settings.MIDDLEWARE[0] == MIDDLEWARE
