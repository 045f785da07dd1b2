"""Settings for the test suite: fast hashing, generous throttles, a file SQLite database."""

from .base import *  # noqa: F403
from .base import DATABASES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Channels' live-server tests refuse an in-memory SQLite database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}  # noqa: F405

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"auth": "10000/min", "send": "10000/min", "user": "100000/min"},
}
