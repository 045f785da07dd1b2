"""Every shaped read of the product. Authorization by participation is decided here.

Anything a caller is not a participant of raises `NotFound`, exactly as if it did
not exist. Selectors return querysets or plain data, never cached querysets.
"""

from ..managers import visible_to
from .conversations import (
    conversation_list,
)
from .groups import (
    Audience,
    addable_people,
    group_audience,
    group_get,
    group_get_any,
    group_list,
    group_member_ids,
    group_messages,
    group_named,
    group_pk,
    group_unread,
    group_unread_counts,
    is_member,
    membership,
    viewer_read,
)
from .messages import (
    conversation_window,
    history_list,
    message_for_idempotency_key,
    message_get_for_participant,
    message_get_for_sender,
    message_list_between,
    messages_with_people,
    receiver_blocks_sender,
    reply_count_subquery,
    reply_parent,
    thread_get,
    unread_count,
    unread_list,
)
from .notifications import (
    notification_get_for_user,
    notification_list,
    notification_unread_count,
)
from .search import (
    MAX_QUERY_LENGTH,
    clean_query,
    message_search,
    search_words,
    word_spans,
)
from .users import (
    PEOPLE_SEARCH_ORDER,
    block_flags,
    block_list,
    people_search,
    recipient,
    user_data_summary,
    user_export,
    user_get_by_username,
)

__all__ = [
    "MAX_QUERY_LENGTH",
    "PEOPLE_SEARCH_ORDER",
    "Audience",
    "addable_people",
    "block_flags",
    "block_list",
    "clean_query",
    "conversation_list",
    "conversation_window",
    "group_audience",
    "group_get",
    "group_get_any",
    "group_list",
    "group_member_ids",
    "group_messages",
    "group_named",
    "group_pk",
    "group_unread",
    "group_unread_counts",
    "history_list",
    "is_member",
    "membership",
    "message_for_idempotency_key",
    "message_get_for_participant",
    "message_get_for_sender",
    "message_list_between",
    "message_search",
    "messages_with_people",
    "notification_get_for_user",
    "notification_list",
    "notification_unread_count",
    "people_search",
    "receiver_blocks_sender",
    "recipient",
    "reply_count_subquery",
    "reply_parent",
    "search_words",
    "thread_get",
    "unread_count",
    "unread_list",
    "user_data_summary",
    "user_export",
    "user_get_by_username",
    "viewer_read",
    "visible_to",
    "word_spans",
]
