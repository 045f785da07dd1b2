"""Blocking: no messages either way, the conversation hidden from the blocker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from .. import cache as cache_keys
from .. import selectors
from ..exceptions import NotFound, ValidationError
from ..models import (
    Conversation,
    MessagingProfile,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


@transaction.atomic
def user_block(*, user: User, target: User | str) -> User:
    """`user` blocks `target` (a user or a username): no messages either way, and the
    conversation leaves `user`'s inbox. Idempotent. The `m2m_changed` signal applies
    the effects, whichever side of the relation is changed."""
    target = _block_target(user, target)
    profile, _ = MessagingProfile.objects.get_or_create(user=user)
    profile.blocked.add(target)
    return target


@transaction.atomic
def user_unblock(*, user: User, target: User | str) -> User:
    """Undo `user_block`; the conversation comes back to the inbox. Idempotent."""
    target = _block_target(user, target)
    profile, _ = MessagingProfile.objects.get_or_create(user=user)
    profile.blocked.remove(target)
    return target


def _block_target(user: User, target: User | str) -> User:
    if isinstance(target, str):
        target = selectors.user_get_by_username(target)
    elif not isinstance(target, User):
        raise NotFound("No such user.")
    if target.pk == user.pk:
        raise ValidationError("You cannot block yourself.", field="username")
    return target


def blocks_changed(pairs: list[tuple[int, int]], *, blocked: bool) -> None:
    """Called by `m2m_changed` with (blocker id, blocked id) pairs that were added or removed.

    `.update()` sends no signals: caches are invalidated here.
    """
    for blocker_id, blocked_id in pairs:
        Conversation.objects.filter(owner_id=blocker_id, partner_id=blocked_id).update(
            hidden=blocked
        )
    cache_keys.invalidate(
        users={user_id for pair in pairs for user_id in pair}, conversations=pairs
    )
