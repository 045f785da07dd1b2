"""Demo data: a handful of people with conversations, a group, threads, edits and unread
messages."""

import random

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from tqdm import tqdm

from messaging import services
from messaging.models import Message

User = get_user_model()

DEMO_PASSWORD = "demo-password-123"
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
LINES = [
    "Are we still on for Thursday?",
    "I pushed the draft, have a look when you can.",
    "Lunch at noon?",
    "The numbers look better than last week.",
    "Can you send me the slides?",
    "Thanks, that helps a lot!",
    "Running ten minutes late, sorry.",
    "Let's pick this up tomorrow morning.",
]
REPLIES = ["Sounds good.", "Yes!", "Not sure, let me check.", "Done.", "Good point."]
#: A group of everyone, created by the first person, and what is said in it.
GROUP_NAME = "Weekend trip"
GROUP_LINES = [
    "Who is in for Saturday?",
    "Me! Shall we take the early train?",
    "I can book the cabin tonight.",
    "Bringing the board games.",
    "Weather looks sunny on both days.",
]


class Command(BaseCommand):
    help = "Create demo users and conversations (log-ins are printed at the end)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if any user exists already."
        )
        parser.add_argument("--seed", type=int, default=7, help="Random seed (deterministic).")

    def handle(self, *args, if_empty: bool = False, seed: int = 7, **options):
        if if_empty and User.objects.exists():
            self.stdout.write("Demo data skipped: the database already has users.")
            return
        rng = random.Random(seed)
        with transaction.atomic():
            users = {}
            for name in PEOPLE:
                user, created = User.objects.get_or_create(
                    username=name, defaults={"email": f"{name}@example.com"}
                )
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save(update_fields=["password"])
                users[name] = user
            pairs = [(a, b) for i, a in enumerate(PEOPLE) for b in PEOPLE[i + 1 :]]
            for a, b in tqdm(pairs, desc="conversations", unit="conv", disable=None):
                self._conversation(rng, users[a], users[b])
            self._group(rng, [users[name] for name in PEOPLE])
        self.stdout.write(self.style.SUCCESS("Demo data loaded. Log in with:"))
        for name in PEOPLE:
            self.stdout.write(f"  username {name:<6} password {DEMO_PASSWORD}")

    def _conversation(self, rng: random.Random, a, b) -> None:
        messages: list[Message] = []
        for turn in range(rng.randint(2, 6)):
            sender, receiver = (a, b) if turn % 2 == 0 else (b, a)
            parent = rng.choice(messages) if messages and rng.random() < 0.4 else None
            if parent is not None:
                sender, receiver = (
                    (parent.receiver, parent.sender) if rng.random() < 0.8 else (a, b)
                )
            message = services.message_send(
                sender=sender,
                receiver=receiver,
                content=rng.choice(REPLIES if parent else LINES),
                parent=parent,
            )
            messages.append(message)
        edited = rng.choice(messages)
        services.message_edit(
            user=edited.sender, message=edited, content=edited.content + " (updated)"
        )
        for message in messages[: len(messages) // 2]:
            if not message.read:
                services.message_mark_read(user=message.direct_receiver, message=message)

    def _group(self, rng: random.Random, people: list) -> None:
        creator, *others = people
        group = services.group_create(creator=creator, name=GROUP_NAME, members=others)
        messages: list[Message] = []
        for line in GROUP_LINES:
            parent = rng.choice(messages) if messages and rng.random() < 0.3 else None
            messages.append(
                services.message_send(
                    sender=rng.choice(people), group=group, content=line, parent=parent
                )
            )
        # Some have caught up, the others have something new.
        for person in others[: len(others) // 2]:
            services.group_mark_read(user=person, group=group)
