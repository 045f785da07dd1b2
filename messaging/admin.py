"""Admin for support staff: messages with their edit history, notifications, conversations.

Users are always picked by autocomplete: a select of every user does not scale.
Writes go through the services, as from every other interface: a message added
here notifies its receiver and shows in both inboxes; a deleted one keeps its
replies in the thread. Staff never rewrite what people said: a message's fields
are read-only once sent. A username added or changed here must not look like
another user's, as at registration.
"""

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model

from . import services
from .models import Conversation, Message, MessageHistory, Notification

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


class NoLookAlikeUsernameMixin:
    """Refuses a new or changed username that looks like another user's, as a form
    error rather than the database's IntegrityError."""

    # What the user forms it is mixed into provide.
    cleaned_data: dict[str, Any]
    changed_data: list[str]
    instance: User

    def clean_username(self) -> Any:
        username = self.cleaned_data.get("username")
        parent_clean_username = getattr(super(), "clean_username", None)
        if parent_clean_username is not None:
            username = parent_clean_username()
        if username and "username" in self.changed_data:
            owner = self.instance if self.instance.pk else None
            if services.username_taken(username, except_user=owner):
                raise forms.ValidationError(services.USERNAME_TAKEN, code="unique")
        return username


class UserCreationForm(NoLookAlikeUsernameMixin, auth_forms.AdminUserCreationForm):
    pass


class UserChangeForm(NoLookAlikeUsernameMixin, auth_forms.UserChangeForm):
    pass


class UserAdmin(auth_admin.UserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserAdmin)


class MessageHistoryInline(admin.TabularInline):
    model = MessageHistory
    fields = readonly_fields = ("edited_at", "edited_by", "old_content")
    extra = 0
    can_delete = False
    ordering = ["-edited_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "sender", "receiver", "short_content", "timestamp", "edited", "read"]
    list_filter = ["edited", "read", "timestamp"]
    search_fields = ["content", "sender__username", "receiver__username"]
    autocomplete_fields = ["sender", "receiver"]
    raw_id_fields = ["parent_message"]
    readonly_fields = ["timestamp", "thread_root", "edited"]
    list_select_related = ["sender", "receiver"]
    date_hierarchy = "timestamp"
    show_full_result_count = False
    inlines = [MessageHistoryInline]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return ["sender", "receiver", "content", "parent_message", *self.readonly_fields, "read"]

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        if change:
            return
        message = services.message_send(
            sender=obj.sender,
            receiver=obj.receiver,
            content=obj.content,  # cleaned by the form (`Message.clean`)
            parent=obj.parent_message,
        )
        obj.pk, obj.timestamp, obj.thread_root_id = (
            message.pk,
            message.timestamp,
            message.thread_root_id,
        )

    def delete_model(self, request, obj: Message) -> None:
        services.message_delete(user=obj.sender, message=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for message in queryset.select_related("sender").order_by("-timestamp"):
            services.message_delete(user=message.sender, message=message.pk)

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content if len(obj.content) <= 60 else obj.content[:59] + "…"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "kind", "actor", "text", "created_at", "read"]
    list_filter = ["kind", "read", "created_at"]
    search_fields = ["text", "user__username", "actor__username"]
    autocomplete_fields = ["user", "actor"]
    raw_id_fields = ["message"]
    list_select_related = ["user", "actor"]
    show_full_result_count = False


@admin.register(MessageHistory)
class MessageHistoryAdmin(admin.ModelAdmin):
    list_display = ["id", "message", "edited_by", "edited_at"]
    search_fields = ["old_content", "edited_by__username"]
    autocomplete_fields = ["edited_by"]
    raw_id_fields = ["message"]
    list_select_related = ["edited_by", "message"]
    show_full_result_count = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "partner", "last_activity", "unread_count"]
    search_fields = ["owner__username", "partner__username"]
    autocomplete_fields = ["owner", "partner"]
    raw_id_fields = ["last_message"]
    list_select_related = ["owner", "partner"]
    show_full_result_count = False
