"""The product's URLs plus the benchmark's ceiling view."""

from django.urls import include, path

from .views import CeilingView

urlpatterns = [
    path("bench/ceiling/", CeilingView.as_view(), name="bench-ceiling"),
    path("", include("config.urls")),
]
