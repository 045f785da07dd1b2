"""Complete, environment-driven settings; every variable has a safe default.

SQLite + local-memory cache + in-memory channel layer unless DATABASE_URL and
REDIS_URL say otherwise (see README, "Configuration").
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import redis.exceptions
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean, not {value!r}")


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The fallback key is for local development only; production.py refuses it.
INSECURE_DEV_SECRET_KEY = "dev-only-insecure-key-change-me-0123456789abcdef"
SECRET_KEY = env("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "config.admin.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "messaging.apps.MessagingConfig",
]

MIDDLEWARE = [
    # First, so it sees the final response: signed-in responses are never stored by caches.
    "config.middleware.PrivateResponseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The pages' templates live with the pages (messaging/web/); the admin's in its app.
        "DIRS": [BASE_DIR / "messaging" / "web" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "libraries": {"messaging_tags": "messaging.web.templatetags.messaging_tags"},
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Under ASGI every request runs in a thread of its own, so persistent connections
# (CONN_MAX_AGE > 0) pile up one per thread until PostgreSQL refuses more: the
# default opens one per request, and DB_POOL_MAX_SIZE switches to psycopg's pool.
DB_POOL_MAX_SIZE = int(env("DB_POOL_MAX_SIZE", "0"))
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0 if DB_POOL_MAX_SIZE else int(env("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A request's queries are short, and the server's other requests want the cores: no
    # JIT compilation (a search's plan, priced high, spent 30 ms compiling to run for 5)
    # and no parallel workers (starting two cost a search 6 ms, even for a part of its
    # plan that then did not run).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        "-c jit=off -c max_parallel_workers_per_gather=0"
    )
if DB_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        # Short: while the database is down a request should get its 503 quickly.
        "timeout": 2,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = env("REDIS_URL")
CACHE_KEY_PREFIX = env("CACHE_KEY_PREFIX", "messaging")
CACHE_VERSION = int(env("CACHE_VERSION", "1"))
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache, made to log and miss instead of failing a request.
            "BACKEND": "messaging.cache_backends.FaultTolerantRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "VERSION": CACHE_VERSION,
            "TIMEOUT": 300,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # No read timeout: redis-py 8 defaults to 5 s, which races the layer's own
                # 5 s blocking read and drops idle sockets (django/channels_redis#422).
                # A connection that died with an earlier Redis is retried, not failed:
                # without it the first event after a Redis restart is silently lost.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "retry_on_error": [redis.exceptions.ConnectionError],
                    }
                ],
                "prefix": f"{CACHE_KEY_PREFIX}:asgi",
                # Frames waiting for one socket's consumer; it reads continuously, so
                # only a stuck socket fills it (the 5,000-socket run never came near).
                "capacity": 100,
                # A frame no consumer took within a minute is dropped: its socket is gone.
                "expiry": 60,
                # A socket rejoins its groups every hour (EventsConsumer.
                # group_renewal_seconds); a member that stopped renewing (its worker died,
                # its close was lost) is forgotten after two, not after the default day.
                "group_expiry": 2 * 3600,
            },
        }
    }
else:
    # The seed's cache, exactly.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "unique-snowflake",
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Only our own static files, our own API and socket: no inline script or style, no
# third-party origin, no framing. ('self' covers ws:/wss: to the same host in CSP 3.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGIN_URL = "messaging:login"
LOGIN_REDIRECT_URL = "messaging:inbox"
LOGOUT_REDIRECT_URL = "messaging:login"

# A body over 1 MiB is refused before any view sees it (config.middleware.RequestBodyLimit).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(env("DATA_UPLOAD_MAX_MEMORY_SIZE", str(1024 * 1024)))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "messaging.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded by DATA_UPLOAD_MAX_MEMORY_SIZE (413); malformed bodies of any kind are 400s.
    "DEFAULT_PARSER_CLASSES": ["messaging.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["messaging.api.throttling.UserRateThrottle"],
    # Per-IP limits use REMOTE_ADDR unless NUM_PROXIES says how many proxies append to
    # X-Forwarded-For: then the address the nearest one appended, never one a client
    # wrote (rotating it would dodge RATE_LIMIT_AUTH). gunicorn leaves REMOTE_ADDR as
    # the load balancer's: set NUM_PROXIES=1 behind one (docs/deploy.md).
    "NUM_PROXIES": int(env("NUM_PROXIES", "0")),
    "EXCEPTION_HANDLER": "messaging.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("RATE_LIMIT_AUTH", "20/min"),
        "send": env("RATE_LIMIT_SEND", "60/min"),
        "search": env("RATE_LIMIT_SEARCH", "60/min"),
        "user": env("RATE_LIMIT_USER", "1200/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(env("JWT_ACCESS_MINUTES", "15"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(env("JWT_REFRESH_DAYS", "7"))),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # A refresh token is good for one use: each use answers a new one, and the used one
    # is blacklisted, so a stolen refresh token dies the moment either party uses it.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Every token carries a fingerprint of the password hash: a password change refuses
    # every token issued before it, checked against the user row authentication loads.
    "CHECK_REVOKE_TOKEN": True,
    "UPDATE_LAST_LOGIN": False,
}

# Where the admin lives: somewhere less guessable than /admin/ on a public site.
ADMIN_URL = env("ADMIN_URL", "admin/").strip("/") + "/"
if ADMIN_URL == "/" or ADMIN_URL.startswith("api/") or ADMIN_URL.startswith("ws/"):
    raise ImproperlyConfigured("ADMIN_URL must be a path of its own, such as 'staff-7f3c/'.")

#: Open sockets one person may hold at once; the oldest is closed when one more opens.
SOCKETS_PER_USER = int(env("SOCKETS_PER_USER", "20"))

SPECTACULAR_SETTINGS = {
    "TITLE": "Messaging API",
    "DESCRIPTION": (
        "Direct messages, threaded replies, notifications and edit history.\n\n"
        "**Authentication**: `Authorization: Bearer <access>` (from `/api/v1/auth/token/`) "
        "or the session cookie, with Django's CSRF token (`X-CSRFToken`) on unsafe methods "
        "(403 without it). Anything else is a 401.\n\n"
        "**Errors**: 400 `{field: [reason]}` or `{detail}` (an unknown body field is named "
        "too); 404 for what is not the caller's to see, exactly as for what does not exist; "
        "403 for what the caller may see but not change; 413 for a body over the upload "
        "limit; 415 for a body that is not JSON; 429 with `Retry-After` when throttled "
        "(RATE_LIMIT_AUTH per IP on the auth endpoints, RATE_LIMIT_SEND per user on sends, "
        "RATE_LIMIT_SEARCH per user on people and message search, RATE_LIMIT_USER per user "
        "on every request). Unknown paths under /api/v1/ are a JSON 404.\n\n"
        "**Lists**: `{next, previous, results}`, newest first, 50 per page; `page_size` is "
        "capped at 100 (people search: by username, at most 20; message search: best match "
        "first); follow the `next`/`previous` links (opaque cursors).\n\n"
        "**Sending safely**: an `Idempotency-Key` header on `POST /api/v1/messages/` makes "
        "a retry answer the first message (201, same body) without storing a new one."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # The one PATCH (a message's content) requires its field: no "Patched" component.
    "COMPONENT_SPLIT_PATCH": False,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    "ENUM_NAME_OVERRIDES": {"NotificationKindEnum": "messaging.models.Notification.Kind"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "messaging.api.schema.add_error_components",
    ],
    # The docs page's Swagger UI from the pinned sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
