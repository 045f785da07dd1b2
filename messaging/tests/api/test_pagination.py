"""Pagination as the contract states it: `{next, previous, results}`, newest first,
50 per page by default, `page_size` capped at 100, cursors that walk without gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging import services
from messaging.models import Message, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(alice, bob):
    """130 unread messages from alice to bob with their notifications, five sharing a time.

    Bulk-created (no signals): what is tested here is the paging, not the sending.
    """
    now = timezone.now()
    times = [now - timedelta(seconds=i) for i in range(125)] + [now - timedelta(hours=1)] * 5
    messages = Message.objects.bulk_create(
        Message(sender=alice, receiver=bob, content=f"m{i}", timestamp=time)
        for i, time in enumerate(times)
    )
    Notification.objects.bulk_create(
        Notification(user=bob, message=m, actor=alice, text="n", created_at=m.timestamp)
        for m in messages
    )
    return messages


def newest_first(messages):
    return [m.pk for m in sorted(messages, key=lambda m: (m.timestamp, m.pk), reverse=True)]


def walk(client, url, key="id"):
    """Every page from `url` by its `next` links, then back by `previous` links."""
    pages, seen = [], []
    while url:
        body = client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        pages.append(body)
        seen.extend(row[key] for row in body["results"])
        url = body["next"]
    backwards = []
    url = pages[-1]["previous"]
    while url:
        body = client.get(url).json()
        backwards = [row[key] for row in body["results"]] + backwards
        url = body["previous"]
    return pages, seen, backwards


@pytest.mark.parametrize(
    "url",
    ["/api/v1/messages/unread/", "/api/v1/conversations/alice/messages/"],
)
def test_message_lists_walk_newest_first_50_per_page_without_gaps(api, bob, many, url):
    pages, seen, backwards = walk(api(bob), url)

    assert [len(page["results"]) for page in pages] == [50, 50, 30]
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert seen == newest_first(many)
    assert backwards + [row["id"] for row in pages[-1]["results"]] == seen


def test_notifications_walk_newest_first(api, bob, many):
    pages, seen, _ = walk(api(bob), "/api/v1/notifications/?page_size=20")

    assert len(pages) == 7
    expected = list(
        Notification.objects.filter(user=bob)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )
    assert seen == expected


def test_conversations_walk_newest_first(api, alice, db):
    from messaging.tests.factories import UserFactory

    partners = [UserFactory() for _ in range(7)]
    for partner in partners:
        services.message_send(sender=partner, receiver=alice, content="hi")

    pages, seen, _ = walk(api(alice), "/api/v1/conversations/?page_size=3", key="partner")

    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert seen == [partner.username for partner in reversed(partners)]


@pytest.mark.parametrize(
    ("page_size", "expected"), [("1", 1), ("100", 100), ("101", 100), ("500", 100)]
)
def test_page_size_is_capped_at_100(api, bob, many, page_size, expected):
    response = api(bob).get("/api/v1/messages/unread/", {"page_size": page_size})

    assert len(response.json()["results"]) == expected


def test_page_size_is_kept_in_the_next_link(api, bob, many):
    first = api(bob).get("/api/v1/messages/unread/", {"page_size": 7}).json()

    assert "page_size=7" in first["next"]
    assert len(api(bob).get(first["next"]).json()["results"]) == 7
