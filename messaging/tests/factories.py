"""factory-boy factories. Messages made here go through `Model.save`, so signals fire
unless a test mutes them; tests about behaviour set state up through the services."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from messaging.models import Message, MessageHistory, Notification


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class MessageFactory(DjangoModelFactory):
    class Meta:
        model = Message

    sender = factory.SubFactory(UserFactory)
    receiver = factory.SubFactory(UserFactory)
    content = factory.Faker("sentence")


class NotificationFactory(DjangoModelFactory):
    class Meta:
        model = Notification

    message = factory.SubFactory(MessageFactory)
    user = factory.SelfAttribute("message.receiver")
    actor = factory.SelfAttribute("message.sender")
    kind = Notification.Kind.MESSAGE
    text = factory.LazyAttribute(lambda n: f"{n.actor.username} sent you a message")


class MessageHistoryFactory(DjangoModelFactory):
    class Meta:
        model = MessageHistory

    message = factory.SubFactory(MessageFactory)
    old_content = factory.Faker("sentence")
    edited_by = factory.SelfAttribute("message.sender")
