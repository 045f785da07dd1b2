"""Notifications: a person's list, unread count, one by id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from .. import cache as cache_keys
from ..exceptions import NotFound
from ..models import Notification

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


def notification_list(user: User, *, unread: bool | None = None) -> QuerySet[Notification]:
    queryset = Notification.objects.filter(user=user).select_related("actor")
    if unread is not None:
        queryset = queryset.filter(read=not unread)
    return queryset.order_by("-created_at", "-id")


def notification_unread_count(user: User) -> int:
    return cache_keys.get_or_set(
        cache_keys.notification_unread_count_key(user.pk),
        lambda: Notification.objects.filter(user=user, read=False).count(),
    )


def notification_get_for_user(user: User, notification_id: Any) -> Notification:
    try:
        return Notification.objects.get(pk=int(notification_id), user=user)
    except (Notification.DoesNotExist, TypeError, ValueError):
        raise NotFound() from None
