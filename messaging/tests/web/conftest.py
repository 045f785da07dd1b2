import pytest
from django.test import Client

from messaging.tests.conftest import PASSWORD, SAME_ORIGIN


@pytest.fixture
def as_user():
    """A logged-in test client for `user`, holding a CSRF cookie like a browser does."""

    def _as(user, *, enforce_csrf_checks: bool = False) -> Client:
        # A browser following the site's own links says so (Sec-Fetch-Site).
        client = Client(enforce_csrf_checks=enforce_csrf_checks, headers=SAME_ORIGIN)
        client.force_login(user)
        # Any page with a form sets the CSRF cookie; the conversation page's caches use it.
        client.get("/")
        assert "csrftoken" in client.cookies
        return client

    return _as


@pytest.fixture
def password():
    return PASSWORD
