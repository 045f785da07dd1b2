"""One ASGI application for HTTP (pages, API) and the real-time socket."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# Django must be set up before the socket's modules import models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from config.middleware import RequestBodyLimit  # noqa: E402
from messaging.realtime.auth import redact_tokens_in_server_logs  # noqa: E402
from messaging.realtime.routing import websocket_urlpatterns  # noqa: E402

# Socket paths carry `?token=`: the server's own log lines must not.
redact_tokens_in_server_logs()

application = ProtocolTypeRouter(
    {
        # A body over the upload limit is refused before Django reads it into memory.
        "http": RequestBodyLimit(django_asgi_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
