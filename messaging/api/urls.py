"""API routes under /api/v1/ (see ../shared/API.md)."""

app_name = "api"
urlpatterns: list = []
