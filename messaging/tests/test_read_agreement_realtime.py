"""Reading through a real socket: every open socket of the reader hears
`conversation.read` (so each open page counts its badges again), the sender hears
`message.read` as before, and nobody else hears anything. The sockets, the services
run off the event loop and the autouse fixtures are `test_realtime.py`'s.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from messaging import selectors

from .test_realtime import (  # noqa: F401  (its autouse fixtures apply to this module too)
    _fresh_channel_layer,
    _site_hosts,
    conversation_read,
    edit,
    frames,
    mark_read,
    open_socket,
    send,
)

pytestmark = pytest.mark.django_db(transaction=True)

notification_count = database_sync_to_async(selectors.notification_unread_count)


async def test_the_readers_other_socket_hears_the_read_and_the_counts_agree(alice, bob, carol):
    first = await send(sender=alice, receiver=bob, content="one")
    second = await send(sender=alice, receiver=bob, content="two")
    phone, laptop = await open_socket(bob), await open_socket(bob)
    sender, stranger = await open_socket(alice), await open_socket(carol)

    await conversation_read(user=bob, partner=alice)  # on the phone, say

    ids = sorted([first.pk, second.pk])
    for socket in (phone, laptop):
        assert await frames(socket, 1) == {"conversation.read": {"partner": "alice", "ids": ids}}
    assert await frames(sender, 1) == {"message.read": {"partner": "bob", "ids": ids}}
    assert await stranger.receive_nothing(timeout=0.2)
    # What a page asks for once it hears it: already counted anew.
    assert await notification_count(bob) == 0
    for socket in (phone, laptop, sender, stranger):
        await socket.disconnect()


async def test_one_message_read_reaches_the_readers_sockets_too(alice, bob):
    message = await send(sender=alice, receiver=bob, content="read me")
    laptop = await open_socket(bob)

    await mark_read(user=bob, message=message.pk)

    assert await frames(laptop, 1) == {
        "conversation.read": {"partner": "alice", "ids": [message.pk]}
    }
    await laptop.disconnect()


async def test_an_edit_read_in_the_conversation_reaches_the_reader_alone(alice, bob):
    message = await send(sender=alice, receiver=bob, content="helo")
    await conversation_read(user=bob, partner=alice)
    await edit(user=alice, message=message.pk, content="hello")
    laptop, sender = await open_socket(bob), await open_socket(alice)

    await conversation_read(user=bob, partner=alice)

    assert await frames(laptop, 1) == {"conversation.read": {"partner": "alice", "ids": []}}
    assert await sender.receive_nothing(timeout=0.2)
    for socket in (laptop, sender):
        await socket.disconnect()
