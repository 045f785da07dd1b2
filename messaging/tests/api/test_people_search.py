"""People search, `GET /api/v1/users/?q=<prefix>`: who is found (active people the caller
can write to, by the start of their name in any letter case, as names are stored), what
is answered (`{id, username}`, at most 20 a page), its refusals, throttle, query budget,
and on PostgreSQL the index that serves it (`selectors.people_search`)."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from messaging import selectors, services
from messaging.tests.factories import UserFactory
from messaging.tests.utils import postgres_only

pytestmark = pytest.mark.django_db

User = get_user_model()

SEARCH = "/api/v1/users/"


def search(client, q: str | None = None, **params):
    query = {"q": q, **params} if q is not None else params
    return client.get(SEARCH, query)


def found(client, q: str, **params) -> list[str]:
    response = search(client, q, **params)
    assert response.status_code == 200, response.content
    return [person["username"] for person in response.json()["results"]]


def people(*names: str) -> list:
    return [UserFactory(username=name) for name in names]


# Who is found ---------------------------------------------------------------------------


def test_finds_the_people_whose_name_starts_with_the_prefix_in_any_letter_case(api, alice, carol):
    people("Albert", "alma", "bob", "pal", "ALICIA")

    for q in ("al", "AL", "Al", "aL"):
        assert found(api(carol), q) == ["Albert", "alice", "ALICIA", "alma"], q
    assert found(api(carol), "ali") == ["alice", "ALICIA"]
    assert found(api(carol), "alb") == ["Albert"]
    assert found(api(carol), "zz") == []


def test_answers_id_and_username_only_never_the_email(api, alice, carol):
    response = search(api(carol), "al")

    assert response.status_code == 200
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [{"id": alice.pk, "username": "alice"}],
    }
    assert alice.email and alice.email.encode() not in response.content
    assert b"email" not in response.content


def test_names_come_in_order_with_letter_case_ignored_whatever_the_collation(api, carol):
    people("alma", "Alan", "ALBA", "alex", "al9")

    assert found(api(carol), "al") == ["al9", "Alan", "ALBA", "alex", "alma"]


def test_the_prefix_is_taken_as_names_are_stored(api, carol):
    """Names are stored NFKC: full-width letters and a combining accent find them."""
    people("alice", "\u00e9mile")

    assert found(api(carol), "\uff41\uff4c") == ["alice"]  # full-width "al"
    assert found(api(carol), "e\u0301mi") == ["\u00e9mile"]  # "e" + combining acute
    assert found(api(carol), "\u00e9m") == ["\u00e9mile"]


def test_wildcards_in_the_prefix_are_plain_characters(api, carol):
    people("a_b", "axb", "azb")

    assert found(api(carol), "a_") == ["a_b"]
    assert found(api(carol), "a%") == []


def test_the_caller_and_inactive_people_are_left_out(api, alice, carol):
    gone = UserFactory(username="alfred")
    gone.is_active = False
    gone.save()

    assert found(api(alice), "al") == []
    assert found(api(carol), "al") == ["alice"]


def test_people_the_caller_blocked_and_who_blocked_the_caller_are_left_out(api, carol):
    """Every name offered can be written to: a block either way stops a send."""
    alan, alba, alex = people("alan", "alba", "alex")
    services.user_block(user=carol, target=alan)
    services.user_block(user=alba, target=carol)
    services.user_block(user=alex, target=alan)  # between others: no effect on carol

    assert found(api(carol), "al") == ["alex"]
    assert found(api(alan), "al") == ["alba"]  # alex blocked alan

    services.user_unblock(user=carol, target=alan)
    services.user_unblock(user=alba, target=carol)
    assert found(api(carol), "al") == ["alan", "alba", "alex"]


def test_found_people_can_be_written_to(api, carol):
    _, alba, alex = people("alan", "alba", "alex")
    services.user_block(user=alba, target=carol)
    services.user_block(user=carol, target=alex)

    for name in found(api(carol), "al"):
        assert selectors.recipient(sender=carol, username=name).username == name


# At most 20 -----------------------------------------------------------------------------


def test_a_page_holds_at_most_20_names_and_next_goes_on(api, carol):
    names = [f"pal{i:02}" for i in range(25)]
    people(*names)
    client = api(carol)

    first = search(client, "pa").json()
    assert [p["username"] for p in first["results"]] == names[:20]
    assert first["next"]
    rest = client.get(first["next"]).json()
    assert [p["username"] for p in rest["results"]] == names[20:]
    assert rest["next"] is None
    back = client.get(rest["previous"]).json()
    assert [p["username"] for p in back["results"]] == names[:20]
    assert found(client, "pa", page_size=100) == names[:20]
    assert found(client, "pa", page_size=5) == names[:5]


def test_names_that_differ_only_in_letter_case_are_neither_lost_nor_repeated_across_pages(
    api, carol
):
    """Names kept from before look-alikes were refused may share a key ("PAX", "pax")."""
    names = [f"pa{i:02}" for i in range(19)] + ["PAX", "pax", "pay"]
    User.objects.bulk_create(User(username=name) for name in names)
    client = api(carol)

    first = search(client, "pa").json()
    rest = client.get(first["next"]).json()
    pages = [p["username"] for p in first["results"]] + [p["username"] for p in rest["results"]]

    assert len(first["results"]) == 20
    assert sorted(pages) == sorted(names)
    assert pages[:19] == names[:19] and pages[-1] == "pay"


# Refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "a",
        "",
        " a ",  # one character once trimmed
        "e\u0301",  # two sent, one stored ("é")
        "\ufb00",  # one sent ("ﬀ"), as the schema says, though stored as "ff"
        "a" * 151,
        "a\x00",
    ],
    ids=["one", "empty", "trimmed", "combining", "ligature", "long", "nul"],
)
def test_a_prefix_outside_2_to_150_characters_is_a_400_naming_q(api, alice, carol, q):
    response = search(api(carol), q)

    assert response.status_code == 400
    assert set(response.json()) == {"q"}


def test_no_q_is_a_400_naming_q(api, carol):
    response = search(api(carol))

    assert response.status_code == 400
    assert response.json() == {"q": ["This field is required."]}


def test_150_characters_are_enough(api, carol):
    assert found(api(carol), "a" * 150) == []


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page_size", "0"),
        ("page_size", "x"),
        ("cursor", "nonsense"),
        ("cursor", base64.b64encode(b"p=%00").decode()),  # a position no name can be
    ],
)
def test_a_bad_page_size_or_cursor_is_a_400_naming_it(api, carol, param, value):
    response = search(api(carol), "al", **{param: value})

    assert response.status_code == 400
    assert set(response.json()) == {param}


def test_anonymous_is_a_401(api, alice):
    response = search(api(), "al")

    assert response.status_code == 401


def test_a_session_searches_too(session_client, alice, carol):
    response = session_client(carol).get(SEARCH, {"q": "al"})

    assert response.status_code == 200
    assert response.json()["results"] == [{"id": alice.pk, "username": "alice"}]


# Throttle -------------------------------------------------------------------------------


def test_searches_are_throttled_per_user_by_their_own_rate(api, alice, bob, carol, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "search": "2/min",
        },
    }
    client = api(carol)
    assert [search(client, "al").status_code for _ in range(2)] == [200, 200]

    throttled = search(client, "al")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert set(throttled.json()) == {"detail"}
    # Only searches count: the caller's other requests, and others' searches, go on.
    assert client.get("/api/v1/users/me/").status_code == 200
    assert search(api(bob), "al").status_code == 200


# Query budget ---------------------------------------------------------------------------


@pytest.mark.parametrize("crowd", [0, 300], ids=["small", "large"])
def test_a_search_is_two_queries_however_many_people(
    api, carol, crowd, django_assert_max_num_queries
):
    """One for the user (JWT), one for the page: no COUNT, the blocks checked inside it."""
    names = [f"al{i:03}" for i in range(crowd)] + ["alice"]
    users = User.objects.bulk_create(User(username=name) for name in names)
    for user in users[:crowd:10]:
        services.user_block(user=carol, target=user)
        services.user_block(user=user, target=carol)
    client = api(carol)

    with django_assert_max_num_queries(2):
        response = search(client, "al")

    assert response.status_code == 200
    assert len(response.json()["results"]) == min(20, len(names) - len(users[:crowd:10]))


# The selector ---------------------------------------------------------------------------


def test_people_search_selects_whom_the_viewer_can_write_to_by_name(alice, carol):
    alan, _, alex, _ = people("alan", "ALBA", "alex", "bob")
    alex.is_active = False
    alex.save()
    services.user_block(user=alice, target=alan)

    full_width = selectors.people_search(viewer=alice, prefix="\uff21\uff2c")  # "AL"
    from_carol = selectors.people_search(viewer=carol, prefix="al")

    assert [person.username for person in full_width] == ["ALBA"]
    assert [person.username for person in from_carol] == ["alan", "ALBA", "alice"]
    # Only what the answer shows is loaded: never the email or the password hash.
    person = selectors.people_search(viewer=alice, prefix="alb").get()
    assert person.get_deferred_fields() >= {"email", "password"}


# The index ------------------------------------------------------------------------------


def _plan(viewer, prefix: str = "al", **cursor) -> str:
    """The plan of a page as the paginator asks for it: 21 rows, after a cursor if given."""
    page = selectors.people_search(viewer=viewer, prefix=prefix)
    return page.filter(**cursor)[:21].explain()


@postgres_only
@pytest.mark.postgres
def test_on_postgresql_the_prefix_the_order_and_the_cursor_read_one_index(carol):
    """`UPPER(username) LIKE 'AL%'` and the order `UPPER(username) COLLATE "C"` are served
    by `user_username_prefix`. Sequential scans are priced out so that the plan shows the
    index can serve the query at all, whatever the table's size."""
    User.objects.bulk_create(User(username=f"user{i:05}") for i in range(2000))
    people("alice", "alma")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE auth_user")
        cursor.execute("SET LOCAL enable_seqscan = off")

    first_page, next_page = _plan(carol), _plan(carol, name_key__gt="ALICE")
    common = _plan(carol, prefix="us")  # 2,000 names: the page is read in order, no sort

    assert "user_username_prefix" in first_page, first_page
    assert "Index Cond: ((upper((username)::text) >= 'AL'::text)" in first_page, first_page
    assert "user_username_prefix" in next_page and "'ALICE'" in next_page, next_page
    assert "Index Scan using user_username_prefix" in common and "Sort" not in common, common


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's plan")
def test_on_sqlite_the_prefix_is_found_by_the_index(carol):
    people("alice", "alma")

    plan = _plan(carol)

    assert "SEARCH auth_user USING INDEX user_username_prefix (username>? AND username<?)" in plan
