"""OpenAPI helpers: every response an operation can give, described once.

`responses(200, MessageSerializer, 400, 401, 404)` builds the `responses` of an
`extend_schema`; `THROTTLE_HEADERS` documents `Retry-After` on each 429.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

#: The error bodies, added to the schema's components by `add_error_components`.
ERROR_COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "A refusal, explained.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "ValidationError": {
        "type": "object",
        "description": (
            '`{"field": ["reason", ...]}` for each bad field (an unknown field is named '
            'too), or `{"detail": "reason"}`.'
        ),
        "additionalProperties": {
            "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        },
        "minProperties": 1,
    },
}
DETAIL = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERROR = {"$ref": "#/components/schemas/ValidationError"}

ERRORS: dict[int, OpenApiResponse] = {
    400: OpenApiResponse(
        VALIDATION_ERROR, "Bad input (malformed JSON, a wrong type, an unknown field, a rule)."
    ),
    401: OpenApiResponse(DETAIL, "No credentials, or a bad or expired token."),
    403: OpenApiResponse(
        DETAIL,
        "Not allowed on this object, or the session cookie was sent without the CSRF token.",
    ),
    404: OpenApiResponse(DETAIL, "No such object, or not the caller's to see."),
    413: OpenApiResponse(DETAIL, "The request body is larger than the server accepts."),
    415: OpenApiResponse(DETAIL, "The body is not `application/json`."),
    429: OpenApiResponse(DETAIL, "Throttled: retry after `Retry-After` seconds."),
}

#: What every request with a JSON body can also get.
BODY_ERRORS = (400, 413, 415)

THROTTLE_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        location=OpenApiParameter.HEADER,
        response=[429],
        description="Seconds to wait before the next attempt.",
    )
]


def responses(*spec: Any) -> dict[int, Any]:
    """`responses(201, Serializer, 400, 401)`: a status followed by its body, or error codes.

    A success code is followed by what it answers (a serializer, `None` for no body,
    or an `OpenApiResponse`); error codes stand alone. 429 is always added.
    """
    result: dict[int, Any] = {}
    items = list(spec)
    while items:
        code = items.pop(0)
        if code < 300:
            body = items.pop(0)
            result[code] = body if body is not None else OpenApiResponse(None, "No content.")
        else:
            result[code] = ERRORS[code]
    result[429] = ERRORS[429]
    return dict(sorted(result.items()))


def add_error_components(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the error bodies, and strict request bodies.

    Every request serializer refuses fields it does not know (400), so every request
    body is documented with `additionalProperties: false`.
    """
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    schemas.update(ERROR_COMPONENTS)
    return result
