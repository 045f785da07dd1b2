"""Groups through a real socket: who hears a group message, its notification, a read,
a change of the group, and that someone who left hears nothing more of it, at once.

Uses the socket helpers of `test_realtime.py` (the project's ASGI application, the
configured channel layer, real commits). That a socket heard nothing is proven by what
it hears next: frames to one person arrive in order, so a later frame that does reach
them comes first only if nothing came before it.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from messaging import selectors, services
from messaging.api.serializers import MessageSerializer, NotificationSerializer
from messaging.models import Notification

from .factories import UserFactory
from .test_realtime import (  # noqa: F401  (the fixtures: its autouse ones apply here too)
    WITHIN,
    _fresh_channel_layer,
    _site_hosts,
    frames,
    open_socket,
    send,
)
from .test_realtime import mark_read as message_read

pytestmark = pytest.mark.django_db(transaction=True)

create = database_sync_to_async(services.group_create)
rename = database_sync_to_async(services.group_rename)
add = database_sync_to_async(services.group_add_member)
remove = database_sync_to_async(services.group_remove_member)
group_read = database_sync_to_async(services.group_mark_read)


@database_sync_to_async
def as_seen_by(user, pk: int) -> dict:
    """The message as `user` reads it from the API (`GET /api/v1/messages/{id}/`)."""
    return dict(MessageSerializer(selectors.message_get_for_participant(user, pk)).data)


@database_sync_to_async
def notification_of(user, pk: int) -> dict:
    notification = Notification.objects.select_related("actor").get(user=user, message_id=pk)
    return dict(NotificationSerializer(notification).data)


async def next_frame(socket) -> dict:
    return await socket.receive_json_from(timeout=WITHIN)


async def assert_hears_only(socket, probe) -> None:
    """The socket's next frames are those of `probe`, a direct message to its owner
    sent now: nothing reached it before."""
    received = await frames(socket, 2)
    assert received["message.created"]["id"] == probe.pk, received


@pytest.fixture
def dave(db):
    """Someone outside the group."""
    return UserFactory(username="dave")


@pytest.fixture
async def team(alice, bob, carol):
    """alice (its creator), bob and carol; made before any socket opens."""
    return await create(creator=alice, name="team", members=[bob, carol])


async def close(*sockets) -> None:
    for socket in sockets:
        await socket.disconnect()


async def test_a_group_message_reaches_every_other_member_not_the_sender(
    alice, bob, carol, dave, team
):
    sockets = {user: await open_socket(user) for user in (alice, bob, carol)}

    message = await send(sender=alice, group=team, content="hello all")

    for member in (bob, carol):
        received = await frames(sockets[member], 2)
        assert received["message.created"] == await as_seen_by(member, message.pk)
        assert received["message.created"]["group"] == team.pk
        assert received["message.created"]["receiver"] is None
        assert received["message.created"]["read"] is False
        assert received["notification.created"] == await notification_of(member, message.pk)
        assert received["notification.created"]["actor"] == "alice"
    await assert_hears_only(
        sockets[alice], await send(sender=dave, receiver=alice, content="probe")
    )
    await close(*sockets.values())


async def test_every_open_socket_of_a_member_hears_the_message(alice, bob, team):
    phone, laptop = await open_socket(bob), await open_socket(bob)

    message = await send(sender=alice, group=team, content="to both")

    for socket in (phone, laptop):
        assert (await frames(socket, 2))["message.created"]["id"] == message.pk
    await close(phone, laptop)


async def test_the_message_arrives_before_its_notification(alice, bob, team):
    socket = await open_socket(bob)

    for content in ("first", "second"):
        await send(sender=alice, group=team, content=content)

    order = [(await next_frame(socket))["type"] for _ in range(4)]
    assert order == ["message.created", "notification.created"] * 2
    await close(socket)


async def test_a_member_who_leaves_hears_group_left_then_nothing_of_the_group(
    alice, bob, carol, dave, team
):
    leaving, staying = await open_socket(carol), await open_socket(bob)

    await remove(user=carol, group=team, username="carol")

    assert await frames(leaving, 1) == {"group.left": {"id": team.pk}}
    updated = (await frames(staying, 1))["group.updated"]
    assert sorted(updated["members"]) == ["alice", "bob"]
    assert updated["change"] == {"kind": "left", "by": "carol", "member": "carol"}

    message = await send(sender=alice, group=team, content="after carol left")

    assert (await frames(staying, 2))["message.created"]["id"] == message.pk
    await assert_hears_only(leaving, await send(sender=dave, receiver=carol, content="probe"))
    await close(leaving, staying)


async def test_someone_removed_by_the_creator_hears_group_left(alice, bob, carol, dave, team):
    removed, creator, other = (
        await open_socket(carol),
        await open_socket(alice),
        await open_socket(bob),
    )

    await remove(user=alice, group=team, username="carol")

    assert await frames(removed, 1) == {"group.left": {"id": team.pk}}
    for socket in (creator, other):
        updated = (await frames(socket, 1))["group.updated"]
        assert updated["change"] == {"kind": "removed", "by": "alice", "member": "carol"}
        assert sorted(updated["members"]) == ["alice", "bob"]

    await send(sender=bob, group=team, content="carol is gone")
    await frames(creator, 2)
    await assert_hears_only(removed, await send(sender=dave, receiver=carol, content="probe"))
    await close(removed, creator, other)


async def test_adding_someone_tells_every_member_and_the_newcomer(alice, bob, carol, dave, team):
    sockets = {user: await open_socket(user) for user in (alice, bob, carol, dave)}

    await add(user=bob, group=team, member=dave)

    for socket in sockets.values():
        updated = (await frames(socket, 1))["group.updated"]
        assert updated["id"] == team.pk
        assert updated["name"] == "team"
        assert sorted(updated["members"]) == ["alice", "bob", "carol", "dave"]
        assert updated["change"] == {"kind": "added", "by": "bob", "member": "dave"}

    message = await send(sender=alice, group=team, content="welcome dave")
    assert (await frames(sockets[dave], 2))["message.created"]["id"] == message.pk
    await close(*sockets.values())


async def test_renaming_tells_every_member(alice, bob, carol, dave, team):
    sockets = {user: await open_socket(user) for user in (alice, bob, carol)}
    outsider = await open_socket(dave)

    await rename(user=carol, group=team, name="renamed")

    for socket in sockets.values():
        updated = (await frames(socket, 1))["group.updated"]
        assert (updated["id"], updated["name"]) == (team.pk, "renamed")
        assert updated["change"] == {"kind": "renamed", "by": "carol", "name": "renamed"}
    await assert_hears_only(outsider, await send(sender=alice, receiver=dave, content="probe"))
    await close(*sockets.values(), outsider)


async def test_reading_the_group_tells_the_other_members_who_read_up_to_where(
    alice, bob, carol, team
):
    await send(sender=alice, group=team, content="one")
    last = await send(sender=carol, group=team, content="two")
    sender, other, reader = (
        await open_socket(alice),
        await open_socket(carol),
        await open_socket(bob),
    )

    await group_read(user=bob, group=team)

    for socket in (sender, other):
        assert await frames(socket, 1) == {
            "message.read": {"group": team.pk, "reader": "bob", "up_to": last.pk}
        }
    # The reader's own sockets hear their read, not a receipt.
    assert "message.read" not in await frames(reader, 1)
    await close(sender, other, reader)


async def test_reading_one_message_tells_the_other_members(alice, bob, carol, team):
    first = await send(sender=alice, group=team, content="one")
    await send(sender=alice, group=team, content="two")
    sender, other = await open_socket(alice), await open_socket(carol)

    await message_read(user=bob, message=first)

    for socket in (sender, other):
        assert await frames(socket, 1) == {
            "message.read": {"group": team.pk, "reader": "bob", "up_to": first.pk}
        }
    await close(sender, other)


async def test_a_member_who_blocked_the_sender_hears_nothing_of_their_group_messages(
    alice, bob, carol, dave, team
):
    await database_sync_to_async(services.user_block)(user=carol, target="alice")
    blocker, other = await open_socket(carol), await open_socket(bob)

    message = await send(sender=alice, group=team, content="carol blocked me")
    await database_sync_to_async(services.message_edit)(
        user=alice, message=message, content="carol blocked me, edited"
    )

    heard = [await next_frame(other) for _ in range(3)]
    assert [
        (frame["type"], frame["data"]["message" if "actor" in frame["data"] else "id"])
        for frame in heard
    ] == [
        ("message.created", message.pk),
        ("notification.created", message.pk),
        ("message.updated", message.pk),
    ]
    await assert_hears_only(blocker, await send(sender=dave, receiver=carol, content="probe"))
    # Nor is carol notified; the message is in the group when she opens it.
    assert not await database_sync_to_async(
        Notification.objects.filter(user=carol, message_id=message.pk).exists
    )()
    await close(blocker, other)
