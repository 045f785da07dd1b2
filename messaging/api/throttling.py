"""Rate limits: RATE_LIMIT_AUTH per IP, RATE_LIMIT_SEND and RATE_LIMIT_USER per user.

Rates are read from settings on every request (DRF binds them at import time,
which would ignore a change made by a test or a reload). A throttled client gets
DRF's 429 with `Retry-After`. A cache that is down lets the request through:
a rate limit is not worth an outage.
"""

from __future__ import annotations

import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("cache unavailable: throttle %s not applied", self.scope, exc_info=True)
            return True


class AuthRateThrottle(SettingsRateThrottle):
    """Registration, token and refresh attempts, per client IP whoever is logged in."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserRateThrottle(SettingsRateThrottle):
    """Every request of an authenticated user (anonymous ones are refused with 401 anyway)."""

    scope = "user"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class SendRateThrottle(UserRateThrottle):
    """Messages sent, per user; only the sending method counts."""

    scope = "send"

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST":
            return None
        return super().get_cache_key(request, view)
