"""Ready a stack's database for the ruler: migrated, one user, one signed-in session.

    DJANGO_SETTINGS_MODULE=bench.ceiling.settings python -m bench.ceiling.prepare

Run under the settings of the stack to be served (the bare ceiling's or the product's);
prints one JSON line: the session cookie's name and value. A PostgreSQL database named
in the settings is created first when it does not exist.
"""

from __future__ import annotations

import json
import sys

USERNAME = "ceiling"


def ensure_database() -> None:
    """Create the settings' PostgreSQL database when it is missing (SQLite makes its file)."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        from pathlib import Path

        Path(db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        return
    if db["ENGINE"] != "django.db.backends.postgresql":
        return
    import psycopg
    from psycopg import sql

    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["NAME"],))
        if found.fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def main() -> int:
    import django

    django.setup()
    ensure_database()

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", "--no-input", verbosity=0)
    user, created = get_user_model().objects.get_or_create(username=USERNAME)
    if created:
        user.set_unusable_password()
        user.save()
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    json.dump({"name": cookie.key, "value": cookie.value}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
