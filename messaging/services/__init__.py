"""Every write of the product. Keyword-only, atomic, already-clean arguments; interfaces
(API, pages, admin, commands) parse and validate their input, then call only these.

Each service does its work in one transaction and declares the live events it causes
(`events.on_commit`); they go out after the commit, in a fixed order, and the cache
generations the writes touched move first.
"""

from .accounts import (
    USERNAME_TAKEN,
    delete_user,
    session_logged_out,
    user_change_password,
    user_logout_token,
    user_register,
    username_keys,
    username_keys_record,
    username_skeleton,
    username_taken,
)
from .blocking import blocks_changed, user_block, user_unblock
from .conversations import conversation_mark_read, message_mark_read
from .groups import (
    group_add_member,
    group_create,
    group_mark_read,
    group_remove_member,
    group_rename,
)
from .messages import history_record_edit, message_delete, message_edit, message_send
from .notifications import (
    notification_create_for_message,
    notification_mark_all_read,
    notification_mark_read,
    notification_text,
)

__all__ = [
    "USERNAME_TAKEN",
    "blocks_changed",
    "conversation_mark_read",
    "delete_user",
    "group_add_member",
    "group_create",
    "group_mark_read",
    "group_remove_member",
    "group_rename",
    "history_record_edit",
    "message_delete",
    "message_edit",
    "message_mark_read",
    "message_send",
    "notification_create_for_message",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_text",
    "session_logged_out",
    "user_block",
    "user_change_password",
    "user_logout_token",
    "user_register",
    "user_unblock",
    "username_keys",
    "username_keys_record",
    "username_skeleton",
    "username_taken",
]
