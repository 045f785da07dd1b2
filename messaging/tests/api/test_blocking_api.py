"""Blocking through the API: `POST`/`DELETE /api/v1/users/{username}/block/` and the
paginated `GET /api/v1/users/me/blocked/`, their answers, effects and query budgets."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from messaging import selectors, services
from messaging.models import Conversation, Message, MessagingProfile, Notification

pytestmark = pytest.mark.django_db

User = get_user_model()

BLOCKED = "/api/v1/users/me/blocked/"


def block_url(username: str) -> str:
    return f"/api/v1/users/{username}/block/"


def blocked_names(user) -> list[str]:
    return sorted(block.user.username for block in selectors.block_list(user))


def inbox(client) -> list[str]:
    response = client.get("/api/v1/conversations/")
    assert response.status_code == 200
    return [row["partner"] for row in response.json()["results"]]


def stored() -> tuple[int, int, int, int]:
    return (
        Message.objects.count(),
        Notification.objects.count(),
        Conversation.objects.count(),
        MessagingProfile.blocked.through.objects.count(),
    )


# Blocking and unblocking ----------------------------------------------------------


def test_block_answers_204_and_hides_the_conversation_from_the_blocker(api, alice, bob, send):
    send(bob, alice, "hello")

    response = api(alice).post(block_url("bob"))

    assert response.status_code == 204
    assert response.content == b""
    assert blocked_names(alice) == ["bob"]
    assert inbox(api(alice)) == []
    assert inbox(api(bob)) == ["alice"]  # the blocked person's inbox is unchanged


@pytest.mark.django_db(transaction=True)
def test_the_cached_inbox_is_fresh_right_after_blocking_and_unblocking(api, alice, bob, send):
    # Real commits: cached lists move on when the block's transaction commits.
    send(bob, alice, "hello")
    client = api(alice)
    assert inbox(client) == ["bob"]
    assert inbox(client) == ["bob"]  # now from the cache

    client.post(block_url("bob"))
    blocked = inbox(client)
    client.delete(block_url("bob"))

    assert blocked == []
    assert inbox(client) == ["bob"]
    assert client.get(BLOCKED).json()["results"] == []


def test_block_keeps_the_history_readable_by_both(api, alice, bob, send):
    send(bob, alice, "hello")
    api(alice).post(block_url("bob"))

    for client, partner in ((api(alice), "bob"), (api(bob), "alice")):
        response = client.get(f"/api/v1/conversations/{partner}/messages/")
        assert response.status_code == 200
        assert [m["content"] for m in response.json()["results"]] == ["hello"]


def test_block_is_idempotent(api, alice, bob):
    client = api(alice)

    assert client.post(block_url("bob")).status_code == 204
    before = stored()
    assert client.post(block_url("bob")).status_code == 204

    assert stored() == before
    assert blocked_names(alice) == ["bob"]


def test_unblock_answers_204_and_brings_the_conversation_back(api, alice, bob, send):
    send(bob, alice, "hello")
    client = api(alice)
    client.post(block_url("bob"))

    response = client.delete(block_url("bob"))

    assert response.status_code == 204
    assert response.content == b""
    assert blocked_names(alice) == []
    assert inbox(client) == ["bob"]


def test_unblock_is_idempotent_and_needs_no_earlier_block(api, alice, bob):
    client = api(alice)

    assert client.delete(block_url("bob")).status_code == 204
    assert client.delete(block_url("bob")).status_code == 204
    assert blocked_names(alice) == []


@pytest.mark.parametrize("method", ["post", "delete"])
@pytest.mark.parametrize("username", ["nobody", "x" * 151, "a%00b", "Bob"])
def test_an_unknown_user_is_404_and_changes_nothing(api, alice, bob, method, username):
    before = stored()

    response = getattr(api(alice), method)(block_url(username))

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
    assert stored() == before


@pytest.mark.parametrize("method", ["post", "delete"])
def test_blocking_oneself_is_400_on_username(api, alice, method):
    response = getattr(api(alice), method)(block_url("alice"))

    assert response.status_code == 400
    assert response.json() == {"username": ["You cannot block yourself."]}
    assert not MessagingProfile.blocked.through.objects.exists()


# Sending while blocked ------------------------------------------------------------


def test_the_blocked_person_cannot_send_to_the_blocker(api, alice, bob):
    api(alice).post(block_url("bob"))
    before = stored()

    response = api(bob).post("/api/v1/messages/", {"receiver": "alice", "content": "hello?"})

    assert response.status_code == 400
    assert response.json() == {"receiver": ["This person does not accept your messages."]}
    assert stored() == before


def test_the_blocker_cannot_send_to_the_blocked_person(api, alice, bob):
    api(alice).post(block_url("bob"))
    before = stored()

    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "one more"})

    assert response.status_code == 400
    assert response.json() == {
        "receiver": ["You have blocked this person: unblock them to send a message."]
    }
    assert stored() == before


def test_a_reply_in_an_earlier_thread_is_refused_too(api, alice, bob, send):
    first = send(alice, bob, "before the block")
    api(alice).post(block_url("bob"))
    before = stored()

    response = api(bob).post(
        "/api/v1/messages/",
        {"receiver": "alice", "content": "a reply", "parent_message": first.pk},
    )

    assert response.status_code == 400
    assert set(response.json()) == {"receiver"}
    assert stored() == before


def test_after_unblocking_both_can_send_again(api, alice, bob):
    api(alice).post(block_url("bob"))
    api(alice).delete(block_url("bob"))

    to_alice = api(bob).post("/api/v1/messages/", {"receiver": "alice", "content": "hi"})
    to_bob = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "hi"})

    assert (to_alice.status_code, to_bob.status_code) == (201, 201)


def test_a_block_by_the_other_person_does_not_hide_my_inbox_row(api, alice, bob, send):
    send(alice, bob, "hello")

    api(bob).post(block_url("alice"))

    assert inbox(api(alice)) == ["bob"]
    assert inbox(api(bob)) == []


# The list of blocked people -----------------------------------------------------------


def test_blocked_list_is_paginated_newest_block_first(api, alice, bob, carol, dave):
    client = api(alice)
    for name in ("carol", "bob", "dave"):
        client.post(block_url(name))

    response = client.get(BLOCKED)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"next", "previous", "results"}
    assert body["results"] == [{"username": "dave"}, {"username": "bob"}, {"username": "carol"}]
    assert body["next"] is None and body["previous"] is None


def test_blocking_again_after_unblocking_moves_the_person_to_the_top(api, alice, bob, carol):
    client = api(alice)
    client.post(block_url("bob"))
    client.post(block_url("carol"))
    client.delete(block_url("bob"))
    client.post(block_url("bob"))

    names = [row["username"] for row in client.get(BLOCKED).json()["results"]]

    assert names == ["bob", "carol"]


def test_blocked_list_pages_walk_without_gaps(api, alice):
    people = User.objects.bulk_create(User(username=f"spammer{i:03}") for i in range(7))
    for person in people:
        services.user_block(user=alice, target=person)
    client = api(alice)

    seen, url = [], f"{BLOCKED}?page_size=3"
    while url:
        body = client.get(url).json()
        assert len(body["results"]) <= 3
        seen.extend(row["username"] for row in body["results"])
        url = body["next"]

    assert seen == [person.username for person in reversed(people)]


def test_blocked_list_shows_only_the_callers_blocks(api, alice, bob, carol, dave):
    api(alice).post(block_url("bob"))
    api(dave).post(block_url("carol"))

    assert api(alice).get(BLOCKED).json()["results"] == [{"username": "bob"}]
    assert api(bob).get(BLOCKED).json()["results"] == []  # being blocked is not listed
    assert api(dave).get(BLOCKED).json()["results"] == [{"username": "carol"}]


@pytest.mark.parametrize("query", ["?cursor=nonsense", "?page_size=0", "?page_size=x"])
def test_blocked_list_refuses_bad_paging(api, alice, query):
    response = api(alice).get(BLOCKED + query)

    assert response.status_code == 400


# Who may call --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", BLOCKED), ("post", block_url("bob")), ("delete", block_url("bob"))],
)
def test_anonymous_callers_get_401_and_change_nothing(api, bob, method, path):
    before = stored()

    response = getattr(api(), method)(path)

    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
    assert stored() == before


@pytest.mark.parametrize("method", ["post", "delete"])
def test_session_without_csrf_is_403_and_with_it_204(session_client, alice, bob, method):
    if method == "delete":
        services.user_block(user=alice, target=bob)
    client = session_client(alice)
    before = blocked_names(alice)

    call = getattr(client, method)

    refused = call(block_url("bob"), content_type="application/json")

    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert blocked_names(alice) == before
    allowed = call(block_url("bob"), content_type="application/json", headers=client.csrf_headers)
    assert allowed.status_code == 204
    assert blocked_names(alice) == (["bob"] if method == "post" else [])


def test_session_reads_the_blocked_list(session_client, alice, bob):
    services.user_block(user=alice, target=bob)

    response = session_client(alice).get(BLOCKED)

    assert response.status_code == 200
    assert response.json()["results"] == [{"username": "bob"}]


def test_block_requests_are_throttled_per_user(api, alice, bob, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"auth": "100/min", "send": "100/min", "user": "2/min"},
    }
    client = api(alice)
    client.post(block_url("bob"))
    client.delete(block_url("bob"))

    response = client.post(block_url("bob"))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert blocked_names(alice) == []


# Query budgets -------------------------------------------------------------------------


@pytest.fixture(params=[0, 150], ids=["small", "large"])
def crowd(request, alice, bob, send):
    """Alice talks with Bob; in the large case she has already blocked 150 other people
    (and so has a profile), in the small case nobody (no profile yet)."""
    send(bob, alice, "hello")
    if request.param:
        people = User.objects.bulk_create(User(username=f"p{i}") for i in range(request.param))
        services.user_block(user=alice, target=people[0])
        alice.messaging_profile.blocked.add(*people[1:])
    return request.param


def test_blocked_list_budget(api, alice, crowd, django_assert_max_num_queries):
    client = api(alice)
    # auth, one page of blocks with the usernames joined
    with django_assert_max_num_queries(2):
        response = client.get(f"{BLOCKED}?page_size=100")
    assert response.status_code == 200
    assert len(response.json()["results"]) == min(crowd, 100)


def test_block_and_unblock_budgets(api, alice, bob, crowd, django_assert_max_num_queries):
    client = api(alice)
    # auth, the target by name, savepoints (2), the profile (created on a first block: its
    # insert and a savepoint pair), the existing block ids, the insert, the inbox row hidden
    with django_assert_max_num_queries(11):
        assert client.post(block_url("bob")).status_code == 204
    # the same, with nothing to insert or hide
    with django_assert_max_num_queries(6):
        assert client.post(block_url("bob")).status_code == 204
    # auth, the target by name, savepoints (2), the profile, the delete, the inbox row shown
    with django_assert_max_num_queries(7):
        assert client.delete(block_url("bob")).status_code == 204
    assert blocked_names(alice).count("bob") == 0


def test_a_refused_send_stops_at_the_receiver_lookup(
    api, alice, bob, crowd, django_assert_max_num_queries
):
    services.user_block(user=bob, target=alice)

    # auth, savepoint, the receiver with both block flags, rollback to and release of the
    # savepoint: nothing is written.
    with django_assert_max_num_queries(5):
        response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "hi"})

    assert response.status_code == 400
