"""The group pages through the test client: creating a group, its chat page (the
direct conversation's page, generalized), the members panel's forms, the inbox's
group rows, the message pages for group messages, and a fixed query budget."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.core.cache.utils import make_template_fragment_key
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from messaging import cache as cache_keys
from messaging import selectors, services
from messaging.models import Conversation, Group, Message
from messaging.tests.factories import UserFactory

# Real commits: the pages' caches move on when a transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trio(alice, bob, carol):
    """Alice's group with Bob and Carol."""
    return services.group_create(creator=alice, name="Trip <planning>", members=[bob, carol])


def group_url(group) -> str:
    return reverse("messaging:group", args=[group.pk])


def say(sender, group, content, parent=None):
    return services.message_send(sender=sender, group=group.pk, content=content, parent=parent)


def text(response) -> str:
    return response.content.decode()


# Creating a group ------------------------------------------------------------------------


def test_the_inbox_links_to_the_new_group_page(as_user, alice):
    response = as_user(alice).get("/")
    assert 'href="/groups/new/"' in text(response)


def test_create_a_group_and_land_on_its_page(as_user, alice, bob, carol):
    client = as_user(alice)
    assert client.get("/groups/new/").status_code == 200

    response = client.post("/groups/new/", {"name": "  Lunch  crew ", "members": "bob, carol"})

    group = Group.objects.get()
    assert response.status_code == 302
    assert response["Location"] == group_url(group)
    assert group.name == "Lunch crew"
    assert sorted(selectors.group_get(alice, group.pk).member_names) == ["alice", "bob", "carol"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "Lunch crew" in text(page)


def test_names_may_be_separated_by_spaces_and_repeated(as_user, alice, bob, carol):
    response = as_user(alice).post("/groups/new/", {"name": "G", "members": "bob carol,bob,"})
    assert response.status_code == 302
    assert sorted(selectors.group_get(alice, Group.objects.get().pk).member_names) == [
        "alice",
        "bob",
        "carol",
    ]


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"name": "", "members": "bob"}, "name", "This field is required."),
        ({"name": "   ", "members": "bob"}, "name", "This field is required."),
        ({"name": "x" * 101, "members": "bob"}, "name", "at most 100 characters"),
        ({"name": "G", "members": ""}, "members", "This field is required."),
        ({"name": "G", "members": " , "}, "members", "Add at least one other person."),
        ({"name": "G", "members": "alice"}, "members", "Add at least one other person."),
        ({"name": "G", "members": "bob, nobody"}, "members", "No user has this username: nobody."),
    ],
    ids=["no-name", "blank-name", "long-name", "no-people", "commas", "only-me", "unknown"],
)
def test_errors_show_with_their_field_and_nothing_is_stored(
    as_user, alice, bob, data, field, error
):
    response = as_user(alice).post("/groups/new/", data)

    assert response.status_code == 400
    page = text(response)
    errors = re.search(
        rf'<ul class="field__errors" id="group-{field}_error">(.*?)</ul>', page, re.S
    )
    assert errors is not None, page
    assert error in errors.group(1)
    assert not Group.objects.exists()
    assert not Conversation.objects.filter(group__isnull=False).exists()


def test_someone_who_blocked_the_creator_cannot_be_added(as_user, alice, bob, carol):
    services.user_block(user=carol, target=alice)
    response = as_user(alice).post("/groups/new/", {"name": "G", "members": "bob, carol"})
    assert response.status_code == 400
    assert "You cannot add someone you blocked or who blocked you: carol." in text(response)
    assert not Group.objects.exists()


def test_names_in_a_group_are_escaped(as_user, alice, trio):
    page = text(as_user(alice).get(group_url(trio)))
    assert "Trip &lt;planning&gt;" in page
    assert "Trip <planning>" not in page


# The group's chat page ---------------------------------------------------------------------


def test_a_stranger_gets_404_everywhere(as_user, trio):
    stranger = as_user(UserFactory(username="dave"))
    message = say(trio.created_by, trio, "secret plans")
    base = group_url(trio)
    assert stranger.get(base).status_code == 404
    assert stranger.post(base, {"content": "let me in"}).status_code == 404
    for path in ("read/", "rename/", "members/", "leave/", "members/bob/remove/"):
        assert stranger.post(base + path, {"name": "x", "username": "dave"}).status_code == 404
    assert stranger.get(f"/messages/{message.pk}/").status_code == 404
    assert stranger.get("/groups/999999/").status_code == 404
    assert not Message.objects.filter(content="let me in").exists()


def test_the_page_shows_senders_and_sends_to_the_group(as_user, alice, bob, carol, trio):
    say(bob, trio, "hello from bob")
    client = as_user(carol)
    page = text(client.get(group_url(trio)))
    assert "hello from bob" in page
    assert '<span class="msg__author">bob</span>' in page
    assert f'data-group="{trio.pk}"' in page

    response = client.post(group_url(trio), {"content": "hi all"})

    sent = Message.objects.get(content="hi all")
    assert sent.group_id == trio.pk and sent.receiver_id is None
    assert response["Location"] == f"{group_url(trio)}#m{sent.pk}"
    # Everyone in the group sees it, with who wrote it.
    bobs = text(as_user(bob).get(group_url(trio)))
    assert "hi all" in bobs and '<span class="msg__author">carol</span>' in bobs


def test_a_reply_stays_in_the_group(as_user, alice, bob, trio):
    root = say(bob, trio, "where shall we go?")
    client = as_user(alice)

    # Without JavaScript, "Reply" on the thread page opens the composer replying.
    thread = text(client.get(f"/messages/{root.pk}/"))
    assert f'href="{group_url(trio)}?reply={root.pk}#compose-content"' in thread
    form = text(client.get(f"{group_url(trio)}?reply={root.pk}"))
    assert f'name="parent_message" value="{root.pk}"' in form

    client.post(group_url(trio), {"content": "the lake", "parent_message": root.pk})

    reply = Message.objects.get(content="the lake")
    assert reply.group_id == trio.pk and reply.parent_message_id == root.pk
    page = text(client.get(group_url(trio)))
    assert f'data-parent="{root.pk}"' in page


def test_a_reply_to_another_conversation_is_refused(as_user, alice, bob, trio, send):
    direct = send(bob, alice, "just us")
    response = as_user(alice).post(
        group_url(trio), {"content": "crossing", "parent_message": direct.pk}
    )
    assert response.status_code == 400
    assert "was not sent" in text(response)
    assert not Message.objects.filter(content="crossing").exists()
    # Nor does `?reply=` offer it.
    page = text(as_user(alice).get(f"{group_url(trio)}?reply={direct.pk}"))
    assert f'name="parent_message" value="{direct.pk}"' not in page


def test_the_script_sends_through_the_api_with_an_idempotency_key(as_user, alice, trio):
    client = as_user(alice)
    page = text(client.get(group_url(trio)))
    api_url = f"/api/v1/groups/{trio.pk}/messages/"
    assert f'data-group-send-url="{api_url}"' in page

    headers = {"Idempotency-Key": "k-1"}
    first = client.post(
        api_url, {"content": "once"}, content_type="application/json", headers=headers
    )
    again = client.post(
        api_url, {"content": "once"}, content_type="application/json", headers=headers
    )

    assert first.status_code == again.status_code == 201
    assert first.json()["group"] == trio.pk and first.json()["receiver"] is None
    assert again.json()["id"] == first.json()["id"]
    assert Message.objects.filter(content="once").count() == 1


def test_opening_the_page_marks_the_group_read(as_user, alice, bob, trio):
    say(bob, trio, "one")
    say(bob, trio, "two")
    assert selectors.group_unread_counts(alice, [trio.pk]) == {trio.pk: 2}
    client = as_user(alice)

    page = text(client.get(group_url(trio)))

    assert 'id="first-unread"' in page  # the page still shows what was new
    assert selectors.group_unread_counts(alice, [trio.pk]) == {}
    assert 'id="first-unread"' not in text(client.get(group_url(trio)))


def test_a_request_from_elsewhere_marks_nothing_read_and_offers_the_button(
    as_user, alice, bob, trio
):
    say(bob, trio, "one")
    client = as_user(alice)
    page = text(client.get(group_url(trio), headers={"Sec-Fetch-Site": "cross-site"}))
    assert selectors.group_unread_counts(alice, [trio.pk]) == {trio.pk: 1}
    read_url = reverse("messaging:group_read", args=[trio.pk])
    assert f'action="{read_url}"' in page
    client.post(read_url)
    assert selectors.group_unread_counts(alice, [trio.pk]) == {}


def test_before_and_at_open_the_window_there(as_user, alice, bob, trio):
    sent = [say(bob, trio, f"number {i:02}") for i in range(60)]
    services.group_mark_read(user=alice, group=trio)  # else the window reaches the first unread
    client = as_user(alice)

    newest = text(client.get(group_url(trio)))
    assert "number 59" in newest and "number 05" not in newest
    assert f'href="?before={sent[10].pk}"' in newest

    older = text(client.get(f"{group_url(trio)}?before={sent[10].pk}"))
    assert "number 09" in older and "number 10" not in older

    at = text(client.get(f"{group_url(trio)}?at={sent[3].pk}"))
    assert "number 03" in at and "number 04" not in at


def test_an_anchor_from_another_conversation_shows_nothing(as_user, alice, bob, trio, send):
    say(bob, trio, "only-group-words")
    direct = send(bob, alice, "elsewhere")
    page = text(as_user(alice).get(f"{group_url(trio)}?before={direct.pk}"))
    assert "only-group-words" not in page


def test_the_window_is_cached_under_the_group_key(as_user, alice, bob, trio):
    say(bob, trio, "cached")
    client = as_user(alice)
    client.get(group_url(trio))
    client.get(group_url(trio))  # after the read moved the group's generation
    window_key = cache_keys.group_window_key(alice.pk, trio.pk, end="")
    fragment = make_template_fragment_key("conversation_window", [window_key])
    assert "cached" in cache.get(fragment), "the window's fragment is cached"


# The members panel ------------------------------------------------------------------------


def test_the_panel_lists_members_and_the_creator_may_remove(as_user, alice, bob, trio):
    page = text(as_user(alice).get(group_url(trio)))
    assert 'id="members"' in page
    for name in ("alice", "bob", "carol"):
        assert f'data-member="{name}"' in page
    assert reverse("messaging:group_member_remove", args=[trio.pk, "bob"]) in page
    # Bob is no creator: no Remove buttons for him.
    bobs = text(as_user(bob).get(group_url(trio)))
    assert "/remove/" not in bobs


def test_add_someone(as_user, alice, trio):
    dave = UserFactory(username="dave")
    client = as_user(alice)
    url = reverse("messaging:group_member_add", args=[trio.pk])

    response = client.post(url, {"username": "dave"})

    assert response.status_code == 302
    assert response["Location"] == f"{group_url(trio)}#members"
    assert "dave" in selectors.group_get(alice, trio.pk).member_names
    assert as_user(dave).get(group_url(trio)).status_code == 200
    assert "You added dave to the group." in text(client.get(group_url(trio)))


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("nobody", "No user has this username: nobody."),
        ("bob", "This person is a member already."),
        ("", "This field is required."),
    ],
)
def test_adding_errors_show_in_the_open_panel(as_user, alice, trio, username, error):
    url = reverse("messaging:group_member_add", args=[trio.pk])
    response = as_user(alice).post(url, {"username": username})
    assert response.status_code == 400
    page = text(response)
    assert '<details class="members" id="members" open>' in page
    errors = re.search(r'<ul class="field__errors" id="add-username_error">(.*?)</ul>', page, re.S)
    assert errors is not None and error in errors.group(1)


def test_rename(as_user, alice, bob, trio):
    client = as_user(bob)  # any member
    url = reverse("messaging:group_rename", args=[trio.pk])
    assert client.post(url, {"name": "  Lake   trip "}).status_code == 302
    trio.refresh_from_db()
    assert trio.name == "Lake trip"
    assert "Lake trip" in text(as_user(alice).get(group_url(trio)))

    refused = client.post(url, {"name": " "})
    assert refused.status_code == 400
    assert 'id="rename-name_error"' in text(refused)


def test_the_creator_removes_someone(as_user, alice, bob, carol, trio):
    url = reverse("messaging:group_member_remove", args=[trio.pk, "bob"])
    response = as_user(alice).post(url)
    assert response.status_code == 302
    assert "bob" not in selectors.group_get(alice, trio.pk).member_names
    assert as_user(bob).get(group_url(trio)).status_code == 404


def test_only_the_creator_removes_others(as_user, alice, bob, carol, trio):
    url = reverse("messaging:group_member_remove", args=[trio.pk, "carol"])
    response = as_user(bob).post(url)
    assert response.status_code == 403
    page = text(response)
    assert "Only the group&#x27;s creator removes other people." in page
    assert '<details class="members" id="members" open>' in page
    assert "carol" in selectors.group_get(alice, trio.pk).member_names


def test_removing_someone_who_is_not_a_member(as_user, alice, trio):
    url = reverse("messaging:group_member_remove", args=[trio.pk, "nobody"])
    response = as_user(alice).post(url)
    assert response.status_code == 404
    assert "No member of this group has this username." in text(response)


def test_leave_then_404(as_user, alice, bob, trio):
    message = say(alice, trio, "before bob leaves")
    client = as_user(bob)
    assert client.get("/").content.decode().count(f'data-group="{trio.pk}"') == 1

    response = client.post(reverse("messaging:group_leave", args=[trio.pk]))

    assert response.status_code == 302 and response["Location"] == "/"
    inbox = text(client.get("/"))
    assert "You left Trip &lt;planning&gt;." in inbox
    assert f'data-group="{trio.pk}"' not in inbox
    assert client.get(group_url(trio)).status_code == 404
    assert client.get(f"/messages/{message.pk}/").status_code == 404


def test_leaving_needs_a_post(as_user, bob, trio):
    assert as_user(bob).get(reverse("messaging:group_leave", args=[trio.pk])).status_code == 405


# The inbox ------------------------------------------------------------------------------------


def test_the_inbox_lists_groups_beside_direct_conversations(as_user, alice, bob, carol, trio, send):
    send(carol, alice, "a direct one")
    say(bob, trio, "a <b>group</b> one")
    page = text(as_user(alice).get("/"))

    row = re.search(
        rf'<li class="conv conv--group conv--unread" data-group="{trio.pk}".*?</li>', page, re.S
    )
    assert row is not None, page
    html = row.group(0)
    assert f'href="{group_url(trio)}"' in html
    assert "Trip &lt;planning&gt;" in html
    assert "bob: </span>" in html
    assert "a &lt;b&gt;group&lt;/b&gt; one" in html
    assert "<span data-badge-count>1</span>" in html
    assert 'data-partner="carol"' in page
    # Newest first: the group's message came last.
    assert page.index(f'data-group="{trio.pk}"') < page.index('data-partner="carol"')


def test_a_new_group_shows_before_anyone_writes(as_user, bob, trio):
    page = text(as_user(bob).get("/"))
    assert f'data-group="{trio.pk}"' in page
    assert "No messages yet" in page


# A group message's own pages ------------------------------------------------------------------


def test_thread_history_edit_and_delete_of_a_group_message(as_user, alice, bob, trio):
    root = say(alice, trio, "first plan")
    say(bob, trio, "a reply", parent=root)
    services.message_edit(user=alice, message=root, content="second plan")
    client, bobs = as_user(alice), as_user(bob)

    thread = bobs.get(f"/messages/{root.pk}/")
    assert thread.status_code == 200
    assert "second plan" in text(thread) and "a reply" in text(thread)
    assert "Group Trip &lt;planning&gt;" in text(thread)

    history = bobs.get(f"/messages/{root.pk}/history/")
    assert history.status_code == 200
    assert "alice\u2019s message in Trip &lt;planning&gt;" in text(history)
    assert "first plan" in text(history)

    assert bobs.get(f"/messages/{root.pk}/edit/").status_code == 403
    edit = client.get(f"/messages/{root.pk}/edit/")
    assert "To the group Trip &lt;planning&gt;" in text(edit)
    saved = client.post(f"/messages/{root.pk}/edit/", {"content": "third plan"})
    assert saved["Location"] == f"{group_url(trio)}#m{root.pk}"

    confirm = client.get(f"/messages/{root.pk}/delete/")
    assert "Back to the group Trip &lt;planning&gt;" in text(confirm)
    deleted = client.post(f"/messages/{root.pk}/delete/")
    assert deleted["Location"] == group_url(trio)
    assert not Message.objects.filter(pk=root.pk).exists()


def test_opening_a_group_message_reads_it(as_user, alice, bob, trio):
    message = say(bob, trio, "read me")
    as_user(alice).get(f"/messages/{message.pk}/")
    assert selectors.group_unread_counts(alice, [trio.pk]) == {}


def test_search_finds_group_messages_and_links_to_the_group(as_user, alice, bob, trio):
    message = say(bob, trio, "pineapple pizza")
    response = as_user(alice).get("/search/", {"q": "pineapple"})
    assert response.status_code == 200
    page = text(response)
    assert f'href="{group_url(trio)}?at={message.pk}#m{message.pk}"' in page
    assert "bob in Trip &lt;planning&gt;" in page


# Query budget -------------------------------------------------------------------------------------


def _group_page_queries(client, group) -> list[int]:
    """The queries of three views of the group's page: cold (marking read), again with
    nothing unread, and once more with everything cached."""
    counts = []
    cache.clear()
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(group_url(group))
        assert response.status_code == 200
        counts.append(len(queries))
    return counts


#: Cold: session, user, the group (with its creator), its members, the two header
#: counts, the window (senders and quotes joined), then marking read: any unread?,
#: BEGIN, lock the membership, count, UPDATE the pointer, UPDATE notifications, the
#: members (the receipt's audience), COMMIT.
COLD_BUDGET = 15


def test_the_group_page_costs_the_same_for_3_and_30_members(
    as_user, alice, django_assert_max_num_queries
):
    client = as_user(alice)
    measured = {}
    for size in (3, 30):
        people = [UserFactory() for _ in range(size - 1)]
        group = services.group_create(creator=alice, name=f"{size} people", members=people)
        root = say(people[0], group, "root")
        for i, person in enumerate(people[:5]):
            say(person, group, f"message {i}", parent=root)
        measured[size] = _group_page_queries(client, group)
        # Something new again: the cold view's budget, asserted the fixture's way.
        say(people[1], group, "one more")
        cache.clear()
        with django_assert_max_num_queries(COLD_BUDGET):
            client.get(group_url(group))
    print("queries of the group page (cold, again, warm):", measured)
    assert measured[3] == measured[30], measured
    cold, again, warm = measured[3]
    assert cold <= COLD_BUDGET
    # Nothing unread: the read moved the group's generation and the viewer's (the window
    # and the counts are read again); marking read is three read-only queries.
    assert again <= 10
    # Unchanged since: the window's fragment and the counts come from the cache.
    assert warm <= 7
