"""Project-wide middleware: what a request gets when the database is down."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait before retrying (sends are safe to retry with an
#: Idempotency-Key).
RETRY_AFTER = 5


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
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        response["Cache-Control"] = "no-store"
        return response
