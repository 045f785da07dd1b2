"""Query budgets of the group endpoints: one exact count shared by a small and a large
group (or inbox), so a cost that grows with the members (or the groups) fails here.

Transactional tests, as production runs: a write's transaction is a real one, its BEGIN
and COMMIT counted like queries. Every request is authenticated by JWT: one query for
the user.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from messaging import services
from messaging.models import Message, Notification

pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()

MEMBERS = {"3 members": 3, "100 members": 100}
GROUPS = {"1 group": 1, "20 groups": 20}


def group_of(creator, size: int, *, name: str = "team", prefix: str = "member"):
    """A group of `size` people: `creator` and people made in bulk."""
    others = User.objects.bulk_create(
        User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com") for i in range(size - 1)
    )
    return services.group_create(creator=creator, name=name, members=others), others


@pytest.mark.parametrize("size", list(MEMBERS.values()), ids=list(MEMBERS))
def test_a_group_send_costs_the_same_for_3_and_100_members(
    api, alice, size, django_assert_num_queries
):
    group, _ = group_of(alice, size)
    client = api(alice)
    url = f"/api/v1/groups/{group.pk}/messages/"
    client.post(url, {"content": "first"})  # whatever a first request warms, for both sizes

    # BEGIN, the token's user, the audience (members and their blocks), the message, the
    # notifications in one INSERT, every member's inbox row in one UPDATE, COMMIT.
    with django_assert_num_queries(7):
        response = client.post(url, {"content": "to everyone"})

    assert response.status_code == 201, response.content
    assert Notification.objects.filter(message_id=response.json()["id"]).count() == size - 1


@pytest.mark.parametrize("size", list(MEMBERS.values()), ids=list(MEMBERS))
def test_a_group_reply_costs_the_same_for_3_and_100_members(
    api, alice, size, django_assert_num_queries
):
    group, others = group_of(alice, size)
    first = services.message_send(sender=others[0], group=group, content="first")
    client = api(alice)
    url = f"/api/v1/groups/{group.pk}/messages/"
    client.post(url, {"content": "warm"})

    # A send, and the parent it answers.
    with django_assert_num_queries(8):
        response = client.post(url, {"content": "a reply", "parent_message": first.pk})

    assert response.status_code == 201, response.content
    assert response.json()["thread_root"] == first.pk


@pytest.mark.parametrize("size", list(MEMBERS.values()), ids=list(MEMBERS))
def test_a_group_page_costs_the_same_for_3_and_100_members(
    api, alice, size, django_assert_num_queries
):
    group, others = group_of(alice, size)
    first = services.message_send(sender=alice, group=group, content="first")
    for i, sender in enumerate(others[:20]):
        services.message_send(sender=sender, group=group, content=f"from {i}", parent=first)
    client = api(alice)

    # The token's user, the membership, the page (people, reply counts and the caller's
    # read state in one query).
    with django_assert_num_queries(3):
        response = client.get(f"/api/v1/groups/{group.pk}/messages/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == min(size - 1, 20) + 1
    assert {row["sender"] for row in rows} == {"alice", *(u.username for u in others[:20])}


@pytest.mark.parametrize("count", list(GROUPS.values()), ids=list(GROUPS))
def test_the_inbox_costs_the_same_with_1_and_20_groups(
    api, alice, bob, count, django_assert_num_queries
):
    services.message_send(sender=bob, receiver=alice, content="direct")
    for n in range(count):
        group, others = group_of(alice, 4, name=f"group {n}", prefix=f"g{n}-")
        first = services.message_send(sender=others[0], group=group, content="unread")
        services.message_send(sender=others[1], group=group, content="reply", parent=first)
    client = api(alice)

    # The token's user, the page of rows (last messages, reply counts and unread counts
    # in one query); reading the cache around it is no query.
    with django_assert_num_queries(2):
        response = client.get("/api/v1/conversations/?page_size=100")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == count + 1
    assert sorted(row["unread_count"] for row in rows if row["group"]) == [2] * count
    assert Message.objects.filter(group__isnull=False).count() == 2 * count


@pytest.mark.parametrize("count", list(GROUPS.values()), ids=list(GROUPS))
def test_the_group_list_costs_the_same_with_1_and_20_groups(
    api, alice, count, django_assert_num_queries
):
    for n in range(count):
        group_of(alice, 4, name=f"group {n}", prefix=f"g{n}-")
    client = api(alice)

    # The token's user, the page of groups with their creators, their members.
    with django_assert_num_queries(3):
        response = client.get("/api/v1/groups/?page_size=100")

    assert response.status_code == 200
    assert len(response.json()["results"]) == count
    assert all(len(group["members"]) == 4 for group in response.json()["results"])
