"""A block through a real socket: the blocker's sockets hear nothing of the blocked
person's edits and deletions, and still hear everybody else's.

Uses the socket helpers of `test_realtime.py` (the project's ASGI application, the
configured channel layer, real commits).
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from messaging import services

from .test_realtime import (  # noqa: F401  (its autouse fixtures apply to this module too)
    _fresh_channel_layer,
    _site_hosts,
    frames,
    open_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

send = database_sync_to_async(services.message_send)
edit = database_sync_to_async(services.message_edit)
delete = database_sync_to_async(services.message_delete)
block = database_sync_to_async(services.user_block)


async def test_the_blocker_receives_no_frame_for_the_blocked_persons_edit_or_delete(
    alice, bob, carol
):
    from_alice = await send(sender=alice, receiver=bob, content="hello bob")
    from_carol = await send(sender=carol, receiver=bob, content="hi bob")
    await block(user=bob, target=alice)
    socket = await open_socket(bob)

    await edit(user=alice, message=from_alice.pk, content="hello bob, edited")
    await delete(user=alice, message=from_alice.pk)
    # Someone bob has not blocked: their edit arrives, and nothing of alice's before it.
    await edit(user=carol, message=from_carol.pk, content="hi bob, edited")

    received = await frames(socket, 2)
    assert received["message.updated"]["id"] == from_carol.pk
    assert received["notification.created"]["actor"] == "carol"
    await socket.disconnect()


async def test_the_blocked_person_still_hears_the_blockers_edits(alice, bob):
    # Only what the blocked person does is silenced for the blocker, not the reverse.
    message = await send(sender=bob, receiver=alice, content="hello alice")
    await block(user=bob, target=alice)
    socket = await open_socket(alice)

    await edit(user=bob, message=message.pk, content="hello alice, edited")

    assert (await frames(socket, 2))["message.updated"]["id"] == message.pk
    await socket.disconnect()
