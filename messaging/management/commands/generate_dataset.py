"""A benchmark dataset: many users, skewed conversations, reply threads, unread and edited messages.

Deterministic for a seed (`random.Random(seed)`, fixed timestamps, explicit ids). Rows
go in with bulk inserts (PostgreSQL: `COPY` through psycopg; elsewhere: `bulk_create`),
so no signal fires: this command writes everything the services would have written
itself, in one transaction: the messages (threads by `thread_root`/`parent_message`,
never deeper than ten levels, always between the same two people), one notification
per message (plus one per edit), the edit history, and both inbox rows of every pair
(`Conversation`: last message, last activity, unread count, consistent with the messages).

The heaviest user is `heavy`: the most partners, the most messages, and a 50-message
thread with their busiest partner. `--manifest FILE` writes what a benchmark needs to
find them (ids, usernames, the thread's root, the shared password) as JSON.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from tqdm import tqdm

from messaging.models import Conversation, Message, MessageHistory, Notification
from messaging.services import notification_text

User = get_user_model()

GENERATOR_VERSION = 1
HEAVY_USERNAME = "heavy"
#: Every generated user shares this password (hashed once): benchmarks log in with it.
PASSWORD = "bench-password-123"
THREAD_SIZE = 50
#: Levels of a thread, its first message included: a reply chain is at most ten long.
MAX_THREAD_LEVELS = 10
UNREAD_RATE = 0.2
REPLY_RATE = 0.3
EDIT_RATE = 0.02
#: Share of all messages that involve `heavy`, and of those, the share with their busiest partner.
HEAVY_SHARE = 0.10
TOP_PARTNER_SHARE = 0.15
#: A reply answers one of the pair's last few messages.
REPLY_WINDOW = 20
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 365 * 24 * 3600

_VOCABULARY = (
    "the a we you it that this to of and in on for with at from by about as "
    "meeting lunch draft slides report numbers review deploy release bug fix test "
    "tomorrow today tonight monday friday week morning later soon now again "
    "thanks sorry great sure maybe yes no ok please could would should can will "
    "look send check call push merge ship read write plan move start finish "
    "coffee train office home team client budget design schedule question idea"
)
WORDS = tuple(_VOCABULARY.split())


@dataclass(frozen=True)
class Preset:
    users: int
    messages: int


PRESETS = {
    "small": Preset(users=500, messages=10_000),
    "large": Preset(users=20_000, messages=1_000_000),
}


@dataclass
class Dataset:
    """What was generated, in insertion order; ids are explicit and start at `*_base`."""

    usernames: list[str]
    user_base: int
    message_base: int
    # (id, sender_id, receiver_id, content, ts_us, edited, read, parent_id, root_id)
    messages: list[tuple] = field(default_factory=list)
    # (message_id, old_content, edited_at_us, edited_by_id)
    history: list[tuple] = field(default_factory=list)
    # pair (low, high) -> [last_message_id, last_ts_us, unread_for_low, unread_for_high]
    conversations: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    heavy: dict[str, Any] = field(default_factory=dict)


def _ts(us: int) -> datetime:
    return START + timedelta(microseconds=us)


def _content(rng: random.Random) -> str:
    text = " ".join(rng.choices(WORDS, k=rng.randint(3, 24)))
    return text[0].upper() + text[1:] + rng.choice(".?!")


def _pairs(rng: random.Random, users: int, heavy_partners: int) -> list[tuple[int, int]]:
    """Who talks to whom, by user index (0 is `heavy`): a few hubs, then a long tail.

    `heavy` has `heavy_partners` partners, the next hubs fewer and fewer, everyone
    else one to a handful.
    """
    partners: list[set[int]] = [set() for _ in range(users)]
    hubs = max(2, users // 100)
    order: list[tuple[int, int]] = []

    def link(a: int, b: int) -> None:
        if a != b and b not in partners[a]:
            partners[a].add(b)
            partners[b].add(a)
            order.append((a, b))

    for index in range(users):
        if index == 0:
            degree = heavy_partners
        elif index < hubs:
            degree = int(heavy_partners * (index + 1) ** -0.7)
        else:
            degree = 1 + min(int(rng.expovariate(0.5)), 20, heavy_partners // 2)
        degree = min(degree, users - 1)
        attempts = 0
        while len(partners[index]) < degree and attempts < degree * 20:
            attempts += 1
            link(index, rng.randrange(users))
    return order


def generate(*, users: int, messages: int, seed: int, user_base: int, message_base: int) -> Dataset:
    """Build the whole dataset in memory (about 500 bytes a message)."""
    if users < 2:
        raise CommandError("At least two users are needed.")
    if messages < 1:
        raise CommandError("At least one message is needed.")
    rng = random.Random(seed)
    usernames = [HEAVY_USERNAME] + [f"user{n:06d}" for n in range(1, users)]
    heavy_partners = min(users - 1, max(30, users // 5))
    pairs = _pairs(rng, users, heavy_partners)

    # How the messages spread over pairs: heavy's busiest partner gets a fixed share,
    # every other pair a Pareto-distributed weight (a few busy ones, a long quiet tail).
    heavy_pairs = [i for i, (a, b) in enumerate(pairs) if a == 0 or b == 0]
    top_pair = heavy_pairs[0]
    weights = [rng.paretovariate(1.2) for _ in pairs]
    heavy_set = set(heavy_pairs)
    heavy_rest = sum(weights[i] for i in heavy_pairs if i != top_pair)
    others = sum(w for i, w in enumerate(weights) if i not in heavy_set)
    for i in range(len(pairs)):
        if i == top_pair:
            weights[i] = HEAVY_SHARE * TOP_PARTNER_SHARE
        elif i in heavy_set:
            weights[i] = weights[i] / heavy_rest * HEAVY_SHARE * (1 - TOP_PARTNER_SHARE)
        elif others:
            weights[i] = weights[i] / others * (1 - HEAVY_SHARE)
    # Each of heavy's partners gets at least one message (when there are enough), so
    # heavy's inbox has all of them; then the order is shuffled.
    seeded = heavy_pairs if messages >= 2 * len(heavy_pairs) else []
    chosen = seeded + rng.choices(
        range(len(pairs)), cum_weights=list(accumulate(weights)), k=messages - len(seeded)
    )
    rng.shuffle(chosen)

    data = Dataset(usernames=usernames, user_base=user_base, message_base=message_base)
    step_us = max(1, SPAN_SECONDS * 1_000_000 // messages)
    # Per pair: the last messages as (id, level, root_id), for replies to choose from.
    recent: dict[int, deque] = {}
    # The 50-message thread: the first messages of heavy's busiest conversation.
    thread: list[tuple[int, int]] = []  # (id, level)
    thread_root = None
    thread_levels = 0
    for n, pair_index in enumerate(tqdm(chosen, desc="messages", unit="msg", disable=None)):
        message_id = message_base + n
        a, b = pairs[pair_index]
        sender, receiver = (a, b) if rng.random() < 0.5 else (b, a)
        parent_id = root_id = None
        level = 1
        if pair_index == top_pair and len(thread) < THREAD_SIZE:
            # The first ten make the deepest chain a thread may have; the rest branch off it.
            if thread:
                if len(thread) < MAX_THREAD_LEVELS:
                    parent_id, parent_level = thread[-1]
                else:
                    parent_id, parent_level = rng.choice(
                        [t for t in thread if t[1] < MAX_THREAD_LEVELS]
                    )
                root_id, level = thread[0][0], parent_level + 1
            else:
                thread_root = message_id
            thread.append((message_id, level))
            thread_levels = max(thread_levels, level)
        else:
            window = recent.get(pair_index)
            if window and rng.random() < REPLY_RATE:
                candidates = [r for r in window if r[1] < MAX_THREAD_LEVELS]
                if candidates:
                    parent_id, parent_level, parent_root = rng.choice(candidates)
                    root_id, level = parent_root or parent_id, parent_level + 1
            if window is None:
                window = recent[pair_index] = deque(maxlen=REPLY_WINDOW)
            window.append((message_id, level, root_id))
        if parent_id is not None:
            # The parent's receiver answers, mostly.
            parent_row = data.messages[parent_id - message_base]
            if rng.random() < 0.8:
                sender, receiver = parent_row[2] - user_base, parent_row[1] - user_base
        ts_us = n * step_us + rng.randrange(step_us)
        read = rng.random() >= UNREAD_RATE
        content = _content(rng)
        edited = rng.random() < EDIT_RATE
        if edited:
            old = content
            content = old + " (edited)"
            data.history.append(
                (message_id, old, ts_us + rng.randrange(1, 3_600_000_000), user_base + sender)
            )
        data.messages.append(
            (
                message_id,
                user_base + sender,
                user_base + receiver,
                content,
                ts_us,
                edited,
                read,
                parent_id,
                root_id,
            )
        )
        key = (a, b) if a < b else (b, a)
        row = data.conversations.get(key)
        if row is None:
            row = data.conversations[key] = [0, 0, 0, 0]
        row[0], row[1] = message_id, ts_us
        if not read:
            row[2 if receiver == key[0] else 3] += 1

    top_partner = pairs[top_pair][1] if pairs[top_pair][0] == 0 else pairs[top_pair][0]
    heavy_conversations = sorted(
        (
            (row[1], high if low == 0 else low)
            for (low, high), row in data.conversations.items()
            if low == 0
        ),
        reverse=True,
    )
    heavy_id = user_base
    data.heavy = {
        "username": HEAVY_USERNAME,
        "id": heavy_id,
        "partners": len(heavy_conversations),
        "messages": sum(1 for m in data.messages if heavy_id in (m[1], m[2])),
        "unread": sum(1 for m in data.messages if m[2] == heavy_id and not m[6]),
        "top_partner": usernames[top_partner],
        "top_partner_messages": sum(1 for i in chosen if i == top_pair),
        "thread_root": thread_root,
        "thread_size": len(thread),
        "thread_levels": thread_levels,
        # Heavy's partners, busiest inbox rows first: senders in a benchmark rotate through them.
        "partner_usernames": [usernames[p] for _, p in heavy_conversations[:100]],
    }
    return data


# Writing ---------------------------------------------------------------------

USER_COLUMNS = (
    "id",
    "password",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)
MESSAGE_COLUMNS = (
    "id",
    "sender_id",
    "receiver_id",
    "content",
    "timestamp",
    "edited",
    "read",
    "parent_message_id",
    "thread_root_id",
    "idempotency_key",
)
HISTORY_COLUMNS = ("message_id", "old_content", "edited_at", "edited_by_id")
NOTIFICATION_COLUMNS = ("user_id", "message_id", "kind", "actor_id", "text", "created_at", "read")
CONVERSATION_COLUMNS = (
    "owner_id",
    "partner_id",
    "last_message_id",
    "last_activity",
    "unread_count",
)


def _user_rows(data: Dataset, password_hash: str) -> Iterator[tuple]:
    joined = START - timedelta(days=30)
    for index, username in enumerate(data.usernames):
        yield (
            data.user_base + index,
            password_hash,
            None,
            False,
            username,
            "",
            "",
            f"{username}@example.com",
            False,
            True,
            joined,
        )


def _message_rows(data: Dataset) -> Iterator[tuple]:
    for message_id, sender, receiver, content, ts, edited, read, parent, root in data.messages:
        yield (message_id, sender, receiver, content, _ts(ts), edited, read, parent, root, None)


def _history_rows(data: Dataset) -> Iterator[tuple]:
    for message_id, old, edited_at, edited_by in data.history:
        yield (message_id, old, _ts(edited_at), edited_by)


def _notification_rows(data: Dataset) -> Iterator[tuple]:
    """The notification each message's receiver got, then one per edit, as the services make."""
    names = data.usernames
    base = data.user_base
    for message_id, sender, receiver, content, ts, _edited, read, parent, _root in data.messages:
        kind = Notification.Kind.REPLY if parent else Notification.Kind.MESSAGE
        text = notification_text(kind, names[sender - base], content)
        yield (receiver, message_id, kind.value, sender, text, _ts(ts), read)
    for message_id, _old, edited_at, edited_by in data.history:
        message = data.messages[message_id - data.message_base]
        kind = Notification.Kind.EDIT
        text = notification_text(kind, names[edited_by - base], message[3])
        yield (message[2], message_id, kind.value, edited_by, text, _ts(edited_at), message[6])


def _conversation_rows(data: Dataset) -> Iterator[tuple]:
    base = data.user_base
    for (low, high), (last_id, last_ts, unread_low, unread_high) in data.conversations.items():
        when = _ts(last_ts)
        yield (base + low, base + high, last_id, when, unread_low)
        yield (base + high, base + low, last_id, when, unread_high)


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    """Database column names for model fields named by their attribute (`sender_id`...)."""
    by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
    return [by_attname[name] for name in names]


def _defaulted(model: type[models.Model], names: Sequence[str]) -> list[models.Field]:
    """Concrete fields this command does not set (added since it was written): their defaults.

    `COPY` bypasses Django, and Django keeps no column default in the database.
    """
    return [
        f
        for f in model._meta.concrete_fields
        if f.attname not in names and not isinstance(f, models.AutoField)
    ]


def _copy(connection, model, names: Sequence[str], rows: Iterable[tuple], total: int) -> None:
    """PostgreSQL `COPY ... FROM STDIN` through psycopg 3: the fastest bulk load it has."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    extra = _defaulted(model, names)
    defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
    column_names = [*_columns(model, names), *(f.column for f in extra)]
    columns = ", ".join(quote(c) for c in column_names)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in tqdm(
                rows, total=total, desc=model._meta.model_name, unit="row", disable=None
            ):
                copy.write_row(row + defaults)


def _bulk_create(model, names: Sequence[str], rows: Iterable[tuple], total: int, batch: int):
    batch_rows: list[models.Model] = []
    for row in tqdm(rows, total=total, desc=model._meta.model_name, unit="row", disable=None):
        batch_rows.append(model(**dict(zip(names, row, strict=True))))
        if len(batch_rows) >= batch:
            model.objects.bulk_create(batch_rows, batch_size=batch)
            batch_rows = []
    if batch_rows:
        model.objects.bulk_create(batch_rows, batch_size=batch)


def write(data: Dataset, *, using: str = DEFAULT_DB_ALIAS, batch_size: int = 5000) -> None:
    """Insert the dataset in one transaction, then reset sequences (and ANALYZE on PostgreSQL)."""
    connection = connections[using]
    password_hash = make_password(PASSWORD)  # once: hashing is deliberately slow
    tables = [
        (User, USER_COLUMNS, _user_rows(data, password_hash), len(data.usernames)),
        (Message, MESSAGE_COLUMNS, _message_rows(data), len(data.messages)),
        (MessageHistory, HISTORY_COLUMNS, _history_rows(data), len(data.history)),
        (
            Notification,
            NOTIFICATION_COLUMNS,
            _notification_rows(data),
            len(data.messages) + len(data.history),
        ),
        (
            Conversation,
            CONVERSATION_COLUMNS,
            _conversation_rows(data),
            2 * len(data.conversations),
        ),
    ]
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(using=using):
        if postgres:
            with connection.cursor() as cursor:
                # Foreign keys are checked row by row as they come, not queued to the commit.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for model, names, rows, total in tables:
            if postgres:
                _copy(connection, model, names, rows, total)
            else:
                _bulk_create(model, names, rows, total, batch_size)
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [User, Message]):
                cursor.execute(sql)
    if postgres:
        # Fresh statistics for the planner; VACUUM also sets the visibility map that
        # index-only scans need, but cannot run inside a transaction (a test's).
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in (User, Message, MessageHistory, Notification, Conversation):
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")


class Command(BaseCommand):
    help = (
        "Generate a deterministic benchmark dataset (presets: small = 10,000 messages, "
        "large = 1,000,000) into an empty database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument("--users", type=int, help="Override the preset's number of users.")
        parser.add_argument(
            "--messages", type=int, help="Override the preset's number of messages."
        )
        parser.add_argument("--manifest", type=Path, help="Write a JSON manifest to this file.")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, **options):
        preset = PRESETS[options["preset"]]
        users = options["users"] or preset.users
        messages = options["messages"] or preset.messages
        using = options["database"]
        if Message.objects.using(using).exists():
            raise CommandError("The database already holds messages: generate into an empty one.")
        taken = User.objects.using(using).filter(username=HEAVY_USERNAME).exists()
        if taken:
            raise CommandError(f"A user named {HEAVY_USERNAME!r} exists already.")
        user_base = (User.objects.using(using).aggregate(m=models.Max("pk"))["m"] or 0) + 1
        message_base = (Message.objects.using(using).aggregate(m=models.Max("pk"))["m"] or 0) + 1
        started = time.monotonic()
        data = generate(
            users=users,
            messages=messages,
            seed=options["seed"],
            user_base=user_base,
            message_base=message_base,
        )
        generated = time.monotonic()
        write(data, using=using, batch_size=options["batch_size"])
        finished = time.monotonic()
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "preset": options["preset"],
            "seed": options["seed"],
            "database_vendor": connections[using].vendor,
            "users": users,
            "messages": messages,
            "unread": sum(1 for m in data.messages if not m[6]),
            "replies": sum(1 for m in data.messages if m[7] is not None),
            "edited": len(data.history),
            "conversations": 2 * len(data.conversations),
            "password": PASSWORD,
            "heavy": data.heavy,
            "seconds": {
                "generate": round(generated - started, 1),
                "load": round(finished - generated, 1),
                "total": round(finished - started, 1),
            },
        }
        if options["manifest"]:
            options["manifest"].parent.mkdir(parents=True, exist_ok=True)
            options["manifest"].write_text(json.dumps(manifest, indent=2) + "\n")
        heavy = data.heavy
        self.stdout.write(
            self.style.SUCCESS(
                f"{users:,} users and {messages:,} messages in {finished - started:.1f} s "
                f"(generate {generated - started:.1f} s, load {finished - generated:.1f} s). "
                f"Heaviest user {heavy['username']!r}: {heavy['partners']:,} partners, "
                f"{heavy['messages']:,} messages, thread root {heavy['thread_root']} "
                f"({heavy['thread_size']} messages). Password: {PASSWORD}"
            )
        )
