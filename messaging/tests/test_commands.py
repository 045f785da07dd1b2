"""`manage.py seed_demo`: demo people with real conversations, built through the services."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Q

from messaging import selectors
from messaging.management.commands.seed_demo import DEMO_PASSWORD, GROUP_LINES, PEOPLE
from messaging.models import Conversation, Group, Message, MessageHistory, Notification

from .factories import UserFactory

User = get_user_model()

pytestmark = pytest.mark.django_db


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_seed_creates_the_demo_people_and_prints_their_log_ins():
    output = seed()

    assert sorted(User.objects.values_list("username", flat=True)) == sorted(PEOPLE)
    for user in User.objects.all():
        assert user.check_password(DEMO_PASSWORD)
        assert f"username {user.username}" in output
    assert DEMO_PASSWORD in output


def test_seed_makes_conversations_threads_edits_and_unread_messages():
    seed()

    direct = Message.objects.filter(group__isnull=True)
    pairs = {frozenset(p) for p in direct.values_list("sender", "receiver")}
    assert len(pairs) == len(PEOPLE) * (len(PEOPLE) - 1) // 2
    assert direct.filter(parent_message__isnull=False).exists()
    assert direct.filter(read=False).exists()
    assert direct.filter(read=True).exists()
    assert MessageHistory.objects.count() == len(pairs)
    assert Message.objects.filter(edited=True).count() == len(pairs)
    new_message_notifications = Notification.objects.exclude(kind=Notification.Kind.EDIT)
    in_group = Message.objects.filter(group__isnull=False).count()
    # One per direct message; one per other member for each group message.
    assert new_message_notifications.count() == direct.count() + in_group * (len(PEOPLE) - 1)


def test_seed_makes_a_group_of_everyone_with_something_unread_for_some():
    seed()

    group = Group.objects.get()
    assert sorted(selectors.group_get(group.created_by, group.pk).member_names) == sorted(PEOPLE)
    assert group.messages.count() == len(GROUP_LINES)
    behind = [user for user in User.objects.all() if selectors.group_unread(user).exists()]
    assert behind  # some have something new in the group
    assert len(behind) < len(PEOPLE)  # and some read it all


def test_seeded_inbox_rows_agree_with_the_messages():
    seed()

    for row in Conversation.objects.filter(group__isnull=True):
        between = Message.objects.between(row.owner_id, row.partner_id)
        assert row.last_message == between.order_by("-timestamp", "-id").first()
        assert row.unread_count == between.filter(receiver=row.owner_id, read=False).count()


def test_seed_is_deterministic_for_a_seed():
    seed("--seed", "3")
    first = list(Message.objects.order_by("pk").values_list("content", "read", "edited"))
    User.objects.all().delete()

    seed("--seed", "3")

    assert list(Message.objects.order_by("pk").values_list("content", "read", "edited")) == first


def test_seed_if_empty_does_nothing_when_users_exist():
    UserFactory(username="somebody")

    output = seed("--if-empty")

    assert list(User.objects.values_list("username", flat=True)) == ["somebody"]
    assert Message.objects.count() == 0
    assert "skipped" in output
    assert DEMO_PASSWORD not in output


def test_seed_if_empty_seeds_an_empty_database():
    seed("--if-empty")

    assert User.objects.count() == len(PEOPLE)
    assert Message.objects.exists()


def test_seed_keeps_an_existing_demo_users_password():
    UserFactory(username="alice", password="a different secret 42")

    seed()

    alice = User.objects.get(username="alice")
    assert alice.check_password("a different secret 42")
    assert User.objects.filter(~Q(username="alice")).count() == len(PEOPLE) - 1
    counts = User.objects.annotate(n=Count("sent_messages")).values_list("n", flat=True)
    assert all(n > 0 for n in counts)
