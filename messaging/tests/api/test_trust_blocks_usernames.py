"""Through HTTP: what a block hides from the blocker, invisible content, look-alike names.

- While bob blocks alice, her old messages leave his unread count, unread list and
  inbox, and her edits and deletions notify him of nothing.
- Content of invisible characters only is an empty message: 400 on `content`.
- A username that looks like a taken one, in another case or with look-alike
  characters, is a taken name: 400 on `username`, through the API and the sign-up page.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messaging import services
from messaging.models import Message, Notification, UsernameKey
from messaging.tests.conftest import PASSWORD

User = get_user_model()

pytestmark = pytest.mark.django_db


# Blocks ----------------------------------------------------------------------


@pytest.fixture
def blocked_alice(alice, bob, carol, send, django_capture_on_commit_callbacks):
    """bob has two unread messages from alice and one from carol, then blocks alice."""
    from_alice = [send(alice, bob, "one"), send(alice, bob, "two")]
    send(carol, bob, "three")
    with django_capture_on_commit_callbacks(execute=True):
        services.user_block(user=bob, target=alice)
    return from_alice


def test_unread_count_leaves_out_the_blocked_person(api, bob, blocked_alice):
    response = api(bob).get("/api/v1/messages/unread/count/")

    assert response.status_code == 200
    assert response.json() == {"count": 1}


def test_unread_list_leaves_out_the_blocked_person(api, bob, blocked_alice):
    response = api(bob).get("/api/v1/messages/unread/")

    assert response.status_code == 200
    assert [(m["sender"], m["content"]) for m in response.json()["results"]] == [("carol", "three")]


def test_the_inbox_leaves_out_the_blocked_person(api, bob, blocked_alice):
    response = api(bob).get("/api/v1/conversations/")

    assert response.status_code == 200
    assert [(row["partner"], row["unread_count"]) for row in response.json()["results"]] == [
        ("carol", 1)
    ]


def test_counts_come_back_with_an_unblock(
    api, bob, blocked_alice, django_capture_on_commit_callbacks
):
    client = api(bob)
    assert client.get("/api/v1/messages/unread/count/").json() == {"count": 1}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete("/api/v1/users/alice/block/")

    assert response.status_code == 204
    assert client.get("/api/v1/messages/unread/count/").json() == {"count": 3}
    assert [row["partner"] for row in client.get("/api/v1/conversations/").json()["results"]] == [
        "carol",
        "alice",
    ]


def test_the_blocked_persons_edit_and_delete_notify_the_blocker_of_nothing(
    api, alice, bob, blocked_alice, django_capture_on_commit_callbacks
):
    first, second = blocked_alice
    before = set(Notification.objects.filter(user=bob).values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        edited = api(alice).patch(f"/api/v1/messages/{first.pk}/", {"content": "one, edited"})
        deleted = api(alice).delete(f"/api/v1/messages/{second.pk}/")

    assert (edited.status_code, edited.json()["content"]) == (200, "one, edited")
    assert deleted.status_code == 204
    assert set(Notification.objects.filter(user=bob).values_list("pk", flat=True)) <= before
    listed = api(bob).get("/api/v1/notifications/?unread=true").json()["results"]
    assert "edit" not in [n["kind"] for n in listed]


# Invisible content -----------------------------------------------------------

INVISIBLE = ["\u200b", "\u200c\u200d", " \u2060 \ufeff ", "\u00ad", "\u3164\u115f\u1160", "\u2800"]


@pytest.mark.parametrize("content", INVISIBLE)
def test_sending_invisible_content_is_400_and_stores_nothing(api, alice, bob, content):
    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": content})

    assert response.status_code == 400
    assert response.json() == {"content": ["A message cannot be empty."]}
    assert not Message.objects.exists()


@pytest.mark.parametrize("content", INVISIBLE)
def test_editing_to_invisible_content_is_400_and_changes_nothing(api, alice, bob, send, content):
    message = send(alice, bob, "hello")

    response = api(alice).patch(f"/api/v1/messages/{message.pk}/", {"content": content})

    assert response.status_code == 400
    assert response.json() == {"content": ["A message cannot be empty."]}
    assert Message.objects.get(pk=message.pk).content == "hello"


def test_an_emoji_sequence_with_joiners_is_stored_as_sent(api, alice, bob):
    family = "👩\u200d👩\u200d👧"

    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": family})

    assert response.status_code == 201
    assert response.json()["content"] == family


# Usernames -------------------------------------------------------------------


# The last one is fullwidth "alice".
@pytest.mark.parametrize(
    "name", ["Alice", "\u0430lice", "ALICE", "alic\u0435", "\uff41\uff4c\uff49\uff43\uff45"]
)
def test_registering_a_look_alike_of_a_taken_name_is_400(api, alice, name):
    response = api().post("/api/v1/auth/register/", {"username": name, "password": PASSWORD})

    assert response.status_code == 400
    assert list(response.json()) == ["username"]
    assert "already exists" in response.json()["username"][0]
    assert User.objects.count() == 1


def test_registering_emile_in_both_cases_gives_one_account(api, db):
    first = api().post("/api/v1/auth/register/", {"username": "Émile", "password": PASSWORD})
    second = api().post("/api/v1/auth/register/", {"username": "émile", "password": PASSWORD})

    assert first.status_code == 201
    assert second.status_code == 400
    assert list(second.json()) == ["username"]


def test_registration_stores_the_name_nfkc_normalised_with_its_keys(api, db):
    # Fullwidth "erin".
    response = api().post(
        "/api/v1/auth/register/", {"username": "\uff45\uff52\uff49\uff4e", "password": PASSWORD}
    )

    assert response.status_code == 201
    assert response.json()["username"] == "erin"
    assert UsernameKey.objects.filter(user__username="erin").exists()


def test_the_signup_page_refuses_a_look_alike(alice):
    client = Client()

    response = client.post(
        "/accounts/signup/", {"username": "\u0430lice", "password": "a-long-enough-secret"}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.count() == 1
