"""A send's whole cost as production pays it: at most 6 queries, session and user included.

Transactional tests, so the service's transaction is a real one and not a savepoint
inside the test's; its BEGIN and COMMIT, which Django logs like queries, come on top.
A new message costs: who is asking (the token's user; or the session and its user), the
receiver with both block flags, the message, its notification (`post_save`), and both
inbox rows in one upsert.
An `Idempotency-Key` costs a first send nothing: a retry
collides on the key's unique index, and only then is the first message looked up.
"""

from __future__ import annotations

import pytest

from messaging.models import Conversation, Message, Notification
from messaging.tests.conftest import SAME_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

SEND_QUERIES = 6


#: BEGIN (`BEGIN IMMEDIATE` on SQLite) and COMMIT.
TRANSACTION_STATEMENTS = 2


@pytest.fixture
def budget():
    return SEND_QUERIES + TRANSACTION_STATEMENTS


def sent(receiver) -> tuple[int, int, int]:
    return (
        Message.objects.filter(receiver=receiver).count(),
        Notification.objects.filter(user=receiver).count(),
        Conversation.objects.filter(partner=receiver).count(),
    )


@pytest.mark.parametrize("key", [None, "k-1"], ids=["plain", "idempotent"])
def test_an_api_send_stays_in_budget(api, alice, bob, django_assert_max_num_queries, key, budget):
    client = api(alice)
    headers = {"Idempotency-Key": key} if key else {}

    with django_assert_max_num_queries(budget):
        response = client.post(
            "/api/v1/messages/",
            {"receiver": "bob", "content": "hi"},
            format="json",
            headers=headers,
        )

    assert response.status_code == 201, response.content
    assert sent(bob) == (1, 1, 1)


def test_an_idempotent_retry_costs_no_more_than_a_send(
    api, alice, bob, django_assert_max_num_queries, budget
):
    client = api(alice)
    body = {"receiver": "bob", "content": "once"}
    first = client.post("/api/v1/messages/", body, format="json", headers={"Idempotency-Key": "r"})

    # The token's user, the receiver, the INSERT the key's unique index refuses (then the
    # rollback), the first message by its key.
    with django_assert_max_num_queries(budget):
        again = client.post(
            "/api/v1/messages/", body, format="json", headers={"Idempotency-Key": "r"}
        )

    assert again.status_code == 201
    assert again.json() == first.json()
    assert sent(bob) == (1, 1, 1)


def test_a_page_send_stays_in_budget(client, alice, bob, django_assert_max_num_queries, budget):
    client.force_login(alice)

    with django_assert_max_num_queries(budget):
        response = client.post("/conversations/bob/", {"content": "hi"}, headers=SAME_ORIGIN)

    assert response.status_code == 302
    assert sent(bob) == (1, 1, 1)
