"""Settings for the test suite: fast hashing, generous throttles, a file SQLite database."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, DATABASES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file (live-server tests refuse an in-memory database), one per process so
    # that several test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "auth": "10000/min",
        "send": "10000/min",
        "search": "10000/min",
        "user": "100000/min",
    },
    # APIClient sends JSON, as every client of the contract does.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
