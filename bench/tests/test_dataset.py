"""The benchmark's dataset: what it writes is what the services would have, and its checks,
through the product's selectors, accept it and catch a row that is not."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, QuerySet

from bench import dataset
from bench.dataset import HEAVY_USERNAME, MAX_THREAD_LEVELS, PASSWORD, DatasetError
from messaging import selectors, services
from messaging.exceptions import ValidationError
from messaging.models import (
    Conversation,
    Group,
    Message,
    MessageHistory,
    Notification,
    UsernameKey,
)

User = dataset.User
USERS = 40
MESSAGES = 800
#: Smaller than the messages: several batches, each table written more than once.
BATCH = 150

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _load(seed=7):
    return dataset.load(users=USERS, messages=MESSAGES, seed=seed, batch_size=BATCH)


@pytest.fixture
def loaded():
    return _load()


def _digest() -> str:
    """Every generated row, ids included, in one hash (password hashes are salted)."""
    parts = [
        list(User.objects.order_by("pk").values_list("pk", "username", "email")),
        list(UsernameKey.objects.order_by("pk").values_list("user_id", "folded", "skeleton")),
        list(
            Message.objects.order_by("pk").values_list(
                "pk",
                "sender_id",
                "receiver_id",
                "group_id",
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
            Notification.objects.order_by("message_id", "kind", "user_id").values_list(
                "user_id", "message_id", "kind", "actor_id", "text", "created_at", "read"
            )
        ),
        list(
            Conversation.objects.order_by("owner_id", "partner_id", "group_id").values_list(
                *dataset.CONVERSATION_FIELDS
            )
        ),
        list(Group.objects.order_by("pk").values_list("pk", "name", "created_by_id")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


# A tiny preset, consistent -------------------------------------------------------


def test_a_tiny_dataset_passes_the_selector_checks(loaded):
    manifest, data = loaded
    assert User.objects.count() == USERS
    assert Message.objects.filter(group__isnull=True).count() == MESSAGES
    assert Message.objects.count() == MESSAGES + manifest["group_messages"]
    assert manifest["edited"] == MessageHistory.objects.count() > 0
    direct = Message.objects.filter(group__isnull=True)
    assert manifest["unread"] == direct.filter(read=False).count()
    assert manifest["conversations"] == Conversation.objects.filter(group__isnull=True).count()
    assert manifest["memberships"] == Conversation.objects.filter(group__isnull=False).count()
    assert 0.14 * MESSAGES <= manifest["unread"] <= 0.26 * MESSAGES
    # The checks ran inside `load`; run again, they pass again.
    assert dataset.check(data) == manifest["checks"]
    assert any("conversation_list" in c for c in manifest["checks"])
    assert any("thread_get" in c for c in manifest["checks"])
    assert any("unread_count" in c for c in manifest["checks"])


def test_the_heavy_user_has_the_most_partners_a_known_thread_and_the_password(loaded):
    manifest, _ = loaded
    heavy = User.objects.get(username=HEAVY_USERNAME)
    assert heavy.check_password(PASSWORD)
    partners = dict(
        Conversation.objects.filter(partner__isnull=False)
        .values_list("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    assert partners[heavy.pk] == max(partners.values()) == manifest["heavy"]["partners"]
    inbox = selectors.conversation_list(heavy).count()
    assert inbox == manifest["heavy"]["partners"] + manifest["heavy"]["groups"]
    assert selectors.unread_count(heavy) == manifest["heavy"]["unread"]
    root = selectors.thread_get(heavy, manifest["heavy"]["thread_root"])
    assert root.parent_message_id is None
    assert Message.objects.in_thread(root.pk).count() == manifest["heavy"]["thread_size"] > 1
    partner = User.objects.get(username=manifest["heavy"]["top_partner"])
    between = Message.objects.between(heavy, partner).count()
    assert between == manifest["heavy"]["top_partner_messages"]
    assert manifest["heavy"]["partner_usernames"][0] in {
        u.username for u in User.objects.filter(pk__in=partners)
    }


def test_the_heavy_users_messages_to_edit_are_its_own_one_per_conversation_newest_first(loaded):
    manifest, _ = loaded
    heavy = User.objects.get(username=HEAVY_USERNAME)
    ids = manifest["heavy"]["sent_message_ids"]
    messages = Message.objects.in_bulk(ids)
    receivers = [messages[pk].receiver_id for pk in ids]
    assert 1 < len(ids) <= dataset.SENT_MESSAGES
    assert {m.sender_id for m in messages.values()} == {heavy.pk}
    assert len(set(receivers)) == len(receivers)
    assert ids == sorted(ids, reverse=True)
    # Each is heavy's latest message to its receiver.
    for pk, receiver in zip(ids, receivers, strict=True):
        latest = Message.objects.filter(sender=heavy, receiver_id=receiver).latest("pk").pk
        assert latest == pk


def test_the_search_word_is_in_some_of_heavys_messages_and_search_finds_each(loaded):
    manifest, _ = loaded
    heavy = User.objects.get(username=HEAVY_USERNAME)
    word, matches = manifest["heavy"]["search_word"], manifest["heavy"]["search_matches"]
    holding = Message.objects.for_participant(heavy).filter(content__icontains=word)
    assert 0 < matches < Message.objects.for_participant(heavy).count()
    assert holding.filter(group__isnull=False).exists()  # group messages are found too
    assert holding.count() == matches  # no other word of the vocabulary holds it
    newest = holding.order_by("-timestamp", "-id")[: selectors.SEARCH_WINDOW]
    found = selectors.message_search(user=heavy, query=word)
    assert {m.pk for m in found} == {m.pk for m in newest}
    assert any("message_search" in check for check in manifest["checks"])


# Groups ---------------------------------------------------------------------------


def test_heavys_groups_are_as_the_services_would_have_left_them():
    manifest, data = dataset.load(users=120, messages=600, seed=3, batch_size=BATCH)
    heavy = User.objects.get(username=HEAVY_USERNAME)
    h = manifest["heavy"]
    assert (h["groups"], h["group_members"]) == (len(dataset.GROUPS), 100)
    assert h["group_messages"] == round(600 * dataset.GROUPS[0].share) > 100
    assert manifest["group_messages"] == Message.objects.filter(group__isnull=False).count()
    group = selectors.group_get(heavy, h["group"])
    assert (group.name, len(group.member_names)) == (h["group_name"], 100)
    assert selectors.group_messages(heavy, group.pk).count() == h["group_messages"]
    assert not Message.objects.filter(group__isnull=False, receiver__isnull=False).exists()
    # One notification per other member and message, none to the sender.
    per_message = Counter(
        Notification.objects.filter(message__group=group).values_list("message_id", flat=True)
    )
    assert set(per_message.values()) == {99}
    assert not Notification.objects.filter(message__group=group, user_id=F("actor_id")).exists()
    # Each member's unread notifications are the messages past their read pointer.
    unread = Counter(
        Notification.objects.filter(message__group=group, read=False).values_list(
            "user_id", flat=True
        )
    )
    for member in Conversation.objects.filter(group=group).select_related("owner"):
        counted = selectors.group_unread_counts(member.owner, [group.pk]).get(group.pk, 0)
        assert unread[member.owner_id] == counted
    assert selectors.unread_count(heavy) == h["unread"]
    assert 0 < h["group_unread"] <= dataset.HEAVY_GROUP_UNREAD
    # The product reads what heavy had not read, and finds nothing the second time.
    assert services.group_mark_read(user=heavy, group=group.pk) == h["group_unread"]
    assert not Notification.objects.filter(user=heavy, message__group=group, read=False).exists()
    assert services.group_mark_read(user=heavy, group=group.pk) == 0
    # A send reaches the 99 others; every member's inbox row shows it.
    sent = services.message_send(sender=heavy, group=group.pk, content="after the load")
    assert Notification.objects.filter(message=sent).count() == 99
    rows = Conversation.objects.filter(group=group)
    assert set(rows.values_list("last_message_id", flat=True)) == {sent.pk}
    assert data.groups[0].id == group.pk


def test_every_user_has_username_keys_so_look_alikes_are_refused(loaded):
    keys = dict(UsernameKey.objects.values_list("user_id", "folded"))
    for user in User.objects.all():
        assert keys[user.pk] == services.username_keys(user.username)[0]
    with pytest.raises(ValidationError):
        services.user_register(username="HEAVY", password="a long enough password 123")
    assert not User.objects.filter(username="HEAVY").exists()


def test_replies_stay_in_their_pair_and_threads_are_at_most_ten_deep(loaded):
    messages = {m.pk: m for m in Message.objects.all()}
    assert any(m.parent_message_id for m in messages.values())
    deepest = 1
    for m in messages.values():
        if m.parent_message_id is None:
            assert m.thread_root_id is None
            continue
        parent = messages[m.parent_message_id]
        assert parent.same_conversation(m)
        assert parent.timestamp < m.timestamp
        assert m.thread_root_id == parent.root_id
        level, node = 1, m
        while node.parent_message_id is not None:
            node = messages[node.parent_message_id]
            level += 1
        deepest = max(deepest, level)
    assert deepest == MAX_THREAD_LEVELS


def test_edits_have_history_and_an_edit_notification_and_every_message_one_notification(loaded):
    edited = set(Message.objects.filter(edited=True).values_list("pk", flat=True))
    assert set(MessageHistory.objects.values_list("message_id", flat=True)) == edited
    edit_notes = Notification.objects.filter(kind=Notification.Kind.EDIT)
    # A group's edits notify nobody, as `services.message_edit` does.
    direct_edited = set(
        Message.objects.filter(edited=True, group__isnull=True).values_list("pk", flat=True)
    )
    assert direct_edited < edited
    assert set(edit_notes.values_list("message_id", flat=True)) == direct_edited
    direct = Notification.objects.exclude(kind=Notification.Kind.EDIT).filter(
        message__group__isnull=True
    )
    for n in direct.select_related("message"):
        assert (n.user_id, n.actor_id) == (n.message.receiver_id, n.message.sender_id)
        assert n.kind == ("reply" if n.message.parent_message_id else "message")
        assert n.read == n.message.read


def test_ids_continue_after_the_load(loaded):
    """Sequences were reset: the product's own writes get the next ids."""
    heavy = User.objects.get(username=HEAVY_USERNAME)
    partner = User.objects.exclude(pk=heavy.pk).first()
    message = services.message_send(sender=partner, receiver=heavy, content="after the load")
    assert message.pk == MESSAGES + loaded[0]["group_messages"] + 1
    group = services.group_create(creator=heavy, name="after the load", members=[partner])
    assert group.pk == len(dataset.GROUPS) + 1
    assert services.user_register(username="newcomer", password="a long enough password 123").pk
    assert User.objects.get(username="newcomer").pk == USERS + 1


def _wipe():
    User.objects.all().delete()  # cascades to every generated row but the groups
    Group.objects.all().delete()
    # The load invalidates the cache on commit, and a test never commits.
    cache.clear()


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(loaded):
    first = _digest()
    _wipe()
    _load()
    assert _digest() == first
    _wipe()
    _load(seed=8)
    assert _digest() != first


def test_it_refuses_a_database_that_holds_messages(loaded):
    with pytest.raises(DatasetError, match="already holds messages"):
        _load()


# The checks catch a broken row -----------------------------------------------------


def _break_inbox_unread(data):
    heavy = User.objects.get(username=HEAVY_USERNAME)
    row = Conversation.objects.filter(owner=heavy).order_by("-last_activity").first()
    Conversation.objects.filter(pk=row.pk).update(unread_count=row.unread_count + 1)


def _break_read_flag(data):
    heavy = User.objects.get(username=HEAVY_USERNAME)
    Message.objects.filter(pk=Message.objects.filter(receiver=heavy, read=False)[0].pk).update(
        read=True
    )


def _break_username_key(data):
    UsernameKey.objects.filter(user__username=HEAVY_USERNAME).delete()


def _break_thread(data):
    Message.objects.filter(pk=data.thread_leaf).update(thread_root=None, parent_message=None)


def _break_notification(data):
    Notification.objects.exclude(kind=Notification.Kind.EDIT).first().delete()


def _break_group_pointer(data):
    rows = Conversation.objects.filter(owner__username=HEAVY_USERNAME, group__isnull=False)
    rows.update(last_read_id=F("last_read_id") - 1)


def _break_group_notification(data):
    note = Notification.objects.filter(message__group__isnull=False, read=True).first()
    Notification.objects.filter(pk=note.pk).update(read=False)


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        (_break_group_pointer, "selectors.membership(heavy"),
        (_break_group_notification, "read exactly up to their member's read pointer"),
        (_break_inbox_unread, "conversation_list('heavy')"),
        (_break_read_flag, "selectors.unread_count('heavy')"),
        (_break_username_key, "username keys"),
        (_break_thread, "thread_get"),
        (_break_notification, "notifications"),
    ],
)
def test_the_checks_catch_a_broken_row(loaded, breakage, said):
    _, data = loaded
    breakage(data)
    cache.clear()
    with pytest.raises(DatasetError, match="fail the product's checks") as raised:
        dataset.check(data)
    assert said in str(raised.value)


def test_the_command_line_exits_non_zero_saying_what(tmp_path, capsys):
    manifest = tmp_path / "m.json"
    args = ["--preset", "small", "--users", "20", "--messages", "300", "--manifest", str(manifest)]
    assert dataset.main(args) == 0
    written = json.loads(manifest.read_text())
    assert (written["preset"], written["messages"]) == ("small", 300)
    assert "checks passed" in capsys.readouterr().out
    assert dataset.main(args) == 1
    assert "already holds messages" in capsys.readouterr().err


# The two ways in ------------------------------------------------------------------


def test_rows_go_in_with_copy_on_postgresql_and_bulk_create_elsewhere(monkeypatch):
    copied, created = [], []
    real_copy = dataset.Writer._copy
    real_bulk = QuerySet.bulk_create

    def spy_copy(self, model, names, rows):
        copied.append((model, len(rows)))
        return real_copy(self, model, names, rows)

    monkeypatch.setattr(dataset.Writer, "_copy", spy_copy)

    def spy_bulk(self, objs, *args, **kwargs):
        created.append((self.model, len(objs)))
        return real_bulk(self, objs, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "bulk_create", spy_bulk)
    manifest, _ = _load()
    used = copied if connection.vendor == "postgresql" else created
    assert (copied and not created) or (created and not copied)
    models = {model for model, _ in used}
    assert models == set(dataset.TABLES)
    # In batches, none over the batch size (a batch also ends at so many notifications).
    total = MESSAGES + manifest["group_messages"]
    assert sum(n for model, n in used if model is Message) == total
    assert max(n for model, n in used if model is Message) <= BATCH
    assert sum(1 for model, _ in used if model is Message) >= -(-total // BATCH)
    notes = [n for model, n in used if model is Notification]
    assert max(notes) < dataset.NOTIFICATIONS_PER_MESSAGE_BATCH * BATCH + 100
    assert manifest["database_vendor"] == connection.vendor


@postgres_only
def test_copy_writes_the_defaults_of_fields_the_generator_does_not_set(loaded):
    assert not Conversation.objects.filter(hidden=True).exists()
    manifest = loaded[0]
    rows = manifest["conversations"] + manifest["memberships"]
    assert Conversation.objects.filter(hidden=False).count() == rows
