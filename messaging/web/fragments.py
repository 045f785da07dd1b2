"""Each message's HTML, rendered once per viewer and version, then cached.

A conversation page is one query for its messages, one `get_many` for their HTML,
a render of those missing (one `set_many` stores them) and a join. The key holds
what the HTML shows (`cache.message_fragment_key`): the message's version (moved by
every edit), its read state, the version of the message it quotes, and a digest of
the template, so a deploy with new markup never serves old fragments. A cache
outage reads as a miss (`cache_backends`): the page renders everything.
"""

from __future__ import annotations

import hashlib
from functools import cache as once
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from django.template.loader import get_template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..cache import message_fragment_key
from ..selectors.messages import unread_by

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from ..models import Message

TEMPLATE = "messaging/_message.html"
#: Fragments outlive any page; a changed message is a new key, so this only frees memory.
TIMEOUT = 24 * 3600


@once
def markup_version() -> str:
    source = get_template(TEMPLATE).template.source  # type: ignore[attr-defined]
    return hashlib.blake2b(source.encode(), digest_size=4).hexdigest()


@once
def message_url() -> str:
    """The prefix of every message's links ("/messages/"): each link is it plus the
    message's id, not a URL reversal per message."""
    return reverse("messaging:thread", args=[0]).removesuffix("0/")


def shape(message: Any, *, viewer: User, people: dict[int, str]) -> Any:
    """What the template reads of a message, for `viewer`; `people` names the senders.
    (Presentation attributes on the instance, hence `Any`.)"""
    message.mine = message.sender_id == viewer.pk
    message.author = people.get(message.sender_id, "")
    message.is_new = unread_by(message, viewer)
    quote = message.parent_message if message.parent_message_id else None
    message.quote = quote
    if quote is not None:
        message.quote_author = (
            "You" if quote.sender_id == viewer.pk else people.get(quote.sender_id, "")
        )
    return message


def _key(message: Message, viewer: User) -> str:
    quote = message.parent_message if message.parent_message_id else None
    quoted = f"q{quote.pk}.{quote.version}" if quote is not None else "q"
    # A direct message's `read` (its receiver's: the sender's receipt shows it too); a
    # group message's is the viewer's own (`viewer_read`).
    read = message.read if message.group_id is None else not unread_by(message, viewer)
    state = f"v{message.version}{'r' if read else 'u'}"
    return message_fragment_key(viewer.pk, message.pk, state, quoted, markup_version())


def render(message: Message | None, **extra: Any) -> SafeString:
    return mark_safe(
        get_template(TEMPLATE).render({"m": message, "message_url": message_url(), **extra})
    )


def messages_html(
    messages: list[Message], *, viewer: User, people: dict[int, str]
) -> list[SafeString]:
    """Each message's HTML for `viewer`, in order: cached ones from one `get_many`."""
    keys = [_key(message, viewer) for message in messages]
    found: dict[str, str] = cache.get_many(keys) if keys else {}
    made: dict[str, str] = {}
    html = []
    for key, message in zip(keys, messages, strict=True):
        fragment = found.get(key)
        if fragment is None:
            fragment = made[key] = render(shape(message, viewer=viewer, people=people))
        html.append(mark_safe(fragment))
    if made:
        cache.set_many(made, TIMEOUT)
    return html


@once
def blank() -> SafeString:
    """The markup the page's script fills for a message that arrives or is being sent
    (the same for everyone: rendered once per process)."""
    return render(None, blank=True)


def tree(
    node: Any, html: dict[int, SafeString], *, highlight: int | None, actions: SafeString
) -> SafeString:
    """A thread shaped by `views.shape_thread` as nested lists: each message's HTML from
    `html` (by id), replies under what they answer, long branches folded. The message
    `highlight` carries `actions`, the page's one set of links for it."""
    return format_html(
        '<li class="tree__item{}">{}{}{}</li>',
        " tree__item--highlight" if node.pk == highlight else "",
        html[node.pk],
        actions if node.pk == highlight else "",
        _replies(node, html, highlight=highlight, actions=actions),
    )


def _replies(
    node: Any, html: dict[int, SafeString], *, highlight: int | None, actions: SafeString
) -> SafeString:
    def items(children: list[Any]) -> SafeString:
        return format_html_join(
            "",
            "{}",
            ((tree(child, html, highlight=highlight, actions=actions),) for child in children),
        )

    parts = []
    if node.replies_folded:
        count = len(node.replies_folded)
        parts.append(
            format_html(
                '<details class="fold"{}><summary>{} earlier repl{}</summary>'
                '<ol class="tree__replies">{}</ol></details>',
                " open" if node.fold_open else "",
                count,
                "y" if count == 1 else "ies",
                items(node.replies_folded),
            )
        )
    if node.replies_shown:
        shown = format_html(
            '<ol class="tree__replies" data-replies-for="{}">{}</ol>',
            node.pk,
            items(node.replies_shown),
        )
        if node.collapsed:
            shown = format_html(
                '<details class="fold"{}><summary>{} replies</summary>{}</details>',
                " open" if node.holds_attention else "",
                node.descendant_count,
                shown,
            )
        parts.append(shown)
    return mark_safe("".join(parts))
