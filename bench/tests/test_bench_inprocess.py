"""The in-process replay of the write workloads: each answers as the server does (2xx or a
redirect) and does what it does in production."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bench import dataset, inprocess
from bench.workloads import BY_KEY
from messaging.models import Conversation, Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db


def _heavy(users: int, messages: int):
    cache.clear()
    manifest, _ = dataset.load(users=users, messages=messages, seed=7, batch_size=400)
    yield manifest["heavy"]
    cache.clear()


@pytest.fixture
def heavy():
    yield from _heavy(40, 800)


@pytest.fixture
def heavy_in_group():
    """Enough users for heavy's group of 100."""
    yield from _heavy(120, 600)


def _replay(key: str, heavy: dict):
    workload = BY_KEY[key]
    client = inprocess.client_for(workload, inprocess.credentials(heavy["username"]))
    return inprocess.request(client, workload, heavy)


@pytest.mark.parametrize(("key", "status"), [("edit_api", 200), ("edit_page", 302)])
def test_every_edit_changes_one_of_heavys_messages_with_history_and_a_notification(
    heavy, key, status
):
    ids = heavy["sent_message_ids"]
    history, notes = MessageHistory.objects.count(), Notification.objects.count()
    before = dict(Message.objects.filter(pk__in=ids).values_list("pk", "content"))

    answers = [_replay(key, heavy).status_code for _ in range(3)]

    assert answers == [status] * 3
    after = dict(Message.objects.filter(pk__in=ids).values_list("pk", "content"))
    changed = [pk for pk in ids if after[pk] != before[pk]]
    assert len(changed) == 3  # three messages in turn, not one
    assert all("in-process benchmark edit" in after[pk] for pk in changed)
    assert MessageHistory.objects.count() == history + 3
    edits = Notification.objects.filter(kind=Notification.Kind.EDIT)
    assert Notification.objects.count() == notes + 3
    assert edits.filter(message_id__in=changed).count() >= 3


def test_message_search_answers_a_page_of_heavys_messages_holding_the_word(heavy):
    response = _replay("search_api", heavy)

    assert response.status_code == 200
    results = response.json()["results"]
    assert 0 < len(results) <= 50
    assert all(heavy["search_word"] in m["content"].lower() for m in results)
    # Heavy's own direct messages, or messages of heavy's groups (no receiver).
    assert all(heavy["username"] in (m["sender"], m["receiver"]) or m["group"] for m in results)


def test_marking_the_conversation_read_answers_204_then_finds_nothing_unread(heavy):
    user = dataset.User.objects.get(username=heavy["username"])
    partner = dataset.User.objects.get(username=heavy["top_partner"])
    unread = Message.objects.filter(sender=partner, receiver=user, read=False)
    assert unread.exists()
    row = Conversation.objects.filter(owner=user, partner=partner)

    assert _replay("mark_read_api", heavy).status_code == 204
    assert not unread.exists()
    assert row.get().unread_count == 0
    assert _replay("mark_read_api", heavy).status_code == 204


def _needs_the_group_api(heavy: dict, key: str) -> None:
    """The group endpoints (API.md, "Group conversations") are being written beside this:
    until they are routed, their replays have nothing to answer them."""
    from django.urls import Resolver404, resolve

    path = BY_KEY[key].url_path(heavy)
    try:
        routed = resolve(path).url_name != "not-found"  # the API's catch-all 404
    except Resolver404:
        routed = False
    if not routed:
        pytest.skip(f"{path} is not routed yet")


def test_a_group_send_reaches_the_other_99_members_with_a_new_message_each_time(heavy_in_group):
    heavy = heavy_in_group
    _needs_the_group_api(heavy, "group_send_api")
    group = heavy["group"]
    before = Message.objects.filter(group_id=group).count()

    answers = [_replay("group_send_api", heavy) for _ in range(3)]

    assert [a.status_code for a in answers] == [201] * 3
    sent = Message.objects.filter(group_id=group).order_by("-pk")[:3]
    assert Message.objects.filter(group_id=group).count() == before + 3
    assert len({m.content for m in sent}) == 3
    assert all(Notification.objects.filter(message=m).count() == 99 for m in sent)


def test_marking_the_group_read_answers_204_then_finds_nothing_unread(heavy_in_group):
    heavy = heavy_in_group
    _needs_the_group_api(heavy, "group_read_api")
    user = dataset.User.objects.get(username=heavy["username"])
    unread = Notification.objects.filter(user=user, message__group_id=heavy["group"], read=False)
    assert unread.count() == heavy["group_unread"] > 0

    assert _replay("group_read_api", heavy).status_code == 204
    assert not unread.exists()
    assert _replay("group_read_api", heavy).status_code == 204


def test_the_groups_first_page_answers_heavys_newest_group_messages(heavy_in_group):
    heavy = heavy_in_group
    _needs_the_group_api(heavy, "group_api")

    response = _replay("group_api", heavy)

    assert response.status_code == 200
    assert 0 < len(response.json()["results"]) <= 50
