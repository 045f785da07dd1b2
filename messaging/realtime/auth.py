"""Who is on the other end of a socket: a `?token=` JWT, or the session cookie from our own pages.

A browser sends the session cookie with a WebSocket handshake started by *any*
page, and the handshake is not covered by CSRF or CORS. So the cookie counts
only when the handshake's `Origin` is this site (the Host it connected to, which
must be one of `ALLOWED_HOSTS`, or one of `CSRF_TRUSTED_ORIGINS`). A `?token=`
is a bearer credential a page cannot obtain for someone else, so it counts from
any Origin or none, exactly as the `Authorization` header does on the API.

The middleware decides `scope["user"]` (and `scope["auth"]`, saying which
credential was used, or why none was accepted) and closes a socket without a
user with 4401 itself, before any consumer or channel layer is involved. A
token that is present but not valid is not rescued by a cookie: the client
asked to be someone and is not. A token is valid exactly when the API would take
it: its login must still stand (`auth_tokens`), which costs the one query that
loads the user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from ..auth_tokens import (
    LoginEnded,
    Token,
    TokenError,
    session_login_id,
    token_login_id,
    user_for_token,
    validated_access_token,
)

if TYPE_CHECKING:
    # Channels ships no types; its `database_sync_to_async` is asgiref's `SyncToAsync`
    # (typed) that also closes stale database connections around the call.
    from asgiref.sync import SyncToAsync as database_sync_to_async
    from django.contrib.auth.models import User
else:
    from channels.db import database_sync_to_async

#: ASGI as this package speaks it: events are plain dicts.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)

#: Values of `scope["auth"]`.
AUTH_TOKEN = "token"
AUTH_SESSION = "session"
AUTH_BAD_TOKEN = "bad-token"
AUTH_FOREIGN_ORIGIN = "foreign-origin"
AUTH_NONE = "none"

#: The close code for "who are you?" (API.md, "Real time").
CLOSE_UNAUTHORIZED = 4401

# A JWT with a few claims is a few hundred bytes; anything much longer is not one of ours.
MAX_TOKEN_LENGTH = 4096


def _header(scope: Scope, name: bytes) -> str | None:
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _query_token(scope: Scope) -> str | None:
    """The `token` query parameter; None when absent, "" when present but empty."""
    raw: bytes | str = scope.get("query_string", b"")
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1")
    values = parse_qs(raw, keep_blank_values=True).get("token")
    if values is None:
        return None
    return values[0]


def _allowed_hosts() -> list[str]:
    # As Django's HttpRequest.get_host() does for plain HTTP.
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        return [".localhost", "127.0.0.1", "[::1]"]
    return allowed


def origin_is_same_site(scope: Scope) -> bool:
    """True when the handshake's Origin is this site, so its cookie may speak for the user.

    The rule of Django's CSRF origin check: the Origin's host[:port] equals the
    Host the client connected to (itself one of ALLOWED_HOSTS), or the Origin is
    in CSRF_TRUSTED_ORIGINS. A plain-http Origin is refused on a TLS socket. No
    Origin at all (a non-browser client) never carries the session.
    """
    origin = _header(scope, b"origin")
    if not origin or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        netloc = parts.netloc.lower()
    except ValueError:
        return False
    if parts.scheme not in {"http", "https"} or not netloc:
        return False
    if parts.scheme == "http" and scope.get("scheme") == "wss":
        return False
    for trusted in getattr(settings, "CSRF_TRUSTED_ORIGINS", ()):
        trusted_parts = urlsplit(trusted.lower())
        if trusted_parts.scheme != parts.scheme:
            continue
        if "*" in trusted_parts.netloc:
            # "https://*.example.com" trusts every subdomain, as in Django's CSRF check.
            if is_same_domain(netloc, trusted_parts.netloc.lstrip("*")):
                return True
        elif trusted_parts.netloc == netloc:
            return True
    host = (_header(scope, b"host") or "").lower()
    if not host or host != netloc:
        return False
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, _allowed_hosts())


@database_sync_to_async
def user_from_token(raw_token: str) -> tuple[User, Token] | None:
    """`(user, validated token)` for an access token the API would accept, else None.

    The token's signature, type and expiry are checked as on the API (simplejwt's
    `get_validated_token`); then `auth_tokens.user_for_token` loads the user and
    whether the token's login still stands in one query: a token of an inactive or
    deleted user, one issued before a password change, or one whose login was
    logged out (`EndedLogin`) is refused.
    """
    if not raw_token or len(raw_token) > MAX_TOKEN_LENGTH:
        return None
    try:
        validated = validated_access_token(raw_token.encode("latin-1"))
        return user_for_token(validated), validated
    except (TokenError, LoginEnded, UnicodeEncodeError):
        return None
    except Exception:
        logger.warning("socket token check failed", exc_info=True)
        return None


async def refuse_unauthorized(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then close with 4401 ("who are you?"), as API.md names it.

    Sent after accepting, not by refusing the handshake, because a browser shows a
    refused handshake only as 1006. Runs without the consumer, so a socket that is
    turned away never touches the channel layer.
    """
    logger.debug("socket closed with 4401: %s", scope.get("auth", AUTH_NONE))
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_UNAUTHORIZED})


class _RequireUser:
    """Behind Channels' session middleware: the consumer only for a signed-in user.

    Channels' `get_user` has already refused a session whose password hash is stale
    (a password change elsewhere) by flushing it: the user is anonymous then.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            return await refuse_unauthorized(scope, receive, send)
        session_key = getattr(scope.get("session"), "session_key", None)
        scope = {**scope, "login_id": session_login_id(session_key)}
        return await self.inner(scope, receive, send)


class SocketAuthMiddleware:
    """Sets `scope["user"]` from `?token=` or, for our own pages, the session cookie.

    Also sets `scope["auth"]` (one of the AUTH_* values), `scope["login_id"]` (the
    login the socket belongs to: `auth_tokens.token_login_id` of the token, or
    `auth_tokens.session_login_id` of the session) and, for a token,
    `scope["token_exp"]` (its expiry, seconds since the epoch). Without a user,
    the inner application is not called: the socket is closed with 4401.
    """

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.session_inner: ASGIApp = CookieMiddleware(
            SessionMiddleware(AuthMiddleware(_RequireUser(inner)))
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        scope = dict(scope)
        token = _query_token(scope)
        if token is not None:
            found = await user_from_token(token)
            if found is None:
                scope.update(user=AnonymousUser(), auth=AUTH_BAD_TOKEN)
                return await refuse_unauthorized(scope, receive, send)
            user, validated = found
            scope.update(
                user=user,
                auth=AUTH_TOKEN,
                login_id=token_login_id(validated),
                token_exp=validated.get("exp"),
            )
            return await self.inner(scope, receive, send)
        if origin_is_same_site(scope):
            scope["auth"] = AUTH_SESSION
            return await self.session_inner(scope, receive, send)
        origin = _header(scope, b"origin")
        scope.update(user=AnonymousUser(), auth=AUTH_FOREIGN_ORIGIN if origin else AUTH_NONE)
        return await refuse_unauthorized(scope, receive, send)


# Named like Channels' AuthMiddlewareStack.
def SocketAuthMiddlewareStack(inner: ASGIApp) -> SocketAuthMiddleware:
    return SocketAuthMiddleware(inner)


class RedactSocketTokens(logging.Filter):
    """Keeps `?token=` values out of log lines.

    uvicorn logs every socket's path with its query string at INFO
    ("WebSocket /ws/events/?token=..." [accepted]); an access token in a log
    file is a credential anyone with the logs could replay until it expires.
    """

    pattern = re.compile(r"([?&]token=)[^&\s\"']+")

    def _clean(self, value: Any) -> Any:
        return self.pattern.sub(r"\1[redacted]", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._clean(arg) for key, arg in record.args.items()}
        record.msg = self._clean(record.msg)
        return True


#: The loggers the ASGI servers write socket paths to (uvicorn's, daphne's).
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access", "daphne.access", "django.channels.server")


def redact_tokens_in_server_logs() -> None:
    for name in SERVER_LOGGERS:
        logger_ = logging.getLogger(name)
        if not any(isinstance(f, RedactSocketTokens) for f in logger_.filters):
            logger_.addFilter(RedactSocketTokens())
