"""A database that cannot be reached answers 503 with Retry-After, never a 500."""

from unittest import mock

import pytest
from django.db import IntegrityError, OperationalError

from messaging import selectors

from .conftest import PASSWORD


@pytest.fixture
def outage():
    failure = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")
    with mock.patch.object(selectors, "conversation_list", side_effect=failure):
        yield


def test_api_answers_503_with_retry_after_during_an_outage(client, alice, outage):
    token = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD},
        content_type="application/json",
    ).json()["access"]

    response = client.get("/api/v1/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "retry" in response.json()["detail"]


def test_pages_answer_a_friendly_503_during_an_outage(client, alice, outage):
    client.force_login(alice)

    response = client.get("/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Nothing you sent is lost" in response.content


def test_other_database_errors_stay_errors(client, alice):
    client.force_login(alice)
    client.raise_request_exception = True
    with (
        mock.patch.object(selectors, "conversation_list", side_effect=IntegrityError("bug")),
        pytest.raises(IntegrityError),
    ):
        client.get("/")


def test_readiness_is_503_while_the_database_is_unreachable(client, db):
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("server closed the connection unexpectedly"),
    ):
        response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
