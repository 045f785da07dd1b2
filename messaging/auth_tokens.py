"""Logins that can be ended: which login a request or socket belongs to, and whether it stands.

A *login* is what one sign-in created: a browser session, or a family of JWTs
(the refresh token from `/auth/token/` and every token rotated or derived from
it, all carrying the same `sid` claim). Ending a login refuses what it issued:

- **Password change** refuses every token issued before it, at once: tokens carry a
  fingerprint of the password hash (simplejwt's `CHECK_REVOKE_TOKEN`), compared
  with the user row that authentication loads anyway, so it costs no query.
  Sessions carry Django's own session hash, which the change moves too.
- **Logout** of a token login (`/auth/logout/`) blacklists its refresh token and
  records the `sid` in `EndedLogin`: its access tokens are refused too (checked
  in the same query as the user), and so are its sockets.
- **Account deletion** removes the user row: nothing authenticates as it again.

Sockets are closed through the channel layer by login (`realtime.login_group`):
this module names the login; `realtime` closes what belongs to it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from .models import EndedLogin

#: The claim naming the login a token belongs to; rotation and access tokens copy it.
LOGIN_CLAIM = "sid"


class LoginRefreshToken(RefreshToken):
    """A refresh token that starts a login of its own (a new `sid`)."""

    @classmethod
    def for_user(cls, user: Any) -> LoginRefreshToken:
        # simplejwt's `for_user` answers an instance of `cls`; its types say RefreshToken.
        token = cast(LoginRefreshToken, super().for_user(user))
        token[LOGIN_CLAIM] = secrets.token_urlsafe(16)
        return token


class LoginEnded(Exception):
    """The token's login was ended: logged out, the password changed, or the user gone."""


def session_login_id(session_key: str | None) -> str | None:
    """A session's login id: a digest, so the session key itself never leaves the server."""
    if not session_key:
        return None
    return "s-" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def token_login_id(token: Token | dict[str, Any]) -> str:
    """A token's login id: its `sid`, or for a token made without one, its own `jti`."""
    sid = token.get(LOGIN_CLAIM) or token.get(api_settings.JTI_CLAIM) or ""
    return f"t-{sid}"


def users_with_login_state(token: Token) -> QuerySet:
    """Users annotated with `login_ended` for `token`'s login: one query with the user."""
    sid = token.get(LOGIN_CLAIM)
    users = get_user_model().objects.all()
    if not sid:
        return users
    return users.annotate(
        login_ended=Exists(EndedLogin.objects.filter(sid=sid, user=OuterRef("pk")))
    )


def check_token_user(user: Any, token: Token) -> None:
    """Raise `LoginEnded` unless `user` (from `users_with_login_state`) may use `token`."""
    if not user.is_active:
        raise LoginEnded("User is inactive.")
    if token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise LoginEnded("The password has changed since this token was issued.")
    if getattr(user, "login_ended", False):
        raise LoginEnded("This login has ended.")


def user_for_token(token: Token) -> Any:
    """The user `token` names, if its login still stands; else `LoginEnded`. One query."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    if user_id is None:
        raise LoginEnded("The token names no user.")
    try:
        user = users_with_login_state(token).get(**{api_settings.USER_ID_FIELD: user_id})
    except (get_user_model().DoesNotExist, ValueError, TypeError):
        raise LoginEnded("The account no longer exists.") from None
    check_token_user(user, token)
    return user


def token_expiry(token: Token | dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(token["exp"]), tz=UTC)


def end_token_login(user: Any, token: Token | dict[str, Any]) -> str:
    """Record that `token`'s login ended; answers its login id. Forgets expired records."""
    EndedLogin.objects.filter(expires_at__lt=timezone.now()).delete()
    sid = token.get(LOGIN_CLAIM)
    if sid:
        EndedLogin.objects.update_or_create(
            sid=sid, defaults={"user": user, "expires_at": token_expiry(token)}
        )
    return token_login_id(token)


def end_login_of_reused_token(raw: str) -> None:
    """A refresh token was refused: if it was a genuine one already used, end its login.

    Rotation answers a new refresh token for each use, so a used one coming back means
    it was copied: whoever holds the newer one may be the thief, so the whole login
    (every token sharing its `sid`) ends and its sockets close.
    """
    from rest_framework_simplejwt.exceptions import TokenBackendError
    from rest_framework_simplejwt.state import token_backend
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

    from .realtime import publishing as realtime

    try:
        # Signature and expiry, no blacklist.
        payload = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]  # takes the text
    except (TokenBackendError, ValueError, TypeError):
        return
    sid, jti = payload.get(LOGIN_CLAIM), payload.get(api_settings.JTI_CLAIM)
    if payload.get(api_settings.TOKEN_TYPE_CLAIM) != "refresh" or not sid or not jti:
        return
    if not BlacklistedToken.objects.filter(token__jti=jti).exists():
        return
    user_id = payload.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    if user is None:
        return
    with transaction.atomic():
        login_id = end_token_login(user, payload)
        realtime.revoke_login_on_commit(login_id)


class RefreshTokenUsed(Exception):
    """The refresh token was used already (concurrently, by another holder)."""


@transaction.atomic
def rotate_refresh_token(refresh: RefreshToken, user: Any) -> RefreshToken:
    """Use up `refresh` (blacklisted) and answer the next refresh token of its login.

    The blacklist row is inserted, never looked up first: its unique key lets exactly
    one of two concurrent uses of one token through, and the other raises
    `RefreshTokenUsed`.
    """
    from django.db import IntegrityError
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    jti = refresh[api_settings.JTI_CLAIM]
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=jti, defaults={"user": user, "token": str(refresh), "expires_at": token_expiry(refresh)}
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError:
        raise RefreshTokenUsed() from None
    refresh.set_jti()
    refresh.set_exp()
    refresh.set_iat()
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token=str(refresh),
        expires_at=token_expiry(refresh),
    )
    return refresh


def refuse_refresh_tokens(user: Any) -> None:
    """Blacklist every refresh token of the user that could still be used."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in live.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )


def issued_tokens(user: Any) -> list[QuerySet]:
    """The token rows the blacklist app keeps of the user, blacklist entries first."""
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    return [
        BlacklistedToken.objects.filter(token__user=user),
        OutstandingToken.objects.filter(user=user),
    ]


def validated_access_token(raw: bytes) -> Token:
    """The access token the API would accept (signature, type, expiry), else TokenError."""
    from rest_framework_simplejwt.authentication import JWTAuthentication
    from rest_framework_simplejwt.exceptions import InvalidToken

    try:
        return JWTAuthentication().get_validated_token(raw)
    except InvalidToken as error:
        raise TokenError(str(error)) from None
