"""Production settings: what `check --deploy` asks for, and no development secret."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`manage.py` in a process of its own, without this run's settings, secret, database
    and Redis (each may be given in `env`)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checklist():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="chat.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_the_development_secret_key():
    result = manage("check", DJANGO_SETTINGS_MODULE="config.settings.production")

    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def backends(**env: str) -> list[str]:
    """The cache, channel layer and database engines `manage.py` runs with under `env`."""
    code = (
        "import json; from django.conf import settings as s; print(json.dumps(["
        "s.CACHES['default']['BACKEND'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.DATABASES['default']['ENGINE']]))"
    )
    result = manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_default_is_the_embedded_stack():
    assert backends() == [
        "django.core.cache.backends.locmem.LocMemCache",
        "channels.layers.InMemoryChannelLayer",
        "django.db.backends.sqlite3",
    ]


def test_redis_and_postgresql_are_chosen_by_their_urls():
    assert backends(
        REDIS_URL="redis://127.0.0.1:6379/15", DATABASE_URL="postgres://u@127.0.0.1:5432/d"
    ) == [
        "messaging.cache_backends.FaultTolerantRedisCache",
        "channels_redis.core.RedisChannelLayer",
        "django.db.backends.postgresql",
    ]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's settings")
@pytest.mark.django_db
def test_postgresql_connections_plan_without_jit_or_parallel_workers():
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        jit = cursor.fetchone()[0]
        cursor.execute("SHOW max_parallel_workers_per_gather")
        workers = cursor.fetchone()[0]

    assert (jit, workers) == ("off", "0")
