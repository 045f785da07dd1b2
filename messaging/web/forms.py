"""The web pages' forms: they parse and validate the input (the content rules are
`content.clean_content`, as for the API and the admin); the services apply the rest."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth import get_user_model

from .. import content
from ..exceptions import ValidationError
from ..models import MAX_CONTENT_LENGTH

User = get_user_model()


def _textarea(rows: int, placeholder: str) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


class SignupForm(forms.Form):
    """`username` and `password`, as the log-in form; `services.user_register` validates them."""

    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    email = forms.EmailField(
        required=False,
        help_text="Optional.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class ContentField(forms.CharField):
    """A message's text, cleaned by the content rules (stripped, 1 to 10,000 characters,
    something visible); the raw input is only bounded in size."""

    def __init__(self, **kwargs) -> None:
        super().__init__(strip=False, max_length=MAX_CONTENT_LENGTH + 1000, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        try:
            return content.clean_content(value)
        except ValidationError as error:
            raise forms.ValidationError(error.message) from None


class MessageForm(forms.Form):
    """A new message or a reply: the compose form has `receiver` and `content`."""

    receiver = forms.CharField(
        max_length=150,
        label="To",
        # suggest.js offers the people one can write to as one types (people search).
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "none",
                "placeholder": "username",
                "data-suggest-people": True,
            }
        ),
    )
    content = ContentField(label="Message", widget=_textarea(3, "Write a message…"))
    parent_message = forms.IntegerField(required=False, widget=forms.HiddenInput)


class EditForm(forms.Form):
    content = ContentField(label="Message", widget=_textarea(3, ""))


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordChangeForm(forms.Form):
    """The current password, and the new one twice; `services.user_change_password`
    checks the current one and applies the password rules."""

    old_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        help_text="At least 8 characters; not only digits, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password2 = forms.CharField(
        label="New password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        # A Form's clean() answers its cleaned_data; the stubs allow an override's None.
        cleaned = cast(dict[str, Any], super().clean())
        first, second = cleaned.get("new_password"), cleaned.get("new_password2")
        if first and second and first != second:
            self.add_error("new_password2", "The two new passwords differ.")
        return cleaned
