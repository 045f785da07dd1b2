"""The API's cached conversation view, GET /api/v1/conversations/{username}/messages/,
and the low-level cached counts, through HTTP: never shared, never stale, and a warm
hit that reads none of the message tables.

Same URL, two people (alice and bob both talk to carol), two kinds of authentication
(Bearer token, session cookie) in every order. Writes commit for real
(`transaction=True`) where a test is about invalidation, as in production.
"""

from __future__ import annotations

import itertools

import pytest

from messaging import services
from messaging.models import Message
from messaging.tests.cache_helpers import audit_keys, counted_get, warm

from .conftest import bearer

AUTHS = ("token", "cookie")
CAROL_URL = "/api/v1/conversations/carol/messages/"


@pytest.fixture
def client_for(api, session_client):
    """`client_for(user, "token" | "cookie")`: a client authenticated that way."""

    def make(user, auth: str):
        return api(user) if auth == "token" else session_client(user)

    return make


@pytest.fixture
def chats(alice, bob, carol, send):
    """alice and bob each talk to carol; alice and bob to each other too."""
    return {
        "alice-carol": [send(alice, carol, "alice to carol"), send(carol, alice, "carol to alice")],
        "bob-carol": [send(bob, carol, "bob to carol"), send(carol, bob, "carol to bob")],
        "alice-bob": [send(alice, bob, "alice to bob")],
    }


OWN = {
    "alice": {"alice to carol", "carol to alice"},
    "bob": {"bob to carol", "carol to bob"},
}


def contents(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {message["content"] for message in response.json()["results"]}


def by_content(response) -> dict[str, dict]:
    assert response.status_code == 200, response.content
    return {message["content"]: message for message in response.json()["results"]}


def assert_only_between(response, *people: str) -> None:
    for message in response.json()["results"]:
        assert {message["sender"], message["receiver"]} == set(people), message


# Never shared --------------------------------------------------------------------


@pytest.mark.parametrize("first", ["alice", "bob"])
@pytest.mark.parametrize(
    ("first_auth", "second_auth"),
    list(itertools.product(AUTHS, AUTHS)),
    ids=[f"{a}-then-{b}" for a, b in itertools.product(AUTHS, AUTHS)],
)
def test_two_people_asking_the_same_url_each_get_their_own(
    first, first_auth, second_auth, chats, alice, bob, client_for
):
    people = {"alice": alice, "bob": bob}
    second = "bob" if first == "alice" else "alice"

    first_answer = client_for(people[first], first_auth).get(CAROL_URL)
    second_answer = client_for(people[second], second_auth).get(CAROL_URL)
    first_again = client_for(people[first], second_auth).get(CAROL_URL)  # now warm for both

    assert contents(first_answer) == OWN[first]
    assert contents(second_answer) == OWN[second]
    assert contents(first_again) == OWN[first]
    assert_only_between(second_answer, second, "carol")
    assert audit_keys({alice.pk, bob.pk})


@pytest.mark.parametrize(("first_auth", "second_auth"), [("token", "cookie"), ("cookie", "token")])
def test_one_person_with_either_authentication_gets_the_same_own_page(
    first_auth, second_auth, chats, alice, client_for
):
    first_client = client_for(alice, first_auth)
    first = first_client.get(CAROL_URL)

    second = client_for(alice, second_auth).get(CAROL_URL)

    assert contents(first) == OWN["alice"]
    assert second.json() == first.json()
    # Entries also vary on the credentials themselves (`Vary: Authorization, Cookie`):
    # the same ones again are a hit.
    assert counted_get(first_client, CAROL_URL).is_warm_hit


def test_a_token_and_someone_elses_cookie_answer_for_the_token(chats, alice, bob, session_client):
    bobs_browser = session_client(bob)
    assert contents(bobs_browser.get(CAROL_URL)) == OWN["bob"]

    # Bearer authentication comes first: alice's token in bob's browser is alice.
    mixed = bobs_browser.get(CAROL_URL, HTTP_AUTHORIZATION=bearer(alice))

    assert contents(mixed) == OWN["alice"]


def test_no_cached_page_for_a_bad_token_or_nobody(chats, bob, api, session_client):
    bobs_browser = session_client(bob)
    assert contents(bobs_browser.get(CAROL_URL)) == OWN["bob"]

    forged = bobs_browser.get(CAROL_URL, HTTP_AUTHORIZATION="Bearer not-a-token")
    anonymous = api().get(CAROL_URL)

    assert forged.status_code == 401
    assert anonymous.status_code == 401
    for response in (forged, anonymous):
        assert b"carol to bob" not in response.content


@pytest.mark.parametrize("auth", AUTHS)
def test_a_stranger_asking_for_a_conversation_gets_only_their_own_nothing(
    auth, chats, alice, bob, carol, dave, client_for
):
    for person in (alice, bob):
        warm(client_for(person, auth), CAROL_URL)
    warm(client_for(carol, auth), "/api/v1/conversations/alice/messages/")
    dave_client = client_for(dave, auth)

    assert contents(dave_client.get(CAROL_URL)) == set()
    assert contents(dave_client.get("/api/v1/conversations/alice/messages/")) == set()
    assert contents(client_for(alice, auth).get("/api/v1/conversations/alice/messages/")) == set()
    assert dave_client.get("/api/v1/conversations/nobody/messages/").status_code == 404


def test_the_same_page_link_followed_by_someone_else_is_their_own(chats, alice, bob, api):
    alice_first = api(alice).get(f"{CAROL_URL}?page_size=1")
    alice_next = api(alice).get(alice_first.json()["next"])

    bob_first = api(bob).get(f"{CAROL_URL}?page_size=1")
    bob_next = api(bob).get(alice_first.json()["next"])  # alice's cursor, bob's key

    assert contents(alice_first) | contents(alice_next) == OWN["alice"]
    assert contents(bob_first) <= OWN["bob"]
    assert contents(bob_next) <= OWN["bob"]


# Warm and cold -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("auth", "warm_budget"),
    [
        # The token's user, the partner's id for the key.
        ("token", 2),
        # The session, its user, the partner's id for the key.
        ("cookie", 3),
    ],
)
def test_a_warm_hit_reads_none_of_the_message_tables(auth, warm_budget, chats, alice, client_for):
    client = client_for(alice, auth)

    cold = counted_get(client, CAROL_URL)
    hit = counted_get(client, CAROL_URL)

    # Cold: the above, then the partner again (view), and one page of messages with both
    # people joined and the reply counts as a subquery.
    assert len(cold.queries) == warm_budget + 2, cold.queries
    assert len(cold.message_table_queries) == 1, cold.queries
    assert hit.message_table_queries == []
    assert len(hit.queries) == warm_budget, hit.queries
    assert hit.response.json() == cold.response.json()
    assert contents(hit.response) == OWN["alice"]


# Never stale -------------------------------------------------------------------------


def _message(content: str) -> Message:
    return Message.objects.get(content=content)


def _change(kind, *, alice, carol, api, chats):
    """One write through the API, by the person who may make it; answers what to expect."""
    to_alice, to_carol = chats["alice-carol"][1], chats["alice-carol"][0]
    as_alice, as_carol = api(alice), api(carol)
    if kind == "alice sends":
        response = as_alice.post(
            "/api/v1/messages/", {"receiver": "carol", "content": "new from alice"}
        )
        return response, lambda seen: "new from alice" in seen
    if kind == "carol sends":
        response = as_carol.post(
            "/api/v1/messages/", {"receiver": "alice", "content": "new from carol"}
        )
        return response, lambda seen: "new from carol" in seen
    if kind == "edit":
        response = as_carol.patch(
            f"/api/v1/messages/{to_alice.pk}/", {"content": "carol to alice, edited"}
        )
        return (
            response,
            lambda seen: (
                "carol to alice" not in seen and seen["carol to alice, edited"]["edited"] is True
            ),
        )
    if kind == "delete":
        response = as_carol.delete(f"/api/v1/messages/{to_alice.pk}/")
        return response, lambda seen: "carol to alice" not in seen and "alice to carol" in seen
    if kind == "mark one read":
        response = as_alice.post(f"/api/v1/messages/{to_alice.pk}/read/")
        return response, lambda seen: seen["carol to alice"]["read"] is True
    if kind == "mark conversation read":
        response = as_alice.post("/api/v1/conversations/carol/read/")
        return response, lambda seen: seen["carol to alice"]["read"] is True
    if kind == "reply":
        response = as_carol.post(
            "/api/v1/messages/",
            {"receiver": "alice", "content": "a reply", "parent_message": to_carol.pk},
        )
        return (
            response,
            lambda seen: (
                seen["a reply"]["parent_message"] == to_carol.pk
                and seen["alice to carol"]["reply_count"] == 1
            ),
        )
    raise AssertionError(kind)


CHANGES = [
    "alice sends",
    "carol sends",
    "edit",
    "delete",
    "mark one read",
    "mark conversation read",
    "reply",
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth", AUTHS)
@pytest.mark.parametrize("kind", CHANGES)
def test_the_next_read_after_a_change_shows_it_to_both_people(
    kind, auth, chats, alice, carol, api, client_for
):
    alice_view = (client_for(alice, auth), CAROL_URL)
    carol_view = (client_for(carol, auth), "/api/v1/conversations/alice/messages/")
    for client, path in (alice_view, carol_view):
        stale = warm(client, path)
        assert "carol to alice" in by_content(stale.response)
        assert by_content(stale.response)["carol to alice"]["read"] is False

    response, shows_the_change = _change(kind, alice=alice, carol=carol, api=api, chats=chats)
    assert response.status_code in (200, 201, 204), response.content

    for client, path in (alice_view, carol_view):
        fresh = client.get(path)
        assert shows_the_change(by_content(fresh)), (path, fresh.json())
        # And the fresh page is cached in turn.
        again = counted_get(client, path)
        assert again.is_warm_hit
        assert again.response.json() == fresh.json()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "block",
    [
        pytest.param(lambda alice, carol: services.user_block(user=alice, target=carol), id="add"),
        pytest.param(
            lambda alice, carol: carol.blocked_by.add(alice.messaging_profile),
            id="add-from-the-other-side",
        ),
    ],
)
def test_blocking_moves_both_views_of_the_conversation_and_the_inbox(
    block, chats, alice, carol, api
):
    from messaging.models import MessagingProfile

    MessagingProfile.objects.get_or_create(user=alice)
    alice_view = (api(alice), CAROL_URL)
    carol_view = (api(carol), "/api/v1/conversations/alice/messages/")
    for client, path in (alice_view, carol_view):
        warm(client, path)
    inbox = api(alice).get("/api/v1/conversations/")
    assert "carol" in {row["partner"] for row in inbox.json()["results"]}

    block(alice, carol)

    for client, path in (alice_view, carol_view):
        after = counted_get(client, path)
        assert after.message_table_queries, f"{path} was served from before the block"
        assert contents(after.response) == OWN["alice"]
    inbox = api(alice).get("/api/v1/conversations/")
    assert "carol" not in {row["partner"] for row in inbox.json()["results"]}

    services.user_unblock(user=alice, target=carol)
    assert counted_get(*alice_view).message_table_queries
    assert "carol" in {
        row["partner"] for row in api(alice).get("/api/v1/conversations/").json()["results"]
    }

    services.user_block(user=alice, target=carol)
    warm(*alice_view)
    alice.messaging_profile.blocked.clear()  # clearing is a change too (post_clear)
    assert counted_get(*alice_view).message_table_queries


# The low-level caches ----------------------------------------------------------------


def _count(client, path: str) -> int:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()["count"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth", AUTHS)
def test_the_unread_count_is_fresh_after_every_kind_of_change(
    auth, alice, carol, api, client_for, send
):
    path = "/api/v1/messages/unread/count/"
    alices = client_for(alice, auth)
    first, second, _ = [send(carol, alice, f"unread {n}") for n in range(3)]

    assert _count(alices, path) == 3
    cached = counted_get(alices, path)
    assert cached.is_warm_hit and cached.response.json() == {"count": 3}

    api(carol).post("/api/v1/messages/", {"receiver": "alice", "content": "one more"})
    assert _count(alices, path) == 4
    api(alice).post(f"/api/v1/messages/{first.pk}/read/")  # an .update(): no signal
    assert _count(alices, path) == 3
    api(carol).delete(f"/api/v1/messages/{second.pk}/")
    assert _count(alices, path) == 2
    api(alice).post("/api/v1/conversations/carol/read/")  # an .update() of every row
    assert _count(alices, path) == 0
    assert counted_get(alices, path).is_warm_hit


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("auth", AUTHS)
def test_the_notification_count_is_fresh_after_every_kind_of_change(
    auth, alice, carol, api, client_for, send
):
    path = "/api/v1/notifications/unread-count/"
    alices = client_for(alice, auth)
    mine = send(alice, carol, "from alice")
    send(carol, alice, "one")
    send(carol, alice, "two")

    assert _count(alices, path) == 2
    assert counted_get(alices, path).is_warm_hit

    api(carol).post("/api/v1/messages/", {"receiver": "alice", "content": "three"})
    assert _count(alices, path) == 3
    api(carol).post(
        "/api/v1/messages/", {"receiver": "alice", "content": "reply", "parent_message": mine.pk}
    )
    assert _count(alices, path) == 4
    notifications = api(alice).get("/api/v1/notifications/").json()["results"]
    api(alice).post(f"/api/v1/notifications/{notifications[0]['id']}/read/")  # .update()
    assert _count(alices, path) == 3
    api(alice).post("/api/v1/notifications/read-all/")  # .update() of every row
    assert _count(alices, path) == 0
    edited = send(carol, alice, "to be edited")
    api(alice).post("/api/v1/notifications/read-all/")
    api(carol).patch(f"/api/v1/messages/{edited.pk}/", {"content": "edited"})  # notifies too
    assert _count(alices, path) == 1
    assert counted_get(alices, path).is_warm_hit


@pytest.mark.django_db(transaction=True)
def test_the_inbox_is_fresh_after_every_kind_of_change(alice, bob, carol, api, send):
    as_alice = api(alice)

    def inbox() -> dict[str, dict]:
        response = as_alice.get("/api/v1/conversations/")
        assert response.status_code == 200
        return {row["partner"]: row for row in response.json()["results"]}

    first = send(carol, alice, "hello alice")
    assert inbox()["carol"]["unread_count"] == 1

    api(bob).post("/api/v1/messages/", {"receiver": "alice", "content": "bob here"})
    assert list(inbox()) == ["bob", "carol"]
    api(carol).post("/api/v1/messages/", {"receiver": "alice", "content": "carol again"})
    rows = inbox()
    assert list(rows) == ["carol", "bob"]
    assert rows["carol"]["last_message"]["content"] == "carol again"
    assert rows["carol"]["unread_count"] == 2
    latest = Message.objects.get(content="carol again")
    api(carol).patch(f"/api/v1/messages/{latest.pk}/", {"content": "carol again, edited"})
    assert inbox()["carol"]["last_message"]["content"] == "carol again, edited"
    api(alice).post(f"/api/v1/messages/{first.pk}/read/")
    assert inbox()["carol"]["unread_count"] == 1
    api(alice).post("/api/v1/conversations/carol/read/")
    assert inbox()["carol"]["unread_count"] == 0
    api(carol).delete(f"/api/v1/messages/{latest.pk}/")
    assert inbox()["carol"]["last_message"]["content"] == "hello alice"
    services.user_block(user=alice, target=carol)
    assert list(inbox()) == ["bob"]
    services.user_unblock(user=alice, target=carol)
    assert list(inbox()) == ["bob", "carol"]


def test_a_warm_inbox_reads_no_message_table_and_is_never_shared(alice, bob, carol, api, send):
    send(carol, alice, "for alice")
    send(carol, bob, "for bob")
    as_alice, as_bob = api(alice), api(bob)

    cold = counted_get(as_alice, "/api/v1/conversations/")
    hit = warm(as_alice, "/api/v1/conversations/")
    bobs = warm(as_bob, "/api/v1/conversations/")

    assert not cold.is_warm_hit
    assert hit.response.json() == cold.response.json()
    assert hit.response.json()["results"][0]["last_message"]["content"] == "for alice"
    assert bobs.response.json()["results"][0]["last_message"]["content"] == "for bob"
