"""The product's URLs plus the bare ceiling's view, at the same path."""

from django.urls import include, path

from .views import ceiling

urlpatterns = [
    path("ceiling/", ceiling, name="ceiling"),
    path("", include("config.urls")),
]
