"""Message search, `GET /api/v1/messages/search/?q=<words>`, through HTTP: what is found
(every word, each as the start of a word, in any letter case, with or without accents),
in which order, for whom (the caller's own messages only), after edits and deletions, its
pages, its refusals, what it does with query syntax, its throttle and its query budget.

Runs as it is on SQLite (FTS5) and on PostgreSQL (tsvector + GIN): the same answers."""

from __future__ import annotations

import base64

import pytest

from messaging import services
from messaging.selectors import search as search_selector
from messaging.tests.factories import UserFactory
from messaging.tests.utils import set_throttle_rates

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/messages/search/"


def search(client, q: str | None = None, **params):
    query = {"q": q, **params} if q is not None else params
    return client.get(SEARCH, query)


def found(client, q: str, **params) -> list[str]:
    """The contents found for `q`, in the order answered."""
    response = search(client, q, **params)
    assert response.status_code == 200, response.content
    return [message["content"] for message in response.json()["results"]]


# What is found --------------------------------------------------------------------------


def test_every_word_must_be_in_the_message(api, alice, bob, send):
    send(alice, bob, "Deploy the release on Friday")
    send(alice, bob, "Deploy on Monday")
    send(bob, alice, "Release notes are ready")

    assert found(api(alice), "deploy friday") == ["Deploy the release on Friday"]
    assert found(api(alice), "friday deploy release") == ["Deploy the release on Friday"]
    assert found(api(alice), "deploy tuesday") == []
    assert sorted(found(api(alice), "release")) == [
        "Deploy the release on Friday",
        "Release notes are ready",
    ]


def test_each_word_is_the_start_of_a_word(api, alice, bob, send):
    send(alice, bob, "The deployment went well")
    send(alice, bob, "We redeploy tomorrow")

    assert found(api(alice), "deplo") == ["The deployment went well"]
    assert found(api(alice), "deployment") == ["The deployment went well"]
    assert found(api(alice), "ploy") == []
    assert found(api(alice), "deployments") == []


@pytest.mark.parametrize(
    ("text", "queries"),
    [
        ("Un Café au lait", ["cafe", "CAFÉ", "café", "Cafe", "caf"]),
        ("L'été sera chaud", ["ÉTÉ", "ete", "Été", "chaud", "CHAUD"]),
        ("A NAÏVE question", ["naive", "naïve", "NAIVE"]),
        ("Ångström and Øre", ["angstrom", "ÅNGSTRÖM"]),
        ("Straße in München", ["munchen", "MÜNCHEN"]),
        # Full-width letters typed.
        ("Full width", ["\uff46\uff55\uff4c\uff4c", "\uff26\uff35\uff2c\uff2c"]),
    ],
)
def test_letter_case_and_accents_do_not_matter(api, alice, bob, send, text, queries):
    send(alice, bob, text)

    for q in queries:
        assert found(api(alice), q) == [text], q


def test_a_decomposed_accent_in_the_query_is_the_accented_letter(api, alice, bob, send):
    send(alice, bob, "Un café")

    assert found(api(alice), "cafe\u0301") == ["Un café"]


def test_words_are_cut_at_punctuation_the_same_on_every_database(api, alice, bob, send):
    send(alice, bob, "Mail bob@example.com, see https://ci.example.org/deploy/42 (e-mail me)")

    for q in ("example", "bob", "deploy", "42", "ci", "mail", "org"):
        assert len(found(api(alice), q)) == 1, q


# Best match first -----------------------------------------------------------------------


def test_the_best_match_comes_first(api, alice, bob, send):
    send(alice, bob, "deploy the slides today")
    send(alice, bob, "deploy deploy deploy today")
    send(alice, bob, "nothing to see here")

    assert found(api(alice), "deploy") == [
        "deploy deploy deploy today",
        "deploy the slides today",
    ]


def test_equal_matches_come_newest_first(api, alice, bob, send):
    first = send(alice, bob, "lunch at noon")
    second = send(bob, alice, "lunch at noon")
    third = send(alice, bob, "lunch at noon")

    response = search(api(alice), "lunch")

    assert [m["id"] for m in response.json()["results"]] == [third.pk, second.pk, first.pk]


def test_an_answer_is_the_apis_message(api, alice, bob, send):
    root = send(alice, bob, "the budget draft")
    reply = send(bob, alice, "budget looks fine", parent_message=root)

    results = search(api(alice), "budget").json()["results"]

    by_id = {m["id"]: m for m in results}
    assert set(by_id) == {root.pk, reply.pk}
    assert by_id[root.pk] | {"timestamp": None} == {
        "id": root.pk,
        "sender": "alice",
        "receiver": "bob",
        "group": None,
        "content": "the budget draft",
        "timestamp": None,
        "edited": False,
        "read": False,
        "parent_message": None,
        "thread_root": root.pk,
        "reply_count": 1,
    }
    assert by_id[reply.pk]["parent_message"] == root.pk


# Whose messages ---------------------------------------------------------------------------


def test_only_the_callers_own_messages_sent_or_received(api, alice, bob, carol, dave, send):
    send(alice, bob, "secret plan one")
    send(bob, alice, "secret plan two")
    send(carol, dave, "secret plan three")
    send(dave, bob, "secret plan four")

    assert sorted(found(api(alice), "secret")) == ["secret plan one", "secret plan two"]
    assert sorted(found(api(bob), "secret")) == [
        "secret plan four",
        "secret plan one",
        "secret plan two",
    ]
    assert found(api(carol), "secret") == ["secret plan three"]
    stranger = UserFactory(username="erin")
    assert found(api(stranger), "secret") == []


# Deleted and edited ---------------------------------------------------------------------


def test_a_deleted_message_is_never_found(api, alice, bob, send):
    gone = send(alice, bob, "delete this coffee plan")
    send(alice, bob, "keep this coffee plan")

    services.message_delete(user=alice, message=gone)

    assert found(api(alice), "coffee") == ["keep this coffee plan"]
    assert found(api(bob), "delete coffee") == []


def test_the_messages_of_a_deleted_account_are_never_found(api, alice, bob, carol, send):
    send(alice, bob, "train at nine")
    send(bob, carol, "train at ten")
    send(carol, alice, "train at eleven")

    services.delete_user(user=bob, password="correct horse battery staple")

    assert found(api(alice), "train") == ["train at eleven"]
    assert found(api(carol), "train") == ["train at eleven"]


def test_an_edited_message_is_found_by_its_new_text_only(api, alice, bob, send):
    message = send(alice, bob, "meeting on friday")

    services.message_edit(user=alice, message=message, content="meeting on monday")

    assert found(api(alice), "monday") == ["meeting on monday"]
    assert found(api(bob), "meeting monday") == ["meeting on monday"]
    assert found(api(alice), "friday") == []
    assert found(api(bob), "fri") == []


def test_a_message_marked_read_is_still_found(api, alice, bob, send):
    message = send(alice, bob, "read me later")

    services.message_mark_read(user=bob, message=message.pk)

    assert found(api(bob), "later") == ["read me later"]


# Pages ------------------------------------------------------------------------------------


def test_pages_follow_next_and_previous_without_loss_or_repeat(api, alice, bob, send):
    for n in range(7):
        send(alice, bob, f"report number {n}")
    client = api(alice)
    everything = found(client, "report")

    first = search(client, "report", page_size=3).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    pages = [first, second, third]
    assert [len(page["results"]) for page in pages] == [3, 3, 1]
    assert [m["content"] for page in pages for m in page["results"]] == everything
    assert len(set(everything)) == 7
    assert first["previous"] is None and third["next"] is None
    back = client.get(third["previous"]).json()
    assert back["results"] == second["results"]
    assert client.get(second["previous"]).json()["results"] == first["results"]


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page_size", "0"),
        ("page_size", "x"),
        ("cursor", "nonsense"),
        ("cursor", base64.b64encode(b"o=-1").decode()),
        ("cursor", base64.b64encode(b"r=1").decode()),
        ("cursor", base64.b64encode(b"p=2024-01-01").decode()),
    ],
)
def test_a_bad_page_size_or_cursor_is_a_400_naming_it(api, alice, param, value):
    response = search(api(alice), "report", **{param: value})

    assert response.status_code == 400
    assert set(response.json()) == {param}


# Refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "reason"),
    [
        ("", "Type at least one character to search for."),
        ("   ", "Type at least one character to search for."),
        ("a" * 201, "A search has at most 200 characters (this one has 201)."),
        (" " + "a" * 201 + " ", "A search has at most 200 characters (this one has 201)."),
        ("deploy\x00", "A search cannot contain NUL characters."),
    ],
    ids=["empty", "blank", "long", "long-trimmed", "nul"],
)
def test_a_query_outside_1_to_200_characters_is_a_400_saying_why(api, alice, q, reason):
    response = search(api(alice), q)

    assert response.status_code == 400
    assert response.json() == {"q": [reason]}


def test_no_q_is_a_400_naming_q(api, alice):
    response = search(api(alice))

    assert response.status_code == 400
    assert response.json() == {"q": ["Type the words to search for (`q`)."]}


def test_200_characters_are_enough(api, alice, bob, send):
    send(alice, bob, "word word word")

    assert found(api(alice), " ".join(["word"] * 40)) == ["word word word"]
    assert found(api(alice), "w" * 200) == []


# Query syntax is text ---------------------------------------------------------------------

HOSTILE = [
    '"',
    '""',
    '"unclosed',
    "*",
    "deploy*",
    "*deploy",
    ":",
    "deploy:*",
    "content:deploy",
    "&",
    "deploy & friday",
    "|",
    "deploy | friday",
    "!",
    "!deploy",
    "(",
    ")",
    "(deploy)",
    "-",
    "-deploy",
    "deploy -friday",
    "NEAR",
    "NEAR(deploy friday)",
    "deploy NEAR friday",
    "AND",
    "deploy AND friday",
    "OR",
    "deploy OR friday",
    "NOT deploy",
    "^deploy",
    "deploy + friday",
    "{deploy}",
    "'",
    "deploy' OR '1'='1",
    "\\",
    "\\'",
    "%",
    "_",
    "<->",
    "deploy <-> friday",
    "deploy:A",
    "🎉",
    "deploy 🎉",
    "👩\u200d💻",
    "مرحبا",
    "שלום deploy",
    "\u202edeploy",
    "\u0301",
    "e\u0301",
    "\u200b",
    "\ufeffdeploy",
    "\U0001d521\U0001d522\U0001d52d\U0001d529\U0001d52c\U0001d536",  # fraktur "deploy"
    "ǅ",
    "\U0001e100",  # a letter newer than SQLite's Unicode tables
    "x" * 200,
    "a " * 100,
]


@pytest.mark.parametrize("q", HOSTILE)
def test_query_syntax_in_q_is_plain_text_never_a_500(api, alice, bob, send, q):
    send(alice, bob, "deploy on friday, near the office, or not")
    send(alice, bob, "مرحبا بالعالم")

    response = search(api(alice), q)

    assert response.status_code == 200, response.content
    assert isinstance(response.json()["results"], list)


def test_operators_are_words_like_any_other(api, alice, bob, send):
    send(alice, bob, "deploy on friday, near the office, or not")
    send(alice, bob, "deploy on friday")

    everything = ["deploy on friday", "deploy on friday, near the office, or not"]
    assert found(api(alice), "deploy NEAR friday") == [everything[1]]
    assert found(api(alice), "deploy OR friday") == [everything[1]]
    assert found(api(alice), "NOT deploy") == [everything[1]]
    assert found(api(alice), "deploy AND") == []  # no word starts with "and"
    assert sorted(found(api(alice), "-deploy")) == everything
    assert sorted(found(api(alice), '"deploy" friday*')) == everything
    assert found(api(alice), "deploy:*") == found(api(alice), "deploy")


def test_a_query_of_punctuation_only_finds_nothing(api, alice, bob, send):
    send(alice, bob, "!!! ??? ...")

    for q in ("!!!", "???", "...", "🎉🎉", "-", '"', "\u200b"):
        response = search(api(alice), q)
        assert response.status_code == 200, q
        assert response.json() == {"next": None, "previous": None, "results": []}, q


def test_right_to_left_text_is_found(api, alice, bob, send):
    send(alice, bob, "مرحبا بالعالم")
    send(alice, bob, "שלום עולם")

    assert found(api(alice), "مرحبا") == ["مرحبا بالعالم"]
    assert found(api(alice), "עול") == ["שלום עולם"]


# Who may search, and how often ----------------------------------------------------------


def test_anonymous_is_a_401(api):
    response = search(api(), "deploy")

    assert response.status_code == 401


def test_a_session_searches_too(session_client, alice, bob, send):
    send(alice, bob, "by cookie")

    response = session_client(alice).get(SEARCH, {"q": "cookie"})

    assert response.status_code == 200
    assert [m["content"] for m in response.json()["results"]] == ["by cookie"]


def test_searches_are_throttled_per_user_with_people_search(api, alice, bob, settings):
    set_throttle_rates(settings, search="3/min")
    client = api(alice)
    assert search(client, "deploy").status_code == 200
    assert client.get("/api/v1/users/", {"q": "bo"}).status_code == 200  # the same budget
    assert search(client, "deploy").status_code == 200

    throttled = search(client, "deploy")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert set(throttled.json()) == {"detail"}
    # Only searches count: the caller's other requests, and others' searches, go on.
    assert client.get("/api/v1/users/me/").status_code == 200
    assert search(api(bob), "deploy").status_code == 200


def test_all_requests_are_throttled_too(api, alice, settings):
    set_throttle_rates(settings, user="1/min")
    client = api(alice)
    assert client.get("/api/v1/users/me/").status_code == 200

    assert search(client, "deploy").status_code == 429


def test_the_pages_end_with_the_window_of_newest_matches(monkeypatch, api, alice, bob, send):
    monkeypatch.setattr(search_selector, "SEARCH_WINDOW", 3)
    sent = [send(alice, bob, f"ledger {n}") for n in range(5)]
    client = api(alice)

    first = search(client, "ledger", page_size=2).json()
    second = client.get(first["next"]).json()

    found = [row["id"] for row in first["results"] + second["results"]]
    assert sorted(found) == sorted(m.pk for m in sent[-3:])
    assert second["next"] is None


# Query budget -----------------------------------------------------------------------------


@pytest.mark.parametrize("crowd", [1, 60], ids=["one", "sixty"])
def test_a_search_is_two_queries_however_many_match(
    api, alice, bob, carol, send, crowd, django_assert_max_num_queries
):
    """One for the user (JWT), one for the page with both people and reply counts."""
    for n in range(crowd):
        send(alice, bob if n % 2 else carol, f"schedule item {n}")
    client = api(alice)

    with django_assert_max_num_queries(2):
        response = search(client, "schedule item")

    assert response.status_code == 200
    assert len(response.json()["results"]) == min(crowd, 50)


def test_a_query_without_words_asks_the_database_only_who_is_asking(
    api, alice, django_assert_max_num_queries
):
    client = api(alice)

    with django_assert_max_num_queries(1):
        response = search(client, "?!")

    assert response.status_code == 200


# Documentation ----------------------------------------------------------------------------


def test_the_schema_documents_q_its_limits_and_the_pages(client):
    operation = client.get("/api/v1/schema/").json()["paths"][SEARCH]["get"]

    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["q"]["required"] is True
    assert (
        parameters["q"]["schema"] | {"minLength": 1, "maxLength": 200} == parameters["q"]["schema"]
    )
    assert {"cursor", "page_size"} <= set(parameters)
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["$ref"].endswith("/PaginatedMessageList")
    assert {"400", "401", "429"} <= set(operation["responses"])
