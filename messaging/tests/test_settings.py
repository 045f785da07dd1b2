"""Production settings: what `check --deploy` asks for, and no development secret."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
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


def test_default_settings_are_the_embedded_stack():
    from django.conf import settings

    if not os.environ.get("REDIS_URL"):
        assert settings.CACHES["default"] == {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "unique-snowflake",
        }
        assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == (
            "channels.layers.InMemoryChannelLayer"
        )
