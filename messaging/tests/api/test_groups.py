"""Group conversations through HTTP: every rule of API.md's "Group conversations", and
what a group message changes everywhere else a `Message` shows (inbox, unread counts,
notifications, account deletion, export).

Every request commits (`transaction=True`), as in production: the caches the answers
come from move on at the commit, so what a test reads after a write is what a client
would read.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import DatabaseError

from messaging import services
from messaging.models import (
    MAX_CONTENT_LENGTH,
    Conversation,
    Group,
    Message,
    MessageHistory,
    Notification,
)
from messaging.tests.conftest import PASSWORD
from messaging.tests.factories import UserFactory

from .test_messages import MESSAGE_FIELDS as DIRECT_MESSAGE_FIELDS

pytestmark = pytest.mark.django_db(transaction=True)

GROUP_FIELDS = {"id", "name", "members", "created_by", "created_at"}
#: A direct message's fields, and the group (null for a direct message).
MESSAGE_FIELDS = {*DIRECT_MESSAGE_FIELDS, "group"}
PAGE_FIELDS = {"next", "previous", "results"}


def make_group(creator, *members, name="team") -> Group:
    return services.group_create(creator=creator, name=name, members=list(members))


def say(sender, group, content="hello all", parent=None) -> Message:
    return services.message_send(sender=sender, group=group, content=content, parent=parent)


def member_names(group) -> set[str]:
    return set(
        Conversation.objects.filter(group_id=group.pk).values_list("owner__username", flat=True)
    )


def stored() -> tuple[int, int, int, int]:
    """What a refused request must leave as it was: groups, inbox rows, messages and
    notifications."""
    return (
        Group.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Notification.objects.count(),
    )


def messages_url(group) -> str:
    return f"/api/v1/groups/{group.pk}/messages/"


def assert_group_message(body: dict, message: Message, **expected) -> None:
    assert set(body) == MESSAGE_FIELDS
    assert (body["id"], body["sender"]) == (message.pk, message.sender.username)
    assert (body["receiver"], body["group"]) == (None, message.group_id)
    for key, value in expected.items():
        assert body[key] == value, key


@pytest.fixture
def team(alice, bob, carol):
    """alice (its creator), bob and carol."""
    return make_group(alice, bob, carol)


# Create ----------------------------------------------------------------------


def test_create_answers_the_group_with_the_caller_added(api, alice, bob, carol):
    response = api(alice).post("/api/v1/groups/", {"name": "  Trip  ", "members": ["bob", "carol"]})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == GROUP_FIELDS
    group = Group.objects.get()
    assert body["id"] == group.pk
    assert body["name"] == "Trip"
    assert sorted(body["members"]) == ["alice", "bob", "carol"]
    assert body["created_by"] == "alice"
    assert body["created_at"]
    assert (group.name, group.created_by) == ("Trip", alice)
    assert member_names(group) == {"alice", "bob", "carol"}


def test_create_takes_the_caller_named_among_the_members_once(api, alice, bob):
    response = api(alice).post("/api/v1/groups/", {"name": "pair", "members": ["alice", "bob"]})

    assert response.status_code == 201
    assert sorted(response.json()["members"]) == ["alice", "bob"]
    assert Conversation.objects.filter(owner=alice).count() == 1


def test_a_name_of_100_characters_is_accepted(api, alice, bob):
    response = api(alice).post("/api/v1/groups/", {"name": "n" * 100, "members": ["bob"]})

    assert response.status_code == 201
    assert Group.objects.get().name == "n" * 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "members": ["bob"]}, "name"),
        ({"name": "   ", "members": ["bob"]}, "name"),
        ({"name": "n" * 101, "members": ["bob"]}, "name"),
        ({"members": ["bob"]}, "name"),
        ({"name": "team", "members": ["nobody"]}, "members"),
        ({"name": "team", "members": ["bob", "nobody"]}, "members"),
        ({"name": "team", "members": ["alice"]}, "members"),
        ({"name": "team", "members": []}, "members"),
        ({"name": "team"}, "members"),
    ],
    ids=[
        "empty name",
        "blank name",
        "101-character name",
        "no name",
        "unknown username",
        "one unknown among known",
        "only the caller",
        "no members",
        "members missing",
    ],
)
def test_a_refused_create_is_a_400_on_the_field_and_stores_nothing(api, alice, bob, body, field):
    response = api(alice).post("/api/v1/groups/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert stored() == (0, 0, 0, 0)


# List, detail, rename -------------------------------------------------------


def test_the_list_holds_only_the_callers_groups_newest_first_paginated(
    api, alice, bob, carol, dave
):
    first = make_group(alice, bob, name="first")
    second = make_group(carol, alice, name="second")
    make_group(bob, carol, dave, name="not alices")

    response = api(alice).get("/api/v1/groups/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_FIELDS
    assert [group["id"] for group in body["results"]] == [second.pk, first.pk]
    assert all(set(group) == GROUP_FIELDS for group in body["results"])
    assert sorted(body["results"][0]["members"]) == ["alice", "carol"]
    assert body["results"][0]["created_by"] == "carol"

    page = api(alice).get("/api/v1/groups/?page_size=1").json()
    assert [group["id"] for group in page["results"]] == [second.pk]
    assert page["next"] is not None
    rest = api(alice).get(page["next"]).json()
    assert [group["id"] for group in rest["results"]] == [first.pk]
    assert rest["next"] is None


def test_detail_answers_a_member(api, bob, team):
    response = api(bob).get(f"/api/v1/groups/{team.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == GROUP_FIELDS
    assert (body["id"], body["name"], body["created_by"]) == (team.pk, "team", "alice")
    assert sorted(body["members"]) == ["alice", "bob", "carol"]


def test_detail_of_no_such_group_is_a_404(api, alice):
    assert api(alice).get("/api/v1/groups/999999/").status_code == 404


def test_any_member_renames_the_group(api, bob, team):
    response = api(bob).patch(f"/api/v1/groups/{team.pk}/", {"name": "  renamed  "})

    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert set(response.json()) == GROUP_FIELDS
    assert Group.objects.get(pk=team.pk).name == "renamed"


@pytest.mark.parametrize("name", ["", "n" * 101])
def test_a_rename_to_a_bad_name_is_a_400_and_changes_nothing(api, bob, team, name):
    response = api(bob).patch(f"/api/v1/groups/{team.pk}/", {"name": name})

    assert response.status_code == 400
    assert "name" in response.json()
    assert Group.objects.get(pk=team.pk).name == "team"


# Members ---------------------------------------------------------------------


def test_any_member_adds_someone(api, bob, dave, team):
    response = api(bob).post(f"/api/v1/groups/{team.pk}/members/", {"username": "dave"})

    assert response.status_code == 201
    assert set(response.json()) == GROUP_FIELDS
    assert sorted(response.json()["members"]) == ["alice", "bob", "carol", "dave"]
    assert member_names(team) == {"alice", "bob", "carol", "dave"}


@pytest.mark.parametrize("username", ["nobody", "carol", "alice"])
def test_adding_someone_unknown_or_a_member_already_is_a_400(api, bob, team, username):
    before = stored()

    response = api(bob).post(f"/api/v1/groups/{team.pk}/members/", {"username": username})

    assert response.status_code == 400
    assert "username" in response.json()
    assert stored() == before


def test_a_member_leaves_by_their_own_name(api, bob, team):
    response = api(bob).delete(f"/api/v1/groups/{team.pk}/members/bob/")

    assert response.status_code == 204
    assert member_names(team) == {"alice", "carol"}


def test_the_creator_removes_someone_else(api, alice, team):
    response = api(alice).delete(f"/api/v1/groups/{team.pk}/members/carol/")

    assert response.status_code == 204
    assert member_names(team) == {"alice", "bob"}


@pytest.mark.parametrize("username", ["carol", "alice"])
def test_a_member_not_the_creator_removing_someone_else_is_a_403(api, bob, team, username):
    response = api(bob).delete(f"/api/v1/groups/{team.pk}/members/{username}/")

    assert response.status_code == 403
    assert member_names(team) == {"alice", "bob", "carol"}


def test_the_creator_leaving_keeps_the_group_for_the_others(api, alice, bob, team):
    assert api(alice).delete(f"/api/v1/groups/{team.pk}/members/alice/").status_code == 204

    assert member_names(team) == {"bob", "carol"}
    assert api(bob).get(f"/api/v1/groups/{team.pk}/").status_code == 200


def test_the_last_member_leaving_deletes_the_group_and_its_messages(api, alice, bob):
    group = make_group(alice, bob)
    say(alice, group, "anyone?")

    assert api(alice).delete(f"/api/v1/groups/{group.pk}/members/alice/").status_code == 204
    assert Group.objects.filter(pk=group.pk).exists()
    assert api(bob).delete(f"/api/v1/groups/{group.pk}/members/bob/").status_code == 204

    assert stored() == (0, 0, 0, 0)


# Group messages --------------------------------------------------------------


def test_send_answers_the_message_with_the_group_and_no_receiver(api, alice, team):
    response = api(alice).post(messages_url(team), {"content": "  hello all  "})

    assert response.status_code == 201
    message = Message.objects.get()
    assert_group_message(
        response.json(),
        message,
        content="hello all",
        edited=False,
        read=True,  # always, for its sender
        parent_message=None,
        thread_root=message.pk,
        reply_count=0,
    )
    assert (message.group_id, message.receiver_id, message.content) == (team.pk, None, "hello all")


def test_each_group_message_notifies_every_other_member_once(api, alice, bob, carol, dave):
    group = make_group(alice, bob, carol, dave)

    response = api(bob).post(messages_url(group), {"content": "news"})

    notified = sorted(
        Notification.objects.filter(message_id=response.json()["id"]).values_list(
            "user__username", "kind", "actor__username"
        )
    )
    assert notified == [
        ("alice", "message", "bob"),
        ("carol", "message", "bob"),
        ("dave", "message", "bob"),
    ]


def test_the_notifications_are_stored_with_the_message_or_not_at_all(api, alice, team):
    with (
        mock.patch.object(Notification.objects, "bulk_create", side_effect=DatabaseError("down")),
        pytest.raises(DatabaseError),
    ):
        api(alice).post(messages_url(team), {"content": "lost"})

    assert (Message.objects.count(), Notification.objects.count()) == (0, 0)
    assert not Conversation.objects.filter(last_message__isnull=False).exists()


def test_the_messages_list_is_newest_first_and_paginated(api, alice, bob, team):
    sent = [say(alice if i % 2 else bob, team, f"message {i}") for i in range(3)]

    response = api(bob).get(messages_url(team))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_FIELDS
    assert [m["id"] for m in body["results"]] == [m.pk for m in reversed(sent)]
    for row, message in zip(body["results"], reversed(sent), strict=True):
        assert_group_message(row, message, content=message.content)

    page = api(bob).get(messages_url(team) + "?page_size=2").json()
    assert [m["id"] for m in page["results"]] == [sent[2].pk, sent[1].pk]
    rest = api(bob).get(page["next"]).json()
    assert [m["id"] for m in rest["results"]] == [sent[0].pk]


def test_the_messages_list_shows_each_member_their_own_read(api, alice, bob, carol, team):
    message = say(alice, team)
    services.message_mark_read(user=bob, message=message)

    def read_by(user) -> bool:
        (row,) = api(user).get(messages_url(team)).json()["results"]
        return row["read"]

    assert (read_by(alice), read_by(bob), read_by(carol)) == (True, True, False)


@pytest.mark.parametrize(
    "content",
    ["", "   \n\t ", "x" * (MAX_CONTENT_LENGTH + 1)],
    ids=["empty", "blank", "too long"],
)
def test_a_refused_send_is_a_400_and_stores_nothing(api, alice, team, content):
    before = stored()

    response = api(alice).post(messages_url(team), {"content": content})

    assert response.status_code == 400
    assert "content" in response.json()
    assert stored() == before


def test_a_send_at_the_length_limit_is_accepted(api, alice, team):
    response = api(alice).post(messages_url(team), {"content": "x" * MAX_CONTENT_LENGTH})

    assert response.status_code == 201
    assert len(Message.objects.get().content) == MAX_CONTENT_LENGTH


def test_a_retry_with_the_same_idempotency_key_answers_the_first_message(api, alice, team):
    client = api(alice)
    first = client.post(messages_url(team), {"content": "once"}, HTTP_IDEMPOTENCY_KEY="k-1")
    before = stored()

    retry = client.post(messages_url(team), {"content": "once"}, HTTP_IDEMPOTENCY_KEY="k-1")
    # Whatever the retry's body, as for a direct send.
    odd = client.post(messages_url(team), {"content": ""}, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == retry.status_code == odd.status_code == 201
    assert retry.json() == first.json() == odd.json()
    assert stored() == before
    assert Message.objects.get().pk == first.json()["id"]


def test_another_idempotency_key_is_another_message(api, alice, team):
    client = api(alice)
    one = client.post(messages_url(team), {"content": "same"}, HTTP_IDEMPOTENCY_KEY="k-1")
    two = client.post(messages_url(team), {"content": "same"}, HTTP_IDEMPOTENCY_KEY="k-2")

    assert one.json()["id"] != two.json()["id"]
    assert Message.objects.count() == 2


def test_a_reply_inside_the_group_is_placed_in_the_thread(api, alice, bob, carol, team):
    first = say(alice, team, "first")
    reply = say(bob, team, "reply", parent=first)

    response = api(carol).post(
        messages_url(team), {"content": "deeper", "parent_message": reply.pk}
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["parent_message"], body["thread_root"], body["group"]) == (
        reply.pk,
        first.pk,
        team.pk,
    )
    kinds = set(Notification.objects.filter(message_id=body["id"]).values_list("kind", flat=True))
    assert kinds == {"reply"}
    thread = api(bob).get(f"/api/v1/messages/{body['id']}/thread/").json()
    assert thread["id"] == first.pk
    assert thread["replies"][0]["id"] == reply.pk
    assert thread["replies"][0]["replies"][0]["id"] == body["id"]


@pytest.mark.parametrize("where", ["another group", "a direct conversation", "nowhere"])
def test_a_parent_message_from_elsewhere_is_a_400_and_stores_nothing(
    api, alice, bob, carol, team, where
):
    if where == "another group":
        parent_id = say(alice, make_group(alice, bob, name="other"), "elsewhere").pk
    elif where == "a direct conversation":
        parent_id = services.message_send(sender=bob, receiver=alice, content="direct").pk
    else:
        parent_id = 999999
    before = stored()

    response = api(alice).post(
        messages_url(team), {"content": "reply", "parent_message": parent_id}
    )

    assert response.status_code == 400
    assert "parent_message" in response.json()
    assert stored() == before


def test_a_direct_reply_to_a_group_message_is_a_400(api, alice, bob, team):
    group_message = say(alice, team)

    response = api(bob).post(
        "/api/v1/messages/",
        {"receiver": "alice", "content": "psst", "parent_message": group_message.pk},
    )

    assert response.status_code == 400
    assert Message.objects.count() == 1


# Reading ---------------------------------------------------------------------


def unread_count(api, user) -> int:
    return api(user).get("/api/v1/messages/unread/count/").json()["count"]


def test_reading_the_group_reads_every_message_for_the_caller_only(api, alice, bob, carol, team):
    for content in ("one", "two"):
        say(alice, team, content)
    assert (unread_count(api, bob), unread_count(api, carol), unread_count(api, alice)) == (2, 2, 0)

    response = api(bob).post(f"/api/v1/groups/{team.pk}/read/")

    assert response.status_code == 204
    assert (unread_count(api, bob), unread_count(api, carol)) == (0, 2)
    assert not Notification.objects.filter(user=bob, read=False).exists()
    assert Notification.objects.filter(user=carol, read=False).count() == 2
    assert api(bob).post(f"/api/v1/groups/{team.pk}/read/").status_code == 204  # idempotent


def test_marking_a_message_read_is_for_the_calling_member_only(api, alice, bob, carol, team):
    message = say(alice, team)
    url = f"/api/v1/messages/{message.pk}/"

    assert api(bob).post(url + "read/").status_code == 204

    assert api(bob).get(url).json()["read"] is True
    assert api(carol).get(url).json()["read"] is False
    assert (unread_count(api, bob), unread_count(api, carol)) == (0, 1)
    assert api(bob).post(url + "read/").status_code == 204  # idempotent


def test_marking_a_message_read_reads_the_earlier_ones_not_the_later(api, alice, bob, team):
    earlier, middle, later = (say(alice, team, content) for content in ("1", "2", "3"))

    assert api(bob).post(f"/api/v1/messages/{middle.pk}/read/").status_code == 204

    read = {row["id"]: row["read"] for row in api(bob).get(messages_url(team)).json()["results"]}
    assert read == {earlier.pk: True, middle.pk: True, later.pk: False}
    assert unread_count(api, bob) == 1


def test_a_group_message_is_always_read_for_its_sender(api, alice, bob, team):
    message = say(alice, team)

    body = api(alice).get(f"/api/v1/messages/{message.pk}/").json()

    assert_group_message(body, message, read=True, content="hello all")
    assert api(alice).post(f"/api/v1/messages/{message.pk}/read/").status_code in (204, 403)
    assert api(bob).get(f"/api/v1/messages/{message.pk}/").json()["read"] is False


def test_the_unread_list_holds_group_messages(api, alice, bob, team):
    message = say(alice, team)

    body = api(bob).get("/api/v1/messages/unread/").json()

    assert [row["id"] for row in body["results"]] == [message.pk]
    assert_group_message(body["results"][0], message, read=False)
    assert api(alice).get("/api/v1/messages/unread/").json()["results"] == []


# Edit and delete -------------------------------------------------------------


def test_only_the_sender_edits_a_group_message(api, alice, bob, team):
    message = say(alice, team, "typo")
    url = f"/api/v1/messages/{message.pk}/"

    assert api(bob).patch(url, {"content": "hijacked"}).status_code == 403
    assert Message.objects.get(pk=message.pk).content == "typo"

    response = api(alice).patch(url, {"content": "fixed"})
    assert response.status_code == 200
    assert_group_message(response.json(), message, content="fixed", edited=True, read=True)
    history = api(bob).get(url + "history/").json()
    assert [row["old_content"] for row in history] == ["typo"]


def test_only_the_sender_deletes_a_group_message_and_replies_stay(api, alice, bob, team):
    message = say(alice, team)
    reply = say(bob, team, "reply", parent=message)
    url = f"/api/v1/messages/{message.pk}/"

    assert api(bob).delete(url).status_code == 403
    assert Message.objects.filter(pk=message.pk).exists()

    assert api(alice).delete(url).status_code == 204
    assert not Message.objects.filter(pk=message.pk).exists()
    body = api(alice).get(f"/api/v1/messages/{reply.pk}/").json()
    assert (body["parent_message"], body["thread_root"]) == (None, reply.pk)


# Who sees what ---------------------------------------------------------------


@pytest.fixture
def outsider(request, alice, bob, carol, dave, team):
    """Someone who is no member of `team`: never was (dave), left (carol), or was removed
    by its creator (carol)."""
    if request.param == "never a member":
        return dave
    if request.param == "left":
        services.group_remove_member(user=carol, group=team, username="carol")
    else:
        services.group_remove_member(user=alice, group=team, username="carol")
    return carol


@pytest.fixture
def scene(alice, bob, team):
    """A message of alice's in `team`, edited once, with bob's reply."""
    message = say(alice, team, "first")
    services.message_edit(user=alice, message=message, content="first, edited")
    say(bob, team, "reply", parent=message)
    return {"group": team.pk, "message": message.pk}


OUTSIDER_REQUESTS = [
    ("get", "/api/v1/groups/{group}/", None),
    ("patch", "/api/v1/groups/{group}/", {"name": "mine now"}),
    ("patch", "/api/v1/groups/{group}/", {"name": ""}),
    ("post", "/api/v1/groups/{group}/members/", {"username": "erin"}),
    ("post", "/api/v1/groups/{group}/members/", {"username": "nobody"}),
    ("delete", "/api/v1/groups/{group}/members/alice/", None),
    ("delete", "/api/v1/groups/{group}/members/{me}/", None),
    ("get", "/api/v1/groups/{group}/messages/", None),
    ("post", "/api/v1/groups/{group}/messages/", {"content": "let me in"}),
    ("post", "/api/v1/groups/{group}/messages/", {"content": ""}),
    ("post", "/api/v1/groups/{group}/read/", None),
    ("get", "/api/v1/messages/{message}/", None),
    ("get", "/api/v1/messages/{message}/history/", None),
    ("get", "/api/v1/messages/{message}/thread/", None),
    ("post", "/api/v1/messages/{message}/read/", None),
    ("patch", "/api/v1/messages/{message}/", {"content": "changed"}),
    ("delete", "/api/v1/messages/{message}/", None),
]


@pytest.mark.parametrize("outsider", ["never a member", "left", "removed"], indirect=True)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    OUTSIDER_REQUESTS,
    ids=[f"{method} {path} {body or ''}".strip() for method, path, body in OUTSIDER_REQUESTS],
)
def test_someone_not_a_member_gets_404_and_changes_nothing(
    api, team, scene, outsider, method, path, body
):
    UserFactory(username="erin")
    url = path.format(me=outsider.username, **scene)
    before = stored()
    members = member_names(team)

    response = getattr(api(outsider), method)(url, body)

    assert response.status_code == 404, response.content
    assert stored() == before
    assert member_names(team) == members
    assert Group.objects.get(pk=team.pk).name == "team"
    message = Message.objects.get(pk=scene["message"])
    assert (message.content, message.read) == ("first, edited", False)
    assert MessageHistory.objects.filter(message=message).count() == 1


@pytest.mark.parametrize("outsider", ["never a member", "left", "removed"], indirect=True)
def test_someone_not_a_member_finds_nothing_of_the_group_anywhere(api, team, scene, outsider):
    client = api(outsider)

    assert client.get("/api/v1/groups/").json()["results"] == []
    assert client.get("/api/v1/conversations/").json()["results"] == []
    assert client.get("/api/v1/messages/unread/").json()["results"] == []
    assert client.get("/api/v1/messages/unread/count/").json() == {"count": 0}
    assert client.get("/api/v1/messages/search/?q=first").json()["results"] == []
    assert not Notification.objects.filter(user=outsider).exists()


def test_someone_who_left_gets_no_notification_for_later_messages(api, alice, bob, carol, team):
    api(carol).delete(f"/api/v1/groups/{team.pk}/members/carol/")

    response = api(alice).post(messages_url(team), {"content": "after carol left"})

    assert response.status_code == 201
    notified = Notification.objects.filter(message_id=response.json()["id"])
    assert set(notified.values_list("user__username", flat=True)) == {"bob"}
    assert api(carol).get("/api/v1/notifications/").json()["results"] == []
    assert unread_count(api, carol) == 0


def test_someone_added_later_sees_the_history_with_nothing_unread(api, alice, bob, dave, team):
    earlier = say(alice, team, "before dave")
    api(bob).post(f"/api/v1/groups/{team.pk}/members/", {"username": "dave"})

    rows = api(dave).get(messages_url(team)).json()["results"]

    assert [row["id"] for row in rows] == [earlier.pk]
    assert unread_count(api, dave) == 0
    later = api(alice).post(messages_url(team), {"content": "welcome"}).json()
    assert unread_count(api, dave) == 1
    assert Notification.objects.filter(user=dave, message_id=later["id"]).count() == 1


# Inbox and counts ------------------------------------------------------------


def test_the_inbox_lists_the_group_beside_direct_conversations(api, alice, bob, carol, team):
    direct = services.message_send(sender=bob, receiver=alice, content="direct")
    say(bob, team, "one")
    last = say(carol, team, "two")

    rows = api(alice).get("/api/v1/conversations/").json()["results"]

    assert len(rows) == 2
    group_row, direct_row = rows  # newest last message first
    assert group_row["group"] == {"id": team.pk, "name": "team"}
    assert group_row["partner"] is None
    assert group_row["unread_count"] == 2
    assert group_row["last_message"]["id"] == last.pk
    assert_group_message(group_row["last_message"], last, read=False)
    assert (direct_row["group"], direct_row["partner"]) == (None, "bob")
    assert direct_row["last_message"]["id"] == direct.pk
    assert direct_row["last_message"]["group"] is None

    def unread_of(user) -> int:
        (row,) = [
            r for r in api(user).get("/api/v1/conversations/").json()["results"] if r["group"]
        ]
        return row["unread_count"]

    services.message_mark_read(user=bob, message=last)
    assert (unread_of(alice), unread_of(bob), unread_of(carol)) == (2, 0, 1)


def test_a_group_shows_in_the_inbox_before_anyone_writes(api, bob, team):
    rows = api(bob).get("/api/v1/conversations/").json()["results"]

    assert [(row["group"], row["partner"], row["unread_count"]) for row in rows] == [
        ({"id": team.pk, "name": "team"}, None, 0)
    ]


def test_the_unread_count_adds_group_and_direct_messages(api, alice, bob, carol, team):
    services.message_send(sender=bob, receiver=alice, content="direct")
    say(bob, team, "one")
    say(carol, team, "two")
    say(alice, team, "mine")

    assert unread_count(api, alice) == 3
    api(alice).post(f"/api/v1/groups/{team.pk}/read/")
    assert unread_count(api, alice) == 1


def test_direct_messages_carry_a_null_group(api, alice, bob):
    response = api(alice).post("/api/v1/messages/", {"receiver": "bob", "content": "hi"})

    assert response.status_code == 201
    assert response.json()["group"] is None
    assert response.json()["receiver"] == "bob"
    (row,) = api(bob).get("/api/v1/conversations/alice/messages/").json()["results"]
    assert (row["group"], row["receiver"]) == (None, "bob")
    assert api(bob).get(f"/api/v1/messages/{row['id']}/").json()["group"] is None


# Account deletion and export -------------------------------------------------


def test_deleting_an_account_removes_its_group_messages_and_memberships(
    api, alice, bob, carol, team
):
    bobs = say(bob, team, "bob's first")
    alices_reply = say(alice, team, "alice answers", parent=bobs)
    carols_reply = say(carol, team, "carol answers alice", parent=alices_reply)
    bobs_later = say(bob, team, "bob again")
    services.message_edit(user=bob, message=bobs_later, content="bob again, edited")

    response = api(bob).delete("/api/v1/users/me/", {"password": PASSWORD})

    assert response.status_code == 204
    assert not Message.objects.filter(sender_id=bob.pk).exists()
    assert not Conversation.objects.filter(owner_id=bob.pk).exists()
    assert not MessageHistory.objects.exists()
    assert not Notification.objects.filter(actor_id=bob.pk).exists()
    assert member_names(team) == {"alice", "carol"}
    # Nobody else's message goes: alice's reply moved up to be the thread's first.
    assert api(carol).get(f"/api/v1/messages/{alices_reply.pk}/").json()["parent_message"] is None
    thread = api(carol).get(f"/api/v1/messages/{carols_reply.pk}/thread/").json()
    assert thread["id"] == alices_reply.pk
    assert [reply["id"] for reply in thread["replies"]] == [carols_reply.pk]
    rows = api(alice).get(messages_url(team)).json()["results"]
    assert [row["id"] for row in rows] == [carols_reply.pk, alices_reply.pk]
    assert sorted(api(alice).get(f"/api/v1/groups/{team.pk}/").json()["members"]) == [
        "alice",
        "carol",
    ]
    (inbox_row,) = api(alice).get("/api/v1/conversations/").json()["results"]
    assert inbox_row["last_message"]["id"] == carols_reply.pk


def test_deleting_the_last_members_account_deletes_the_group(api, alice, bob):
    group = make_group(alice, bob)
    say(alice, group, "hi")
    say(bob, group, "hi back")
    services.group_remove_member(user=alice, group=group, username="alice")

    assert api(bob).delete("/api/v1/users/me/", {"password": PASSWORD}).status_code == 204

    assert not Group.objects.filter(pk=group.pk).exists()
    assert stored() == (0, 0, 0, 0)


def test_deleting_the_creators_account_keeps_the_group_for_the_others(api, alice, bob, carol, team):
    assert api(alice).delete("/api/v1/users/me/", {"password": PASSWORD}).status_code == 204

    body = api(bob).get(f"/api/v1/groups/{team.pk}/").json()
    assert sorted(body["members"]) == ["bob", "carol"]
    assert body["created_by"] is None
    assert api(bob).post(messages_url(team), {"content": "still here"}).status_code == 201


def test_the_export_holds_the_callers_groups_and_group_messages(api, alice, bob, carol, team):
    make_group(bob, carol, name="without alice")
    mine = say(alice, team, "from alice")
    theirs = say(bob, team, "from bob")

    body = api(alice).get("/api/v1/users/me/export/").json()

    assert [(group["id"], group["name"]) for group in body["groups"]] == [(team.pk, "team")]
    assert sorted(body["groups"][0]["members"]) == ["alice", "bob", "carol"]
    assert body["groups"][0]["created_by"] == "alice"
    sent = {row["id"]: row for row in body["messages_sent"]}
    assert (sent[mine.pk]["group"], sent[mine.pk]["receiver"]) == (team.pk, None)
    received = body["group_messages_received"]
    assert [(row["id"], row["group"], row["sender"]) for row in received] == [
        (theirs.pk, team.pk, "bob")
    ]
    assert [row["message"] for row in body["notifications"]] == [theirs.pk]
    # `read` is the caller's own: their message is read, bob's not until they read it.
    assert (sent[mine.pk]["read"], received[0]["read"]) == (True, False)
    assert api(alice).post(f"/api/v1/groups/{team.pk}/read/").status_code == 204
    again = api(alice).get("/api/v1/users/me/export/").json()
    assert again["group_messages_received"][0]["read"] is True


# Authentication --------------------------------------------------------------


def test_anonymous_callers_are_refused(api, team):
    for path in (
        "/api/v1/groups/",
        f"/api/v1/groups/{team.pk}/",
        messages_url(team),
    ):
        assert api().get(path).status_code == 401


def test_a_session_create_needs_the_csrf_token(session_client, alice, bob):
    client = session_client(alice)
    body = {"name": "team", "members": ["bob"]}

    refused = client.post("/api/v1/groups/", body, content_type="application/json")
    assert refused.status_code == 403
    assert stored() == (0, 0, 0, 0)

    accepted = client.post(
        "/api/v1/groups/", body, content_type="application/json", headers=client.csrf_headers
    )
    assert accepted.status_code == 201


def test_deleting_the_last_message_moves_every_members_inbox_row_back(api, alice, bob, team):
    earlier = say(bob, team, "earlier")
    last = say(alice, team, "last")

    assert api(alice).delete(f"/api/v1/messages/{last.pk}/").status_code == 204

    for user in (alice, bob):
        (row,) = api(user).get("/api/v1/conversations/").json()["results"]
        assert row["last_message"]["id"] == earlier.pk


def test_members_find_group_messages_by_search(api, alice, bob, carol, team):
    message = say(alice, team, "the picnic is on Sunday")

    for user in (bob, carol, alice):
        rows = api(user).get("/api/v1/messages/search/?q=picnic").json()["results"]
        assert [row["id"] for row in rows] == [message.pk]
        assert rows[0]["group"] == team.pk


GROUP_REQUESTS = [
    ("get", "", None),
    ("patch", "", {"name": "x"}),
    ("post", "members/", {"username": "bob"}),
    ("delete", "members/bob/", None),
    ("delete", "members/alice/", None),
    ("get", "messages/", None),
    ("post", "messages/", {"content": "x"}),
    ("post", "messages/", {"content": ""}),
    ("post", "read/", None),
]


@pytest.mark.parametrize("group_id", ["0", "999999", str(2**63), "9" * 40])
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    GROUP_REQUESTS,
    ids=[f"{method} {suffix} {body or ''}".strip() for method, suffix, body in GROUP_REQUESTS],
)
def test_unknown_group_ids_are_404(api, alice, team, group_id, method, suffix, body):
    before = stored()

    response = getattr(api(alice), method)(f"/api/v1/groups/{group_id}/{suffix}", body)

    assert response.status_code == 404, response.content
    assert set(response.json()) == {"detail"}
    assert stored() == before
