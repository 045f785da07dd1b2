"""The domain's errors. Interfaces map them to HTTP (404, 403, 400) in one place each."""

from __future__ import annotations


class MessagingError(Exception):
    """Base of every refusal the core makes."""

    default_message = "The request cannot be carried out."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    def as_dict(self) -> dict[str, list[str]] | dict[str, str]:
        if self.field:
            return {self.field: [self.message]}
        return {"detail": self.message}


class NotFound(MessagingError):
    """Does not exist, or is not the caller's to see: the two are indistinguishable."""

    default_message = "Not found."


class PermissionDenied(MessagingError):
    """The caller may see it but not do this to it."""

    default_message = "You do not have permission to do this."


class ValidationError(MessagingError):
    """The input breaks a rule; nothing was stored."""

    default_message = "Invalid input."
