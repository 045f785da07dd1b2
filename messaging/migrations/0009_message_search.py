"""Message search (`selectors.message_search`): a full-text index of the messages' text that
folds letter case and accents, kept current by the database itself, so no service can
forget it and a search never reads messages one by one.

- PostgreSQL: a text search configuration `messaging_search` (the `simple` one, whose
  words are lower-cased and never dropped as stop words, behind the `unaccent`
  dictionary), a stored generated column `search_vector` of each message's words, and a
  GIN index on it. Sends and edits recompute the column in the same statement. Before the
  words are cut, the characters that make PostgreSQL's parser keep an address, a host,
  a file name, a hyphenated word or an HTML-looking tag as one token (`@ . / : - < > &`)
  become spaces, so the words are the ones SQLite's tokenizer finds: "example" finds
  "bob@example.com" on both databases.
- SQLite: an FTS5 table over `messaging_message.content` (external content: the text is
  stored once, in the message), tokenized by `unicode61` with diacritics removed, and
  triggers that index a message when it is inserted, re-index it when its text changes
  and remove it when it is deleted, however (one message, a thread, a whole account).

Cost on a large table (roughly, 1M short messages): PostgreSQL rewrites the table to add
the column (tens of seconds, writes and reads of messages wait meanwhile: plan a quiet
moment), then builds the index CONCURRENTLY (tens of seconds more, writes go on). SQLite
builds the index in one transaction of about the same order. Each migration step is
idempotent, so a run that failed part way can simply be run again.

Reversible: the index, column, configuration, table and triggers go; the `unaccent`
extension stays (it may have been there before, and other code may use it).

Written as SQL: Django knows neither a generated tsvector nor a virtual table, and the
model need not declare them (the selector names them).
"""

from django.db import migrations, transaction

CONFIG = "messaging_search"
COLUMN = "search_vector"
INDEX = "msg_search_vector"
FTS = "messaging_message_search"
#: Characters that glue words into one PostgreSQL token; `translate` makes them spaces.
GLUE = "@./:-<>&"
SPACES = " " * len(GLUE)

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    f"""
    DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = '{CONFIG}'
                       AND cfgnamespace = current_schema()::regnamespace) THEN
            CREATE TEXT SEARCH CONFIGURATION {CONFIG} (COPY = simple);
            ALTER TEXT SEARCH CONFIGURATION {CONFIG}
                ALTER MAPPING FOR word, numword, hword, hword_part, numhword, hword_numpart
                WITH unaccent, simple;
        END IF;
    END $$
    """,
    f"""
    ALTER TABLE messaging_message ADD COLUMN IF NOT EXISTS {COLUMN} tsvector
        GENERATED ALWAYS AS (
            to_tsvector('{CONFIG}'::regconfig, translate(content, '{GLUE}', '{SPACES}'))
        ) STORED
    """,
]
# Outside a transaction: writes go on while the index is built.
POSTGRESQL_INDEX = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON messaging_message USING gin ({COLUMN})"
)
POSTGRESQL_REVERSE = [
    f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
    f"ALTER TABLE messaging_message DROP COLUMN IF EXISTS {COLUMN}",
    f"DROP TEXT SEARCH CONFIGURATION IF EXISTS {CONFIG}",
]

SQLITE = [
    f"""
    CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5(
        content, content = 'messaging_message', content_rowid = 'id',
        tokenize = "unicode61 remove_diacritics 2"
    )
    """,
    f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    f"""
    CREATE TRIGGER IF NOT EXISTS {FTS}_insert AFTER INSERT ON messaging_message BEGIN
        INSERT INTO {FTS}(rowid, content) VALUES (new.id, new.content);
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS {FTS}_delete AFTER DELETE ON messaging_message BEGIN
        INSERT INTO {FTS}({FTS}, rowid, content) VALUES ('delete', old.id, old.content);
    END
    """,
    f"""
    CREATE TRIGGER IF NOT EXISTS {FTS}_update AFTER UPDATE OF content ON messaging_message
    WHEN old.content IS NOT new.content BEGIN
        INSERT INTO {FTS}({FTS}, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO {FTS}(rowid, content) VALUES (new.id, new.content);
    END
    """,
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {FTS}_insert",
    f"DROP TRIGGER IF EXISTS {FTS}_delete",
    f"DROP TRIGGER IF EXISTS {FTS}_update",
    f"DROP TABLE IF EXISTS {FTS}",
]


def _execute(schema_editor, statements):
    for sql in statements:
        schema_editor.execute(sql, params=None)


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with transaction.atomic(using=connection.alias):
            _execute(schema_editor, POSTGRESQL)
        _execute(schema_editor, [POSTGRESQL_INDEX])
    elif connection.vendor == "sqlite":
        with transaction.atomic(using=connection.alias):
            _execute(schema_editor, SQLITE)


def drop_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        _execute(schema_editor, POSTGRESQL_REVERSE)
    elif connection.vendor == "sqlite":
        with transaction.atomic(using=connection.alias):
            _execute(schema_editor, SQLITE_REVERSE)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction; the steps before it run
    # in one of their own.
    atomic = False

    dependencies = [
        ("messaging", "0008_message_version"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, atomic=False, elidable=False),
    ]
