from unittest import mock

import pytest
from django.core.cache import cache

from messaging import services

from .factories import UserFactory
from .utils import each_event

PASSWORD = "correct horse battery staple"
#: What a browser sends when a person follows one of the site's own links.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (on Redis this flushes the configured database)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def carol(db):
    return UserFactory(username="carol")


@pytest.fixture
def published():
    """Every live event handed to the channel layer after a commit, as calls
    `(user_id, type, data)` in the order they go out."""
    calls = mock.Mock()
    with mock.patch(
        "messaging.realtime.publishing.submit", side_effect=lambda batch: each_event(batch, calls)
    ):
        yield calls


@pytest.fixture
def send():
    """Send through the service, as every interface does."""

    def _send(sender, receiver, content="hello", parent_message=None, **kwargs):
        return services.message_send(
            sender=sender, receiver=receiver, content=content, parent=parent_message, **kwargs
        )

    return _send
