"""Query budgets: a small and a large case share one bound, so cost cannot grow with data.

Large data is written with `bulk_create` under muted signals (no per-row save, no
notification); the columns the services would maintain (`thread_root`,
`parent_message`, the `Conversation` rows) are set here by hand.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from factory.django import mute_signals

from messaging import selectors, services
from messaging.api.serializers import MessageSerializer, NotificationSerializer
from messaging.models import Conversation, Message

User = get_user_model()

pytestmark = pytest.mark.django_db

#: thread_get: (1) the asked message, checked against the caller, with its reply count;
#: (2) every message of the thread by its indexed root, senders and receivers joined.
THREAD_QUERIES = 2

#: An inbox page as the API pages it: (1) COUNT of the user's conversations for the
#: paginator; (2) the page of Conversation rows joined with partner, last message and
#: its sender and receiver, the last message's reply count as a subquery.
INBOX_PAGE_QUERIES = 2
INBOX_PAGE_SIZE = 50

#: A reply as the API sends it (the receiver by username, the parent by id): SAVEPOINT
#: (the test's transaction; BEGIN in production), the receiver with its block flags
#: (`selectors.recipient`), the parent (`selectors.reply_parent`), INSERT message, INSERT
#: notification (post_save), one upsert of both inbox rows, RELEASE SAVEPOINT.
MESSAGE_SEND_QUERIES = 7

#: A send whose Idempotency-Key collides with a committed message (a concurrent retry the
#: API's lookup did not see yet): the same statements up to the INSERT, which fails, then
#: ROLLBACK TO SAVEPOINT and the earlier message by key.
MESSAGE_SEND_COLLIDING_KEY_QUERIES = 7

BASE_TIME = timezone.now() - timedelta(days=30)


def serialize_thread(node):
    """What the thread endpoint sends: every node a Message with its `replies`."""
    data = dict(MessageSerializer(node).data)
    data["replies"] = [serialize_thread(reply) for reply in node.replies_list]
    return data


def tree_size_and_depth(data, depth=1):
    sizes_depths = [tree_size_and_depth(reply, depth + 1) for reply in data["replies"]]
    return (
        1 + sum(size for size, _ in sizes_depths),
        max([depth, *(d for _, d in sizes_depths)]),
    )


def build_thread(alice, bob, *, size, depth):
    """A thread of `size` messages on `depth` levels, replies spread across each level.

    Returns the root and the last (deepest) message.
    """
    made = 0

    def batch(count, parents, root_id):
        nonlocal made
        rows = []
        for i in range(count):
            sender, receiver = (alice, bob) if (made + i) % 2 == 0 else (bob, alice)
            parent = parents[i % len(parents)] if parents else None
            rows.append(
                Message(
                    sender=sender,
                    receiver=receiver,
                    content=f"message {made + i}",
                    timestamp=BASE_TIME + timedelta(seconds=made + i),
                    parent_message_id=parent.pk if parent else None,
                    thread_root_id=root_id,
                )
            )
        made += count
        return Message.objects.bulk_create(rows)

    with mute_signals(pre_save, post_save):
        [root] = batch(1, [], None)
        level = [root]
        for remaining_levels in range(depth - 1, 0, -1):
            level = batch((size - made) // remaining_levels, level, root.pk)
    assert made == size
    return root, level[-1]


@pytest.mark.parametrize(("size", "depth"), [(2, 2), (2_000, 50)])
def test_a_thread_costs_the_same_however_long_and_deep(
    alice, bob, django_assert_max_num_queries, size, depth
):
    root, deepest = build_thread(alice, bob, size=size, depth=depth)

    with django_assert_max_num_queries(THREAD_QUERIES):
        data = serialize_thread(selectors.thread_get(bob, deepest.pk))

    assert data["id"] == root.pk
    assert tree_size_and_depth(data) == (size, depth)
    assert data["replies"][0]["sender"] == "bob"


def build_inbox(owner, *, conversations, messages_each):
    """`owner` has `conversations` partners, `messages_each` messages with each."""
    with mute_signals(pre_save, post_save):
        partners = User.objects.bulk_create(
            [User(username=f"partner{i}", password="!") for i in range(conversations)]
        )
        messages = Message.objects.bulk_create(
            [
                Message(
                    sender=partner if n % 2 == 0 else owner,
                    receiver=owner if n % 2 == 0 else partner,
                    content=f"message {n} with {partner.username}",
                    timestamp=BASE_TIME + timedelta(seconds=i * messages_each + n),
                )
                for i, partner in enumerate(partners)
                for n in range(messages_each)
            ],
            batch_size=2_000,
        )
        Conversation.objects.bulk_create(
            [
                Conversation(
                    owner=owner,
                    partner=partner,
                    last_message=messages[(i + 1) * messages_each - 1],
                    last_activity=messages[(i + 1) * messages_each - 1].timestamp,
                    unread_count=(messages_each + 1) // 2,
                )
                for i, partner in enumerate(partners)
            ],
            batch_size=2_000,
        )
    return partners


@pytest.mark.parametrize("messages_each", [1, 10])
def test_an_inbox_page_costs_the_same_however_many_messages(
    alice, django_assert_max_num_queries, messages_each
):
    partners = build_inbox(alice, conversations=1_000, messages_each=messages_each)

    with django_assert_max_num_queries(INBOX_PAGE_QUERIES):
        page = Paginator(selectors.conversation_list(alice), INBOX_PAGE_SIZE).page(1)
        rows = [
            {
                "partner": row.partner.username,
                "last_message": {
                    **MessageSerializer(row.last_message).data,
                    "reply_count": row.last_message_reply_count,
                },
                "unread_count": row.unread_count,
            }
            for row in page
        ]

    assert page.paginator.count == 1_000
    assert len(rows) == INBOX_PAGE_SIZE
    newest = partners[-1].username
    assert rows[0]["partner"] == newest
    assert rows[0]["last_message"]["content"] == f"message {messages_each - 1} with {newest}"
    assert rows[0]["unread_count"] == (messages_each + 1) // 2
    assert {rows[0]["last_message"]["sender"], rows[0]["last_message"]["receiver"]} == {
        "alice",
        newest,
    }


def test_sending_a_reply_with_its_notification_stays_in_budget(
    alice, bob, send, django_assert_max_num_queries
):
    root = send(alice, bob, "root")

    with django_assert_max_num_queries(MESSAGE_SEND_QUERIES):
        reply = services.message_send(
            sender=bob,
            receiver=selectors.recipient(sender=bob, username="alice"),
            content="reply",
            parent=selectors.reply_parent(root.pk),
        )

    assert reply.notifications.get().kind == "reply"


def test_a_send_colliding_on_its_key_answers_the_first_message_in_budget(
    alice, bob, send, django_assert_max_num_queries
):
    first = send(bob, alice, "first", idempotency_key="k")

    with django_assert_max_num_queries(MESSAGE_SEND_COLLIDING_KEY_QUERIES):
        again = services.message_send(
            sender=bob,
            receiver=selectors.recipient(sender=bob, username="alice"),
            content="again",
            idempotency_key="k",
        )

    assert again.pk == first.pk
    assert Message.objects.filter(sender=bob).count() == 1


#: One page of any simple list: (1) COUNT for the paginator; (2) the page, people joined.
LIST_PAGE_QUERIES = 2


@pytest.mark.parametrize("count", [3, 300])
def test_list_pages_cost_the_same_however_long_the_list(
    alice, bob, send, django_assert_max_num_queries, count
):
    with mute_signals(pre_save, post_save):
        messages = Message.objects.bulk_create(
            [
                Message(
                    sender=alice,
                    receiver=bob,
                    content=f"m{i}",
                    timestamp=BASE_TIME + timedelta(seconds=i),
                )
                for i in range(count)
            ]
        )
    for message in messages[-3:]:
        services.notification_create_for_message(message)

    for queryset, serializer in [
        (selectors.message_list_between(bob, alice), MessageSerializer),
        (selectors.unread_list(bob), MessageSerializer),
        (selectors.notification_list(bob, unread=True), NotificationSerializer),
    ]:
        with django_assert_max_num_queries(LIST_PAGE_QUERIES):
            page = Paginator(queryset, INBOX_PAGE_SIZE).page(1)
            data = serializer(page.object_list, many=True).data
        assert len(data) == min(count if serializer is MessageSerializer else 3, INBOX_PAGE_SIZE)
