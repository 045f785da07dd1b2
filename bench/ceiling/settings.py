"""Settings of the bare ceiling: contenttypes, auth and sessions, nothing else.

The database is `CEILING_DATABASE_URL` (any dj-database-url URL), by default a SQLite
file of its own under var/bench/ceiling/. `DB_CONN_MAX_AGE` is read as the product's
settings read it, and so is `DB_POOL_MAX_SIZE` (psycopg's pool, on PostgreSQL), so both
stacks connect to their database the same way under each server shape.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DEFAULT_DATABASE = BASE_DIR / "var" / "bench" / "ceiling" / "bare.sqlite3"

SECRET_KEY = os.environ.get("CEILING_SECRET_KEY", "ceiling-only-" + "c" * 50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "bench.ceiling.urls"
WSGI_APPLICATION = "bench.ceiling.wsgi.application"
ASGI_APPLICATION = "bench.ceiling.asgi.application"

DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "0"))
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("CEILING_DATABASE_URL", f"sqlite:///{DEFAULT_DATABASE}"),
        conn_max_age=0 if DB_POOL_MAX_SIZE else int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # As the product's settings do: psycopg's pool, for the ASGI shape.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": 2,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
