"""Thin receivers: each reacts to one model event with one service call.

Connected by `MessagingConfig.ready()`. Row cleanup on account deletion is the
database's job (`on_delete=CASCADE`); the receivers here do what it cannot.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver

from . import cache, selectors, services
from .models import Message, MessagingProfile, Notification
from .realtime import publishing as realtime

User = get_user_model()


@receiver(post_save, sender=Message, dispatch_uid="messaging.notify_receiver")
def notify_receiver(sender, instance: Message, created: bool, raw: bool = False, **kwargs):
    if created and not raw:
        # The send announces them after the commit, right after the message itself.
        made = services.notification_create_for_message(instance)
        if isinstance(made, list):
            instance.group_notifications = made
        else:
            instance.notification = made


@receiver(pre_save, sender=Message, dispatch_uid="messaging.record_edit_history")
def record_edit_history(sender, instance: Message, raw: bool = False, update_fields=None, **kwargs):
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and "content" not in update_fields:
        return
    old_content = getattr(instance, "_loaded_content", None)
    if old_content is None:
        old_content = (
            Message.objects.filter(pk=instance.pk).values_list("content", flat=True).first()
        )
    if old_content is not None and old_content != instance.content:
        services.history_record_edit(
            instance,
            old_content=old_content,
            edited_by=getattr(instance, "_edited_by", None),
            persist=sorted({"edited", "version"} - set(update_fields or {"edited", "version"})),
        )
        instance._loaded_content = instance.content


@receiver(post_save, sender=Message, dispatch_uid="messaging.flush_conversation_cache_on_save")
@receiver(post_delete, sender=Message, dispatch_uid="messaging.flush_conversation_cache_on_delete")
def flush_conversation_cache(sender, instance: Message, **kwargs):
    if instance.group_id is None:
        people = (instance.sender_id, instance.receiver_pk)
        cache.invalidate(users=people, conversations=[people])
        return
    audience = getattr(instance, "audience", None)
    members = (
        (instance.sender_id, *audience.others)
        if audience is not None
        else selectors.group_member_ids(instance.group_pk)
    )
    cache.invalidate(users=members, groups=[instance.group_pk])


@receiver(post_save, sender=Notification, dispatch_uid="messaging.flush_notification_cache_on_save")
@receiver(
    post_delete, sender=Notification, dispatch_uid="messaging.flush_notification_cache_on_delete"
)
def flush_notification_cache(sender, instance: Notification, **kwargs):
    cache.invalidate(users=[instance.user_id])


@receiver(post_save, sender=User, dispatch_uid="messaging.record_username_keys")
def record_username_keys(sender, instance, created: bool, update_fields=None, **kwargs):
    # Every way a user is saved (registration, admin, createsuperuser, fixtures) keeps
    # the username's look-alike keys; a save that names its fields without the
    # username cannot have changed them.
    if update_fields is not None and "username" not in update_fields:
        return
    services.username_keys_record(instance, created=created)


@receiver(post_delete, sender=User, dispatch_uid="messaging.forget_deleted_user")
def forget_deleted_user(sender, instance, **kwargs):
    # Rows went with the database's cascades; what is left lives outside it.
    cache.invalidate(users=[instance.pk])
    realtime.revoke_on_commit(instance.pk)


@receiver(
    m2m_changed, sender=MessagingProfile.blocked.through, dispatch_uid="messaging.apply_blocks"
)
def apply_blocks(sender, instance, action: str, reverse: bool, pk_set, **kwargs):
    # Either side may change: profile.blocked (instance is the blocker's profile, pk_set
    # the blocked users) or user.blocked_by (instance is the blocked user, pk_set the
    # blockers' profiles, whose ids are their users' ids).
    if action == "pre_clear":
        related = instance.blocked_by if reverse else instance.blocked
        instance._cleared_block_ids = set(related.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = getattr(instance, "_cleared_block_ids", set())
    elif action not in ("post_add", "post_remove"):
        return
    pairs = [(pk, instance.pk) if reverse else (instance.pk, pk) for pk in pk_set or ()]
    if pairs:
        services.blocks_changed(pairs, blocked=action == "post_add")


@receiver(user_logged_out, dispatch_uid="messaging.close_sockets_on_logout")
def close_sockets_on_logout(sender, request, user, **kwargs):
    # Sent before the session is flushed: its key still names the sockets it opened.
    if request is not None and hasattr(request, "session"):
        services.session_logged_out(session_key=request.session.session_key)
