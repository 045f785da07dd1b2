"""The conversation as a chat: the window of messages a page shows (`selectors.
conversation_window`), and each message's HTML cached under its version and viewer
(`web.fragments`)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.template.loader import get_template

from messaging import selectors, services
from messaging.models import Message
from messaging.selectors.messages import MAX_WINDOW
from messaging.web import fragments

pytestmark = pytest.mark.django_db


# The window --------------------------------------------------------------------------


def test_the_window_is_the_newest_messages_oldest_first(alice, bob, send):
    sent = [send(alice if n % 2 else bob, bob if n % 2 else alice, f"m{n}") for n in range(7)]
    services.conversation_mark_read(user=alice, partner=bob)

    rows, has_older = selectors.conversation_window(alice, bob, size=5)

    assert [m.pk for m in rows] == [m.pk for m in sent[2:]]
    assert has_older


def test_before_a_message_the_window_holds_what_came_earlier(alice, bob, send):
    sent = [send(alice, bob, f"m{n}") for n in range(7)]

    rows, has_older = selectors.conversation_window(alice, bob, before=sent[4].pk, size=3)
    first, more = selectors.conversation_window(alice, bob, before=sent[1].pk, size=3)

    assert [m.pk for m in rows] == [m.pk for m in sent[1:4]]
    assert has_older
    assert [m.pk for m in first] == [sent[0].pk] and not more


def test_at_a_message_the_window_ends_with_it(alice, bob, send):
    sent = [send(alice, bob, f"m{n}") for n in range(7)]

    rows, has_older = selectors.conversation_window(alice, bob, at=sent[4].pk, size=3)

    assert [m.pk for m in rows] == [m.pk for m in sent[2:5]]
    assert has_older


def test_a_message_of_another_conversation_anchors_nothing(alice, bob, carol, send):
    send(alice, bob, "before")
    elsewhere = send(carol, bob, "not alice's")  # its time must not cut alice's window
    send(alice, bob, "after")

    for end in ({"before": elsewhere.pk}, {"at": elsewhere.pk}):
        rows, has_older = selectors.conversation_window(alice, bob, **end)
        assert (rows, has_older) == ([], False), end


def test_messages_of_other_conversations_never_enter_the_window(alice, bob, carol, send):
    send(carol, alice, "not with bob")
    mine = send(alice, bob, "with bob")

    rows, _ = selectors.conversation_window(alice, bob)

    assert [m.pk for m in rows] == [mine.pk]


def test_one_query_loads_the_window_with_what_each_reply_quotes(
    alice, bob, send, django_assert_num_queries
):
    root = send(alice, bob, "question")
    send(bob, alice, "answer", parent_message=root)
    services.conversation_mark_read(user=alice, partner=bob)

    with django_assert_num_queries(1):
        rows, _ = selectors.conversation_window(alice, bob)
        quoted = [m.parent_message.content for m in rows if m.parent_message_id]

    assert quoted == ["question"]


def test_the_window_reaches_back_to_the_first_unread_within_its_limit(
    alice, bob, send, django_assert_num_queries
):
    for n in range(3):
        send(alice, bob, f"old {n}")
    unread = [send(bob, alice, f"new {n}") for n in range(8)]

    with django_assert_num_queries(3):  # the window, the unread count, the wider window
        rows, has_older = selectors.conversation_window(alice, bob, size=5)

    assert [m.pk for m in rows][-8:] == [m.pk for m in unread]
    assert len(rows) == 11 and not has_older
    # For the person who has read everything, the plain window.
    theirs, _ = selectors.conversation_window(bob, alice, size=5)
    assert len(theirs) == 5


def test_the_window_stops_at_its_limit_however_much_is_unread(alice, bob, send):
    Message.objects.bulk_create(
        Message(sender=bob, receiver=alice, content=f"n{n}") for n in range(MAX_WINDOW + 20)
    )

    rows, has_older = selectors.conversation_window(alice, bob, size=5)

    assert len(rows) == MAX_WINDOW
    assert has_older


# Versions ----------------------------------------------------------------------------


def test_every_edit_moves_the_version_and_reading_does_not(alice, bob, send):
    message = send(alice, bob, "v1")
    assert message.version == 1

    services.message_edit(user=alice, message=message, content="v2")
    services.conversation_mark_read(user=bob, partner=alice)
    message.refresh_from_db()
    assert message.version == 2

    # Any save that changes the text goes through the same signal.
    message.content = "v3"
    message.save()
    message.refresh_from_db()
    assert (message.version, message.content, message.edited) == (3, "v3", True)

    # A save that names only the text still moves the version.
    message.content = "v4"
    message.save(update_fields=["content"])
    message.refresh_from_db()
    assert message.version == 4


# Fragments ---------------------------------------------------------------------------


def rendered(viewer, partner):
    rows, _ = selectors.conversation_window(viewer, partner)
    people = {viewer.pk: viewer.username, partner.pk: partner.username}
    return fragments.messages_html(rows, viewer=viewer, people=people)


def test_a_second_page_renders_nothing_and_a_change_renders_only_what_changed(alice, bob, send):
    root = send(alice, bob, "question")
    reply = send(bob, alice, "answer", parent_message=root)
    other = send(bob, alice, "unrelated")
    spy = mock.patch.object(fragments, "render", wraps=fragments.render)

    with spy as render:
        first = rendered(alice, bob)
        again = rendered(alice, bob)
        assert render.call_count == 3
        assert again == first

        # Editing the question changes it and the reply that quotes it, nothing else.
        services.message_edit(user=alice, message=root, content="question, edited")
        rendered(alice, bob)
        assert {call.args[0].pk for call in render.call_args_list[3:]} == {root.pk, reply.pk}

        # Bob reading changes how Alice's sent message shows ("Read"): only that one.
        render.reset_mock()
        services.conversation_mark_read(user=bob, partner=alice)
        rendered(alice, bob)
        assert {call.args[0].pk for call in render.call_args_list} == {root.pk}
        # The others come from the cache, as they were.
        assert rendered(alice, bob)[2] == first[2]
        assert f'id="m{other.pk}"' in first[2]


def test_each_viewer_has_their_own_fragments(alice, bob, send):
    send(alice, bob, "hello")

    (for_alice,), (for_bob,) = rendered(alice, bob), rendered(bob, alice)

    assert "msg--mine" in for_alice and ">You<" in for_alice
    assert "msg--mine" not in for_bob and ">alice<" in for_bob


def test_with_the_cache_down_every_fragment_is_rendered(alice, bob, send):
    send(alice, bob, "hello")
    with (
        mock.patch.object(fragments.cache, "get_many", return_value={}),
        mock.patch.object(fragments.cache, "set_many") as stored,
    ):
        (html,) = rendered(alice, bob)

    assert "hello" in html
    stored.assert_called_once()


def test_fragments_have_no_forms_and_reverse_no_urls(alice, bob, send):
    root = send(alice, bob, "question")
    send(bob, alice, "answer", parent_message=root)

    html = "".join(rendered(alice, bob))
    source = get_template(fragments.TEMPLATE).template.source

    assert "{% url" not in source and "csrf" not in source
    assert "<form" not in html
    assert f'href="/messages/{root.pk}/#m{root.pk}" data-quote="{root.pk}"' in html
