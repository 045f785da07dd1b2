"""Blocking on the pages: the conversation's Block/Unblock buttons and notice, the
account page's list, the inbox, refused sends, CSRF, and freshness of the cached page."""

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import selectors, services
from messaging.models import Conversation, Message, MessagingProfile, Notification
from messaging.tests.factories import UserFactory

# Real commits: the pages' caches move on when a transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

BLOCK_FORM = '<form method="post" action="/people/bob/block/"'
UNBLOCK_FORM = '<form method="post" action="/people/bob/unblock/"'
NOTICE = 'id="block-notice"'


def text(response) -> str:
    return response.content.decode()


def form(page: str, action: str) -> str:
    return re.search(rf'<form method="post" action="{action}".*?</form>', page, re.S).group(0)


def blocked_names(user) -> list[str]:
    return sorted(block.user.username for block in selectors.block_list(user))


def stored() -> tuple[int, int, int]:
    return Message.objects.count(), Notification.objects.count(), Conversation.objects.count()


def inbox_partners(client) -> list[str]:
    return re.findall(r'<li class="conv[^"]*" data-partner="([^"]+)"', text(client.get("/")))


# The conversation page ----------------------------------------------------------------


def test_conversation_offers_a_block_button_posting_with_the_csrf_token(as_user, alice, bob):
    page = text(as_user(alice).get("/conversations/bob/"))

    block = form(page, "/people/bob/block/")
    assert 'name="csrfmiddlewaretoken"' in block
    assert ">Block<" in block
    assert NOTICE not in page
    assert UNBLOCK_FORM not in page


def test_block_redirects_back_to_the_conversation_which_offers_unblock(as_user, alice, bob, send):
    send(bob, alice, "hello")
    client = as_user(alice)

    response = client.post("/people/bob/block/")

    assert response.status_code == 302
    assert response["Location"] == "/conversations/bob/"
    assert blocked_names(alice) == ["bob"]
    page = text(client.get(response["Location"]))
    assert NOTICE in page
    assert "Messages are refused both ways" in page
    assert 'name="csrfmiddlewaretoken"' in form(page, "/people/bob/unblock/")
    assert BLOCK_FORM not in page
    assert 'id="compose-form"' not in page  # nothing to send while blocking
    assert "hello" in page  # the history stays


def test_the_cached_page_shows_the_new_button_right_after_blocking_and_unblocking(
    as_user, alice, bob, send, django_assert_max_num_queries
):
    send(bob, alice, "hello")
    client = as_user(alice)
    client.get("/conversations/bob/")  # marks it read
    client.get("/conversations/bob/")
    with django_assert_max_num_queries(3):  # session, user, partner's id: from the cache
        assert BLOCK_FORM in text(client.get("/conversations/bob/"))

    client.post("/people/bob/block/")
    blocked = text(client.get("/conversations/bob/"))
    client.post("/people/bob/unblock/")
    unblocked = text(client.get("/conversations/bob/"))

    assert UNBLOCK_FORM in blocked and BLOCK_FORM not in blocked
    assert BLOCK_FORM in unblocked and UNBLOCK_FORM not in unblocked
    assert NOTICE not in unblocked
    assert 'id="compose-form"' in unblocked


def test_a_block_made_elsewhere_shows_on_the_cached_page(as_user, alice, bob, send):
    send(bob, alice, "hello")
    client = as_user(alice)
    client.get("/conversations/bob/")
    client.get("/conversations/bob/")

    services.user_block(user=alice, target="bob")  # e.g. through the API

    assert NOTICE in text(client.get("/conversations/bob/"))


def test_the_blocked_persons_page_has_no_notice_and_keeps_its_buttons(as_user, alice, bob, send):
    send(alice, bob, "hello")
    services.user_block(user=alice, target=bob)

    page = text(as_user(bob).get("/conversations/alice/"))

    assert NOTICE not in page
    assert '<form method="post" action="/people/alice/block/"' in page


def test_the_block_state_costs_no_query(as_user, alice, bob, send):
    send(bob, alice, "hello")
    client = as_user(alice)
    client.get("/conversations/bob/")

    def cold_count() -> int:
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/conversations/bob/").status_code == 200
        return len(queries)

    before = cold_count()
    services.user_block(user=alice, target=bob)

    assert cold_count() == before


# Sending while blocked -----------------------------------------------------------------


def test_the_blocked_persons_send_is_refused_with_the_reason_in_the_form(as_user, alice, bob, send):
    send(alice, bob, "hello")
    services.user_block(user=alice, target=bob)
    before = stored()

    response = as_user(bob).post(
        "/conversations/alice/", {"receiver": "alice", "content": "can you hear me?"}
    )

    assert response.status_code == 400
    page = text(response)
    assert "Your message was not sent." in page
    assert "This person does not accept your messages." in page
    assert ">can you hear me?</textarea>" in page  # nothing typed is lost
    assert stored() == before


def test_the_blocked_persons_reply_is_refused_too(as_user, alice, bob, send):
    root = send(alice, bob, "hello")
    services.user_block(user=alice, target=bob)
    before = stored()

    response = as_user(bob).post(
        "/conversations/alice/",
        {"receiver": "alice", "content": "a reply", "parent_message": root.pk},
    )

    assert response.status_code == 400
    assert "Your reply was not sent." in text(response)
    assert "This person does not accept your messages." in text(response)
    assert stored() == before


def test_the_compose_form_shows_the_refusal(as_user, alice, bob):
    services.user_block(user=alice, target=bob)
    before = stored()

    response = as_user(bob).post("/messages/new/", {"receiver": "alice", "content": "hi"})

    assert response.status_code == 200
    assert "This person does not accept your messages." in text(response)
    assert 'class="field field--error"' in text(response)
    assert stored() == before


def test_the_blockers_own_send_is_refused_and_shows_the_form_with_the_notice(as_user, alice, bob):
    services.user_block(user=alice, target=bob)
    before = stored()

    response = as_user(alice).post("/conversations/bob/", {"receiver": "bob", "content": "hi"})

    assert response.status_code == 400
    page = text(response)
    assert "You have blocked this person: unblock them to send a message." in page
    assert 'id="compose-form"' in page
    assert NOTICE in page
    assert stored() == before


# The inbox ----------------------------------------------------------------------------


def test_blocked_conversations_leave_the_inbox_and_come_back(as_user, alice, bob, carol, send):
    send(bob, alice, "from bob")
    send(carol, alice, "from carol")
    client = as_user(alice)
    assert inbox_partners(client) == ["carol", "bob"]

    client.post("/people/bob/block/")
    assert inbox_partners(client) == ["carol"]
    assert inbox_partners(as_user(bob)) == ["alice"]  # not hidden for the blocked person

    client.post("/people/bob/unblock/")
    assert inbox_partners(client) == ["carol", "bob"]


# The account page ---------------------------------------------------------------------


def test_account_lists_blocked_people_newest_first_with_unblock_buttons(as_user, alice, bob, carol):
    services.user_block(user=alice, target=bob)
    services.user_block(user=alice, target=carol)

    page = text(as_user(alice).get("/account/"))

    assert re.findall(r'data-blocked="([^"]+)"', page) == ["carol", "bob"]
    unblock = form(page, "/people/bob/unblock/")
    assert 'name="csrfmiddlewaretoken"' in unblock
    assert 'name="next" value="/account/"' in unblock
    assert 'href="/conversations/bob/"' in page


def test_account_says_when_nobody_is_blocked(as_user, alice):
    page = text(as_user(alice).get("/account/"))

    assert 'id="blocked-empty"' in page
    assert 'id="blocked-list"' not in page


def test_unblock_from_the_account_page_comes_back_with_a_message(as_user, alice, bob):
    services.user_block(user=alice, target=bob)
    client = as_user(alice)

    response = client.post("/people/bob/unblock/", {"next": "/account/"})

    assert response.status_code == 302
    assert response["Location"] == "/account/"
    page = text(client.get("/account/"))
    assert "You unblocked bob." in page
    assert 'data-blocked="bob"' not in page
    assert blocked_names(alice) == []


def test_account_pages_its_blocked_people(as_user, alice):
    for n in range(53):
        services.user_block(user=alice, target=UserFactory(username=f"spam{n:02}"))
    client = as_user(alice)

    first, second = text(client.get("/account/")), text(client.get("/account/?page=2"))

    assert first.count("data-blocked=") == 50
    assert second.count("data-blocked=") == 3
    assert 'data-blocked="spam52"' in first  # most recent first
    assert 'data-blocked="spam00"' in second
    assert 'name="next" value="/account/?page=2"' in second  # back to the same page


@pytest.mark.parametrize("blocks", [1, 60], ids=["small", "large"])
def test_account_budget_with_blocked_people(as_user, alice, blocks, django_assert_max_num_queries):
    for n in range(blocks):
        services.user_block(user=alice, target=UserFactory(username=f"spam{n:02}"))
    client = as_user(alice)
    cache.clear()
    # session, user, messages (one aggregate), conversations, notifications, blocked
    # people (count, then the page with the usernames joined), two header counts.
    with django_assert_max_num_queries(9):
        assert client.get("/account/").status_code == 200


def test_block_and_unblock_budgets(as_user, alice, bob, send, django_assert_max_num_queries):
    send(bob, alice, "hi")
    client = as_user(alice)
    # session, user, BEGIN, the target, the profile (created on a first block: a savepoint
    # pair and its insert), the existing block ids, the insert, the inbox row hidden, COMMIT
    with django_assert_max_num_queries(12):
        client.post("/people/bob/block/")
    # session, user, BEGIN, the target, the profile, the delete, the inbox row shown, COMMIT
    with django_assert_max_num_queries(8):
        client.post("/people/bob/unblock/")


# Refusals and protection ----------------------------------------------------------------


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_block_forms_need_the_csrf_token(as_user, alice, bob, action):
    if action == "unblock":
        services.user_block(user=alice, target=bob)
    client = as_user(alice, enforce_csrf_checks=True)
    before = blocked_names(alice)

    refused = client.post(f"/people/bob/{action}/")

    assert refused.status_code == 403
    assert blocked_names(alice) == before
    token = client.cookies["csrftoken"].value
    accepted = client.post(f"/people/bob/{action}/", {"csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert blocked_names(alice) == (["bob"] if action == "block" else [])


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_block_is_post_only(as_user, alice, bob, action):
    assert as_user(alice).get(f"/people/bob/{action}/").status_code == 405
    assert blocked_names(alice) == []


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_anonymous_visitors_are_sent_to_log_in(client, bob, action):
    response = client.post(f"/people/bob/{action}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not MessagingProfile.blocked.through.objects.exists()


@pytest.mark.parametrize("action", ["block", "unblock"])
def test_unknown_people_are_404_and_oneself_400(as_user, alice, action):
    client = as_user(alice)

    assert client.post(f"/people/nobody/{action}/").status_code == 404
    assert client.post(f"/people/a%00b/{action}/").status_code == 404
    oneself = client.post(f"/people/alice/{action}/")
    assert oneself.status_code == 400
    assert "You cannot block yourself." in text(oneself)
    assert not MessagingProfile.blocked.through.objects.exists()


def test_block_never_redirects_off_site(as_user, alice, bob):
    response = as_user(alice).post("/people/bob/block/", {"next": "https://evil.example/"})

    assert response["Location"] == "/conversations/bob/"


def test_block_from_the_script_answers_204(as_user, alice, bob):
    response = as_user(alice).post("/people/bob/block/", headers={"X-Requested-With": "fetch"})

    assert response.status_code == 204
    assert blocked_names(alice) == ["bob"]


def test_block_and_unblock_are_idempotent_on_the_pages(as_user, alice, bob):
    client = as_user(alice)

    for _ in range(2):
        assert client.post("/people/bob/block/").status_code == 302
    assert blocked_names(alice) == ["bob"]
    for _ in range(2):
        assert client.post("/people/bob/unblock/").status_code == 302
    assert blocked_names(alice) == []
