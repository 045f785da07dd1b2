"""Notifications through HTTP: the list, its filter, the count, marking read."""

from __future__ import annotations

from datetime import datetime

import pytest

from messaging import services
from messaging.models import Notification

pytestmark = pytest.mark.django_db

NOTIFICATION_FIELDS = {"id", "kind", "message", "actor", "text", "created_at", "read"}


@pytest.fixture
def notified(alice, bob, carol, send):
    """Bob's notifications, oldest first: a message, a reply, an edit; and one for carol."""
    first = send(alice, bob, "first")
    answer = send(bob, alice, "answer", parent_message=first)
    send(alice, bob, "reply", parent_message=answer)
    services.message_edit(user=alice, message=first, content="first, edited")
    send(alice, carol, "for carol")
    return list(Notification.objects.filter(user=bob).order_by("created_at", "id"))


def test_list_answers_the_callers_notifications_newest_first(api, bob, notified):
    response = api(bob).get("/api/v1/notifications/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    results = body["results"]
    assert [n["id"] for n in results] == [n.pk for n in reversed(notified)]
    assert [n["kind"] for n in results] == ["edit", "reply", "message"]
    assert all(set(n) == NOTIFICATION_FIELDS for n in results)
    assert all(n["actor"] == "alice" and n["read"] is False for n in results)
    assert results[2]["message"] == notified[0].message_id
    assert datetime.fromisoformat(results[0]["created_at"].replace("Z", "+00:00")).tzinfo


def test_unread_filter(api, bob, notified):
    services.notification_mark_read(user=bob, notification=notified[0])
    client = api(bob)

    unread = client.get("/api/v1/notifications/?unread=true").json()["results"]
    read = client.get("/api/v1/notifications/?unread=false").json()["results"]

    assert [n["id"] for n in unread] == [notified[2].pk, notified[1].pk]
    assert [n["id"] for n in read] == [notified[0].pk]


@pytest.mark.parametrize("value", ["yes", "", "2", "null"])
def test_unread_filter_with_a_non_boolean_is_400(api, bob, notified, value):
    response = api(bob).get(f"/api/v1/notifications/?unread={value}")

    assert response.status_code == 400
    assert "unread" in response.json()


def test_unread_count(api, bob, notified):
    services.notification_mark_read(user=bob, notification=notified[0])

    response = api(bob).get("/api/v1/notifications/unread-count/")

    assert response.status_code == 200
    assert response.json() == {"count": 2}


def test_read_marks_one_notification_read(api, bob, notified):
    client = api(bob)

    response = client.post(f"/api/v1/notifications/{notified[1].pk}/read/")

    assert response.status_code == 204
    assert [n.read for n in Notification.objects.filter(user=bob).order_by("created_at", "id")] == [
        False,
        True,
        False,
    ]
    assert client.get("/api/v1/notifications/unread-count/").json() == {"count": 2}
    assert client.post(f"/api/v1/notifications/{notified[1].pk}/read/").status_code == 204


def test_read_someone_elses_notification_is_404_and_changes_nothing(api, alice, carol, notified):
    for user in (alice, carol):
        assert api(user).post(f"/api/v1/notifications/{notified[0].pk}/read/").status_code == 404
    assert not Notification.objects.filter(read=True).exists()


def test_read_an_unknown_notification_is_404(api, bob, notified):
    assert api(bob).post("/api/v1/notifications/999999/read/").status_code == 404


def test_read_all_marks_only_the_callers_notifications(api, bob, carol, notified):
    response = api(bob).post("/api/v1/notifications/read-all/")

    assert response.status_code == 204
    assert not Notification.objects.filter(user=bob, read=False).exists()
    assert Notification.objects.filter(user=carol, read=False).count() == 1
    assert api(bob).get("/api/v1/notifications/unread-count/").json() == {"count": 0}
