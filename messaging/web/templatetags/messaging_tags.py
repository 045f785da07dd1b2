"""Template helpers for the pages: the site header with its badges, avatars."""

from __future__ import annotations

import hashlib

from django import template

from ... import selectors

register = template.Library()

#: Avatar colours in the stylesheet (`.avatar--0` ... `.avatar--7`).
AVATAR_COLOURS = 8


@register.inclusion_tag("messaging/_header.html", takes_context=True)
def site_header(context) -> dict:
    """The header on every page: navigation and the unread badges (cached counts)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    data = {"user": user, "csrf_token": context.get("csrf_token"), "current": ""}
    if request is not None and request.resolver_match is not None:
        data["current"] = request.resolver_match.url_name
    if user is not None and user.is_authenticated:
        data["unread_notifications"] = selectors.notification_unread_count(user)
        data["unread_messages"] = selectors.unread_count(user)
    return data


@register.filter
def avatar_colour(username: str) -> int:
    """A stable colour per person, so the same name always looks the same."""
    digest = hashlib.blake2b(str(username).encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % AVATAR_COLOURS


@register.filter
def initial(username: str) -> str:
    return str(username)[:1].upper() or "?"
