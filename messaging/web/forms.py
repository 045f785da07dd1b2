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


class ReplyForm(forms.Form):
    """A message or a reply to the conversation of the page: a group's composer."""

    content = ContentField(label="Message", widget=_textarea(3, "Write a message…"))
    parent_message = forms.IntegerField(required=False, widget=forms.HiddenInput)


def _people_input(placeholder: str, **attrs: Any) -> forms.TextInput:
    """A field of usernames: suggest.js offers the people one can write to as one types
    (people search); without JavaScript it is a plain text field."""
    return forms.TextInput(
        attrs={
            "autocomplete": "off",
            "autocapitalize": "none",
            "placeholder": placeholder,
            "data-suggest-people": True,
            **attrs,
        }
    )


class MessageForm(ReplyForm):
    """A new message or a reply: the compose form has `receiver` and `content`."""

    field_order = ["receiver", "content", "parent_message"]

    receiver = forms.CharField(max_length=150, label="To", widget=_people_input("username"))


#: The most names a group form reads (the services apply the real limit).
MAX_NAMES = content.MAX_GROUP_MEMBERS


class PeopleField(forms.CharField):
    """Several usernames in one field, separated by commas (or spaces): the list of
    distinct names, in the order given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_NAMES * 152, **kwargs)

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value)
        names = list(dict.fromkeys(text.replace(",", " ").split()))
        if not names:
            raise forms.ValidationError("Add at least one other person.")
        if len(names) > MAX_NAMES:
            raise forms.ValidationError(f"Name at most {MAX_NAMES} people.")
        return names


class GroupNameField(forms.CharField):
    """A group's name, cleaned by the content rules (`content.clean_group_name`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=content.MAX_GROUP_NAME_LENGTH + 1000, **kwargs)

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        try:
            return content.clean_group_name(value)
        except ValidationError as error:
            raise forms.ValidationError(error.message) from None


class GroupForm(forms.Form):
    """A new group: its name and the people in it besides its creator."""

    name = GroupNameField(label="Group name", widget=forms.TextInput(attrs={"autocomplete": "off"}))
    members = PeopleField(
        label="Members",
        help_text="Their usernames, separated by commas. You are in the group too.",
        widget=_people_input("ann, ben", **{"data-suggest-multiple": True}),
    )


class GroupRenameForm(forms.Form):
    name = GroupNameField(label="Group name", widget=forms.TextInput(attrs={"autocomplete": "off"}))


class MemberAddForm(forms.Form):
    username = forms.CharField(
        max_length=150, label="Add someone", widget=_people_input("username")
    )


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
