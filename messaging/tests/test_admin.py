"""The admin for support staff: pages render, and users are picked by autocomplete."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from factory.django import mute_signals

from messaging import services
from messaging.models import Conversation, Message, MessageHistory, Notification

from .factories import MessageFactory, UserFactory

User = get_user_model()

pytestmark = pytest.mark.django_db

USER_FIELDS = {
    Message: ["sender", "receiver"],
    Notification: ["user", "actor"],
    MessageHistory: ["edited_by"],
    Conversation: ["owner", "partner"],
}


def selects(html):
    """{name: [option values]} of every <select> in the page."""
    found = {}
    for match in re.finditer(r"<select\b([^>]*)>(.*?)</select>", html, re.S):
        name = re.search(r'name="([^"]+)"', match.group(1))
        found[name.group(1) if name else ""] = re.findall(r'<option value="([^"]*)"', match[2])
    return found


@pytest.fixture
def edited(alice, bob, send):
    message = send(alice, bob, "first words")
    services.message_edit(user=alice, message=message, content="second words")
    return message


@pytest.fixture
def bystanders(db):
    return UserFactory.create_batch(20)


@pytest.mark.parametrize("model", list(USER_FIELDS))
def test_every_user_field_is_an_autocomplete(model):
    model_admin = admin.site._registry[model]

    assert sorted(model_admin.autocomplete_fields) == sorted(USER_FIELDS[model])
    assert admin.site._registry[User].search_fields  # what autocomplete searches


def test_message_changelist_renders(admin_client, edited, send, carol, bob):
    send(carol, bob, "another one")

    response = admin_client.get(reverse("admin:messaging_message_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "second words" in html
    assert "another one" in html


def test_message_changelist_searches_by_username(admin_client, edited, send, carol, bob):
    send(carol, bob, "carol's note")

    response = admin_client.get(reverse("admin:messaging_message_changelist"), {"q": "carol"})

    html = response.content.decode()
    assert "carol&#x27;s note" in html
    assert "second words" not in html


def test_message_change_page_shows_the_history_inline(admin_client, edited, bystanders):
    response = admin_client.get(reverse("admin:messaging_message_change", args=[edited.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "first words" in html  # the history inline's old text
    assert "second words" in html


def test_message_change_page_lists_no_users(admin_client, edited, alice, bob, bystanders):
    response = admin_client.get(reverse("admin:messaging_message_change", args=[edited.pk]))

    html = response.content.decode()
    # Sent messages are read-only: the people are shown, never offered in a select.
    assert not {name for name in selects(html) if name in {"sender", "receiver"}}
    assert alice.username in html and bob.username in html
    assert all(user.username not in html for user in bystanders)


def test_message_add_page_lists_no_users(admin_client, bystanders):
    response = admin_client.get(reverse("admin:messaging_message_add"))

    assert response.status_code == 200
    html = response.content.decode()
    assert all(len(values) <= 1 for name, values in selects(html).items() if name)
    assert all(user.username not in html for user in bystanders)


def test_user_autocomplete_finds_people_by_name(admin_client, alice, bystanders):
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "messaging",
            "model_name": "message",
            "field_name": "sender",
            "term": "ali",
        },
    )

    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["alice"]


@pytest.mark.parametrize(
    "url",
    [
        "admin:messaging_notification_changelist",
        "admin:messaging_messagehistory_changelist",
        "admin:messaging_conversation_changelist",
    ],
)
def test_other_changelists_render(admin_client, edited, url):
    response = admin_client.get(reverse(url))

    assert response.status_code == 200


def test_other_change_pages_render(admin_client, edited):
    for model in (Notification, MessageHistory, Conversation):
        obj = model.objects.first()
        url = reverse(f"admin:messaging_{model._meta.model_name}_change", args=[obj.pk])

        response = admin_client.get(url)

        assert response.status_code == 200, model


def test_message_changelist_costs_the_same_for_many_rows(admin_client, alice, bob):
    def changelist_queries():
        with CaptureQueriesContext(connection) as context:
            assert (
                admin_client.get(reverse("admin:messaging_message_changelist")).status_code == 200
            )
        return len(context)

    with mute_signals(post_save):
        MessageFactory.create_batch(3, sender=alice, receiver=bob)
        few = changelist_queries()
        for _ in range(5):
            MessageFactory.create_batch(10, sender=UserFactory(), receiver=UserFactory())

    # Session, user, the date hierarchy, the page with senders and receivers joined:
    # nothing per row (list_select_related), no full COUNT (show_full_result_count).
    assert changelist_queries() == few


def test_message_added_in_admin_notifies_and_shows_in_both_inboxes(admin_client, alice, bob):
    response = admin_client.post(
        reverse("admin:messaging_message_add"),
        {"sender": alice.pk, "receiver": bob.pk, "content": "  from support  "},
    )

    assert response.status_code == 302, response.content[:2000]
    message = Message.objects.get()
    assert message.content == "from support"
    assert Notification.objects.filter(user=bob, message=message).count() == 1
    assert Conversation.objects.filter(last_message=message).count() == 2


def test_message_deleted_in_admin_keeps_its_replies_in_the_thread(admin_client, send, alice, bob):
    root = send(alice, bob, "first")
    reply = send(bob, alice, "second", parent_message=root)
    deeper = send(alice, bob, "third", parent_message=reply)

    response = admin_client.post(
        reverse("admin:messaging_message_delete", args=[reply.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    deeper.refresh_from_db()
    assert deeper.parent_message_id == root.pk
    assert deeper.thread_root_id == root.pk


def test_sent_message_is_read_only_in_admin(admin_client, send, alice, bob):
    message = send(alice, bob, "as written")

    admin_client.post(
        reverse("admin:messaging_message_change", args=[message.pk]),
        {"content": "rewritten by staff"},
    )

    message.refresh_from_db()
    assert message.content == "as written"
    assert not MessageHistory.objects.exists()
