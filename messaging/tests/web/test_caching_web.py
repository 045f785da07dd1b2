"""The conversation page, /conversations/{username}/, cached whole (`cache_page`) and in
fragments (`{% cache %}`), through HTTP: never shared, never stale, and a warm hit
that reads none of the message tables.

The page is for browsers: the session cookie signs in, a Bearer token does not.
Writes commit for real (`transaction=True`) where a test is about invalidation.
"""

from __future__ import annotations

import html
import re
import secrets
import string

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from messaging import services
from messaging.models import Message, MessagingProfile
from messaging.tests.cache_helpers import audit_keys, counted_get, warm
from messaging.tests.conftest import SAME_ORIGIN
from messaging.tests.factories import UserFactory

CAROL_PAGE = "/conversations/carol/"
ALICE_PAGE = "/conversations/alice/"

ARTICLE = re.compile(
    r'<article class="msg(?P<classes>[^"]*)" id="m(?P<id>\d+)"(?P<body>.*?)</article>', re.S
)
BADGE = re.compile(r'data-badge="(?P<name>\w+)"(?P<hidden> hidden)?><span data-badge-count>(\d+)<')


def messages_on(response) -> dict[str, dict]:
    """The messages a page shows, by their text: what the page says about each."""
    assert response.status_code == 200, response.status_code
    shown = {}
    for article in ARTICLE.finditer(response.content.decode()):
        body = article["body"]
        content = html.unescape(re.search(r"data-content>(.*?)</p>", body, re.S)[1])
        receipt = re.search(r"data-receipt>(\w+)<", body)
        shown[content] = {
            "id": int(article["id"]),
            "new": "msg--new" in article["classes"],
            "edited": "data-history hidden" not in body,
            "receipt": receipt[1] if receipt else None,
        }
    return shown


def badges(response) -> dict[str, int]:
    return {
        match["name"]: 0 if match["hidden"] else int(match[3])
        for match in BADGE.finditer(response.content.decode())
    }


@pytest.fixture
def chats(alice, bob, carol, send):
    return {
        "alice to carol": send(alice, carol, "alice to carol"),
        "carol to alice": send(carol, alice, "carol to alice"),
        "bob to carol": send(bob, carol, "bob to carol"),
        "carol to bob": send(carol, bob, "carol to bob"),
        "alice to bob": send(alice, bob, "alice to bob"),
    }


OWN = {
    "alice": {"alice to carol", "carol to alice"},
    "bob": {"bob to carol", "carol to bob"},
}


def browser(user, csrf_secret: str | None = None) -> Client:
    client = Client(headers=SAME_ORIGIN)
    client.force_login(user)
    client.cookies["csrftoken"] = csrf_secret or "".join(
        secrets.choice(string.ascii_letters + string.digits) for _ in range(32)
    )
    return client


# Never shared ------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["alice", "bob"])
def test_two_people_with_the_same_csrf_cookie_each_get_their_own_page(first, chats, alice, bob):
    # The CSRF cookie is the only other thing the key varies on: make it the same.
    shared = "s" * 32
    people = {"alice": browser(alice, shared), "bob": browser(bob, shared)}
    second = "bob" if first == "alice" else "alice"

    first_page = warm(people[first], CAROL_PAGE).response
    second_page = people[second].get(CAROL_PAGE)
    first_again = people[first].get(CAROL_PAGE)

    assert set(messages_on(first_page)) == OWN[first]
    assert set(messages_on(second_page)) == OWN[second]
    assert set(messages_on(first_again)) == OWN[first]
    assert f'data-user="{second}"'.encode() in second_page.content
    pages = audit_keys({alice.pk, bob.pk})
    assert {key.split(":")[4] for key in pages} == {str(alice.pk), str(bob.pk)}


def test_no_key_holds_the_csrf_secret_or_the_session(chats, alice):
    client = browser(alice)
    warm(client, CAROL_PAGE)

    secrets_in_cookies = [client.cookies["csrftoken"].value, client.cookies["sessionid"].value]
    for key in audit_keys({alice.pk}):
        for secret in secrets_in_cookies:
            assert secret not in key


def test_a_bearer_token_does_not_open_the_page(chats, bob):
    warm(browser(bob), CAROL_PAGE)

    token = f"Bearer {RefreshToken.for_user(bob).access_token}"
    response = Client().get(CAROL_PAGE, HTTP_AUTHORIZATION=token)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert b"carol to bob" not in response.content


def test_someone_elses_token_in_my_browser_shows_my_page(chats, alice, bob):
    warm(browser(bob), CAROL_PAGE)

    token = f"Bearer {RefreshToken.for_user(bob).access_token}"
    response = browser(alice).get(CAROL_PAGE, HTTP_AUTHORIZATION=token)

    assert set(messages_on(response)) == OWN["alice"]


def test_a_stranger_or_a_conversation_with_oneself_never_gets_a_cached_page(
    chats, alice, bob, carol
):
    for person in (alice, bob):
        warm(browser(person), CAROL_PAGE)
    warm(browser(carol), ALICE_PAGE)
    dave = browser(UserFactory(username="dave"))

    assert messages_on(dave.get(CAROL_PAGE)) == {}
    assert messages_on(dave.get(ALICE_PAGE)) == {}
    assert browser(alice).get(ALICE_PAGE).status_code == 404
    assert dave.get("/conversations/nobody/").status_code == 404


def test_a_first_visit_without_a_csrf_cookie_is_not_cached(chats, alice):
    client = Client()
    client.force_login(alice)

    first = client.get(CAROL_PAGE)

    assert set(messages_on(first)) == OWN["alice"]
    assert "private" in first["Cache-Control"]
    assert audit_keys({alice.pk}) == []


# Warm and cold -----------------------------------------------------------------------


def test_a_warm_hit_reads_none_of_the_message_tables(chats, alice, carol, send):
    client = browser(alice)
    send(alice, carol, "nothing unread for alice")
    services.conversation_mark_read(user=alice, partner=carol)

    cold = counted_get(client, CAROL_PAGE)
    hit = counted_get(client, CAROL_PAGE)

    # Cold: session, user, partner's id (page key), partner, the header's two counts, the
    # window of messages (each with what it quotes), whether anything is unread.
    assert len(cold.queries) == 8, cold.queries
    assert len(cold.message_table_queries) == 4, cold.queries
    # Warm: session, user, partner's id (page key); the page comes from the cache.
    assert len(hit.queries) == 3, hit.queries
    assert hit.message_table_queries == []
    assert hit.response.content == cold.response.content


@pytest.mark.django_db(transaction=True)
def test_a_page_seen_once_no_longer_shows_its_messages_as_new(chats, alice):
    client = browser(alice)

    first = client.get(CAROL_PAGE)
    second = client.get(CAROL_PAGE)

    assert messages_on(first)["carol to alice"]["new"] is True
    assert messages_on(second)["carol to alice"]["new"] is False
    assert badges(first)["messages"] == 1
    assert badges(second)["messages"] == 0
    assert counted_get(client, CAROL_PAGE).is_warm_hit


# Never stale -------------------------------------------------------------------------


def _change(kind, *, alice, carol, browsers, chats):
    """One write through the pages' forms; answers what each page must show next."""
    to_alice, to_carol = chats["carol to alice"], chats["alice to carol"]
    if kind == "alice sends":
        response = browsers["alice"].post(CAROL_PAGE, {"content": "new from alice"})
        return response, lambda shown: "new from alice" in shown
    if kind == "carol sends":
        response = browsers["carol"].post(ALICE_PAGE, {"content": "new from carol"})
        return response, lambda shown: "new from carol" in shown
    if kind == "edit":
        response = browsers["carol"].post(
            f"/messages/{to_alice.pk}/edit/", {"content": "carol to alice, edited"}
        )
        return (
            response,
            lambda shown: (
                "carol to alice" not in shown and shown["carol to alice, edited"]["edited"]
            ),
        )
    if kind == "delete":
        response = browsers["carol"].post(f"/messages/{to_alice.pk}/delete/")
        return response, lambda shown: set(shown) == {"alice to carol"}
    if kind == "reply":
        response = browsers["carol"].post(
            ALICE_PAGE, {"content": "a reply", "parent_message": to_carol.pk}
        )
        return response, lambda shown: "a reply" in shown
    raise AssertionError(kind)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["alice sends", "carol sends", "edit", "delete", "reply"])
def test_the_next_view_after_a_change_shows_it_to_both_people(kind, chats, alice, carol):
    browsers = {"alice": browser(alice), "carol": browser(carol)}
    views = [(browsers["alice"], CAROL_PAGE), (browsers["carol"], ALICE_PAGE)]
    for client, path in views:
        assert set(messages_on(warm(client, path).response)) == OWN["alice"]

    response, shows_the_change = _change(
        kind, alice=alice, carol=carol, browsers=browsers, chats=chats
    )
    assert response.status_code == 302, response.content

    for client, path in views:
        fresh = client.get(path)
        assert shows_the_change(messages_on(fresh)), (path, messages_on(fresh))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda alice, message: f"/messages/{message.pk}/read/", id="one"),
        pytest.param(lambda alice, message: "/conversations/carol/read/", id="conversation"),
    ],
)
def test_the_sender_sees_read_as_soon_as_it_is_read(read, alice, carol, send):
    first = send(carol, alice, "first")
    send(carol, alice, "second")
    carols = browser(carol)
    before = messages_on(warm(carols, ALICE_PAGE).response)
    assert before["first"]["receipt"] == "Sent"

    response = browser(alice).post(read(alice, first))
    assert response.status_code == 302

    after = messages_on(carols.get(ALICE_PAGE))
    assert after["first"]["receipt"] == "Read"
    if "conversations" in read(alice, first):
        assert after["second"]["receipt"] == "Read"


@pytest.mark.django_db(transaction=True)
def test_reading_by_viewing_shows_read_to_the_sender(chats, alice, carol):
    carols = browser(carol)
    assert messages_on(warm(carols, ALICE_PAGE).response)["carol to alice"]["receipt"] == "Sent"

    browser(alice).get(CAROL_PAGE)  # seeing the page reads it

    assert messages_on(carols.get(ALICE_PAGE))["carol to alice"]["receipt"] == "Read"


@pytest.mark.django_db(transaction=True)
def test_the_header_badges_are_fresh_when_only_they_changed(chats, alice, bob):
    client = browser(alice)
    # Viewing the page read Carol's message and, with it, its notification.
    assert badges(warm(client, CAROL_PAGE).response) == {"messages": 0, "notifications": 0}

    services.message_send(sender=bob, receiver=alice, content="elsewhere")
    page = client.get(CAROL_PAGE)
    assert badges(page) == {"messages": 1, "notifications": 1}
    assert "elsewhere" not in messages_on(page)

    services.notification_mark_all_read(user=alice)  # an .update(): no signal
    assert badges(client.get(CAROL_PAGE))["notifications"] == 0


@pytest.mark.django_db(transaction=True)
def test_blocking_and_unblocking_show_on_the_next_view_of_both_pages(chats, alice, carol):
    MessagingProfile.objects.get_or_create(user=alice)
    alices, carols = browser(alice), browser(carol)
    views = [(alices, CAROL_PAGE), (carols, ALICE_PAGE)]
    for client, path in views:
        assert b"You blocked" not in warm(client, path).response.content

    assert alices.post("/people/carol/block/").status_code == 302  # an m2m add

    blocked = counted_get(alices, CAROL_PAGE)
    assert b"You blocked carol" in blocked.response.content
    assert set(messages_on(blocked.response)) == OWN["alice"]
    other_side = counted_get(carols, ALICE_PAGE)
    assert other_side.message_table_queries, "carol's page was served from before the block"
    assert b"You blocked" not in other_side.response.content
    assert b'data-partner="carol"' not in alices.get("/").content  # gone from the inbox

    warm(alices, CAROL_PAGE)
    carol.blocked_by.remove(alice.messaging_profile)  # unblocking from the other side

    assert b"You blocked" not in alices.get(CAROL_PAGE).content
    assert b'data-partner="carol"' in alices.get("/").content


@pytest.mark.django_db(transaction=True)
def test_a_second_page_of_threads_is_fresh_too(alice, carol, send):
    for n in range(25):
        send(carol, alice, f"thread {n}")
    client = browser(alice)
    warm(client, f"{CAROL_PAGE}?page=2")
    oldest = Message.objects.get(content="thread 0")

    services.message_edit(user=carol, message=oldest, content="thread 0, edited")

    assert "thread 0, edited" in messages_on(client.get(f"{CAROL_PAGE}?page=2"))
