"""Properties of the pages' forms, checked by Hypothesis through the Django test client.

Every form (compose, reply, edit, sign-up, account deletion) is posted with arbitrary
field values: any text, unpaired surrogates, bytes that are not UTF-8, NULs, huge
numbers, fields missing, repeated or unknown. Whatever arrives, the page never fails
(the test client re-raises a server error), and either the form did its job and
redirects (POST/redirect/GET), or it is shown again with an error and nothing was
stored.

Each example runs in a savepoint that is rolled back, with a new client logged in
inside it. Runs are derandomized: CI sees the same examples every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st

from messaging.models import (
    MAX_CONTENT_LENGTH,
    Conversation,
    Message,
    MessageHistory,
    MessagingProfile,
    Notification,
)
from messaging.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

User = get_user_model()

FORM_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the fixtures' rows are shared on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
ERROR_MARKS = ('class="field__errors"', "alert--error")


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def state() -> tuple:
    return (
        User.objects.count(),
        Message.objects.count(),
        Notification.objects.count(),
        MessageHistory.objects.count(),
        Conversation.objects.count(),
        MessagingProfile.blocked.through.objects.count(),
        sorted(Message.objects.values_list("pk", "content", "read")),
    )


def mostly(usual: st.SearchStrategy, *unusual: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` seven times in ten, else one of `unusual`."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda n: usual if n < 7 else st.one_of(*unusual)
    )


# What a client can put in a form field: text of any kind, or raw bytes.
anything = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(categories=["L", "Z", "Cc", "Cs"]), max_size=20),
    st.binary(max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "x" * (MAX_CONTENT_LENGTH + 1),
            "x" * (MAX_CONTENT_LENGTH + 1_001),
            "0",
            "-1",
            "9" * 30,
            "1e3",
            "https://evil.example/",
            "//evil.example/",
            "<script>alert(1)</script>",
        ]
    ),
)
texts = mostly(
    st.text(min_size=1, max_size=60).filter(lambda text: text.strip() and "\x00" not in text),
    anything,
)


def field(value_strategy: st.SearchStrategy) -> st.SearchStrategy:
    """A field's values as posted: mostly one, sometimes none (absent) or two (repeated)."""
    return mostly(st.lists(value_strategy, min_size=1, max_size=1), st.lists(anything, max_size=2))


def form_body(fields: dict[str, list], extra: dict[str, str | bytes]) -> bytes:
    pairs = [(name, value) for name, values in fields.items() for value in values]
    pairs += list(extra.items())
    # surrogatepass: an unpaired surrogate goes out as the bytes a broken client would send.
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode("ascii")


extras = mostly(st.just({}), st.dictionaries(st.text(min_size=1, max_size=8), anything, max_size=2))


def post(client: Client, path: str, body: bytes):
    note(f"POST {path} {body!r}")
    response = client.post(path, body, content_type=FORM_CONTENT_TYPE)
    event(f"{path.split('/')[1]}: {response.status_code}")
    return response


def posted(body: bytes, name: str) -> str | None:
    """The value of `name` as the page read it (the last one when repeated)."""
    return QueryDict(body, encoding="utf-8").get(name)


def assert_refused_and_shown(response, before) -> None:
    assert response.status_code in (200, 400), response.status_code
    page = response.content.decode()
    main = page[page.find("<main") :]
    assert any(mark in page for mark in ERROR_MARKS), main[:3_000]
    assert state() == before


@pytest.fixture
def world(alice, bob, carol, send):
    """Alice and Bob talk (a thread), Carol wrote to Alice."""
    root = send(alice, bob, "hello bob")
    send(bob, alice, "hi alice", parent_message=root)
    send(carol, alice, "hi from carol")
    return {"alice": alice, "bob": bob, "root": root}


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_sent(response, before, body: bytes) -> None:
    assert response.status_code == 302, response.status_code
    message = Message.objects.order_by("-pk").first()
    assert Message.objects.count() == before[1] + 1
    assert Notification.objects.count() == before[2] + 1
    assert message.content == posted(body, "content").strip()
    assert 1 <= len(message.content) <= MAX_CONTENT_LENGTH
    assert response["Location"].startswith(f"/conversations/{message.receiver.username}/")


# The forms --------------------------------------------------------------------------------


@FORM_SETTINGS
@given(
    receiver=field(st.sampled_from(["bob", "carol", " bob ", "alice", "nobody", "BOB"])),
    content=field(texts),
    parent=mostly(st.just([]), st.lists(anything, min_size=1, max_size=2)),
    extra=extras,
)
def test_compose_sends_or_shows_why_not(world, receiver, content, parent, extra):
    body = form_body({"receiver": receiver, "content": content, "parent_message": parent}, extra)
    with rolled_back():
        client = logged_in(world["alice"])
        before = state()

        response = post(client, "/messages/new/", body)

        if response.status_code == 302:
            assert_sent(response, before, body)
        else:
            assert_refused_and_shown(response, before)


@FORM_SETTINGS
@given(
    content=field(texts),
    parent=mostly(st.just("root"), st.just(None), st.just("carol's"), anything),
    receiver=mostly(st.just([]), field(st.sampled_from(["bob", "carol", "alice"]))),
    next_url=mostly(st.just([]), field(st.just("/conversations/bob/?page=1")), field(anything)),
    extra=extras,
)
def test_reply_sends_or_shows_why_not(world, content, parent, receiver, next_url, extra):
    fields = {"content": content, "receiver": receiver, "next": next_url}
    if parent == "root":
        fields["parent_message"] = [str(world["root"].pk)]
    elif parent == "carol's":
        fields["parent_message"] = [str(Message.objects.get(content="hi from carol").pk)]
    elif parent is not None:
        fields["parent_message"] = [parent]
    body = form_body(fields, extra)
    with rolled_back():
        client = logged_in(world["alice"])
        before = state()

        response = post(client, "/conversations/bob/", body)

        if response.status_code == 302:
            assert_sent(response, before, body)
            assert not response["Location"].startswith(("//", "http"))
        else:
            assert response.status_code == 400
            assert_refused_and_shown(response, before)
            assert "was not sent" in response.content.decode()


@FORM_SETTINGS
@given(content=field(texts), next_url=mostly(st.just([]), field(anything)), extra=extras)
def test_edit_saves_or_shows_why_not(world, content, next_url, extra):
    message = world["root"]
    body = form_body({"content": content, "next": next_url}, extra)
    with rolled_back():
        client = logged_in(world["alice"])
        before = state()

        response = post(client, f"/messages/{message.pk}/edit/", body)

        if response.status_code == 302:
            stored = Message.objects.get(pk=message.pk)
            assert stored.content == posted(body, "content").strip()
            assert 1 <= len(stored.content) <= MAX_CONTENT_LENGTH
            assert not response["Location"].startswith(("//", "http"))
        else:
            assert response.status_code == 400
            assert_refused_and_shown(response, before)


def fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms, which NFKC normalization turns back."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def taken_in_disguise(name: str) -> st.SearchStrategy[str]:
    """A taken name as someone else might type it: in other case, or in compatibility
    forms that Unicode normalization turns back into the name."""
    return st.sampled_from(
        [name, name.upper(), name.title(), fullwidth(name), fullwidth(name.upper())]
    )


@FORM_SETTINGS
@given(
    username=field(
        st.one_of(
            st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=20),
            st.sampled_from(["alice", "bob", "carol"]).flatmap(taken_in_disguise),
            st.sampled_from(["alice ", "a" * 151, "a b", "\uff41", "\ufb01", "\u2168"]),
            anything,
        )
    ),
    email=mostly(st.just([]), field(st.emails()), field(anything)),
    password=field(mostly(st.just("a-long-enough-secret"), anything)),
    extra=extras,
)
@example(username=[fullwidth("ALICE")], email=[], password=["a-long-enough-secret"], extra={})
@example(username=[], email=[], password=[], extra={})
def test_sign_up_creates_one_account_or_shows_why_not(world, username, email, password, extra):
    body = form_body({"username": username, "email": email, "password": password}, extra)
    with rolled_back():
        client = Client()
        before = state()

        response = post(client, "/accounts/signup/", body)

        if response.status_code == 302:
            assert response["Location"] == "/"
            assert User.objects.count() == before[0] + 1
            user = User.objects.latest("pk")
            taken = User.objects.exclude(pk=user.pk).filter(username__iexact=user.username)
            assert not taken.exists(), f"{user.username!r} duplicates {list(taken)}"
            assert user.check_password(posted(body, "password"))
            assert int(client.session["_auth_user_id"]) == user.pk
        else:
            assert_refused_and_shown(response, before)


@FORM_SETTINGS
@given(password=field(mostly(anything, st.just(PASSWORD), st.just(f" {PASSWORD} "))), extra=extras)
def test_account_deletion_deletes_everything_or_shows_why_not(world, password, extra):
    body = form_body({"password": password}, extra)
    alice = world["alice"]
    with rolled_back():
        client = logged_in(alice)
        before = state()

        response = post(client, "/account/delete/", body)

        if response.status_code == 302:
            assert posted(body, "password") == PASSWORD
            assert response["Location"] == "/accounts/login/"
            assert not User.objects.filter(pk=alice.pk).exists()
            assert not Message.objects.filter(sender=alice.pk).exists()
            assert not Message.objects.filter(receiver=alice.pk).exists()
            assert "_auth_user_id" not in client.session
        else:
            assert posted(body, "password") != PASSWORD
            assert_refused_and_shown(response, before)


# Regressions found by the properties ------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/messages/new/", "/messages/{root}/edit/", "/account/delete/", "/accounts/signup/"]
)
def test_an_empty_post_shows_what_is_required(world, path):
    """It used to show the form again without a word: `request.POST or None` left it unbound."""
    client = Client() if "signup" in path else logged_in(world["alice"])
    before = state()

    response = client.post(path.format(root=world["root"].pk), b"", content_type=FORM_CONTENT_TYPE)

    assert_refused_and_shown(response, before)
    assert "This field is required." in response.content.decode()


def test_compose_shows_an_error_of_its_hidden_reply_field(world):
    """It used to be invisible: the hidden field has no place of its own on the page."""
    client = logged_in(world["alice"])
    before = state()

    response = client.post(
        "/messages/new/", {"receiver": "bob", "content": "hi", "parent_message": 0}
    )

    assert_refused_and_shown(response, before)
    assert "No message of this conversation has this id." in response.content.decode()


@pytest.mark.parametrize("target", ["0", "inbox", "messaging:inbox", "http:/x", " /x"])
def test_a_next_that_is_not_a_path_of_the_site_falls_back(world, target):
    """`redirect("0")` was a server error: a target without "/" or "." is read as a view name."""
    client = logged_in(world["alice"])
    root = world["root"]

    edited = client.post(f"/messages/{root.pk}/edit/", {"content": "edited", "next": target})
    replied = client.post("/conversations/bob/", {"content": "reply", "next": target})

    assert edited.status_code == 302
    assert edited["Location"] == f"/conversations/bob/#m{root.pk}"
    assert replied.status_code == 302
    assert replied["Location"].startswith("/conversations/bob/#m")
