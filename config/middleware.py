"""Project-wide middleware.

Django middleware: responses to signed-in requests are private, and a database that
cannot be reached is a 503. Around the HTTP application: request bodies over the
upload limit are refused before they are read (ASGI), and bodies without a length,
which Django cannot read under WSGI, are refused saying so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import cc_delim_re, patch_cache_control, patch_vary_headers
from django.utils.functional import LazyObject, empty

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait before retrying (sends are safe to retry with an
#: Idempotency-Key).
RETRY_AFTER = 5


class PrivateResponseMiddleware:
    """A response to a signed-in request is never stored by a browser or a shared cache.

    It says `Cache-Control: private, no-store`, merged into what the view said, and
    varies on the credentials that signed the request in: `Authorization` when a
    Bearer token did, `Cookie` when the session did. A response that already says
    `private` (the per-user cached conversation pages) decided its caching itself and
    keeps it. Responses nobody signed in for are left as they are.

    Outermost in MIDDLEWARE, so it sees the final response. The API authenticates
    inside its views and leaves its verdict on the request (`user`, and `auth` for
    a token), so the decision is made after the response, never before.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        credential = signed_in_by(request)
        if credential is None:
            return response
        if "private" not in cache_directives(response):
            patch_cache_control(response, private=True, no_store=True)
        patch_vary_headers(response, (credential,))
        return response


def signed_in_by(request: HttpRequest) -> str | None:
    """The header whose credentials signed the request in, or None for nobody."""
    user = getattr(request, "user", None)
    if user is None:
        # Answered before authentication was set up: static files, HTTPS redirects.
        return None
    if isinstance(user, LazyObject) and user._wrapped is empty:  # type: ignore[attr-defined]  # not in the stubs
        # Nothing asked who this is, so the answer cannot depend on it. Asking now would
        # cost the session and user queries (and fail while the database is down): the
        # session cookie alone counts, which at worst keeps a generic answer uncached.
        return "Cookie" if settings.SESSION_COOKIE_NAME in request.COOKIES else None
    if not user.is_authenticated:
        return None
    # DRF leaves the token it authenticated by on the request; the session leaves none.
    return "Authorization" if getattr(request, "auth", None) is not None else "Cookie"


def cache_directives(response: HttpResponse) -> set[str]:
    return {
        directive.split("=", 1)[0].strip().lower()
        for directive in cc_delim_re.split(response.get("Cache-Control", ""))
        if directive.strip()
    }


class DatabaseUnavailableMiddleware:
    """A database that cannot be reached is a 503 with Retry-After, not a 500.

    Only connection-level failures count (OperationalError, InterfaceError): a
    constraint or programming error stays a bug. API paths answer JSON
    `{"detail": ...}`; pages answer a friendly page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        # Connection refused or dropped, a pool with no connection to give, SQLite's
        # write lock held too long: all mean "retry shortly", none is the client's fault.
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("database unavailable: %s %s", request.method, request.path, exc_info=True)
        message = "The service is briefly unavailable. Please retry in a few seconds."
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        response["Cache-Control"] = "no-store"
        return response


# Around the HTTP application -------------------------------------------------------


def refusal(path: str, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of an answer given before Django runs: JSON under /api/, else text."""
    if path.startswith("/api/"):
        body, content_type = json.dumps({"detail": message}).encode(), b"application/json"
    else:
        body, content_type = f"{message}\n".encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        # The rest of the body is never read: the connection cannot carry another request.
        (b"connection", b"close"),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    return headers, body


def too_large_message() -> str:
    return (
        f"The request body is too large: the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
    )


class RequestBodyLimit:
    """ASGI: a request body over DATA_UPLOAD_MAX_MEMORY_SIZE is a 413 before it is read.

    Django's ASGI handler reads a whole body (to memory, then disk) before any view
    runs, and a chunked body has no Content-Length for Django to check first. Here a
    declared length over the limit is refused at once, without reading a byte (nor
    sending `100 Continue`); otherwise the bytes are counted as they arrive and the
    request is refused as soon as they pass the limit, the rest unread. A body that
    fits is handed on whole, as Django would have read it anyway; one that came
    without a length gets its Content-Length, which Django and the API's parser go
    by (without it they would see no body at all).
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if scope["type"] != "http" or limit is None:
            # No limit: Django reads the body as it always does, spooling a large one to disk.
            await self.app(scope, receive, send)
            return
        declared = [value for name, value in scope["headers"] if name == b"content-length"]
        if declared and _length(declared[0]) > limit:
            await self._refuse(scope, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer, nothing to run
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and not declared:
            headers = [(n, v) for n, v in scope["headers"] if n != b"transfer-encoding"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(size).encode())]}

        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect Django listens for
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope, send) -> None:
        headers, body = refusal(scope["path"], too_large_message())
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _length(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return -1  # not a length: the server refuses such a request before it gets here


class RequireContentLength:
    """WSGI: a request body without Content-Length is a 411 that says why.

    Django reads a WSGI body only as far as CONTENT_LENGTH goes: a chunked body without
    one would reach the view as no body at all, and a send would fail on missing
    fields, which explains nothing.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not environ.get("CONTENT_LENGTH"):
            headers, body = refusal(
                environ.get("PATH_INFO", ""), "Length Required: send a Content-Length header."
            )
            start_response(
                "411 Length Required", [(name.decode(), value.decode()) for name, value in headers]
            )
            return [body]
        return self.app(environ, start_response)
