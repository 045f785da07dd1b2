"""How the API (and the socket, which sends the same payloads) presents the core's objects.

Output serializers read only what the selectors loaded: no query in here.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from ..models import Message, Notification

User = get_user_model()


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    sender = serializers.CharField(source="sender.username", read_only=True)
    receiver = serializers.CharField(source="receiver.username", read_only=True)
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
            "content",
            "timestamp",
            "edited",
            "read",
            "parent_message",
            "thread_root",
            "reply_count",
        ]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer):
    message = serializers.IntegerField(source="message_id", read_only=True)
    actor = serializers.CharField(source="actor.username", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "actor", "text", "created_at", "read"]
        read_only_fields = fields
