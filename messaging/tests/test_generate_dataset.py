"""The benchmark dataset generator writes what the services would have, deterministically."""

import hashlib
import io
import json
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from messaging.management.commands.generate_dataset import (
    HEAVY_USERNAME,
    MAX_THREAD_LEVELS,
    PASSWORD,
)
from messaging.models import Conversation, Message, MessageHistory, Notification

User = get_user_model()

USERS = 40
MESSAGES = 800

pytestmark = pytest.mark.django_db


def _generate(tmp_path, seed=7, name="manifest.json"):
    manifest = tmp_path / name
    call_command(
        "generate_dataset",
        "--users",
        str(USERS),
        "--messages",
        str(MESSAGES),
        "--seed",
        str(seed),
        "--manifest",
        str(manifest),
        stdout=io.StringIO(),
    )
    return json.loads(manifest.read_text())


def _digest() -> str:
    """Every generated row, ids included, in one hash."""
    parts = [
        list(User.objects.order_by("pk").values_list("pk", "username", "email", "password")),
        list(
            Message.objects.order_by("pk").values_list(
                "pk",
                "sender_id",
                "receiver_id",
                "content",
                "timestamp",
                "edited",
                "read",
                "parent_message_id",
                "thread_root_id",
            )
        ),
        list(
            MessageHistory.objects.order_by("pk").values_list(
                "message_id", "old_content", "edited_at", "edited_by_id"
            )
        ),
        list(
            Notification.objects.order_by("pk").values_list(
                "user_id", "message_id", "kind", "actor_id", "text", "created_at", "read"
            )
        ),
        list(
            Conversation.objects.order_by("pk").values_list(
                "owner_id", "partner_id", "last_message_id", "last_activity", "unread_count"
            )
        ),
    ]
    # Password hashes are salted per run; only their presence is data.
    parts[0] = [(pk, name, email, bool(password)) for pk, name, email, password in parts[0]]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _wipe():
    User.objects.all().delete()  # cascades to every messaging row


@pytest.fixture
def manifest(tmp_path):
    return _generate(tmp_path)


def test_counts_match_the_request_and_the_manifest(manifest):
    assert User.objects.count() == USERS
    assert Message.objects.count() == MESSAGES
    assert manifest["messages"] == MESSAGES
    assert manifest["unread"] == Message.objects.filter(read=False).count()
    assert manifest["edited"] == MessageHistory.objects.count()
    assert manifest["conversations"] == Conversation.objects.count()


def test_about_a_fifth_of_the_messages_are_unread(manifest):
    unread = Message.objects.filter(read=False).count()
    assert 0.14 * MESSAGES <= unread <= 0.26 * MESSAGES


def test_each_message_has_exactly_one_notification_for_its_receiver(manifest):
    notifications = Notification.objects.exclude(kind=Notification.Kind.EDIT)
    assert notifications.count() == MESSAGES
    assert not notifications.values("message").annotate(n=Count("pk")).filter(n__gt=1).exists()
    for n in notifications.select_related("message"):
        assert n.user_id == n.message.receiver_id
        assert n.actor_id == n.message.sender_id
        assert n.kind == ("reply" if n.message.parent_message_id else "message")


def test_edited_messages_have_history_and_an_edit_notification(manifest):
    edited = set(Message.objects.filter(edited=True).values_list("pk", flat=True))
    assert edited
    assert set(MessageHistory.objects.values_list("message_id", flat=True)) == edited
    assert (
        set(Notification.objects.filter(kind="edit").values_list("message_id", flat=True)) == edited
    )
    for history in MessageHistory.objects.select_related("message"):
        assert history.old_content != history.message.content
        assert history.edited_by_id == history.message.sender_id
        assert history.edited_at > history.message.timestamp


def test_conversation_rows_agree_with_the_messages(manifest):
    pairs = Counter()
    for sender, receiver in Message.objects.values_list("sender_id", "receiver_id"):
        pairs[frozenset((sender, receiver))] += 1
    assert Conversation.objects.count() == 2 * len(pairs)
    for row in Conversation.objects.all():
        between = Message.objects.between(row.owner_id, row.partner_id)
        last = between.order_by("-timestamp", "-id").first()
        assert row.last_message_id == last.pk
        assert row.last_activity == last.timestamp
        assert (
            row.unread_count
            == between.filter(
                sender_id=row.partner_id, receiver_id=row.owner_id, read=False
            ).count()
        )


def test_replies_stay_in_their_pair_and_threads_are_at_most_ten_deep(manifest):
    messages = {m.pk: m for m in Message.objects.all()}
    assert any(m.parent_message_id for m in messages.values())
    deepest = 1
    for m in messages.values():
        if m.parent_message_id is None:
            assert m.thread_root_id is None
            continue
        parent = messages[m.parent_message_id]
        assert {parent.sender_id, parent.receiver_id} == {m.sender_id, m.receiver_id}
        assert parent.timestamp < m.timestamp
        assert m.thread_root_id == parent.root_id
        level, node = 1, m
        while node.parent_message_id is not None:
            node = messages[node.parent_message_id]
            level += 1
        assert node.pk == m.thread_root_id
        deepest = max(deepest, level)
    assert deepest <= MAX_THREAD_LEVELS


def test_timestamps_increase_with_ids(manifest):
    stamps = list(Message.objects.order_by("pk").values_list("timestamp", flat=True))
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_the_heavy_user_has_the_most_partners_and_a_known_thread(manifest):
    heavy = User.objects.get(username=HEAVY_USERNAME)
    assert heavy.check_password(PASSWORD)
    partners = Counter(Conversation.objects.values_list("owner_id", flat=True))
    assert partners[heavy.pk] == max(partners.values()) == manifest["heavy"]["partners"]
    root = Message.objects.get(pk=manifest["heavy"]["thread_root"])
    assert root.parent_message_id is None
    assert heavy.pk in (root.sender_id, root.receiver_id)
    thread = Message.objects.in_thread(root.pk)
    assert thread.count() == manifest["heavy"]["thread_size"] > 1
    partner = User.objects.get(username=manifest["heavy"]["top_partner"])
    assert (
        Message.objects.between(heavy, partner).count()
        == (manifest["heavy"]["top_partner_messages"])
    )


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(tmp_path, manifest):
    first = _digest()
    _wipe()
    again = _generate(tmp_path, name="again.json")
    assert _digest() == first
    assert again["heavy"] == manifest["heavy"]
    _wipe()
    _generate(tmp_path, seed=8, name="other.json")
    assert _digest() != first


def test_it_refuses_a_database_that_has_messages_already(tmp_path, manifest):
    with pytest.raises(CommandError):
        _generate(tmp_path, name="second.json")
