"""A search result's text as the results page shows it: the part around the first match
of a long message, with each word the search matched in `<mark>`.

The text is cut into pieces first and every piece is escaped on its own (by
`format_html`): the marks are the only markup, and no character of the message ever
reaches the page unescaped, whatever it holds (`<script>`, `&amp;`, quotes).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..selectors import word_spans

#: A longer message shows this many characters around its first match.
EXCERPT_LENGTH = 300
#: How much of the text before the first match the excerpt keeps.
EXCERPT_LEAD = 60


def fold(text: str) -> str:
    """`text` with letter case and accents folded, as the search indexes fold words."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def matched_spans(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """The words of `text` that start with one of `words` (case and accents folded)."""
    prefixes = tuple(fold(word) for word in words)
    if not prefixes:
        return []
    return [
        (start, end)
        for start, end in word_spans(text)
        if fold(text[start:end]).startswith(prefixes)
    ]


def _excerpt(text: str, first: int) -> tuple[int, int]:
    """Where the shown part of `text` starts and ends: all of a short message; around the
    first match (`first`) of a long one, cut at spaces where there are some near."""
    if len(text) <= EXCERPT_LENGTH:
        return 0, len(text)
    start = max(0, min(first - EXCERPT_LEAD, len(text) - EXCERPT_LENGTH))
    end = start + EXCERPT_LENGTH
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space != -1 else start
    if end < len(text):
        space = text.rfind(" ", start + EXCERPT_LENGTH // 2, end)
        end = space if space != -1 else end
    return start, end


def highlight(text: str, words: Sequence[str]) -> SafeString:
    """The shown part of `text` (`_excerpt`), escaped, each matched word in `<mark>`, an
    ellipsis where the message goes on."""
    text = str(text)
    spans = matched_spans(text, words)
    start, end = _excerpt(text, spans[0][0] if spans else 0)
    pieces: list[str | SafeString] = ["…"] if start else []
    done = start
    for span_start, span_end in spans:
        if span_start < done or span_end > end:
            continue
        pieces += [text[done:span_start], format_html("<mark>{}</mark>", text[span_start:span_end])]
        done = span_end
    pieces.append(text[done:end])
    if end < len(text):
        pieces.append("…")
    return format_html_join("", "{}", ((piece,) for piece in pieces))
