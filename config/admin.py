"""The admin site: Django's, with its log-in throttled like the product's own log-in."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminSite(admin.AdminSite):
    site_header = "Messaging administration"

    def login(self, request, extra_context=None):
        # RATE_LIMIT_AUTH per IP and per account, with the same 429 page as the log-in.
        from messaging.web.views import login_throttled

        return login_throttled(super().login)(request, extra_context)


class AdminConfig(DjangoAdminConfig):
    default_site = "config.admin.AdminSite"
