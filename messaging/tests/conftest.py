import pytest
from django.core.cache import cache

from messaging import services

from .factories import UserFactory

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
def send():
    """Send through the service, as every interface does."""

    def _send(sender, receiver, content="hello", **kwargs):
        return services.message_send(sender=sender, receiver=receiver, content=content, **kwargs)

    return _send
