"""Template helpers for the pages: the site header with its badges, avatars, and
message text as people expect it (links, folding of long messages)."""

from __future__ import annotations

import hashlib
import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from ... import selectors
from ..highlight import highlight

register = template.Library()

#: Avatar colours in the stylesheet (`.avatar--0` ... `.avatar--7`).
AVATAR_COLOURS = 8


@register.inclusion_tag("messaging/_header.html", takes_context=True)
def site_header(context) -> dict:
    """The header on every page: navigation, the search box and the unread badges
    (cached counts)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    data = {"user": user, "csrf_token": context.get("csrf_token"), "current": ""}
    if request is not None and request.resolver_match is not None:
        data["current"] = request.resolver_match.url_name
    if user is not None and user.is_authenticated:
        data["unread_notifications"] = selectors.notification_unread_count(user)
        data["unread_messages"] = selectors.unread_count(user)
        # The search box keeps the words on the results page.
        if data["current"] == "search":
            data["search_query"] = request.GET.get("q", "")
    return data


@register.filter
def avatar_colour(username: str) -> int:
    """A stable colour per person, so the same name always looks the same."""
    digest = hashlib.blake2b(str(username).encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % AVATAR_COLOURS


@register.filter
def initial(username: str) -> str:
    return str(username)[:1].upper() or "?"


# Message text -----------------------------------------------------------------------
#
# The same rules are in static/messaging/app.js (`fillText`, `isLong`) for the messages
# that arrive live: change them together.

#: What ends an address: whitespace, controls, `<`, `>`, `"`, and the invisible
#: characters that could make a link look like something else (bidi controls and
#: isolates, zero-width spaces and joiners, soft hyphen, BOM).
_URL_BREAKS = (
    r"\s<>\"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
)
#: `http://` or `https://` (spelled out: an ignore-case match would take the long s,
#: U+017F, for `s`),
#: not glued to a word or to another scheme (`xhttp://`, `javascript:http://`).
_URL = re.compile(rf"(?<![\w+.\-:/@])[hH][tT][tT][pP][sS]?://[^{_URL_BREAKS}]+")
#: Punctuation after an address belongs to the sentence, not to the link: ASCII, the
#: ellipsis, closing quotation marks and the CJK full stop, comma and full-width marks.
_TRAILING = frozenset(
    ".,!?:;'*\u2026\u201d\u2019\u00bb\u203a\u3002\u3001\uff0c\uff01\uff1f\uff1a\uff1b"
)
#: A closing bracket at the end is the sentence's unless the address opened it.
_CLOSING = {")": "(", "]": "["}

#: A message longer than this, or with more lines, folds behind "Show more".
FOLD_OVER_CHARS = 600
FOLD_OVER_LINES = 12


def _trim_url(url: str) -> str:
    """`url` without the punctuation that ends the sentence around it."""
    closes = {close: url.count(close) - url.count(open_) for close, open_ in _CLOSING.items()}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _TRAILING:
            end -= 1
        elif closes.get(last, 0) > 0:
            closes[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


def _has_host(url: str) -> bool:
    host = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    return any(char.isalnum() for char in host)


def linkify(text: str) -> SafeString:
    """Message text as HTML: escaped, with each `http(s)://` address a link that opens
    apart from this page (`rel="noopener noreferrer" target="_blank"`). Nothing else
    becomes markup: no other scheme, no bare domains or e-mail addresses.

    The text is split at the addresses and every piece escaped on its own, so an
    address's `&` is `&amp;` in both its `href` and its text, and no character of the
    message ever reaches the page unescaped.
    """
    text = str(text)
    pieces: list[str] = []
    done = 0
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        if not _has_host(url):
            continue
        start = match.start()
        pieces.append(escape(text[done:start]))
        pieces.append(
            format_html('<a href="{0}" rel="noopener noreferrer" target="_blank">{0}</a>', url)
        )
        done = start + len(url)
    pieces.append(escape(text[done:]))
    return mark_safe("".join(pieces))  # every piece is escaped above


register.filter("linkify", linkify)


@register.filter
def folds(text: str) -> bool:
    """Whether a message is long enough to fold behind "Show more" (with JavaScript)."""
    text = str(text)
    return len(text) > FOLD_OVER_CHARS or text.count("\n") >= FOLD_OVER_LINES


@register.filter
def note_text(text: str) -> SafeString:
    """A notification's text ("alice replied to you: <preview>") with the message's
    preview isolated (`<bdi>`), so an Arabic or Hebrew preview runs right to left without
    reordering the sentence around it. Usernames hold no ": "."""
    head, separator, preview = str(text).partition(": ")
    if not separator:
        return escape(text)
    return format_html("{}: <bdi>{}</bdi>", head, preview)


# Search results ---------------------------------------------------------------------

register.filter("highlight", highlight)
