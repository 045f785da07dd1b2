"""The one view of the ceiling: who is this (the session's user, loaded), then 25 bytes."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

BODY = {"user": "authenticated"}
#: What the view answers a signed-in request with, byte for byte.
BODY_BYTES = b'{"user": "authenticated"}'


def ceiling(request: HttpRequest) -> JsonResponse:
    # `is_authenticated` forces the lazy user: the session row and the user row are read.
    if not request.user.is_authenticated:
        return JsonResponse({"user": None}, status=401)
    return JsonResponse(BODY)
