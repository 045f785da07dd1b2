"""The one place where refusals become HTTP answers.

Domain errors (`messaging.exceptions`) map to 404, 403 and 400; a body over
`DATA_UPLOAD_MAX_MEMORY_SIZE` to 413. Every error body is `{"field": ["reason"]}`
or `{"detail": "reason"}`, as the contract states.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response

from .. import exceptions as domain


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def as_api_exception(exc: Exception) -> Exception:
    """The DRF exception that answers `exc`, or `exc` itself."""
    if isinstance(exc, domain.NotFound):
        return exceptions.NotFound(exc.message)
    if isinstance(exc, domain.PermissionDenied):
        return exceptions.PermissionDenied(exc.message)
    if isinstance(exc, domain.ValidationError):
        return exceptions.ValidationError(exc.as_dict())
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, DjangoValidationError):
        # A model rule checked outside the services: still the client's input.
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"detail": " ".join(exc.messages)})
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views reads the API settings, which name this module's
    # neighbours (the parser), when it is first imported.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(as_api_exception(exc), context)
    if response is not None and isinstance(response.data, list):
        # A bare list of reasons (a ValidationError raised with a string): `{"detail": ...}`.
        response.data = {"detail": " ".join(str(reason) for reason in response.data)}
    return response
