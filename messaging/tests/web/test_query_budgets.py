"""Each page costs a fixed number of queries, for a small and a large history alike.

Budgets are for a cold cache (the header's two counts are computed); the comments
name the queries. Real commits (`transaction=True`), so cache generations move as
in production.
"""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import services
from messaging.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

SMALL, LARGE = 1, 25


@pytest.fixture(params=[SMALL, LARGE], ids=["small", "large"])
def history(request, alice, bob, send):
    """`n` threads between Alice and Bob (root, reply, reply to the reply, one edit), and
    `n` other people who wrote to Alice."""
    n = request.param
    for i in range(n):
        root = send(bob, alice, f"thread {i}")
        reply = send(alice, bob, "reply", parent_message=root)
        send(bob, alice, "reply to the reply", parent_message=reply)
        services.message_edit(user=alice, message=reply, content="reply, edited")
        send(UserFactory(), alice, "hello")
    return {"root": root, "reply": reply}


def cold(client, path, budget, django_assert_max_num_queries):
    cache.clear()
    with django_assert_max_num_queries(budget):
        response = client.get(path)
    assert response.status_code == 200, path
    return response


def test_inbox_budget(as_user, alice, history, django_assert_max_num_queries):
    client = as_user(alice)
    # session, user, count of conversations, the page (partners and last messages joined),
    # unread notifications count, unread messages count.
    cold(client, "/", 6, django_assert_max_num_queries)
    # Unchanged since: the list and the counts come from the cache (session, user).
    with django_assert_max_num_queries(2):
        client.get("/")


def test_conversation_budget(as_user, alice, history, django_assert_max_num_queries):
    client = as_user(alice)
    # session, user, partner's id (page cache key), partner, the two header counts, the
    # window of messages (with what each quotes), then marking read: any unread?, BEGIN,
    # UPDATE messages (returning their ids), UPDATE their notifications, UPDATE
    # conversation row, COMMIT.
    cold(client, "/conversations/bob/", 13, django_assert_max_num_queries)
    # The same again with nothing unread (the read moved the conversation's generation, so
    # its window is read again; each message's HTML not read since comes from the cache):
    # the marking is one read-only SELECT.
    with django_assert_max_num_queries(8):
        client.get("/conversations/bob/")
    # Unchanged since: the whole page comes from the cache (session, user, partner's id).
    with django_assert_max_num_queries(3):
        response = client.get("/conversations/bob/")
    assert history["root"].content.encode() in response.content


def test_conversation_reuses_its_messages_when_only_the_badges_moved(
    as_user, alice, carol, history, send
):
    client = as_user(alice)
    client.get("/conversations/bob/")
    client.get("/conversations/bob/")
    send(carol, alice, "elsewhere")  # Alice's counts change, not her conversation with Bob

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/conversations/bob/")

    assert response.status_code == 200
    assert b"elsewhere" not in response.content
    window_queries = [q["sql"] for q in queries if "parent_message_id" in q["sql"]]
    assert window_queries == []  # the messages' fragment came from the cache
    # session, user, partner's id, partner, the two header counts, anything unread?
    assert len(queries) <= 7


def test_thread_budget(as_user, alice, history, django_assert_max_num_queries):
    client = as_user(alice)
    path = f"/messages/{history['root'].pk}/"
    # session, user, the asked message, the whole thread by its root, two header counts,
    # marking the asked message read: BEGIN, the message, UPDATE, UPDATE its notifications,
    # conversation row, COMMIT.
    cold(client, path, 12, django_assert_max_num_queries)
    client.get(path)  # the read moved the conversation's generation: the tree again
    # Unchanged since: session, user, the asked message; the tree and counts are cached.
    with django_assert_max_num_queries(3):
        response = client.get(path)
    assert history["root"].content.encode() in response.content


def test_history_budget(as_user, alice, history, django_assert_max_num_queries):
    # session, user, the message, the message again for the history selector, its history,
    # two header counts.
    cold(
        as_user(alice),
        f"/messages/{history['reply'].pk}/history/",
        7,
        django_assert_max_num_queries,
    )


def test_notifications_budget(as_user, alice, history, django_assert_max_num_queries):
    # session, user, count, the page (actors joined), two header counts.
    cold(as_user(alice), "/notifications/", 6, django_assert_max_num_queries)


def test_account_budgets(as_user, alice, history, django_assert_max_num_queries):
    client = as_user(alice)
    # session, user, messages (one aggregate), conversations, notifications, blocked people
    # (count, then the page when there are any), two header counts.
    cold(client, "/account/", 9, django_assert_max_num_queries)
    cold(client, "/account/delete/", 7, django_assert_max_num_queries)
    # session, user, sent, received, groups (none here: no members, no messages to
    # ask for), history, notifications.
    cold(client, "/account/export/", 7, django_assert_max_num_queries)


def test_counts_budget(as_user, alice, history, django_assert_max_num_queries):
    client = as_user(alice)
    # session, user, two counts; then both from the cache.
    cold(client, "/live/counts/", 4, django_assert_max_num_queries)
    with django_assert_max_num_queries(2):
        client.get("/live/counts/")
