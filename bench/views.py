"""The ceiling: what the server, authentication and throttling cost with no work behind them.

`CeilingView` answers a constant JSON body through the very authentication, permission
and throttle classes of the API's inbox view (read from that view at the first request,
the REST framework defaults if it is not there), so a workload's ratio to it is the
share of the request left to the work itself.
"""

from __future__ import annotations

from functools import cache

from django.urls import Resolver404, resolve
from rest_framework.response import Response
from rest_framework.views import APIView

REFERENCE_PATH = "/api/v1/conversations/"
BODY = {"status": "ok", "detail": "constant body of the benchmark ceiling"}


@cache
def reference_view() -> type[APIView]:
    """The API view whose authentication, permission and throttle classes the ceiling uses."""
    try:
        view = getattr(resolve(REFERENCE_PATH).func, "cls", None)
    except Resolver404:
        view = None
    return view if isinstance(view, type) and issubclass(view, APIView) else APIView


class CeilingView(APIView):
    def get_authenticators(self):
        return [auth() for auth in reference_view().authentication_classes]

    def get_permissions(self):
        return [permission() for permission in reference_view().permission_classes]

    def get_throttles(self):
        return [throttle() for throttle in reference_view().throttle_classes]

    def get(self, request):
        return Response(BODY)
