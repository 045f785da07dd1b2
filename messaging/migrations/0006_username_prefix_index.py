"""People search (`selectors.people_search`) finds names by their start in any letter case
and lists them with letter case ignored (the selector's `_name_key`): an index for that, on
the user table, which is Django's, hence created here.

- PostgreSQL: `username__istartswith` is `UPPER("username"::text) LIKE UPPER('al%')`.
  `UPPER(username)` in the "C" collation serves that LIKE as a range whatever the
  database's collation, and the order `UPPER(username) COLLATE "C"` too, so a page stops
  after its last row (`text_pattern_ops` would serve the LIKE but not the order); the
  name follows, for names that differ only in letter case. Built CONCURRENTLY:
  registrations and log-ins keep writing the table meanwhile.
- SQLite: `"username" LIKE 'al%' ESCAPE '\\'`, case-insensitive for ASCII. SQLite makes such
  a LIKE a range only on the column in the NOCASE collation; it sorts what it found.

Written as SQL: `AddIndex` works on this app's models only, and the SQL shows exactly the
expression, collation and columns the planner is to match.
"""

from django.conf import settings
from django.db import migrations

#: Per database: (create, drop). Other databases get no index.
SQL = {
    "postgresql": (
        "CREATE INDEX CONCURRENTLY {name} ON {table} "
        '((UPPER({column}::text)) COLLATE "C", {column})',
        "DROP INDEX CONCURRENTLY IF EXISTS {name}",
    ),
    "sqlite": (
        "CREATE INDEX {name} ON {table} ({column} COLLATE NOCASE)",
        "DROP INDEX IF EXISTS {name}",
    ),
}
NAME = "user_username_prefix"


def _run(apps, schema_editor, which: int) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in SQL:
        return
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    quote = schema_editor.quote_name
    schema_editor.execute(
        SQL[vendor][which].format(
            name=quote(NAME),
            table=quote(user_model._meta.db_table),
            column=quote(user_model._meta.get_field("username").column),
        )
    )


def create_index(apps, schema_editor):
    _run(apps, schema_editor, 0)


def drop_index(apps, schema_editor):
    _run(apps, schema_editor, 1)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [
        ("messaging", "0005_username_key"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, atomic=False, elidable=False),
    ]
