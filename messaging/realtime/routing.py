"""Socket routes: `/ws/events/` (API.md, "Real time"); any other socket path is refused.

Authentication wraps the one route, so a probe of an unknown path costs no
database query, no channel-layer call and logs no error.
"""

from django.urls import URLPattern, path, re_path

from .auth import Receive, Scope, Send, SocketAuthMiddlewareStack
from .consumers import EventsConsumer


async def refuse_handshake(scope: Scope, receive: Receive, send: Send) -> None:
    """Close before accepting: the server answers the upgrade with 403."""
    if (await receive()).get("type") == "websocket.connect":
        await send({"type": "websocket.close"})


# ASGI applications, routed by Channels' URLRouter: django-stubs types path() for views only.
websocket_urlpatterns: list[URLPattern] = [
    path(
        "ws/events/",
        SocketAuthMiddlewareStack(EventsConsumer.as_asgi()),  # type: ignore[arg-type]  # ASGI app
        name="ws-events",
    ),
    re_path(r"", refuse_handshake),  # type: ignore[arg-type]  # an ASGI app, not a view
]
