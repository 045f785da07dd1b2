"""The ceiling's only URL."""

from django.urls import path

from .views import ceiling

urlpatterns = [path("ceiling/", ceiling, name="ceiling")]
