"""The search box in the page header and the results page `/search/?q=`: what it shows
(partner, time, the text with the matched words marked, escaped), where each result
leads, its pages, its refusals (on the page, never a 500), its throttle and its queries.
Also the marking itself (`web.highlight`)."""

from __future__ import annotations

import re

import pytest
from django.utils.safestring import SafeString

from messaging import services
from messaging.selectors import search
from messaging.tests.factories import UserFactory
from messaging.tests.utils import set_throttle_rates
from messaging.web.highlight import EXCERPT_LENGTH, highlight

pytestmark = pytest.mark.django_db

SEARCH_FORM = re.compile(
    r'<form class="site-search" role="search" method="get" action="/search/"[^>]*>'
)


def page(client, q: str | None = None, **params):
    query = {"q": q, **params} if q is not None else params
    return client.get("/search/", query)


def hits(response) -> list[str]:
    """The ids of the results shown, in order."""
    return re.findall(r'<li class="conv search-hit" id="hit-(\d+)">', response.content.decode())


# The box ------------------------------------------------------------------------------------


def test_every_signed_in_page_has_the_search_box_with_a_label(as_user, alice):
    client = as_user(alice)

    for path in ("/", "/notifications/", "/account/"):
        html = client.get(path).content.decode()
        assert SEARCH_FORM.search(html), path
        assert '<label class="visually-hidden" for="site-search-q">Search messages</label>' in html
        assert re.search(r'<input [^>]*type="search" id="site-search-q" name="q" value=""', html)


def test_nobody_signed_in_gets_no_search_box_and_the_page_asks_to_log_in(client):
    assert not SEARCH_FORM.search(client.get("/accounts/login/").content.decode())

    response = page(client, "deploy")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("q", [None, "", "   "])
def test_without_words_the_page_shows_the_box_and_no_results(as_user, alice, bob, send, q):
    send(alice, bob, "deploy")

    response = page(as_user(alice), q)

    assert response.status_code == 200
    html = response.content.decode()
    assert SEARCH_FORM.search(html)
    assert 'id="search-hint"' in html
    assert hits(response) == []


# Results ----------------------------------------------------------------------------------------


def test_a_result_shows_partner_time_and_text_and_leads_to_its_place(as_user, alice, bob, send):
    mine = send(alice, bob, "Deploy the release on Friday")
    theirs = send(bob, alice, "The deployment went well")
    send(bob, alice, "nothing to find")

    response = page(as_user(alice), "deplo")

    assert response.status_code == 200
    html = response.content.decode()
    assert sorted(hits(response)) == sorted([str(mine.pk), str(theirs.pk)])
    for message in (mine, theirs):
        href = f"/conversations/bob/?at={message.pk}#m{message.pk}"
        assert f'<a class="conv__link" href="{href}">' in html
    assert "You to bob" in html and "bob to you" in html
    assert f'datetime="{mine.timestamp.isoformat()}"' in html
    assert "<mark>Deploy</mark> the release on Friday" in html
    assert "The <mark>deployment</mark> went well" in html
    assert "1 message found" not in html and "2 messages found" in html
    # The box keeps the words.
    assert re.search(r'id="site-search-q" name="q" value="deplo"', html)


def test_every_matched_word_is_marked_whatever_its_case_and_accents(as_user, alice, bob, send):
    send(alice, bob, "Un CAFÉ, un café, des cafés et du thé")

    html = page(as_user(alice), "cafe the").content.decode()

    assert (
        "Un <mark>CAFÉ</mark>, un <mark>café</mark>, des <mark>cafés</mark> et du <mark>thé</mark>"
    ) in html


def test_message_text_is_escaped_and_only_the_marks_are_markup(as_user, alice, bob, send):
    send(alice, bob, """<script>alert("deploy")</script> & <b>deploy</b> 'x' <mark>y</mark>""")

    html = page(as_user(alice), "deploy").content.decode()

    assert (
        "&lt;script&gt;alert(&quot;<mark>deploy</mark>&quot;)&lt;/script&gt; &amp; "
        "&lt;b&gt;<mark>deploy</mark>&lt;/b&gt; &#x27;x&#x27; &lt;mark&gt;y&lt;/mark&gt;"
    ) in html
    assert "<script>alert" not in html and "<b>" not in html


def test_markup_in_the_query_is_text_too(as_user, alice):
    response = page(as_user(alice), '<script>alert(1)</script>"')

    assert response.status_code == 200
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;&quot;"' in html


def test_only_the_callers_messages_are_shown(as_user, alice, bob, carol, send):
    send(carol, UserFactory(username="dave"), "secret of carol")
    shown = send(bob, alice, "secret of bob")

    response = page(as_user(alice), "secret")

    assert hits(response) == [str(shown.pk)]
    assert "carol" not in response.content.decode()
    assert hits(page(as_user(UserFactory(username="erin")), "secret")) == []


def test_no_match_says_so(as_user, alice, bob, send):
    send(alice, bob, "deploy friday")

    response = page(as_user(alice), "deploy monday")

    assert response.status_code == 200
    assert 'id="search-empty"' in response.content.decode()
    assert hits(response) == []


def test_results_come_in_pages_of_20_that_keep_the_words(as_user, alice, bob, send):
    for n in range(25):
        send(alice, bob, f"report {n}")
    client = as_user(alice)

    first, second = page(client, "report"), page(client, "report", page="2")

    assert len(hits(first)) == 20 and len(hits(second)) == 5
    assert set(hits(first)).isdisjoint(hits(second))
    assert 'href="?q=report&amp;page=2"' in first.content.decode()
    assert 'href="?q=report&amp;page=1"' in second.content.decode()
    assert "25 messages found" in first.content.decode()


def test_a_full_window_says_it_holds_the_newest_matches(monkeypatch, as_user, alice, bob, send):
    monkeypatch.setattr(search, "SEARCH_WINDOW", 3)
    for n in range(5):
        send(alice, bob, f"report {n}")
    client = as_user(alice)

    html = page(client, "report").content.decode()
    fewer = page(client, "report 4").content.decode()

    assert len(re.findall(r'id="hit-', html)) == 3
    assert "The newest 3 messages found, best match first: add a word to reach older ones" in html
    assert "1 message found" in fewer


# Refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ("a" * 201, "A search has at most 200 characters (this one has 201)."),
        ("deploy\x00", "A search cannot contain NUL characters."),
    ],
    ids=["long", "nul"],
)
def test_a_refused_query_shows_why_on_the_page(as_user, alice, q, reason):
    response = page(as_user(alice), q)

    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="search-error"' in html and reason in html
    assert SEARCH_FORM.search(html)


@pytest.mark.parametrize(
    "q",
    ['"', "deploy*", "NEAR(a b)", "a OR b", "-x", "a:*", "(", "🎉", "مرحبا", "\u202e", "'", "%"],
)
def test_query_syntax_is_never_a_500(as_user, alice, bob, send, q):
    send(alice, bob, "deploy near the office")

    assert page(as_user(alice), q).status_code == 200


@pytest.mark.parametrize("number", ["0", "-1", "x", "999"])
def test_any_page_number_shows_a_page(as_user, alice, bob, send, number):
    send(alice, bob, "deploy")

    response = page(as_user(alice), "deploy", page=number)

    assert response.status_code == 200
    assert len(hits(response)) == 1


def test_searches_are_throttled_with_the_apis(as_user, alice, settings):
    set_throttle_rates(settings, search="2/min")
    client = as_user(alice)
    assert [page(client, "deploy").status_code for _ in range(2)] == [200, 200]

    throttled = page(client, "deploy")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert page(client, "").status_code == 200  # the box alone costs nothing


def test_a_search_page_is_a_fixed_number_of_queries(
    as_user, alice, bob, send, django_assert_max_num_queries
):
    """Session, user, the results' count and their page (the header's counts are cached
    since the first page the client opened)."""
    for n in range(30):
        send(alice if n % 2 else bob, bob if n % 2 else alice, f"budget line {n}")
    client = as_user(alice)

    with django_assert_max_num_queries(4):
        response = page(client, "budget")

    assert len(hits(response)) == 20


# The marking ---------------------------------------------------------------------------------


def test_highlight_marks_words_starting_with_a_searched_word():
    marked = highlight("Deploy, redeploy; déploiement — DEPLOYED", ["deploy", "DEPLO"])

    assert isinstance(marked, SafeString)
    assert marked == (
        "<mark>Deploy</mark>, redeploy; <mark>déploiement</mark> — <mark>DEPLOYED</mark>"
    )


def test_highlight_escapes_every_piece():
    assert highlight('<i>a</i> & "a"', ["a"]) == (
        "&lt;i&gt;<mark>a</mark>&lt;/i&gt; &amp; &quot;<mark>a</mark>&quot;"
    )
    assert highlight("<b>bold</b>", []) == "&lt;b&gt;bold&lt;/b&gt;"


def test_a_long_message_shows_the_part_around_its_first_match():
    text = "intro " * 100 + "the deploy happened " + "outro " * 100

    marked = str(highlight(text, ["deploy"]))

    assert marked.startswith("…") and marked.endswith("…")
    assert "<mark>deploy</mark>" in marked
    shown = marked.replace("<mark>", "").replace("</mark>", "")
    assert len(shown) <= EXCERPT_LENGTH + 2
    assert " intro" not in shown[:2] and shown[1:].startswith("intro")


def test_a_match_at_the_end_of_a_long_message_is_shown():
    text = "word " * 200 + "finale"

    marked = str(highlight(text, ["fin"]))

    assert marked.endswith("<mark>finale</mark>") and marked.startswith("…")


def test_marks_survive_right_to_left_text(as_user, alice, bob, send):
    services.message_send(sender=alice, receiver=bob, content="مرحبا بالعالم", parent=None)

    html = page(as_user(alice), "مرحبا").content.decode()

    assert '<span class="search-hit__text" dir="auto"><mark>مرحبا</mark> بالعالم</span>' in html
