"""Socket routes: `/ws/events/` (API.md, "Real time"); any other socket path is refused.

Authentication wraps the one route, so a probe of an unknown path costs no
database query, no channel-layer call and logs no error.
"""

from django.urls import path, re_path

from .consumers import EventsConsumer
from .ws_auth import SocketAuthMiddlewareStack


async def refuse_handshake(scope, receive, send) -> None:
    """Close before accepting: the server answers the upgrade with 403."""
    if (await receive()).get("type") == "websocket.connect":
        await send({"type": "websocket.close"})


websocket_urlpatterns: list = [
    path("ws/events/", SocketAuthMiddlewareStack(EventsConsumer.as_asgi()), name="ws-events"),
    re_path(r"", refuse_handshake),
]
