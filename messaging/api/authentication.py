"""`Authorization: Bearer` for the API: simplejwt's token checks plus the login's own state.

The user row, whether the token's login was logged out, and (from the row) whether
the password changed since the token was issued come from one query, the one
simplejwt makes to load the user anyway.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.tokens import Token

from .. import auth_tokens


class TokenAuthentication(JWTAuthentication):
    def get_user(self, validated_token: Token) -> Any:
        try:
            return auth_tokens.user_for_token(validated_token)
        except auth_tokens.LoginEnded as error:
            raise AuthenticationFailed(str(error), code="login_ended") from None


class TokenAuthenticationScheme(SimpleJWTScheme):
    """The OpenAPI security scheme: simplejwt's bearer JWT (`jwtAuth`)."""

    target_class = "messaging.api.authentication.TokenAuthentication"
