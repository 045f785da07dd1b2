"""How the API (and the socket, which sends the same payloads) presents the core's objects.

Output serializers read only what the selectors loaded: no query in here. Input
serializers are strict: an unknown field, a wrong type, a NUL byte or a number too
large for an id is a 400 that names the field, before any service runs.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer

from .. import auth_tokens, payloads
from ..content import (
    MAX_GROUP_MEMBERS,
    MAX_GROUP_NAME_LENGTH,
    clean_content,
    clean_group_name,
)
from ..exceptions import ValidationError as DomainValidationError
from ..models import MAX_CONTENT_LENGTH, Group, Message, Notification
from ..selectors import MAX_QUERY_LENGTH, clean_query

User = get_user_model()

#: The largest id a database row can have (a signed 64-bit key).
MAX_ID = 2**63 - 1


# Strict input ----------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would also take 12 or 1.5 and store "12" or "1.5"."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIdField(serializers.IntegerField):
    """A row id: a JSON integer (not a string, float or boolean) in the key's range."""

    default_error_messages = {"invalid": "Must be an integer id."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.Field):
    """`true` or `false` (any case), as a query string carries them; anything else is a 400."""

    default_error_messages = {"invalid": "Must be true or false."}
    VALUES = {"true": True, "false": False}

    def get_value(self, dictionary: Any) -> Any:
        # DRF reads an empty query value as "not given"; here it is a value, and not a boolean.
        if self.field_name in dictionary:
            return dictionary[self.field_name]
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        if isinstance(data, str) and data.lower() in self.VALUES:
            return self.VALUES[data.lower()]
        self.fail("invalid")

    def to_representation(self, value: bool) -> bool:
        return bool(value)


class StrictEmailField(serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid email address."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInputSerializer(serializers.Serializer):
    """Rejects fields it does not know, naming each of them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            known = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in known)
            if unknown:
                raise exceptions.ValidationError(
                    {key: ["Unknown field: this request takes no such field."] for key in unknown}
                )
        return super().to_internal_value(data)


# Accounts --------------------------------------------------------------------


class UserSerializer(serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text="Empty when none was given.")

    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class BlockedUserSerializer(serializers.Serializer):
    """A person the caller has blocked."""

    # Reads a row of `selectors.block_list`: the relation, with the blocked user loaded.
    username = serializers.CharField(source="user.username", read_only=True)


class UsernameField(StrictCharField):
    """A username as it will be stored (NFKC), so the character rules judge that form:
    "É" typed as "E" plus a combining accent is the same name as "É"."""

    def to_internal_value(self, data: Any) -> str:
        return unicodedata.normalize("NFKC", super().to_internal_value(data))


class PersonSerializer(serializers.Serializer):
    """A person found by a search: how to write to them, nothing more (never an email)."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class NamePrefixField(UsernameField):
    """The start of a username: 2 to 150 characters both as sent (what the schema states)
    and as a name is stored (NFKC, what is matched). "e" with a combining accent is one
    stored character, as short as "é"; "ﬀ" is one character sent, refused as the schema
    says, although it is stored as "ff"."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=2, max_length=150, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            self.run_validators(data)  # as sent; `run_validation` then checks it as stored
        return super().to_internal_value(data)


class PeopleSearchQuerySerializer(serializers.Serializer):
    """The search's query. Other query parameters (cursor, page_size) are the paginator's."""

    q = NamePrefixField(
        help_text=(
            "The start of a username, in any letter case: 2 to 150 characters, both as "
            "sent and as a name is stored (NFKC)."
        )
    )


class RegisterSerializer(StrictInputSerializer):
    """The account rules themselves (name taken, weak password) are the service's."""

    username = UsernameField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @/./+/-/_ only; not taken.",
    )
    password = StrictCharField(
        trim_whitespace=False,
        max_length=4096,
        write_only=True,
        help_text="Must pass the password rules (length, not common, not all digits).",
    )
    email = StrictEmailField(required=False, max_length=254)


class PasswordSerializer(StrictInputSerializer):
    password = StrictCharField(trim_whitespace=False, max_length=4096, write_only=True)


class TokenObtainSerializer(StrictInputSerializer, TokenObtainPairSerializer):
    """simplejwt's pair serializer, strict about its input; 401 on bad credentials."""

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[self.username_field] = StrictCharField(write_only=True, max_length=150)
        self.fields["password"] = StrictCharField(
            write_only=True, trim_whitespace=False, max_length=4096
        )


class TokenLoginObtainSerializer(TokenObtainSerializer):
    """Each log-in starts a login of its own: its tokens share a `sid` (see auth_tokens)."""

    token_class = auth_tokens.LoginRefreshToken


class TokenRefreshLoginSerializer(StrictInputSerializer, TokenRefreshSerializer):
    """A refresh token is good once, and only while its login stands; strict about input.

    Refused (401): a used (rotated) or logged-out token, one issued before a password
    change, one whose account is gone. A used token presented again means two parties
    hold it, so the whole login it belongs to ends (refresh token reuse detection).
    """

    refresh = StrictCharField(write_only=True, max_length=4096)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        raw = attrs["refresh"]
        try:
            refresh = self.token_class(raw)
        except TokenError:
            auth_tokens.end_login_of_reused_token(raw)
            raise
        try:
            user = auth_tokens.user_for_token(refresh)
            access = str(refresh.access_token)
            refresh = auth_tokens.rotate_refresh_token(refresh, user)
        except auth_tokens.LoginEnded as error:
            raise exceptions.AuthenticationFailed(str(error), "login_ended") from None
        except auth_tokens.RefreshTokenUsed:
            auth_tokens.end_login_of_reused_token(raw)
            raise TokenError("Token is blacklisted") from None
        return {"access": access, "refresh": str(refresh)}


class LogoutSerializer(StrictInputSerializer):
    refresh = StrictCharField(
        write_only=True, max_length=4096, help_text="The refresh token of the login to end."
    )


class PasswordChangeSerializer(StrictInputSerializer):
    old_password = StrictCharField(trim_whitespace=False, max_length=4096, write_only=True)
    new_password = StrictCharField(
        trim_whitespace=False,
        max_length=4096,
        write_only=True,
        help_text="Must pass the password rules (length, not common, not all digits).",
    )


class TokenPairSerializer(serializers.Serializer):
    """Documentation of the token answer."""

    access = serializers.CharField(help_text="Access token: `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(
        help_text="Refresh token for `/api/v1/auth/token/refresh/`: good for one use."
    )


class AccessTokenSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="A new access token.")
    refresh = serializers.CharField(
        help_text="The next refresh token: the one sent is used up and refused from now on."
    )


# Messages --------------------------------------------------------------------


class MessageSerializer(serializers.ModelSerializer):
    sender = serializers.CharField(source="sender.username", read_only=True)
    receiver = serializers.CharField(
        source="receiver.username",
        read_only=True,
        allow_null=True,
        help_text="The receiver's username; null for a group message.",
    )
    group = serializers.IntegerField(
        source="group_id",
        read_only=True,
        allow_null=True,
        help_text="The group's id for a group message; null for a direct one.",
    )
    parent_message = serializers.IntegerField(
        source="parent_message_id", read_only=True, allow_null=True
    )
    thread_root = serializers.IntegerField(
        source="root_id", read_only=True, help_text="The thread's first message (own id there)."
    )
    reply_count = serializers.IntegerField(
        read_only=True, default=0, help_text="Direct replies to this message."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "sender",
            "receiver",
            "group",
            "content",
            "timestamp",
            "edited",
            "read",
            "parent_message",
            "thread_root",
            "reply_count",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return payloads.message(instance)


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_CONTENT_LENGTH,
        "description": f"Stripped, then 1 to {MAX_CONTENT_LENGTH:,} characters.",
    }
)
class CleanedTextField(StrictCharField):
    """Text judged by one of the domain's rules (`clean`, from `content`): blank and
    untrimmed text reach the rule, whose refusal becomes this field's error."""

    clean: staticmethod[[Any], str]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(trim_whitespace=False, allow_blank=True, **kwargs)

    def run_validation(self, data: Any = serializers.empty) -> str:
        # Not `to_internal_value`: DRF answers a blank string without calling it.
        try:
            return self.clean(super().run_validation(data))
        except DomainValidationError as error:
            raise serializers.ValidationError(error.message) from None


class ContentField(CleanedTextField):
    """A message's text, cleaned by the content rules (`content.clean_content`)."""

    clean = staticmethod(clean_content)


class MessageCreateSerializer(StrictInputSerializer):
    """The content rules here; who may receive and which parent, the selectors'."""

    receiver = StrictCharField(max_length=150, help_text="The receiver's username.")
    content = ContentField()
    parent_message = StrictIdField(
        required=False,
        allow_null=True,
        help_text="Reply to this message (one between the same two people).",
    )


class GroupMessageCreateSerializer(StrictInputSerializer):
    """A message to a group: the content rules, and maybe the message it answers."""

    content = ContentField()
    parent_message = StrictIdField(
        required=False,
        allow_null=True,
        help_text="Reply to this message (one of the same group).",
    )


class MessageEditSerializer(StrictInputSerializer):
    content = ContentField()


class MessageHistorySerializer(serializers.Serializer):
    old_content = serializers.CharField(read_only=True)
    edited_at = serializers.DateTimeField(read_only=True)


class ThreadMessageSerializer(MessageSerializer):
    """Documentation of a thread node; the view renders the tree without recursion."""

    replies = serializers.SerializerMethodField(help_text="Direct replies, oldest first.")

    class Meta(MessageSerializer.Meta):
        fields = [*MessageSerializer.Meta.fields, "replies"]
        read_only_fields = fields

    @extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/ThreadMessage"}})
    def get_replies(self, obj: Message) -> list:  # pragma: no cover - documentation only
        return []


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_QUERY_LENGTH,
        "description": (
            f"Words to find, stripped, then 1 to {MAX_QUERY_LENGTH} characters. Each word "
            "is the start of a word of the message, in any letter case, with or without "
            "accents; every word is required. Punctuation only finds nothing."
        ),
    }
)
class SearchQueryField(StrictCharField):
    """A message search's words, checked by the search's own rule (`selectors.clean_query`),
    so the API and the page refuse the same queries with the same reasons."""

    default_error_messages = {
        **StrictCharField.default_error_messages,
        "required": "Type the words to search for (`q`).",
    }

    def run_validation(self, data: Any = serializers.empty) -> str:
        try:
            if isinstance(data, str):
                data = clean_query(data)  # its reasons first, a blank query's too
            return super().run_validation(data)
        except DomainValidationError as error:
            raise serializers.ValidationError(error.message) from None


class MessageSearchQuerySerializer(serializers.Serializer):
    """The search's query. Other query parameters (cursor, page_size) are the paginator's."""

    q = SearchQueryField()


class CountSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True, min_value=0)


# Conversations ---------------------------------------------------------------


class GroupRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class ConversationSerializer(serializers.Serializer):
    """An inbox row, of a direct conversation (`partner`, `group` null) or of a group
    (`group`, `partner` null); `last_message.reply_count` and `unread_count` come from
    the selector's annotations."""

    partner = serializers.CharField(
        source="partner.username", read_only=True, allow_null=True, default=None
    )
    group = GroupRefSerializer(read_only=True, allow_null=True)
    # Declared once: a serializer built per row rebuilt its fields every time and was
    # most of the inbox's CPU (docs/benchmarks.md).
    last_message = MessageSerializer(read_only=True, allow_null=True)
    unread_count = serializers.IntegerField(source="unread", read_only=True, min_value=0)

    def to_representation(self, conversation) -> dict[str, Any]:
        last = conversation.last_message
        if last is not None:
            last.reply_count = conversation.last_message_reply_count
            if last.group_id is not None:
                last.viewer_read = (
                    last.sender_id == conversation.owner_id or last.pk <= conversation.last_read_id
                )
        return super().to_representation(conversation)


# Groups ----------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_GROUP_NAME_LENGTH,
        "description": (
            f"Stripped, spaces and line breaks folded to one space, then 1 to "
            f"{MAX_GROUP_NAME_LENGTH} characters."
        ),
    }
)
class GroupNameField(CleanedTextField):
    """A group's name, cleaned by `content.clean_group_name`."""

    clean = staticmethod(clean_group_name)


class GroupSerializer(serializers.Serializer):
    """`Group` of the contract; `members` and `created_by` are usernames."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    members = serializers.ListField(child=serializers.CharField(), read_only=True)
    created_by = serializers.CharField(
        read_only=True, allow_null=True, help_text="Null once the creator's account is deleted."
    )
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Group) -> dict[str, Any]:
        return payloads.group(instance)


class UsernameListField(serializers.ListField):
    """A list of usernames. Its errors are one flat list naming the positions at fault,
    as every other field's are (never a nested object per item)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=UsernameField(max_length=150), **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            detail = error.detail
            if isinstance(detail, dict):  # per item: {index: [reasons]}
                positions = ", ".join(str(int(index) + 1) for index in sorted(detail, key=int)[:5])
                raise serializers.ValidationError(
                    f"Each member is a username, as text (see item {positions})."
                ) from None
            raise


class GroupCreateSerializer(StrictInputSerializer):
    name = GroupNameField()
    members = UsernameListField(
        allow_empty=False,
        max_length=MAX_GROUP_MEMBERS,
        help_text="Usernames of the other members; the caller is added.",
    )


class GroupRenameSerializer(StrictInputSerializer):
    name = GroupNameField()


class GroupMemberSerializer(StrictInputSerializer):
    username = UsernameField(max_length=150, help_text="The username of the person to add.")


# Notifications ---------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    message = serializers.IntegerField(source="message_id", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "actor", "text", "created_at", "read"]
        read_only_fields = fields

    def to_representation(self, instance: Notification) -> dict[str, Any]:
        return payloads.notification(instance)


class NotificationQuerySerializer(serializers.Serializer):
    """The list's filter. Other query parameters (cursor, page_size) are the paginator's."""

    unread = StrictBooleanField(required=False, default=None)


# Export ----------------------------------------------------------------------


class ExportMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sender = serializers.CharField()
    receiver = serializers.CharField(allow_null=True, help_text="Null for a group message.")
    group = serializers.IntegerField(allow_null=True, help_text="The group of a group message.")
    content = serializers.CharField()
    timestamp = serializers.DateTimeField()
    edited = serializers.BooleanField()
    read = serializers.BooleanField()
    parent_message = serializers.IntegerField(allow_null=True)
    thread_root = serializers.IntegerField()


class ExportHistorySerializer(serializers.Serializer):
    message = serializers.IntegerField()
    old_content = serializers.CharField()
    edited_at = serializers.DateTimeField()


class ExportSerializer(serializers.Serializer):
    """Documentation of `selectors.user_export`: everything stored about the caller."""

    user = UserSerializer()
    messages_sent = ExportMessageSerializer(many=True)
    messages_received = ExportMessageSerializer(many=True)
    groups = GroupSerializer(many=True, help_text="The groups the caller belongs to.")
    group_messages_received = ExportMessageSerializer(
        many=True, help_text="What others wrote in the caller's groups."
    )
    history = ExportHistorySerializer(many=True)
    notifications = NotificationSerializer(many=True)


# Threads ---------------------------------------------------------------------


def render_thread(root: Message) -> bytes:
    """The JSON of a thread tree (`replies_list` on each node from `selectors.thread_get`).

    Built with an explicit stack rather than nested serializers: a reply chain
    hundreds of messages deep would exceed Python's recursion limit in both DRF's
    serializers and the JSON encoder. Each node is a `MessageSerializer` object with
    a `replies` list, rendered exactly as DRF's JSONRenderer renders any answer.
    """
    renderer = JSONRenderer()
    nodes: list[Message] = []
    pending = [root]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.replies_list)
    # One serializer for every node: building one per node was most of the CPU.
    serialized = MessageSerializer(nodes, many=True).data
    data = dict(zip((node.pk for node in nodes), serialized, strict=True))
    out: list[bytes] = []
    stack: list[Message | bytes] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        node = renderer.render(data[item.pk])
        out.append(node[:-1] + b',"replies":[')
        stack.append(b"]}")
        for index, child in reversed(list(enumerate(item.replies_list))):
            stack.append(child)
            if index:
                stack.append(b",")
    return b"".join(out)
