"""The OpenAPI schema: served publicly, valid, and documenting every path and answer."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

# Every row of ../shared/API.md: (method, path) as the schema names them.
CONTRACT = {
    ("post", "/api/v1/auth/register/"),
    ("post", "/api/v1/auth/token/"),
    ("post", "/api/v1/auth/token/refresh/"),
    ("post", "/api/v1/auth/logout/"),
    ("post", "/api/v1/users/me/password/"),
    ("get", "/api/v1/users/me/"),
    ("get", "/api/v1/users/me/export/"),
    ("delete", "/api/v1/users/me/"),
    ("post", "/api/v1/messages/"),
    ("get", "/api/v1/messages/{id}/"),
    ("patch", "/api/v1/messages/{id}/"),
    ("delete", "/api/v1/messages/{id}/"),
    ("get", "/api/v1/messages/{id}/history/"),
    ("get", "/api/v1/messages/{id}/thread/"),
    ("post", "/api/v1/messages/{id}/read/"),
    ("get", "/api/v1/messages/unread/"),
    ("get", "/api/v1/messages/unread/count/"),
    ("get", "/api/v1/conversations/"),
    ("get", "/api/v1/conversations/{username}/messages/"),
    ("post", "/api/v1/conversations/{username}/read/"),
    ("get", "/api/v1/notifications/"),
    ("get", "/api/v1/notifications/unread-count/"),
    ("post", "/api/v1/notifications/{id}/read/"),
    ("post", "/api/v1/notifications/read-all/"),
    ("get", "/api/v1/users/"),
    ("get", "/api/v1/messages/search/"),
    ("post", "/api/v1/groups/"),
    ("get", "/api/v1/groups/"),
    ("get", "/api/v1/groups/{id}/"),
    ("patch", "/api/v1/groups/{id}/"),
    ("post", "/api/v1/groups/{id}/members/"),
    ("delete", "/api/v1/groups/{id}/members/{username}/"),
    ("get", "/api/v1/groups/{id}/messages/"),
    ("post", "/api/v1/groups/{id}/messages/"),
    ("post", "/api/v1/groups/{id}/read/"),
}
# Added since, as the contract allows (documented here and in the schema).
ADDED = {
    ("get", "/api/v1/users/me/blocked/"),
    ("post", "/api/v1/users/{username}/block/"),
    ("delete", "/api/v1/users/{username}/block/"),
}
PUBLIC = {("post", "/api/v1/auth/register/"), ("post", "/api/v1/auth/token/")} | {
    ("post", "/api/v1/auth/token/refresh/"),
    ("post", "/api/v1/auth/logout/"),
}


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_schema_is_public_json_openapi_3(client):
    response = client.get("/api/v1/schema/")

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    assert response.json()["openapi"].startswith("3.")


def test_schema_is_also_served_as_yaml(client):
    response = client.get("/api/v1/schema/?format=yaml")

    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3")


def test_docs_page_is_public(client):
    page = client.get("/api/v1/docs/")
    script = client.get("/api/v1/docs/?script=")

    assert page.status_code == 200
    assert b"<script" in page.content and b"swagger-ui" in page.content
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"/api/v1/schema/" in script.content


def test_schema_validates_without_warnings(tmp_path):
    """What CI runs: `manage.py spectacular --validate --fail-on-warn`."""
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))

    assert (tmp_path / "s.yaml").read_text().startswith("openapi: 3")


def test_every_row_of_the_contract_is_in_the_schema(schema):
    documented = {(method, path) for method, path, _ in operations(schema)}

    assert documented == CONTRACT | ADDED


def test_every_operation_documents_each_answer_it_can_give(schema):
    for method, path, operation in operations(schema):
        codes = set(operation["responses"])
        label = f"{method.upper()} {path}"
        assert "429" in codes, label
        assert "Retry-After" in operation["responses"]["429"]["headers"], label
        if (method, path) not in PUBLIC:
            assert "401" in codes, label
            assert operation["security"] == [{"jwtAuth": []}, {"cookieAuth": []}], label
        if "{" in path:
            assert "404" in codes, label
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, label
        if method in {"post", "patch", "delete"} and (method, path) not in PUBLIC:
            assert "403" in codes, label  # the session cookie without its CSRF token
        if operation.get("parameters") and any(
            p["name"] in {"cursor", "page_size", "unread", "q"} for p in operation["parameters"]
        ):
            assert "400" in codes, label


def test_request_bodies_refuse_unknown_fields(schema):
    components = schema["components"]["schemas"]
    requests = [name for name in components if name.endswith("Request")]

    assert requests
    for name in requests:
        assert components[name]["additionalProperties"] is False, name


def test_the_shapes_match_the_contract(schema):
    components = schema["components"]["schemas"]

    def properties(name):
        return set(components[name]["properties"])

    assert properties("User") == {"id", "username", "email", "date_joined"}
    assert properties("Message") == {
        "id",
        "sender",
        "receiver",
        "group",
        "content",
        "timestamp",
        "edited",
        "read",
        "parent_message",
        "thread_root",
        "reply_count",
    }
    assert properties("ThreadMessage") == properties("Message") | {"replies"}
    assert properties("Notification") == {
        "id",
        "kind",
        "message",
        "actor",
        "text",
        "created_at",
        "read",
    }
    assert properties("Conversation") == {"partner", "group", "last_message", "unread_count"}
    assert properties("Group") == {"id", "name", "members", "created_by", "created_at"}
    for page in (
        "PaginatedMessageList",
        "PaginatedConversationList",
        "PaginatedNotificationList",
        "PaginatedPersonList",
    ):
        assert properties(page) == {"next", "previous", "results"}
    assert properties("Person") == {"id", "username"}
    assert properties("Export") == {
        "user",
        "messages_sent",
        "messages_received",
        "groups",
        "group_messages_received",
        "history",
        "notifications",
    }


def test_send_documents_the_idempotency_key(schema):
    send = schema["paths"]["/api/v1/messages/"]["post"]

    header = next(p for p in send["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert re.search("retry", send["description"])


def test_people_search_documents_q_and_its_page(schema):
    search = schema["paths"]["/api/v1/users/"]["get"]
    parameters = {p["name"]: p for p in search["parameters"]}

    assert parameters["q"]["required"] is True
    assert (
        parameters["q"]["schema"] | {"minLength": 2, "maxLength": 150} == parameters["q"]["schema"]
    )
    assert "20" in parameters["page_size"]["description"]
