"""What a message may hold and what an interface may send with it: the one definition of
the content rules that the API, the pages, the admin and the model all apply."""

from __future__ import annotations

import unicodedata

from .exceptions import ValidationError

IDEMPOTENCY_KEY_MAX_LENGTH = 64

MAX_CONTENT_LENGTH = 10_000

#: Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt): characters
#: a renderer shows as nothing, whatever their category (the Hangul fillers are letters).
_DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
DEFAULT_IGNORABLE = frozenset(
    chr(code) for low, high in _DEFAULT_IGNORABLE_RANGES for code in range(low, high + 1)
)
#: Drawn as blank space though neither ignorable nor whitespace.
_BLANK_LOOKING = frozenset({"\u2800"})  # BRAILLE PATTERN BLANK
#: Format characters, controls and separators: nothing to see.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def is_invisible(char: str) -> bool:
    """Whether the character shows nothing: whitespace, a format character (zero-width
    spaces and joiners, direction marks, the BOM), a control, or a blank-looking filler."""
    return (
        char in DEFAULT_IGNORABLE
        or char in _BLANK_LOOKING
        or char.isspace()
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
    )


def has_visible_text(text: str) -> bool:
    """Whether `text` shows anything: a message of invisible characters only is empty."""
    return not all(is_invisible(char) for char in text)


def clean_content(content: object) -> str:
    """Content as stored: a string, stripped, 1 to 10,000 characters, something visible.

    Text made only of invisible characters (zero-width ones, joiners, format
    characters, blank fillers) is empty; text with anything visible is kept as typed,
    joiners included (they hold emoji sequences together).
    """
    if not isinstance(content, str):
        raise ValidationError("Content must be text.", field="content")
    content = content.strip()
    if not has_visible_text(content):
        raise ValidationError("A message cannot be empty.", field="content")
    if len(content) > MAX_CONTENT_LENGTH:
        raise ValidationError(
            f"A message has at most {MAX_CONTENT_LENGTH:,} characters (this one has "
            f"{len(content):,}).",
            field="content",
        )
    if "\x00" in content:
        raise ValidationError("Content cannot contain NUL characters.", field="content")
    if not storable(content):
        raise ValidationError("Content must be valid Unicode text.", field="content")
    return content


#: The longest group name, and the most people a group holds.
MAX_GROUP_NAME_LENGTH = 100
MAX_GROUP_MEMBERS = 256


def clean_group_name(name: object) -> str:
    """A group's name as stored: text, stripped, 1 to 100 characters, something visible,
    on one line."""
    if not isinstance(name, str):
        raise ValidationError("A group's name must be text.", field="name")
    name = " ".join(name.split())  # one line: newlines and runs of spaces become a space
    if not name or not has_visible_text(name):
        raise ValidationError("Give the group a name.", field="name")
    if len(name) > MAX_GROUP_NAME_LENGTH:
        raise ValidationError(
            f"A group's name has at most {MAX_GROUP_NAME_LENGTH} characters (this one has "
            f"{len(name)}).",
            field="name",
        )
    if "\x00" in name or not storable(name):
        raise ValidationError("A group's name must be valid Unicode text.", field="name")
    return name


def clean_idempotency_key(value: object) -> str:
    """An `Idempotency-Key` as stored: text of 1 to 64 characters a database can hold."""
    key = value.strip() if isinstance(value, str) else None
    if not key or len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not storable(key):
        raise ValidationError(
            f"An Idempotency-Key is text of 1 to {IDEMPOTENCY_KEY_MAX_LENGTH} characters, "
            "without NUL.",
            field="idempotency_key",
        )
    return key


def storable(text: str) -> bool:
    """Whether a database can hold `text`: no NUL (PostgreSQL refuses it) and no unpaired
    surrogate (a Python string may hold one; UTF-8 cannot encode it)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
