"""Web page routes."""

app_name = "messaging"
urlpatterns: list = []
