"""Message search: the messages a person may see that hold every word of a query, best
match first.

The words are found by the database's own full-text index (migration 0009), never by
reading a whole history:

- PostgreSQL: the stored column `search_vector` (configuration `messaging_search`: the
  `simple` words behind `unaccent`), GIN-indexed; ranked by `ts_rank`.
- SQLite: the FTS5 table `messaging_message_search` (`unicode61`, diacritics removed),
  kept by triggers; ranked by `bm25`.

Both fold letter case and accents, in the text and in the query alike: "cafe" finds
"Café", "ÉTÉ" finds "été". Each word is a prefix ("deplo" finds "deploy") and every word
is required. Only the words reach the database, each quoted as a plain term, so nothing a
person types is ever query syntax: quotes, `*`, `:`, `&`, `|`, `!`, brackets, `-`,
`NEAR`, `AND` or `OR` are punctuation or words like any other.

A search ranks the newest `SEARCH_WINDOW` matches, not every match a history holds, so its
cost does not grow with the history. On PostgreSQL, one query finds them in two passes.
The first reads the newest `RECENT_SCAN` messages of each of the person's streams
(received, sent directly, each of their groups) through the streams' own indexes, and
keeps those that match: a common word fills the window there, however many messages hold
it in the word index. When that pass cannot vouch for the window (a rarer word), the word
index answers, and a rarer word is fewer entries in it. Either way the window is exactly
the newest matches.
"""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from ..exceptions import ValidationError
from ..managers import MessageQuerySet
from ..models import Message
from .messages import messages_with_people, reply_count_subquery, viewer_read

if TYPE_CHECKING:
    from django.contrib.auth.models import User

#: The longest query, in characters once stripped (the contract's "1 to 200").
MAX_QUERY_LENGTH = 200
#: Unicode categories that make up a word, as both indexes cut text: letters, numbers
#: and the marks that accent them.
_WORD_CATEGORIES = frozenset("LNM")

#: How many matches a search ranks: the newest; more words reach older ones. Four pages
#: of the API's default 50, ten of the search page's 20.
SEARCH_WINDOW = 200
#: How many of each stream's newest messages the first pass reads (PostgreSQL). The
#: window is vouched for only when it is newer than every message the pass did not
#: reach; for a word in one message of six, 200 matches span about 1,300 of a person's
#: newest messages, of which their busiest stream holds a part, so 1,000 leaves a margin.
#: (With a window of 500 and this scan, the 1M dataset's common word fell one message
#: short of the margin and paid for the word index's pass: 370 ms.)
RECENT_SCAN = 1_000

#: The names migration 0009 gives the index on each database.
PG_CONFIG = "messaging_search"
PG_VECTOR = '"messaging_message"."search_vector"'
FTS_TABLE = "messaging_message_search"


def clean_query(query: object) -> str:
    """A query as searched: stripped text of 1 to 200 characters, without NUL; else a
    ValidationError on `q` that says what to change."""
    if not isinstance(query, str):
        raise ValidationError("Type the words to search for.", field="q")
    query = query.strip()
    if not query:
        raise ValidationError("Type at least one character to search for.", field="q")
    if len(query) > MAX_QUERY_LENGTH:
        raise ValidationError(
            f"A search has at most {MAX_QUERY_LENGTH} characters (this one has {len(query)}).",
            field="q",
        )
    if "\x00" in query:
        raise ValidationError("A search cannot contain NUL characters.", field="q")
    return query


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where the words of `text` are, as `(start, end)`: runs of letters, numbers and
    marks. Everything else (spaces, punctuation, symbols, emoji) separates words."""
    spans: list[tuple[int, int]] = []
    start = None
    for index, char in enumerate(text):
        if unicodedata.category(char)[0] in _WORD_CATEGORIES:
            if start is None:
                start = index
        elif start is not None:
            spans.append((start, index))
            start = None
    if start is not None:
        spans.append((start, len(text)))
    return spans


def search_words(query: str) -> list[str]:
    """The words a query looks for, in its order: NFKC-normalized ("ｃａｆé" is "café"),
    each once in any letter case, and without a word that another one starts with
    (whatever matches "deploy" matches "dep"). Marks alone make no word."""
    text = unicodedata.normalize("NFKC", query)
    unique: dict[str, str] = {}
    for start, end in word_spans(text):
        word = text[start:end]
        if any(unicodedata.category(char)[0] in "LN" for char in word):
            unique.setdefault(word.lower(), word)
    return [
        word
        for key, word in unique.items()
        if not any(other != key and other.startswith(key) for other in unique)
    ]


def message_search(*, user: User, query: str) -> MessageQuerySet:
    """The newest `SEARCH_WINDOW` messages `user` may see (`visible_to`: their direct ones
    and their groups') that hold every word of `query` (`search_words`), each as the start
    of a word in any letter case and with or without accents; best match first
    (`relevance`), then newest first.

    One query with both people and `reply_count`, as the other message lists; unsliced,
    for a paginator. A query without a word (only punctuation or emoji) finds nothing and
    asks the database nothing. `query` is any text: interfaces check its length first
    (`clean_query`).
    """
    words = search_words(query)
    if not words:
        return Message.objects.none()
    matcher = _MATCHERS.get(connection.vendor)
    if matcher is None:
        raise ImproperlyConfigured("Message search needs PostgreSQL or SQLite.")
    # `extra()`: the match and its rank are SQL of each database (the stubs answer Any).
    matched = cast(
        MessageQuerySet,
        # The window holds only what `user` may see (`_VISIBLE`, the streams): the page
        # then reads its few ids by primary key, not every visible message again.
        messages_with_people().extra(**matcher(words, user.pk)),
    )
    found = matched.annotate(reply_count=reply_count_subquery(), viewer_read=viewer_read(user))  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
    return found.order_by("-relevance", "-timestamp", "-id")


_NEWEST = "ORDER BY timestamp DESC, id DESC"


def _postgresql(words: list[str], viewer: int) -> dict[str, Any]:
    """The window's ids (`_window`), ranked by `ts_rank`: the query is each word as a
    prefix term (`'word':*`), all joined by `&`, normalized by the same configuration."""
    terms = " & ".join("'{}':*".format(w.replace("\\", "\\\\").replace("'", "''")) for w in words)
    tsquery = f"to_tsquery('{PG_CONFIG}', %s)"
    window, params = _window(f"search_vector @@ {tsquery}", terms, viewer)
    return {
        "select": {"relevance": f"ts_rank({PG_VECTOR}, {tsquery})"},
        "select_params": (terms,),
        # An array the plan computes first, then reads by primary key: as `IN (…)` the
        # 10k dataset's plan hashed the window and scanned the whole table against it.
        "where": [f'"messaging_message"."id" = ANY(ARRAY({window}))'],
        "params": params,
    }


#: `visible_to` in SQL, on `messaging_message m`: the viewer's id three times.
_VISIBLE = (
    "((m.sender_id = %s AND m.group_id IS NULL) OR m.receiver_id = %s "
    "OR m.group_id IN (SELECT group_id FROM messaging_conversation "
    "WHERE owner_id = %s AND group_id IS NOT NULL))"
)


def _streams(template: str, params: list[Any], viewer: int) -> tuple[str, list[Any]]:
    """`template` (a SELECT on `messaging_message m` whose WHERE holds `{stream}`, with
    `params` after it) for each stream of messages `viewer` may see, UNION ALL'd:
    received, sent directly, and each group they belong to (a LATERAL per membership)."""
    received = template.format(stream="m.receiver_id = %s")
    sent = template.format(stream="m.sender_id = %s AND m.group_id IS NULL")
    groups = (
        "SELECT g.* FROM messaging_conversation member CROSS JOIN LATERAL ("
        + template.format(stream="m.group_id = member.group_id")
        + ") g WHERE member.owner_id = %s AND member.group_id IS NOT NULL"
    )
    sql = f"({received}) UNION ALL ({sent}) UNION ALL ({groups})"
    return sql, [viewer, *params, viewer, *params, *params, viewer]


def _window(match: str, terms: str, viewer: int) -> tuple[str, list[Any]]:
    """SQL for the ids of the newest `SEARCH_WINDOW` messages `viewer` may see that
    `match`, with its params.

    - `recent`: the newest matches among each stream's newest `RECENT_SCAN` messages
      (walked newest first by `msg_received_time`, `msg_sent_time`, `msg_group_time`);
    - `cut`: the newest message the first pass did not reach in some stream (none: it
      read every stream whole);
    - `exact`: what of `recent` is newer than `cut`, so no message it did not reach could
      come before it. A full window of those is the answer;
    - else the word index (GIN) finds every match the viewer may see, and the newest
      win. One scan of it: a scan per stream read its entries once per stream.
    """
    walk, walk_params = _streams(
        "SELECT id, timestamp FROM (SELECT id, timestamp, search_vector "
        "FROM messaging_message m WHERE {stream} "
        f"{_NEWEST} LIMIT {RECENT_SCAN} OFFSET 0) newest "
        f"WHERE {match} {_NEWEST} LIMIT {SEARCH_WINDOW}",
        [terms],
        viewer,
    )
    cut, cut_params = _streams(
        "SELECT timestamp, id FROM messaging_message m WHERE {stream} "
        f"{_NEWEST} OFFSET {RECENT_SCAN} LIMIT 1",
        [],
        viewer,
    )
    sql = (
        f"WITH recent AS MATERIALIZED (SELECT id, timestamp FROM ({walk}) walked "
        f"{_NEWEST} LIMIT {SEARCH_WINDOW}), "
        f"cut AS MATERIALIZED (SELECT timestamp, id FROM ({cut}) unreached {_NEWEST} LIMIT 1), "
        "exact AS (SELECT id FROM recent WHERE NOT EXISTS (SELECT FROM cut) "
        "OR (timestamp, id) > (SELECT timestamp, id FROM cut)), "
        "vouched AS (SELECT NOT EXISTS (SELECT FROM cut) "
        f"OR (SELECT count(*) FROM exact) = {SEARCH_WINDOW} AS yes) "
        "SELECT id FROM exact WHERE (SELECT yes FROM vouched) "
        "UNION ALL "
        f"SELECT id FROM (SELECT id, timestamp FROM messaging_message m WHERE {_VISIBLE} "
        f"AND {match} AND NOT (SELECT yes FROM vouched) {_NEWEST} LIMIT {SEARCH_WINDOW}) older"
    )
    return sql, [*walk_params, *cut_params, viewer, viewer, viewer, terms]


def _sqlite(words: list[str], viewer: int) -> dict[str, Any]:
    """A join with the FTS5 table on the message's id, `MATCH` each word as a quoted
    prefix phrase (`"word"*`; adjacent phrases are all required), ranked by `bm25`
    (smaller is better, hence negated); the window is the newest of the same join."""
    phrases = " ".join('"{}"*'.format(w.replace('"', '""')) for w in words)
    window = (
        f'SELECT m.id FROM "{FTS_TABLE}" JOIN messaging_message m ON m.id = "{FTS_TABLE}".rowid '
        f'WHERE "{FTS_TABLE}" MATCH %s AND {_VISIBLE} {_NEWEST} LIMIT {SEARCH_WINDOW}'
    )
    return {
        "tables": [FTS_TABLE],
        "select": {"relevance": f'-bm25("{FTS_TABLE}")'},
        "where": [
            f'"{FTS_TABLE}"."rowid" = "messaging_message"."id"',
            f'"{FTS_TABLE}" MATCH %s',
            f'"messaging_message"."id" IN ({window})',
        ],
        "params": [phrases, phrases, viewer, viewer, viewer],
    }


_MATCHERS = {"postgresql": _postgresql, "sqlite": _sqlite}
