"""Rate limits: RATE_LIMIT_AUTH per IP and per account; RATE_LIMIT_SEND, RATE_LIMIT_SEARCH,
RATE_LIMIT_USER per user.

Rates are read from settings on every request (DRF binds them at import time,
which would ignore a change made by a test or a reload). A throttled client gets
DRF's 429 with `Retry-After`. A cache that is down lets the request through:
a rate limit is not worth an outage.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import cast

from rest_framework.exceptions import APIException
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # DRF's rates are "number/period" strings; its stubs type them as numbers.
        rates = cast("Mapping[str, str | None]", api_settings.DEFAULT_THROTTLE_RATES)
        return rates.get(self.scope) if self.scope is not None else None

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except APIException:
            raise  # the request's own fault (an unparsable body), not the cache's
        except Exception:
            logger.warning("cache unavailable: throttle %s not applied", self.scope, exc_info=True)
            return True


class AuthRateThrottle(SettingsRateThrottle):
    """Registration, token and refresh attempts, per client IP whoever is logged in."""

    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AccountRateThrottle(SettingsRateThrottle):
    """Password attempts against one account, from any number of IPs (RATE_LIMIT_AUTH).

    The account is the signed-in user for password confirmations (password change,
    account deletion) and the username tried for log-ins, folded as a log-in would
    match it and hashed, so a botnet cannot spread guesses at one person over IPs.
    """

    scope = "auth"
    cache_format = "throttle_%(scope)s_account_%(ident)s"

    def get_cache_key(self, request, view) -> str | None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            ident = f"u{user.pk}"
        else:
            username = _posted_username(request)
            if not username:
                return None
            ident = "n" + hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}


def _posted_username(request) -> str:
    """The username a log-in attempt names (form or JSON body), or ""."""
    # A body that cannot be parsed raises here as it would in the view (413, 415, 400).
    data = request.data if hasattr(request, "data") else request.POST
    value = data.get("username", "") if isinstance(data, Mapping) else ""
    return value.strip() if isinstance(value, str) else ""


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


class SearchRateThrottle(UserRateThrottle):
    """Searches, per user, people and messages sharing one budget: enough for a suggesting
    field that asks as the person types, too few to walk through every name or to make
    the full-text index work without pause."""

    scope = "search"
