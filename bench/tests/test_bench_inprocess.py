"""The in-process replay of the write workloads: each answers as the server does (2xx or a
redirect) and does what it does in production."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from bench import dataset, inprocess
from bench.workloads import BY_KEY
from messaging.models import Conversation, Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def heavy():
    cache.clear()
    manifest, _ = dataset.load(users=40, messages=800, seed=7, batch_size=400)
    yield manifest["heavy"]
    cache.clear()


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
    assert all(heavy["username"] in (m["sender"], m["receiver"]) for m in results)


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
