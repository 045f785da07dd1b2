"""What each page shows and what its forms do, through the Django test client."""

import json
import re

import pytest
from django.contrib.auth import get_user_model

from messaging import services
from messaging.models import Message, MessageHistory, Notification
from messaging.tests.factories import UserFactory

# Real commits: the pages' caches move on when a transaction commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)

User = get_user_model()
SCRIPT = '<script>alert("x")</script>'
ESCAPED = b"&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"


def text(response) -> str:
    return response.content.decode()


def header(response) -> str:
    return re.search(r"<header class=\"site-header\">.*?</header>", text(response), re.S).group(0)


# Accounts ---------------------------------------------------------------------


def test_sign_up_creates_the_account_and_logs_in(client):
    response = client.post(
        "/accounts/signup/", {"username": "dora", "password": "a-long-enough-secret"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert User.objects.get(username="dora").check_password("a-long-enough-secret")
    page = client.get("/")
    assert page.status_code == 200
    assert "Welcome, dora" in text(page)


def test_sign_up_shows_the_services_refusals(client, alice):
    taken = client.post(
        "/accounts/signup/", {"username": "alice", "password": "a-long-enough-secret"}
    )
    weak = client.post("/accounts/signup/", {"username": "dora", "password": "123"})

    assert taken.status_code == 200
    assert "already exists" in text(taken)
    assert weak.status_code == 200
    assert "too short" in text(weak)
    assert not User.objects.filter(username="dora").exists()


def test_log_in_with_username_and_password(client, alice, password):
    page = client.get("/accounts/login/")
    assert 'name="username"' in text(page)
    assert 'name="password"' in text(page)

    response = client.post("/accounts/login/", {"username": "alice", "password": password})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_log_in_refuses_a_wrong_password(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "correct username and password" in text(response)


# Inbox --------------------------------------------------------------------------


def test_inbox_lists_conversations_newest_first_with_preview_and_unread(
    as_user, alice, bob, carol, send
):
    send(bob, alice, "older from bob")
    send(bob, alice, "second from bob")
    send(alice, carol, "newest, to carol")

    page = text(as_user(alice).get("/"))

    assert page.index("carol") < page.index("bob</span>")
    assert 'You: </span><span dir="auto" data-preview>newest, to carol' in page
    assert "second from bob" in page
    bob_row = re.search(r'<li class="conv[^"]*" data-partner="bob".*?</li>', page, re.S).group(0)
    assert "conv--unread" in bob_row
    assert '<span data-badge-count>2</span><span class="visually-hidden"> unread' in bob_row


def test_inbox_has_an_empty_state_and_a_compose_form(as_user, alice):
    page = text(as_user(alice).get("/"))

    assert "No conversations yet" in page
    assert 'name="receiver"' in page
    assert 'name="content"' in page


def test_inbox_is_paginated(as_user, alice, send):
    for n in range(23):
        send(UserFactory(username=f"friend{n:02}"), alice, "hi")
    client = as_user(alice)

    first, second = text(client.get("/")), text(client.get("/?page=2"))

    assert first.count('data-partner="friend') == 20
    assert second.count('data-partner="friend') == 3
    assert "friend22" in first  # newest first
    assert "friend00" in second
    assert "Page 1 of 2" in first


def test_header_shows_the_unread_badges_on_every_page(as_user, alice, bob, send):
    send(bob, alice, "one")
    send(bob, alice, "two")
    client = as_user(alice)

    for path in ("/", "/notifications/", "/account/", "/messages/new/"):
        head = header(client.get(path))
        assert re.search(r'data-badge="notifications">\s*<span data-badge-count>2<', head), path
        assert re.search(r'data-badge="messages">\s*<span data-badge-count>2<', head), path


def test_compose_sends_and_opens_the_conversation(as_user, alice, bob):
    response = as_user(alice).post("/messages/new/", {"receiver": "bob", "content": "  hi bob  "})

    message = Message.objects.get(sender=alice)
    assert message.content == "hi bob"
    assert response["Location"] == f"/conversations/bob/#m{message.pk}"


def test_compose_shows_what_is_wrong(as_user, alice):
    client = as_user(alice)

    unknown = client.post("/messages/new/", {"receiver": "nobody", "content": "hi"})
    empty = client.post("/messages/new/", {"receiver": "alice", "content": "   "})

    assert "No user has this username." in text(unknown)
    assert "A message cannot be empty." in text(empty)
    assert not Message.objects.exists()


# The conversation page ----------------------------------------------------------


def test_conversation_reads_oldest_first_and_replies_quote_what_they_answer(
    as_user, alice, bob, send
):
    root = send(alice, bob, "first thread")
    reply = send(bob, alice, "a reply", parent_message=root)
    deeper = send(alice, bob, "a reply to the reply", parent_message=reply)
    other = send(bob, alice, "second thread")

    page = text(as_user(alice).get("/conversations/bob/"))

    positions = [page.index(f'id="m{m.pk}"') for m in (root, reply, deeper, other)]
    assert positions == sorted(positions)  # oldest first, replies in the flow
    # A reply quotes what it answers and leads to it (its thread without JavaScript).
    assert f'href="/messages/{root.pk}/#m{root.pk}" data-quote="{root.pk}"' in page
    assert f'href="/messages/{reply.pk}/#m{reply.pk}" data-quote="{reply.pk}"' in page
    assert page.count("data-quote=") == 2 + 1  # two replies, and the live template's
    # No form per message: search, log-out, block, compose and the delete dialog's, that is all.
    assert page.count("<form") == 5
    compose = re.search(r'<form[^>]*id="compose-form".*?</form>', page, re.S).group(0)
    assert 'name="receiver" value="bob"' in compose
    assert 'name="content"' in compose
    assert "csrfmiddlewaretoken" in compose


def test_a_long_conversation_opens_at_the_newest_and_links_to_older(as_user, alice, bob, send):
    sent = [send(alice, bob, f"note {n}") for n in range(60)]
    client = as_user(alice)

    newest = text(client.get("/conversations/bob/"))
    older = text(client.get(f"/conversations/bob/?before={sent[10].pk}"))

    assert len(re.findall(r'data-item="\d+"', newest)) == 50
    assert f'id="m{sent[10].pk}"' in newest and f'id="m{sent[9].pk}"' not in newest
    assert f'<a id="older" href="?before={sent[10].pk}" rel="prev"' in newest
    assert len(re.findall(r'data-item="\d+"', older)) == 10
    assert "This is the start of your conversation with bob." in older
    assert 'href="/conversations/bob/">Newest messages</a>' in older


def test_a_link_at_a_message_opens_the_conversation_there(as_user, alice, bob, send):
    sent = [send(alice, bob, f"note {n}") for n in range(60)]

    page = text(as_user(alice).get(f"/conversations/bob/?at={sent[5].pk}"))

    assert f'id="m{sent[5].pk}"' in page and f'id="m{sent[6].pk}"' not in page
    assert len(re.findall(r'data-item="\d+"', page)) == 6
    assert 'href="/conversations/bob/">Newest messages</a>' in page
    assert f'data-before="{sent[5].pk}"' in page  # live messages say so instead of landing


def test_the_window_reaches_back_to_the_first_unread(as_user, alice, bob, send):
    for n in range(5):
        send(alice, bob, f"old {n}")
    unread = [send(bob, alice, f"unread {n}") for n in range(70)]

    page = text(as_user(alice).get("/conversations/bob/"))

    assert len(re.findall(r'data-item="\d+"', page)) == 75
    divider = page.index('id="first-unread"')
    assert page.index(f'id="m{unread[0].pk - 1}"') < divider < page.index(f'id="m{unread[0].pk}"')


def test_a_reply_without_javascript_starts_from_its_link(as_user, alice, bob, carol, send):
    asked = send(bob, alice, "lunch?")
    elsewhere = send(carol, alice, "not here")
    client = as_user(alice)

    page = text(client.get(f"/conversations/bob/?reply={asked.pk}"))
    stranger = text(client.get(f"/conversations/bob/?reply={elsewhere.pk}"))

    assert f'<input type="hidden" name="parent_message" value="{asked.pk}">' in page
    assert 'id="composer-reply" hidden' not in page
    assert "Replying to <strong data-reply-author>bob</strong>" in page
    assert 'id="composer-reply" hidden' in stranger
    assert '<input type="hidden" name="parent_message" value="">' in stranger


def test_viewing_a_conversation_marks_it_read_and_the_next_view_shows_it(as_user, alice, bob, send):
    message = send(bob, alice, "are you there?")
    client = as_user(alice)

    first = text(client.get("/conversations/bob/"))
    message.refresh_from_db()
    second = text(client.get("/conversations/bob/"))

    assert message.read
    assert f'class="msg msg--new" id="m{message.pk}"' in first
    assert f'class="msg" id="m{message.pk}"' in second
    assert re.search(r'data-badge="messages" hidden', second)


def test_a_cached_conversation_shows_a_new_message_at_once(as_user, alice, bob, send):
    send(bob, alice, "before")
    client = as_user(alice)
    client.get("/conversations/bob/")
    client.get("/conversations/bob/")  # read now, and cached

    send(bob, alice, "just arrived")
    page = text(client.get("/conversations/bob/"))

    assert "just arrived" in page


def test_a_cached_conversation_shows_a_fresh_badge(as_user, alice, bob, carol, send):
    send(bob, alice, "hi")
    client = as_user(alice)
    client.get("/conversations/bob/")
    client.get("/conversations/bob/")

    send(carol, alice, "elsewhere")
    head = header(client.get("/conversations/bob/"))

    # Bob's notification was read with his message; the cached page showed none.
    assert re.search(r'data-badge="notifications">\s*<span data-badge-count>1<', head)


def test_the_senders_page_shows_when_a_message_was_read(as_user, alice, bob, send):
    message = send(alice, bob, "did you read it?")
    client = as_user(alice)
    before = text(client.get("/conversations/bob/"))

    services.message_mark_read(user=bob, message=message)
    after = text(client.get("/conversations/bob/"))

    assert "data-receipt>Sent<" in before
    assert "data-receipt>Read<" in after


def test_reply_goes_into_the_thread_and_back_to_the_page(as_user, alice, bob, send):
    root = send(bob, alice, "question")

    response = as_user(alice).post(
        "/conversations/bob/",
        {
            "receiver": "bob",
            "content": "answer",
            "parent_message": root.pk,
            "next": "/conversations/bob/?page=1",
        },
    )

    reply = Message.objects.get(content="answer")
    assert reply.parent_message_id == root.pk
    assert response["Location"] == f"/conversations/bob/?page=1#m{reply.pk}"


def test_reply_never_redirects_off_site(as_user, alice, bob, send):
    response = as_user(alice).post(
        "/conversations/bob/",
        {"receiver": "bob", "content": "x", "next": "https://evil.example/"},
    )

    assert response["Location"].startswith("/conversations/bob/#m")


def test_a_refused_send_shows_the_page_with_the_reason(as_user, alice, bob, carol, send):
    elsewhere = send(carol, alice, "not between alice and bob")

    response = as_user(alice).post(
        "/conversations/bob/",
        {"receiver": "bob", "content": "reply", "parent_message": elsewhere.pk},
    )

    assert response.status_code == 400
    assert "No message of this conversation has this id." in text(response)
    assert "Your reply was not sent" in text(response)
    assert ">reply</textarea>" in text(response)


def test_sender_edits_and_the_edited_mark_opens_the_history(as_user, alice, bob, send):
    message = send(alice, bob, "helo")
    client = as_user(alice)

    response = client.post(
        f"/messages/{message.pk}/edit/",
        {"content": "hello", "next": f"/conversations/bob/#m{message.pk}"},
    )
    page = text(client.get("/conversations/bob/"))
    history = text(client.get(f"/messages/{message.pk}/history/"))

    assert response["Location"] == f"/conversations/bob/#m{message.pk}"
    assert re.search(rf'href="/messages/{message.pk}/history/" data-history title', page)
    assert "hello" in history
    assert 'history__text history__text--old" dir="auto">helo<' in history
    old = MessageHistory.objects.get(message=message)
    assert old.edited_at.strftime("%b %-d, %Y %H:%M") in history


def test_unedited_messages_hide_the_edited_mark(as_user, alice, bob, send):
    message = send(alice, bob, "fine as it is")

    page = text(as_user(alice).get("/conversations/bob/"))

    assert re.search(rf'href="/messages/{message.pk}/history/" data-history hidden', page)


def test_edit_page_works_without_javascript(as_user, alice, bob, send):
    message = send(alice, bob, "draft")
    client = as_user(alice)

    page = client.get(f"/messages/{message.pk}/edit/")
    empty = client.post(f"/messages/{message.pk}/edit/", {"content": "  "})

    assert re.search(r">\s*draft</textarea>", text(page))
    assert empty.status_code == 400
    assert "A message cannot be empty." in text(empty)


def test_sender_deletes_and_replies_stay(as_user, alice, bob, send):
    root = send(alice, bob, "to delete")
    reply = send(bob, alice, "stays", parent_message=root)

    response = as_user(alice).post(f"/messages/{root.pk}/delete/")
    page = text(as_user(alice).get("/conversations/bob/"))

    assert response["Location"] == "/conversations/bob/"
    assert not Message.objects.filter(pk=root.pk).exists()
    assert "stays" in page
    assert f'id="m{reply.pk}"' in page


def test_thread_page_shows_the_whole_thread_and_marks_the_message_read(as_user, alice, bob, send):
    root = send(alice, bob, "root")
    reply = send(bob, alice, "reply", parent_message=root)

    response = as_user(alice).get(f"/messages/{reply.pk}/")

    page = text(response)
    assert response.status_code == 200
    assert (
        '<li class="tree__item tree__item--highlight">'
        f'<article class="msg msg--new" id="m{reply.pk}"' in page
    )
    # The reply under what it answers.
    assert (
        page.index(f'id="m{root.pk}"')
        < page.index(f'data-replies-for="{root.pk}"')
        < page.index(f'id="m{reply.pk}"')
    )
    # What one can do with the highlighted message: once, as links.
    assert page.count('aria-label="Actions for this message"') == 1
    assert f'href="/conversations/bob/?reply={reply.pk}#compose-content">Reply</a>' in page
    reply.refresh_from_db()
    assert reply.read


def test_message_text_is_always_escaped(as_user, alice, bob, send):
    message = send(bob, alice, SCRIPT)
    services.message_edit(user=bob, message=message, content=SCRIPT + " again")
    client = as_user(alice)

    for path in (
        "/",
        "/conversations/bob/",
        f"/messages/{message.pk}/",
        f"/messages/{message.pk}/history/",
        "/notifications/",
    ):
        body = client.get(path).content
        assert b"<script>alert" not in body, path
        assert ESCAPED in body, path


def test_usernames_are_escaped_too(as_user, alice, send):
    odd = UserFactory(username="a+b@c.d")
    send(odd, alice, "hi")

    response = as_user(alice).get("/conversations/a+b@c.d/")

    assert response.status_code == 200
    assert "a+b@c.d" in text(response)


def test_conversation_mark_read_form(as_user, alice, bob, send):
    send(bob, alice, "unread")

    response = as_user(alice).post("/conversations/bob/read/")

    assert response.status_code == 302
    assert not Message.objects.filter(read=False).exists()


def test_mark_one_message_read_from_the_script(as_user, alice, bob, send):
    message = send(bob, alice, "unread")

    response = as_user(alice).post(
        f"/messages/{message.pk}/read/", headers={"X-Requested-With": "fetch"}
    )

    assert response.status_code == 204
    message.refresh_from_db()
    assert message.read


# Notifications --------------------------------------------------------------------


def test_notifications_link_to_their_message_and_mark_read(as_user, alice, bob, send):
    message = send(bob, alice, "ping")
    note = Notification.objects.get(user=alice)
    client = as_user(alice)

    page = text(client.get("/notifications/"))
    assert f'href="/messages/{message.pk}/?notification={note.pk}#m{message.pk}"' in page
    assert "bob sent you a message: ping" in page

    response = client.post(f"/notifications/{note.pk}/read/")
    note.refresh_from_db()
    assert response.status_code == 302
    assert note.read


def test_opening_a_notification_marks_it_read(as_user, alice, bob, send):
    message = send(bob, alice, "ping")
    note = Notification.objects.get(user=alice)

    as_user(alice).get(f"/messages/{message.pk}/?notification={note.pk}")

    note.refresh_from_db()
    assert note.read


def test_mark_all_notifications_read(as_user, alice, bob, send):
    send(bob, alice, "one")
    send(bob, alice, "two")
    client = as_user(alice)

    client.post("/notifications/read-all/")
    unread = text(client.get("/notifications/?unread=1"))

    assert not Notification.objects.filter(user=alice, read=False).exists()
    assert "You are all caught up" in unread
    assert re.search(r'data-badge="notifications" hidden', header(client.get("/")))


def test_notifications_empty_state(as_user, alice):
    assert "No notifications yet" in text(as_user(alice).get("/notifications/"))


def test_desktop_notifications_control_waits_for_the_script(as_user, alice, client):
    """Rendered hidden: notify.js shows it where the browser can show desktop notifications."""
    page = text(as_user(alice).get("/notifications/"))

    assert re.search(r'<section [^>]*id="desktop-notifications"[^>]* hidden>', page)
    assert 'src="/static/messaging/notify.js' in page
    assert 'data-thread-url="/messages/0/"' in page
    assert "notify.js" not in text(client.get("/accounts/login/"))


# Account ---------------------------------------------------------------------------


def test_account_page_offers_export_and_deletion(as_user, alice, bob, send):
    send(alice, bob, "hello")

    page = text(as_user(alice).get("/account/"))

    assert 'href="/account/export/" download' in page
    assert 'href="/account/delete/"' in page


def test_export_downloads_everything_about_me(as_user, alice, bob, send):
    message = send(alice, bob, "hello")
    services.message_edit(user=alice, message=message, content="hello!")
    send(bob, alice, "hi")

    response = as_user(alice).get("/account/export/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    data = json.loads(response.content)
    assert set(data) == {
        "user",
        "messages_sent",
        "messages_received",
        "history",
        "notifications",
    } | {
        "groups",
        "group_messages_received",
    }
    assert data["user"]["username"] == "alice"
    assert [m["content"] for m in data["messages_sent"]] == ["hello!"]
    assert [h["old_content"] for h in data["history"]] == ["hello"]
    assert len(data["notifications"]) == 1


def test_delete_shows_what_will_go_before_asking_the_password(as_user, alice, bob, send):
    send(alice, bob, "one")
    send(bob, alice, "two")
    send(bob, alice, "three")

    page = text(as_user(alice).get("/account/delete/"))

    assert '<strong data-count="messages">3</strong> messages (1 sent, 2 received)' in page
    assert '<strong data-count="conversations">1</strong> conversation;' in page
    assert '<strong data-count="notifications">2</strong> notifications' in page
    assert 'type="password" name="password"' in page


def test_delete_with_a_wrong_password_deletes_nothing(as_user, alice, bob, send):
    send(alice, bob, "keep me")

    response = as_user(alice).post("/account/delete/", {"password": "wrong"})

    assert response.status_code == 200
    assert "The password is not correct." in text(response)
    assert User.objects.filter(pk=alice.pk).exists()
    assert Message.objects.count() == 1


def test_delete_removes_the_account_and_logs_out(as_user, alice, bob, send, password):
    send(alice, bob, "bye")
    send(bob, alice, "bye to you")
    client = as_user(alice)

    response = client.post("/account/delete/", {"password": password})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Message.objects.exists()
    assert not Notification.objects.filter(user=bob).exists()
    assert client.get("/").status_code == 302
    assert "have been deleted" in text(client.get("/accounts/login/"))


def test_the_deletion_view_is_called_delete_user():
    from django.urls import resolve

    from messaging.web import views

    assert resolve("/account/delete/").func is views.delete_user


# Error pages and static files ---------------------------------------------------------


def test_error_templates_render_on_their_own():
    from django.template.loader import render_to_string

    assert "Something went wrong" in render_to_string("500.html")
    assert "Please try again" in render_to_string("403_csrf.html")


def test_live_counts_for_the_script(as_user, alice, bob, send):
    send(bob, alice, "one")

    response = as_user(alice).get("/live/counts/")

    assert response.json() == {"notifications": 1, "messages": 1}


def test_stylesheet_and_scripts_are_static_files():
    from django.contrib.staticfiles import finders

    for name in ("app.css", "app.js", "live.js", "chat.js", "notify.js", "suggest.js", "icon.svg"):
        assert finders.find(f"messaging/{name}"), name


def test_the_to_field_asks_for_suggestions_for_people_signed_in(as_user, alice, client):
    """suggest.js enhances the "To" field of the inbox and of the compose page; without
    it the field is the plain text field it was (tests/browser/test_suggest.py)."""
    for path in ("/", "/messages/new/"):
        page = text(as_user(alice).get(path))
        to = re.search(r'<input [^>]*name="receiver"[^>]*>', page).group(0)
        assert "data-suggest-people" in to and 'autocomplete="off"' in to, path
        assert "/static/messaging/suggest.js" in page, path
    assert "suggest.js" not in text(client.get("/accounts/login/"))


def test_posting_to_the_conversation_sends_to_its_partner(as_user, alice, bob):
    response = as_user(alice).post("/conversations/bob/", {"content": "no receiver field"})

    assert response.status_code == 302
    assert Message.objects.get(content="no receiver field").receiver == bob
