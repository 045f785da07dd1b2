"""Deleting a message asks first, also without JavaScript: each message's Delete is a
link to `GET /messages/<id>/delete/`, the sender's confirmation page, whose button
POSTs to the same address (which deletes, as it always did)."""

import re
from urllib.parse import quote

import pytest

from messaging.models import Message
from messaging.tests.conftest import SAME_ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "Delete this message?"


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def mine(alice, bob, send):
    """Alice's message to Bob, with a reply from Bob."""
    message = send(alice, bob, "about https://example.com/x. <b>bold</b>")
    send(bob, alice, "a reply", parent_message=message)
    return message


def test_the_sender_is_asked_first(as_user, alice, mine):
    response = as_user(alice).get(f"/messages/{mine.pk}/delete/")
    page = text(response)

    assert response.status_code == 200
    assert QUESTION in page
    assert "It cannot be undone." in page
    # The message, as the conversation shows it: escaped, its address a link.
    assert (
        'about <a href="https://example.com/x" rel="noopener noreferrer" target="_blank">'
        "https://example.com/x</a>. &lt;b&gt;bold&lt;/b&gt;"
    ) in page
    assert 'class="delete-preview__text" dir="auto"' in page
    form = re.search(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.S)
    assert form[1] == f"/messages/{mine.pk}/delete/"
    assert 'name="csrfmiddlewaretoken"' in form[2]
    assert re.search(r'<button type="submit" class="btn btn--danger">Delete</button>', form[2])
    assert f'<a class="btn btn--ghost" href="/conversations/bob/#m{mine.pk}">Cancel</a>' in page
    # Asking deletes nothing.
    assert Message.objects.filter(pk=mine.pk).exists()


def test_cancel_goes_back_where_the_person_came_from(as_user, alice, mine):
    client = as_user(alice)

    came_from = "/conversations/bob/?page=2#m1"
    page = text(client.get(f"/messages/{mine.pk}/delete/?next={quote(came_from)}"))
    elsewhere = text(client.get(f"/messages/{mine.pk}/delete/?next=https://evil.example/"))

    assert f'href="/conversations/bob/?page=2#m{mine.pk}">Cancel</a>' in page
    assert f'href="/conversations/bob/#m{mine.pk}">Cancel</a>' in elsewhere
    assert "evil.example" not in elsewhere


def test_the_receiver_may_not_and_a_stranger_finds_nothing(as_user, bob, carol, mine):
    """As the edit page: 403 for the receiver, who can see the message but not delete
    it, and 404 for anyone else, as if there were no message."""
    receiver = as_user(bob).get(f"/messages/{mine.pk}/delete/")
    stranger = as_user(carol).get(f"/messages/{mine.pk}/delete/")

    assert receiver.status_code == 403
    assert QUESTION not in text(receiver)
    assert stranger.status_code == 404
    assert "example.com" not in text(stranger)
    assert as_user(carol).get("/messages/999999/delete/").status_code == 404
    assert Message.objects.filter(pk=mine.pk).exists()


def test_anonymous_visitor_is_sent_to_log_in(client, mine):
    response = client.get(f"/messages/{mine.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_confirmation_posts_and_deletes(as_user, alice, mine):
    client = as_user(alice)

    response = client.post(f"/messages/{mine.pk}/delete/")

    assert response.status_code == 302
    assert response["Location"] == "/conversations/bob/"
    assert not Message.objects.filter(pk=mine.pk).exists()
    assert Message.objects.filter(content="a reply").exists()  # replies stay


def test_the_confirmation_needs_the_csrf_token(alice, mine):
    from django.test import Client

    client = Client(enforce_csrf_checks=True, headers=SAME_ORIGIN)
    client.force_login(alice)

    page = client.get(f"/messages/{mine.pk}/delete/")
    forged = client.post(f"/messages/{mine.pk}/delete/")

    assert forged.status_code == 403
    assert Message.objects.filter(pk=mine.pk).exists()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', text(page))[1]
    response = client.post(f"/messages/{mine.pk}/delete/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert not Message.objects.filter(pk=mine.pk).exists()


def test_each_message_of_a_thread_links_to_the_confirmation_instead_of_deleting(
    as_user, alice, mine
):
    path = f"/messages/{mine.pk}/"

    page = text(as_user(alice).get(path))

    # Back to the conversation once deleted: the thread page may be gone with it.
    assert (
        f'href="/messages/{mine.pk}/delete/?next={quote("/conversations/bob/", safe="")}">'
        "Delete…</a>"
    ) in page
    assert f'action="/messages/{mine.pk}/delete/"' not in page


def test_the_chat_deletes_through_its_one_menu_and_asks_first(as_user, alice, mine):
    page = text(as_user(alice).get("/conversations/bob/"))

    # No form per message: the page's one menu asks in its dialog; without JavaScript
    # "⋯" leads to the thread page above.
    assert "/delete/" not in page
    assert page.count('data-do="delete"') == 1
    assert '<dialog class="confirm" id="confirm-delete"' in page
    assert f'href="/messages/{mine.pk}/#m{mine.pk}" data-menu' in page


def test_the_receiver_gets_no_delete_link(as_user, bob, mine):
    page = text(as_user(bob).get("/conversations/alice/"))

    assert f"/messages/{mine.pk}/delete/" not in page
