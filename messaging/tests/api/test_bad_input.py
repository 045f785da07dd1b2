"""Bad input of every kind: a 4xx with a clear message, nothing stored, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.exceptions import RequestDataTooBig

from messaging.api.exceptions import exception_handler
from messaging.models import Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db

TWO_MB = 2 * 1024 * 1024

# Every operation that reads a JSON body, with a valid body for it.
BODY_ENDPOINTS = [
    ("post", "/api/v1/auth/register/"),
    ("post", "/api/v1/auth/token/"),
    ("post", "/api/v1/auth/token/refresh/"),
    ("post", "/api/v1/messages/"),
    ("patch", "/api/v1/messages/{message}/"),
    ("delete", "/api/v1/users/me/"),
]


@pytest.fixture
def message(alice, bob, send):
    return send(alice, bob, "the original")


def stored() -> tuple:
    return (
        list(Message.objects.order_by("pk").values_list("pk", "content", "read")),
        MessageHistory.objects.count(),
        Notification.objects.count(),
    )


def call(client, method, path, message, body: bytes, content_type="application/json"):
    url = path.format(message=message.pk)
    return getattr(client, method)(url, data=body, content_type=content_type)


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b'{"content": NaN}',
        b'{"content": Infinity}',
        b"\xff\xfe\x00",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b'{"content": 1' + b"0" * 5000 + b"}",
    ],
    ids=["truncated", "text", "nan", "infinity", "bad-utf8", "deep-array", "deep-object", "bigint"],
)
def test_malformed_json_is_400_with_a_detail(api, alice, message, method, path, body):
    before = stored()

    response = call(api(alice), method, path, message, body)

    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
    assert stored() == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null", b"[{}]"])
def test_a_body_that_is_not_an_object_is_400(api, alice, message, method, path, body):
    before = stored()

    response = call(api(alice), method, path, message, body)

    assert response.status_code == 400
    assert stored() == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_unknown_fields_are_400_naming_them(api, alice, message, method, path):
    before = stored()

    response = call(
        api(alice), method, path, message, json.dumps({"surprise": 1, "also": [2]}).encode()
    )

    assert response.status_code == 400
    assert {"surprise", "also"} <= set(response.json())
    assert "Unknown field" in response.json()["surprise"][0]
    assert stored() == before


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
def test_a_2mb_body_is_413_and_stores_nothing(api, alice, message, method, path):
    before = stored()
    body = json.dumps({"content": "x" * TWO_MB, "receiver": "bob"}).encode()

    response = call(api(alice), method, path, message, body)

    assert response.status_code == 413
    assert set(response.json()) == {"detail"}
    assert stored() == before


def test_a_2mb_form_body_with_the_session_cookie_is_refused(session_client, alice, message):
    """The CSRF check reads a form body through the API's parser: JSON only, so 415."""
    before = stored()
    client = session_client(alice)

    response = client.post(
        "/api/v1/messages/",
        data="content=" + "x" * TWO_MB,
        content_type="application/x-www-form-urlencoded",
        headers=client.csrf_headers,
    )

    assert response.status_code == 415
    assert stored() == before


def test_djangos_own_body_limit_is_a_413_too(rf):
    """Whatever reads `request.body` past DATA_UPLOAD_MAX_MEMORY_SIZE raises
    RequestDataTooBig; the API's exception handler answers it with a 413, not a 400 page."""
    response = exception_handler(RequestDataTooBig("too big"), {"request": rf.post("/")})

    assert response.status_code == 413
    assert set(response.data) == {"detail"}


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS)
@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_that_is_not_json_is_415(api, alice, message, method, path, content_type):
    before = stored()

    response = call(api(alice), method, path, message, b"content=hi", content_type)

    assert response.status_code == 415
    assert set(response.json()) == {"detail"}
    assert stored() == before


def test_an_unknown_charset_is_read_as_utf8(api, alice, bob):
    response = api(alice).post(
        "/api/v1/messages/",
        data=json.dumps({"receiver": "bob", "content": "hi"}),
        content_type="application/json; charset=no-such-codec",
    )

    assert response.status_code == 201


def test_a_latin1_body_is_read_as_declared(api, alice, bob):
    response = api(alice).post(
        "/api/v1/messages/",
        data='{"receiver": "bob", "content": "café"}'.encode("latin-1"),
        content_type="application/json; charset=latin-1",
    )

    assert response.status_code == 201
    assert Message.objects.get().content == "café"


@pytest.mark.parametrize("content", ["\ud800", "a\udfffb"])
def test_lone_surrogates_are_400(api, alice, bob, content):
    body = json.dumps({"receiver": "bob", "content": content}, ensure_ascii=True)

    response = api(alice).post("/api/v1/messages/", data=body, content_type="application/json")

    assert response.status_code == 400
    assert not Message.objects.exists()


# Unknown ids and paths ---------------------------------------------------------


@pytest.mark.parametrize("message_id", ["0", "999999", str(2**63), "9" * 40])
@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "history/"),
        ("get", "thread/"),
        ("post", "read/"),
    ],
)
def test_unknown_message_ids_are_404(api, alice, message, message_id, method, suffix):
    before = stored()

    response = getattr(api(alice), method)(
        f"/api/v1/messages/{message_id}/{suffix}", {"content": "x"}
    )

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
    assert stored() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/messages/abc/",
        "/api/v1/messages/-1/",
        "/api/v1/messages/1.5/thread/",
        "/api/v1/notifications/x/read/",
        "/api/v1/nothing-here/",
        "/api/v1/messages",
        "/api/v1/messages/1%0A/",
        "/api/v1/%0A",
    ],
)
def test_other_api_paths_are_a_json_404(api, alice, path):
    for method in ("get", "post"):
        response = getattr(api(alice), method)(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_methods_an_endpoint_does_not_have_are_405(api, alice, message):
    client = api(alice)

    assert client.put(f"/api/v1/messages/{message.pk}/", {"content": "x"}).status_code == 405
    assert client.get("/api/v1/messages/").status_code == 405
    assert client.delete("/api/v1/conversations/").status_code == 405


# Pagination parameters ---------------------------------------------------------


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LIST_URLS = [
    "/api/v1/messages/unread/",
    "/api/v1/conversations/",
    "/api/v1/conversations/alice/messages/",
    "/api/v1/notifications/",
]


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize(
    "value",
    [
        "garbage!",
        "é",
        cursor("p=not-a-time"),
        cursor("p=2024-01-01 10:00:00"),
        cursor("p=2024-13-45 10:00:00%2B00:00"),
        cursor("p=%00"),
        cursor("o=-1"),
        cursor("o=x&p=2024-01-01"),
        cursor("r=x"),
    ],
)
def test_a_cursor_the_server_did_not_make_is_400(api, bob, message, url, value):
    response = api(bob).get(url, {"cursor": value})

    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", ""])
def test_a_page_size_that_is_not_a_whole_number_of_at_least_one_is_400(
    api, bob, message, url, value
):
    response = api(bob).get(url, {"page_size": value})

    assert response.status_code == 400
    assert list(response.json()) == ["page_size"]


@pytest.mark.parametrize("url", LIST_URLS)
def test_a_huge_page_size_is_capped(api, bob, message, url):
    response = api(bob).get(url, {"page_size": "9" * 30})

    assert response.status_code == 200
