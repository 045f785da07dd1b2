"""Query budgets per endpoint: one bound shared by a small and a large data set and page.

Every request authenticated by JWT costs one query for the user ("auth" below).
Writes run in a transaction: with the test's own transaction around it that shows
as a SAVEPOINT and a RELEASE, counted here ("savepoints").
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from messaging import services
from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()

SIZES = {"small": 0, "large": 300}


@pytest.fixture(params=list(SIZES))
def data(request, alice, bob):
    """A thread between alice and bob with an edit and unread messages; the large set adds
    300 replies in that thread, 300 notifications, 300 history entries and 30 partners.

    The bulk is written with bulk_create: what the budgets measure is reading and writing
    at that size, not how the rows got there. Lists are read with a full page of 100 in
    the large set and the default page (bigger than the data) in the small one.
    """
    first = services.message_send(sender=alice, receiver=bob, content="first")
    reply = services.message_send(sender=bob, receiver=alice, content="reply", parent=first)
    services.message_edit(user=alice, message=first, content="first, edited")
    unread = services.message_send(sender=bob, receiver=alice, content="unread")
    bulk = SIZES[request.param]
    if bulk:
        now = timezone.now()
        replies = Message.objects.bulk_create(
            Message(
                sender=bob if i % 2 else alice,
                receiver=alice if i % 2 else bob,
                content=f"bulk {i}",
                parent_message=first if i % 3 else reply,
                thread_root=first,
                timestamp=now,
            )
            for i in range(bulk)
        )
        Notification.objects.bulk_create(
            Notification(user=alice, message=m, actor=bob, text="n", created_at=now)
            for m in replies
        )
        MessageHistory.objects.bulk_create(
            MessageHistory(message=first, old_content=f"old {i}", edited_by=alice)
            for i in range(bulk)
        )
        partners = User.objects.bulk_create(User(username=f"partner{i}") for i in range(30))
        lasts = Message.objects.bulk_create(
            Message(sender=partner, receiver=alice, content="hi") for partner in partners
        )
        Conversation.objects.bulk_create(
            Conversation(owner=alice, partner=p, last_message=m, unread_count=1)
            for p, m in zip(partners, lasts, strict=True)
        )
    return {
        "first": first,
        "reply": reply,
        "unread": unread,
        "notification": Notification.objects.filter(user=alice).first(),
        "page": "?page_size=100" if bulk else "",
    }


# (method, path, body, bound, the queries that make the bound)
BUDGETS = [
    ("get", "/api/v1/users/me/", None, 1, "auth"),
    (
        "get",
        "/api/v1/users/me/export/",
        None,
        6,
        "auth, messages sent, messages received, groups (none: no more), history, notifications",
    ),
    ("get", "/api/v1/messages/{first}/", None, 2, "auth, the message with its reply count"),
    (
        "patch",
        "/api/v1/messages/{first}/",
        {"content": "changed"},
        7,
        "auth, savepoints (2), the locked message, history insert, message update, "
        "edit notification insert",
    ),
    (
        "delete",
        "/api/v1/messages/{first}/",
        None,
        18,
        "auth, savepoints (2), the locked message, its oldest reply, the replies moved to it "
        "(3 updates), Django's delete collector (3 selects; history, conversation pointer, "
        "notifications, message: 4 deletes), newest remaining message, conversation rows",
    ),
    ("get", "/api/v1/messages/{first}/history/", None, 3, "auth, the message, its history"),
    (
        "get",
        "/api/v1/messages/{reply}/thread/",
        None,
        3,
        "auth, the asked message, every message of the thread by its root",
    ),
    (
        "post",
        "/api/v1/messages/{unread}/read/",
        None,
        7,
        "auth, savepoints (2), the message, the read update, its notifications' read "
        "update, the unread counter",
    ),
    (
        "get",
        "/api/v1/messages/unread/{page}",
        None,
        2,
        "auth, one page of unread messages with both usernames and reply counts",
    ),
    ("get", "/api/v1/messages/unread/count/", None, 2, "auth, the count (then cached)"),
    (
        "get",
        "/api/v1/conversations/{page}",
        None,
        2,
        "auth, one page of inbox rows with partner, last message, people and reply count",
    ),
    (
        "get",
        "/api/v1/conversations/bob/messages/{page}",
        None,
        4,
        "auth, the partner's id for the page cache, the partner, one page of messages",
    ),
    (
        "post",
        "/api/v1/conversations/bob/read/",
        None,
        8,
        "auth, the partner, anything unread (messages, the partner's edits; no lock when "
        "not), savepoints (2), the read update returning the ids, their notifications' "
        "read update, the unread counter",
    ),
    ("get", "/api/v1/notifications/{page}", None, 2, "auth, one page of notifications"),
    ("get", "/api/v1/notifications/?unread=true", None, 2, "auth, one page of notifications"),
    ("get", "/api/v1/notifications/unread-count/", None, 2, "auth, the count (then cached)"),
    (
        "post",
        "/api/v1/notifications/{notification}/read/",
        None,
        5,
        "auth, savepoints (2), the notification, the read update",
    ),
    (
        "post",
        "/api/v1/notifications/read-all/",
        None,
        4,
        "auth, savepoints (2), one update",
    ),
    (
        "post",
        "/api/v1/messages/",
        {"receiver": "bob", "content": "new", "parent_message": "{first}"},
        12,
        "auth, savepoints (4), idempotency lookup (with a key), receiver, parent, message "
        "insert, notification insert, conversation rows insert and update",
    ),
]


def fill(template, data):
    values = {
        "first": data["first"].pk,
        "reply": data["reply"].pk,
        "unread": data["unread"].pk,
        "notification": data["notification"].pk,
        "page": data["page"],
    }
    if isinstance(template, str):
        filled = template.format(**values)
        return int(filled) if filled.isdigit() else filled
    if isinstance(template, dict):
        return {key: fill(value, data) for key, value in template.items()}
    return template


@pytest.mark.parametrize(
    ("method", "path", "body", "bound", "queries"),
    BUDGETS,
    ids=[f"{m} {p}" for m, p, *_ in BUDGETS],
)
def test_endpoint_query_budget(
    api, alice, data, django_assert_max_num_queries, method, path, body, bound, queries
):
    client = api(alice)
    headers = {"Idempotency-Key": "budget"} if method == "post" and body else {}

    with django_assert_max_num_queries(bound):
        response = getattr(client, method)(fill(path, data), fill(body, data), headers=headers)

    assert response.status_code < 300, response.content


@pytest.mark.parametrize(
    ("path", "cold", "warm"),
    [
        # warm: auth, the partner's id for the page cache; the page itself comes from the cache
        ("/api/v1/conversations/bob/messages/", 4, 2),
        # warm: auth; the count comes from the cache
        ("/api/v1/messages/unread/count/", 2, 1),
        ("/api/v1/notifications/unread-count/", 2, 1),
    ],
)
def test_cached_reads_cost_less_when_warm(
    api, alice, data, django_assert_max_num_queries, path, cold, warm
):
    client = api(alice)
    with django_assert_max_num_queries(cold):
        first = client.get(path)

    with django_assert_max_num_queries(warm):
        second = client.get(path)

    assert second.json() == first.json()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/auth/register/", {"username": "newcomer", "password": PASSWORD}),
        ("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}),
    ],
)
def test_account_endpoints_query_budget(api, data, django_assert_max_num_queries, path, body):
    # register: savepoints (2), the username's uniqueness, the insert; token: the user
    with django_assert_max_num_queries(4):
        response = api().post(path, body)

    assert response.status_code < 300


def test_refresh_query_budget(api, alice, data, django_assert_max_num_queries):
    refresh = api().post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD})

    # Whether the token is blacklisted; the user with its login's state; the token's
    # issued row, the blacklist row inserted (its unique key lets one use through), the
    # next token's row; and the savepoints around them.
    with django_assert_max_num_queries(9):
        response = api().post("/api/v1/auth/token/refresh/", {"refresh": refresh.json()["refresh"]})

    assert response.status_code == 200


ACCOUNT_DELETION_BUDGET = 26


@pytest.mark.parametrize("extra_messages", [0, 300])
def test_account_deletion_query_budget(
    api, alice, bob, data, extra_messages, django_assert_max_num_queries
):
    """The same bound however large the account.

    auth, savepoints (2), the password is checked in Python; the partners and groups
    (cache invalidation; nothing more for someone in no group); six bulk DELETEs
    (history, notifications, conversation rows, messages, the issued tokens and their
    blacklist rows); then Django's collector for the user row itself: one SELECT per
    relation that is now empty or tiny (messages both ways, notifications, history,
    conversations, profile and blocks, admin log, groups, permissions, username keys,
    ended logins, groups they created) and the DELETEs.
    """
    for number in range(extra_messages):
        services.message_send(sender=bob, receiver=alice, content=f"extra {number}")

    with django_assert_max_num_queries(ACCOUNT_DELETION_BUDGET):
        response = api(alice).delete("/api/v1/users/me/", {"password": PASSWORD})

    assert response.status_code == 204
