"""Content that shows nothing is empty: invisible characters alone are not a message.

Zero-width and joiner characters, the byte order mark, the soft hyphen, every other
format character (Unicode category Cf), controls, and the blank-looking fillers,
alone or mixed with whitespace, are refused as "A message cannot be empty." by
`content.clean_content`, which the API, the pages, the admin and the model all go
through before a service is called. Text with anything visible in it is stored exactly
as before.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging import services
from messaging.content import clean_content
from messaging.exceptions import ValidationError
from messaging.models import Conversation, Message, MessageHistory, Notification

pytestmark = pytest.mark.django_db

EMPTY = "A message cannot be empty."

INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width non-joiner": "\u200c",
    "zero-width joiner": "\u200d",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "left-to-right mark": "\u200e",
    "right-to-left override": "\u202e",
    "invisible times": "\u2062",
    "mongolian vowel separator": "\u180e",
    "tag space": "\U000e0020",
    "hangul filler": "\u3164",
    "hangul choseong filler": "\u115f",
    "hangul jungseong filler": "\u1160",
    "halfwidth hangul filler": "\uffa0",
    "braille pattern blank": "\u2800",
    "combining grapheme joiner": "\u034f",
    "variation selector-16": "\ufe0f",
    "bell": "\x07",
}

#: Every format character Python's Unicode database knows: all of them are invisible.
FORMAT_CHARACTERS = [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cf"]


def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_content_of_one_invisible_character_is_empty(char):
    for content in (char, f" {char}\n", char * 5, f"\t{char} {char}\u3000"):
        with pytest.raises(ValidationError) as refused:
            clean_content(content)
        assert (refused.value.field, refused.value.message) == ("content", EMPTY)


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_a_send_of_one_invisible_character_is_400_and_stores_nothing(alice, bob, char):
    client = api(alice)

    for content in (char, f"\t{char} {char}\u3000"):
        response = client.post(
            "/api/v1/messages/", {"receiver": "bob", "content": content}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"content": [EMPTY]}

    assert not Message.objects.exists()
    assert not Notification.objects.exists()
    assert not Conversation.objects.exists()


def test_every_format_character_is_invisible():
    assert len(FORMAT_CHARACTERS) > 150

    with pytest.raises(ValidationError) as refused:
        clean_content("".join(FORMAT_CHARACTERS))

    assert refused.value.message == EMPTY


def test_a_mix_of_every_invisible_kind_is_empty():
    with pytest.raises(ValidationError) as refused:
        clean_content(" ".join(INVISIBLE.values()) + "\u2028\u00a0")

    assert refused.value.message == EMPTY


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from([*INVISIBLE.values(), *FORMAT_CHARACTERS, " ", "\n", "\t", "\u3000"]),
        min_size=1,
        max_size=30,
    )
)
def test_any_string_of_invisible_characters_is_empty(chars):
    with pytest.raises(ValidationError) as refused:
        clean_content("".join(chars))

    assert refused.value.message == EMPTY


@pytest.mark.parametrize(
    "content",
    [
        "\u200bhello\u200b",  # visible text between invisible ones stays as typed
        "👨\u200d👩\u200d👧",  # a family emoji: the joiners hold it together
        "\u2764\ufe0f",  # a red heart with its emoji variation selector
        "co\u00adoperate",
        "\u0301",  # a lone combining accent still shows
        "x",
        "\u3164x",
    ],
)
def test_text_with_something_visible_is_stored_exactly_as_before(alice, bob, content):
    cleaned = clean_content(content)
    message = services.message_send(sender=alice, receiver=bob, content=cleaned)

    assert cleaned == content.strip()
    assert Message.objects.get(pk=message.pk).content == content.strip()


def test_an_edit_to_invisible_content_is_refused_and_changes_nothing(alice, bob):
    message = services.message_send(sender=alice, receiver=bob, content="hello")

    response = api(alice).patch(
        f"/api/v1/messages/{message.pk}/", {"content": "\u200b\u2060 \u3164"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"content": [EMPTY]}
    assert Message.objects.get(pk=message.pk).content == "hello"
    assert not MessageHistory.objects.exists()


def test_the_model_validation_agrees(alice, bob):
    from django.core.exceptions import ValidationError as DjangoValidationError

    with pytest.raises(DjangoValidationError) as refused:
        Message(sender=alice, receiver=bob, content="\u200b\ufeff").clean()

    assert refused.value.message_dict == {"content": [EMPTY]}
