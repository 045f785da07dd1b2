"""`selectors.message_search` and its parts: the query rule, how text is cut into words,
who may see what, and the full-text index of migration 0009 on each database (kept
current by the database through sends, edits and deletions; read by an index, never by
a scan of the messages; built for existing messages, and reversible)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from messaging import selectors, services
from messaging.exceptions import ValidationError
from messaging.managers import visible_to
from messaging.models import Message
from messaging.selectors import search
from messaging.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 index")
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's index")
FTS = "messaging_message_search"
MIGRATION = ("messaging", "0009_message_search")


# The query rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "cleaned"),
    [("deploy", "deploy"), ("  two words ", "two words"), ("x" * 200, "x" * 200)],
)
def test_a_query_is_stripped_text_of_1_to_200_characters(query, cleaned):
    assert selectors.clean_query(query) == cleaned


@pytest.mark.parametrize("query", ["", " \t\n", "x" * 201, "a\x00b", None, 12, ["a"]])
def test_any_other_query_is_refused_on_q(query):
    with pytest.raises(ValidationError) as refused:
        selectors.clean_query(query)

    assert refused.value.field == "q"


# Words ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("deploy the release", ["deploy", "the", "release"]),
        ("l'été, déjà-vu!", ["l", "été", "déjà", "vu"]),
        ("bob@example.com/x_y", ["bob", "example", "com", "x", "y"]),
        ("v2 3.14 ١٢٣", ["v2", "3", "14", "١٢٣"]),
        ("e\u0301te\u0301 हिन्दी", ["e\u0301te\u0301", "हिन्दी"]),
        ("🎉 \u200b — «»", []),
    ],
)
def test_words_are_runs_of_letters_numbers_and_their_marks(text, words):
    assert [text[start:end] for start, end in selectors.word_spans(text)] == words


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("Deploy friday", ["Deploy", "friday"]),
        ("deploy DEPLOY Deploy", ["deploy"]),
        ("dep deploy", ["deploy"]),
        ("deploy dep", ["deploy"]),
        ("ｃａｆé", ["café"]),
        ("cafe\u0301", ["café"]),
        ('"NEAR(a* OR b)" -c:*', ["NEAR", "a", "OR", "b", "c"]),
        ("\u0301 \u0301\u0301", []),
        ("?! 🎉 ... ", []),
    ],
)
def test_a_query_looks_for_each_word_once_and_not_for_one_another_starts_with(query, words):
    assert selectors.search_words(query) == words


def test_visible_means_sent_or_received(alice, bob, carol, send):
    sent, received = send(alice, bob, "one"), send(bob, alice, "two")
    send(bob, carol, "three")

    visible = Message.objects.filter(selectors.visible_to(alice))

    assert set(visible) == {sent, received}


# The selector -------------------------------------------------------------------------------


def test_a_query_without_words_finds_nothing_without_asking(alice, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert list(selectors.message_search(user=alice, query="?! 🎉")) == []


def test_results_carry_relevance_both_people_and_reply_counts(
    alice, bob, send, django_assert_num_queries
):
    root = send(alice, bob, "budget budget budget")
    reply = send(bob, alice, "the budget", parent_message=root)

    with django_assert_num_queries(1):
        results = list(selectors.message_search(user=alice, query="budget"))
        people = [(m.sender.username, m.receiver.username) for m in results]

    assert [m.pk for m in results] == [root.pk, reply.pk]
    assert results[0].relevance > results[1].relevance > 0
    assert (results[0].reply_count, results[1].reply_count) == (1, 0)
    assert people == [("alice", "bob"), ("bob", "alice")]


def test_a_page_is_counted_and_sliced_by_the_database(alice, bob, send):
    for n in range(5):
        send(alice, bob, f"ticket {n}")

    found = selectors.message_search(user=alice, query="ticket")

    assert found.count() == 5
    assert [m.content for m in found[1:3]] == [m.content for m in list(found)[1:3]]


# The window: the newest matches, ranked ------------------------------------------------------


@pytest.fixture
def window(monkeypatch):
    """A window of 3 and a first pass of 4 messages per stream, so a test's few messages
    take each path the selector has: the first pass vouching, or the word index."""
    monkeypatch.setattr(search, "SEARCH_WINDOW", 3)
    monkeypatch.setattr(search, "RECENT_SCAN", 4)


@pytest.fixture
def streams(alice, bob, carol, send):
    """Messages in each of alice's streams (received, sent, a group), interleaved in time:
    `chatter(n)` adds n messages without the word, to every stream."""
    group = services.group_create(creator=bob, name="Crew", members=[alice, carol])

    def chatter(n: int) -> None:
        for i in range(n):
            send(bob, alice, f"chatter {i}")
            send(alice, carol, f"chatter {i}")
            services.message_send(sender=carol, group=group, content=f"chatter {i}")

    return group, chatter


def _found(user, query: str) -> list[str]:
    return sorted(m.content for m in selectors.message_search(user=user, query=query))


def test_a_common_word_ranks_only_its_newest_matches(window, alice, bob, carol, streams, send):
    group, _chatter = streams
    send(bob, alice, "launch one")
    services.message_send(sender=carol, group=group, content="launch two")
    send(alice, carol, "launch three launch")
    services.message_send(sender=bob, group=group, content="launch four")
    send(bob, alice, "launch five")

    assert _found(alice, "launch") == ["launch five", "launch four", "launch three launch"]
    ranked = list(selectors.message_search(user=alice, query="launch"))
    assert ranked[0].content == "launch three launch"  # the best match first


def test_older_matches_are_found_when_the_newest_messages_hold_too_few(
    window, alice, bob, carol, streams, send
):
    """Each stream's newest messages hold no match: the word index finds the older ones,
    the newest of them still."""
    group, chatter = streams
    send(bob, alice, "ledger one")
    services.message_send(sender=carol, group=group, content="ledger two")
    send(alice, carol, "ledger three")
    send(bob, alice, "ledger four")
    chatter(5)

    assert _found(alice, "ledger") == ["ledger four", "ledger three", "ledger two"]


def test_a_busy_stream_cannot_hide_a_newer_match_of_a_quiet_one(
    window, alice, bob, carol, streams, send
):
    """The group's newest messages are all matches, but older than a received message the
    first pass did not reach (it read the 4 newest received, all chatter): that match is
    newer, so it is in the window."""
    group, _chatter = streams
    for n in range(4):
        services.message_send(sender=carol, group=group, content=f"ledger group {n}")
    send(bob, alice, "ledger direct")
    for n in range(4):
        send(bob, alice, f"chatter {n}")

    assert _found(alice, "ledger") == ["ledger direct", "ledger group 2", "ledger group 3"]


@pytest.mark.parametrize("scan", [1, 100], ids=["first-pass-short", "first-pass-whole"])
def test_search_finds_exactly_what_visible_to_allows(monkeypatch, scan, alice, bob, carol, send):
    """Both passes hold what `visible_to` allows and nothing else: alice's direct messages
    either way, her group's, none of a group she left (her own there included), none
    between others."""
    monkeypatch.setattr(search, "RECENT_SCAN", scan)
    dave = UserFactory(username="dave")
    crew = services.group_create(creator=bob, name="Crew", members=[alice, carol])
    left = services.group_create(creator=alice, name="Old", members=[bob, carol])
    for n in range(3):
        send(bob, alice, f"launch to alice {n}")
        send(alice, bob, f"launch from alice {n}")
        send(bob, carol, f"launch elsewhere {n}")
        services.message_send(sender=carol, group=crew, content=f"launch in crew {n}")
        services.message_send(sender=alice, group=left, content=f"launch in old {n}")
        services.message_send(sender=dave, receiver=carol, content=f"launch dave {n}")
    services.group_remove_member(user=alice, group=left, username="alice")

    visible = Message.objects.filter(visible_to(alice), content__startswith="launch")

    assert _found(alice, "launch") == sorted(m.content for m in visible)
    assert len(_found(alice, "launch")) == 9


# The index stays current ---------------------------------------------------------------------


def _index_agrees_with_the_messages() -> None:
    """Every message indexed under its current text, and nothing else (a stale entry
    would find a deleted message's id, or an edited one by its old words)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # FTS5's own check of an external-content index against its table.
            cursor.execute(f"INSERT INTO {FTS}({FTS}, rank) VALUES ('integrity-check', 1)")
            cursor.execute(f"SELECT count(*) FROM {FTS}")
        else:
            cursor.execute(
                "SELECT count(*) FROM messaging_message WHERE search_vector IS NOT DISTINCT FROM "
                "to_tsvector('messaging_search', translate(content, '@./:-<>&', '        '))"
            )
        indexed = cursor.fetchone()[0]
    assert indexed == Message.objects.count()


def _ids_matching(word: str) -> set[int]:
    """What the index alone says holds `word`, messages or not."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH %s", [f'"{word}"'])
        else:
            cursor.execute(
                "SELECT id FROM messaging_message "
                "WHERE search_vector @@ to_tsquery('messaging_search', %s)",
                [word],
            )
        return {row[0] for row in cursor.fetchall()}


def test_sends_edits_and_deletions_keep_the_index_current(alice, bob, carol, send):
    kept = send(alice, bob, "kept apple")
    edited = send(alice, bob, "old banana")
    gone = send(bob, alice, "gone cherry")
    reply = send(bob, alice, "reply to gone", parent_message=gone)
    account = send(carol, alice, "carol durian")
    send(bob, carol, "bob durian")

    services.message_edit(user=alice, message=edited, content="new banana")
    services.message_delete(user=bob, message=gone)
    services.message_mark_read(user=alice, message=reply.pk)
    services.delete_user(user=carol, password="correct horse battery staple")

    _index_agrees_with_the_messages()
    assert _ids_matching("apple") == {kept.pk}
    assert _ids_matching("old") == set() and _ids_matching("new") == {edited.pk}
    assert _ids_matching("cherry") == set()
    assert _ids_matching("durian") == set()
    assert account.pk not in _ids_matching("carol")


def test_a_bulk_update_of_the_text_is_indexed_too(alice, bob, send):
    """Not only the services: any statement that changes the text (the admin, a shell)."""
    message = send(alice, bob, "first words")

    Message.objects.filter(pk=message.pk).update(content="second words")

    _index_agrees_with_the_messages()
    assert _ids_matching("first") == set()
    assert _ids_matching("second") == {message.pk}


@sqlite_only
def test_on_sqlite_the_triggers_that_keep_the_index_exist():
    """Django rebuilds a SQLite table for some schema changes (altering a column of
    `Message`): the table's triggers go with the old table. A migration that does that
    must create them again (as 0009 does, `CREATE TRIGGER IF NOT EXISTS`) and rebuild the
    index; this test fails until it does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master "
            "WHERE type = 'trigger' AND tbl_name = 'messaging_message'"
        )
        triggers = {row[0] for row in cursor.fetchall()}

    assert {f"{FTS}_insert", f"{FTS}_update", f"{FTS}_delete"} <= triggers


# The index serves the search -----------------------------------------------------------------


@sqlite_only
def test_on_sqlite_the_search_reads_the_fts_index_then_messages_by_id(alice, bob, send):
    send(alice, bob, "deploy friday")

    plan = selectors.message_search(user=alice, query="deplo fri")[:50].explain()

    assert f"SCAN {FTS} VIRTUAL TABLE INDEX" in plan, plan
    assert "SEARCH messaging_message USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
    assert "SCAN messaging_message\n" not in plan + "\n", plan


@postgres_only
@pytest.mark.postgres
def test_on_postgresql_the_search_reads_no_table_sequentially(alice, bob, send):
    """Sequential scans priced out: the plan shows an index can serve the whole query, and
    the GIN index serves the words on their own."""
    users = [UserFactory(username=f"user{n}") for n in range(20)]
    Message.objects.bulk_create(
        Message(sender=users[n % 20], receiver=users[(n + 1) % 20], content=f"note {n}")
        for n in range(2000)
    )
    send(alice, bob, "deploy friday")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM messaging_message "
            "WHERE search_vector @@ to_tsquery('messaging_search', 'deplo:*')"
        )
        words_only = "\n".join(row[0] for row in cursor.fetchall())

    plan = selectors.message_search(user=alice, query="deplo fri")[:50].explain()

    assert "Seq Scan on messaging_message" not in plan, plan
    assert "msg_search_vector" in words_only, words_only


# The migration --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_existing_messages_and_is_reversible():
    executor = MigrationExecutor(connection)
    before = [("messaging", "0008_message_version")]
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        user = old.get_model("auth", "User")
        alice = user.objects.create(username="alice", password="!")
        bob = user.objects.create(username="bob", password="!")
        message = old.get_model("messaging", "Message")
        written = message.objects.create(sender=alice, receiver=bob, content="Café before")
    finally:
        executor.loader.build_graph()
        executor.migrate(latest)

    alice = User.objects.get(pk=alice.pk)
    assert [m.pk for m in selectors.message_search(user=alice, query="cafe")] == [written.pk]
    _index_agrees_with_the_messages()
    # Back and forth again: the reverse removes all it made, the forward makes it again.
    executor.loader.build_graph()
    executor.migrate(before)
    executor.loader.build_graph()
    executor.migrate(latest)
    assert [m.pk for m in selectors.message_search(user=alice, query="before")] == [written.pk]
