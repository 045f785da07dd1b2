"""Socket routes (filled in with the real-time consumer)."""

websocket_urlpatterns: list = []
