"""Fixtures for the API tests: clients authenticated as a user, by JWT or by session."""

from __future__ import annotations

import secrets
import string

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging.tests.factories import UserFactory

CSRF_SECRET_CHARS = string.ascii_letters + string.digits


def bearer(user) -> str:
    # An access token alone: no refresh token is stored (the blacklist app records those).
    return f"Bearer {AccessToken.for_user(user)}"


@pytest.fixture
def api():
    """`api(user)`: a JSON client sending the user's access token; `api()`: anonymous."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=bearer(user))
        return client

    return make


@pytest.fixture
def session_client():
    """`session_client(user)`: logged in by the session cookie, CSRF enforced as in a browser.

    It holds a CSRF cookie; `client.csrf_headers` is the matching header for unsafe methods.
    """

    def make(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        secret = "".join(secrets.choice(CSRF_SECRET_CHARS) for _ in range(32))
        client.cookies["csrftoken"] = secret
        client.csrf_headers = {"X-CSRFToken": secret}
        return client

    return make


@pytest.fixture
def dave(db):
    """A fourth person: the stranger of the permission matrix."""
    return UserFactory(username="dave")
