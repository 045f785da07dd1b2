"""The benchmark's dataset: many users, skewed conversations, reply threads, unread and edits.

    python -m bench.dataset --preset small|large [--messages N] [--users N] [--seed 42]
                            [--manifest FILE] [--batch-size 50000]
    python -m bench.dataset --compare [--presets small,large]

The first form fills the configured database (`DATABASE_URL`, as `manage.py` reads
it), which must hold no messages yet, then checks what it wrote through the product's
own selectors; a mismatch exits non-zero saying what. `--compare` loads each preset
into a scratch PostgreSQL database of its own (created, migrated, then dropped) and
reports load time and size on disk side by side.

Deterministic for a seed (`random.Random(seed)`, fixed timestamps, explicit user and
message ids). The rows are streamed batch by batch, never all in memory: what is kept
grows with the number of conversations, not of messages. They are written through the
product's models, table and column names from their `_meta`: on PostgreSQL with `COPY`
(psycopg 3, through Django's connection), elsewhere with `bulk_create`. No signal
fires, so everything the services and signals would have written is written here, in
one transaction: each user's `UsernameKey` (their username's look-alike keys), the
messages (threads by `thread_root`/`parent_message`, never deeper than ten levels,
always between the same two people), one notification per message (plus one per
edit), the edit history, and both inbox rows of every pair (`Conversation`: last
message, last activity, unread count). Sequences are reset and caches invalidated after.

The heaviest user is `heavy`: the most partners, the most messages, and a 50-message
thread with their busiest partner. `--manifest FILE` writes what a benchmark needs to
find them (ids, usernames, the thread's root, messages of their own to edit, the shared
password) as JSON.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django

django.setup()

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from bisect import bisect_right  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from itertools import accumulate  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management.color import no_style  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction  # noqa: E402
from django.db.models import Count, Max, Q  # noqa: E402
from django.db.models.functions import Greatest, Least  # noqa: E402
from tqdm import tqdm  # noqa: E402

from messaging import cache as cache_keys  # noqa: E402
from messaging import selectors, services  # noqa: E402
from messaging.models import (  # noqa: E402
    Conversation,
    Group,
    Message,
    MessageHistory,
    Notification,
    UsernameKey,
)

User = get_user_model()
#: Every table the generator writes, in the order its foreign keys need.
TABLES = (User, UsernameKey, Group, Message, MessageHistory, Notification, Conversation)

GENERATOR_VERSION = 3
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
#: Users whose unread counts the checks compare, besides `heavy` and its busiest partner.
CHECKED_USERS = 20
#: Heavy's own messages the manifest lists, one per conversation: a benchmark's edits rotate.
SENT_MESSAGES = 50
#: What the search workload looks for: a word of the vocabulary, so in about one message in
#: six. The manifest says how many of heavy's messages hold it; the check searches for it.
SEARCH_WORD = "deploy"
#: Heavy's unread messages in each of their groups: at most this many, and a tenth of it
#: at most (the rest they read, their read pointer on the message before).
HEAVY_GROUP_UNREAD = 40
#: Other members: most have read (nearly) everything, this share fell behind anywhere.
LAGGING_MEMBERS = 0.2
#: Messages (any group's notifications included) per batch: a 100-member group's message
#: makes 99 notifications, so a batch ends at this many notification rows too.
NOTIFICATIONS_PER_MESSAGE_BATCH = 4
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 365 * 24 * 3600
SCRATCH_DATABASE = "messaging_dataset_scratch"
ROOT = Path(__file__).resolve().parent.parent

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
    #: Direct messages; the groups' messages come on top (`GROUPS`' shares of this number).
    messages: int


@dataclass(frozen=True)
class GroupSpec:
    name: str
    #: Members, heavy included (fewer when there are fewer users).
    members: int
    #: The group's messages, as a share of the direct messages, and at most this many.
    share: float
    most: int | None = None


#: Heavy's groups, the first the one the workloads use: 100 people, a long history (a
#: fifth of the direct messages, 2,000 on the small preset; at most 50,000 on the large,
#: whose notifications, one per other member, are then 5M rows of their own).
GROUPS = (
    GroupSpec("Everyone", 100, 0.20, most=50_000),
    GroupSpec("Launch", 30, 0.02),
    GroupSpec("Design review", 12, 0.01),
    GroupSpec("Lunch", 5, 0.005),
)


PRESETS = {
    "small": Preset(users=500, messages=10_000),
    "large": Preset(users=20_000, messages=1_000_000),
}


class DatasetError(Exception):
    """The dataset cannot be generated here, or what was written is not what was generated."""


# The rows each model gets, by attribute name (`sender_id`); columns come from `_meta`.
USER_FIELDS = (
    *("id", "password", "last_login", "is_superuser", "username", "first_name", "last_name"),
    *("email", "is_staff", "is_active", "date_joined"),
)
USERNAME_KEY_FIELDS = ("user_id", "folded", "skeleton")
MESSAGE_FIELDS = (
    *("id", "sender_id", "receiver_id", "group_id", "content", "timestamp", "edited", "read"),
    *("parent_message_id", "thread_root_id", "idempotency_key"),
)
HISTORY_FIELDS = ("message_id", "old_content", "edited_at", "edited_by_id")
NOTIFICATION_FIELDS = ("user_id", "message_id", "kind", "actor_id", "text", "created_at", "read")
GROUP_FIELDS = ("id", "name", "created_by_id", "created_at")
CONVERSATION_FIELDS = (
    *("owner_id", "partner_id", "group_id", "last_message_id", "last_activity", "unread_count"),
    "last_read_id",
)


# What is generated -------------------------------------------------------------


@dataclass
class GroupPlan:
    """One group: who is in it, how many messages it gets, how far each member has read;
    and, filled while its messages stream by, what its rows must show."""

    id: int
    name: str
    #: Member user indexes, heavy (0) first.
    members: list[int]
    #: Cumulative sending weights of `members` (a few talk most).
    cum_weights: list[float]
    messages: int
    #: Member index -> how many of the group's first messages they have read (their read
    #: pointer is the id of that one, 0 for none).
    read_upto: dict[int, int]
    sent: int = 0
    last_id: int | None = None
    last_at: datetime | None = None
    #: Message number (1-based) -> id, for the numbers some member's pointer stops at.
    pointer_ids: dict[int, int] = field(default_factory=dict)
    #: Member index -> their unread messages (past their pointer, from someone else).
    unread: dict[int, int] = field(default_factory=dict)
    #: The newest messages, (id, sender index, number), newest last: the check's first page.
    tail: list[tuple[int, int, int]] = field(default_factory=list)
    #: The last few messages, (id, level, root id): what a reply answers.
    recent: list[tuple[int, int, int | None]] = field(default_factory=list)
    notifications: int = 0

    def pointer(self, index: int) -> int:
        """The member's `last_read_id`."""
        upto = self.read_upto[index]
        return self.pointer_ids[upto] if upto else 0


@dataclass
class Expected:
    """What the written rows must show, gathered while they stream by."""

    users: int
    usernames: list[str]
    user_base: int
    message_base: int
    messages: int = 0
    unread: int = 0
    replies: int = 0
    edited: int = 0
    # pair of user indexes (low, high) -> [last message id, its timestamp, unread for low,
    # unread for high]
    conversations: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    heavy_messages: int = 0
    heavy_unread_notifications: int = 0
    heavy_search_matches: int = 0
    top_pair: tuple[int, int] = (0, 1)
    top_partner_messages: int = 0
    groups: list[GroupPlan] = field(default_factory=list)
    group_messages: int = 0
    group_edited: int = 0
    group_notifications: int = 0
    thread_root: int | None = None
    thread_size: int = 0
    thread_levels: int = 0
    thread_leaf: int | None = None

    def user_id(self, index: int) -> int:
        return self.user_base + index

    def unread_for(self, index: int) -> int:
        """How many unread messages the user at `index` has: received, and in their groups."""
        total = 0
        for (low, high), row in self.conversations.items():
            if low == index:
                total += row[2]
            elif high == index:
                total += row[3]
        return total + sum(plan.unread.get(index, 0) for plan in self.groups)

    def inbox(self, index: int) -> list[tuple[int | None, int | None, int | None, int]]:
        """The user's inbox as `conversation_list` orders it: (partner id, group id, last
        message id, unread), a partner's row or a group's.

        Timestamps grow with ids (groups' messages included), so the newest last message
        is the greatest id.
        """
        rows: list[tuple[int | None, int | None, int | None, int]] = []
        for (low, high), row in self.conversations.items():
            if index in (low, high):
                partner = high if low == index else low
                rows.append((self.user_id(partner), None, row[0], row[2 if low == index else 3]))
        for plan in self.groups:
            if index in plan.read_upto:
                rows.append((None, plan.id, plan.last_id, plan.unread.get(index, 0)))
        rows.sort(key=lambda r: r[2] or 0, reverse=True)
        return rows

    def heavy(self) -> dict[str, Any]:
        inbox = [row for row in self.inbox(0) if row[0] is not None]
        top = self.top_pair[1] if self.top_pair[0] == 0 else self.top_pair[0]
        by_id = {self.user_id(i): name for i, name in enumerate(self.usernames)}
        groups = [plan for plan in self.groups if 0 in plan.read_upto]
        big = groups[0] if groups else None
        return {
            "username": HEAVY_USERNAME,
            "id": self.user_id(0),
            "partners": len(inbox),
            "messages": self.heavy_messages,
            "unread": self.unread_for(0),
            "top_partner": self.usernames[top],
            "top_partner_messages": self.top_partner_messages,
            "thread_root": self.thread_root,
            "thread_size": self.thread_size,
            "thread_levels": self.thread_levels,
            "search_word": SEARCH_WORD,
            "search_matches": self.heavy_search_matches,
            # Heavy's groups; the first, 100 people with the longest history, is the
            # group the workloads send to and read.
            "groups": len(groups),
            "group": big.id if big else None,
            "group_name": big.name if big else None,
            "group_members": len(big.members) if big else 0,
            "group_messages": big.messages if big else 0,
            "group_unread": big.unread.get(0, 0) if big else 0,
            # Heavy's partners, busiest inbox rows first: a benchmark's senders rotate through them.
            "partner_usernames": [by_id[partner] for partner, _, _, _ in inbox[:100]],
        }


def _ts(us: int) -> datetime:
    return START + timedelta(microseconds=us)


def _content(rng: random.Random) -> str:
    text = " ".join(rng.choices(WORDS, k=rng.randint(3, 24)))
    return text[0].upper() + text[1:] + rng.choice(".?!")


def _holds_search_word(content: str) -> bool:
    """Whether message search finds `content` by `SEARCH_WORD` (a word starting with it)."""
    return any(word.startswith(SEARCH_WORD) for word in re.findall(r"\w+", content.lower()))


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


class Generator:
    """Draws the dataset message by message; `batches()` yields it a batch at a time."""

    def __init__(
        self,
        *,
        users: int,
        messages: int,
        seed: int,
        user_base: int,
        message_base: int,
        group_base: int = 1,
        groups: Sequence[GroupSpec] = GROUPS,
    ) -> None:
        if users < 2:
            raise DatasetError("At least two users are needed.")
        if messages < 1:
            raise DatasetError("At least one message is needed.")
        self.rng = rng = random.Random(seed)
        self.total = messages
        usernames = [HEAVY_USERNAME] + [f"user{n:06d}" for n in range(1, users)]
        self.expected = Expected(
            users=users, usernames=usernames, user_base=user_base, message_base=message_base
        )
        heavy_partners = min(users - 1, max(30, users // 5))
        self.pairs = pairs = _pairs(rng, users, heavy_partners)

        # How the messages spread over pairs: heavy's busiest partner gets a fixed share,
        # every other pair a Pareto-distributed weight (a few busy ones, a long quiet tail).
        heavy_pairs = [i for i, (a, b) in enumerate(pairs) if a == 0 or b == 0]
        self.top_pair = heavy_pairs[0]
        self.expected.top_pair = pairs[self.top_pair]
        weights = [rng.paretovariate(1.2) for _ in pairs]
        heavy_set = set(heavy_pairs)
        heavy_rest = sum(weights[i] for i in heavy_pairs if i != self.top_pair)
        others = sum(w for i, w in enumerate(weights) if i not in heavy_set)
        for i in range(len(pairs)):
            if i == self.top_pair:
                weights[i] = HEAVY_SHARE * TOP_PARTNER_SHARE
            elif i in heavy_set:
                weights[i] = weights[i] / heavy_rest * HEAVY_SHARE * (1 - TOP_PARTNER_SHARE)
            elif others:
                weights[i] = weights[i] / others * (1 - HEAVY_SHARE)
        self.cum_weights = list(accumulate(weights))
        # Each of heavy's partners gets at least one message (when there are enough), so
        # heavy's inbox has all of them: at positions drawn once, not a list of every message.
        seeded = heavy_pairs if messages >= 2 * len(heavy_pairs) else []
        self.placed = dict(zip(rng.sample(range(messages), len(seeded)), seeded, strict=True))
        self._plan_groups(groups, seed, group_base)

    def _plan_groups(self, specs: Sequence[GroupSpec], seed: int, group_base: int) -> None:
        """Heavy's groups: members, sizes, read pointers, and where in the stream (which
        ids, so which times) their messages fall. A random generator of their own, so the
        direct messages are drawn as without groups."""
        self.grng = rng = random.Random(seed * 1_000_003 + 1)
        data = self.expected
        plans: list[GroupPlan] = []
        for n, spec in enumerate(specs):
            size = min(spec.members, data.users)
            members = [0, *rng.sample(range(1, data.users), size - 1)]
            count = max(1, round(self.total * spec.share))
            if spec.most is not None:
                count = min(count, spec.most)
            read_upto = {}
            for index in members:
                if index == 0:
                    behind = min(HEAVY_GROUP_UNREAD, count // 10)
                    read_upto[index] = count - behind
                elif rng.random() < LAGGING_MEMBERS:
                    read_upto[index] = rng.randint(0, count)
                else:
                    read_upto[index] = max(0, count - rng.randint(0, 5))
            plans.append(
                GroupPlan(
                    id=group_base + n,
                    name=spec.name,
                    members=members,
                    cum_weights=list(accumulate(rng.paretovariate(1.2) for _ in members)),
                    messages=count,
                    read_upto=read_upto,
                )
            )
        data.groups = plans
        labels = [n for n, plan in enumerate(plans) for _ in range(plan.messages)]
        rng.shuffle(labels)
        self.group_total = len(labels)
        positions = sorted(rng.sample(range(self.total + self.group_total), self.group_total))
        self.group_at = dict(zip(positions, labels, strict=True))

    def _pair_at(self, n: int) -> int:
        placed = self.placed.get(n)
        if placed is not None:
            return placed
        return bisect_right(self.cum_weights, self.rng.random() * self.cum_weights[-1])

    def batches(self, size: int) -> Iterator[tuple[list[tuple], list[tuple], list[tuple]]]:
        """(messages, history, notifications) rows, at most `size` messages (and about
        `NOTIFICATIONS_PER_MESSAGE_BATCH` times as many notifications) at a time, in id
        order; the groups' messages among the direct ones, in time as in ids."""
        rng, data, pairs = self.rng, self.expected, self.pairs
        names, base, message_base = data.usernames, data.user_base, data.message_base
        step_us = max(1, SPAN_SECONDS * 1_000_000 // (self.total + self.group_total))
        # Per pair: its last messages as (id, level, root id, sender index, receiver index).
        recent: dict[int, list[tuple]] = {}
        # The 50-message thread: the first messages of heavy's busiest conversation.
        thread: list[tuple[int, int, int, int]] = []  # (id, level, sender, receiver)
        messages: list[tuple] = []
        history: list[tuple] = []
        notifications: list[tuple] = []
        reply, plain, edit = (
            Notification.Kind.REPLY.value,
            Notification.Kind.MESSAGE.value,
            Notification.Kind.EDIT.value,
        )
        notes_size = NOTIFICATIONS_PER_MESSAGE_BATCH * size
        direct = 0
        for n in range(self.total + self.group_total):
            message_id = message_base + n
            group = self.group_at.get(n)
            if group is not None:
                ts_us = n * step_us + self.grng.randrange(step_us)
                self._group_message(
                    data.groups[group], message_id, _ts(ts_us), messages, history, notifications
                )
                if len(messages) >= size or len(notifications) >= notes_size:
                    yield messages, history, notifications
                    messages, history, notifications = [], [], []
                continue
            pair_index = self._pair_at(direct)
            direct += 1
            a, b = pairs[pair_index]
            sender, receiver = (a, b) if rng.random() < 0.5 else (b, a)
            parent = None  # (id, level, sender, receiver)
            root_id = None
            if pair_index == self.top_pair and len(thread) < THREAD_SIZE:
                # The first ten make the deepest chain a thread may have; the rest branch off it.
                if thread:
                    if len(thread) < MAX_THREAD_LEVELS:
                        parent = thread[-1]
                    else:
                        parent = rng.choice([t for t in thread if t[1] < MAX_THREAD_LEVELS])
                    root_id = thread[0][0]
                else:
                    data.thread_root = message_id
            else:
                window = recent.get(pair_index)
                if window and rng.random() < REPLY_RATE:
                    candidates = [r for r in window if r[1] < MAX_THREAD_LEVELS]
                    if candidates:
                        parent_id, level, parent_root, s, r = rng.choice(candidates)
                        parent, root_id = (parent_id, level, s, r), parent_root or parent_id
            level = 1
            if parent is not None:
                level = parent[1] + 1
                # The parent's receiver answers, mostly.
                if rng.random() < 0.8:
                    sender, receiver = parent[3], parent[2]
            if pair_index == self.top_pair and len(thread) < THREAD_SIZE:
                thread.append((message_id, level, sender, receiver))
                data.thread_levels = max(data.thread_levels, level)
                data.thread_leaf = message_id
            else:
                window = recent.get(pair_index)
                if window is None:
                    window = recent[pair_index] = []
                elif len(window) == REPLY_WINDOW:
                    del window[0]  # a list, not a deque: a fraction of the memory per pair
                window.append((message_id, level, root_id, sender, receiver))

            ts_us = n * step_us + rng.randrange(step_us)
            timestamp = _ts(ts_us)
            read = rng.random() >= UNREAD_RATE
            content = _content(rng)
            sender_id, receiver_id = base + sender, base + receiver
            parent_id = parent[0] if parent else None
            edited = rng.random() < EDIT_RATE
            if edited:
                old, content = content, content + " (edited)"
                edited_at = _ts(ts_us + rng.randrange(1, 3_600_000_000))
                history.append((message_id, old, edited_at, sender_id))
                text = services.notification_text(edit, names[sender], content)
                notifications.append(
                    (receiver_id, message_id, edit, sender_id, text, edited_at, read)
                )
                data.edited += 1
                if receiver == 0 and not read:
                    data.heavy_unread_notifications += 1
            kind = reply if parent_id else plain
            text = services.notification_text(kind, names[sender], content)
            notifications.append((receiver_id, message_id, kind, sender_id, text, timestamp, read))
            # In MESSAGE_FIELDS' order: no group, no Idempotency-Key.
            head = (message_id, sender_id, receiver_id, None, content, timestamp, edited, read)
            messages.append((*head, parent_id, root_id, None))

            data.messages += 1
            data.replies += parent_id is not None
            key = (a, b) if a < b else (b, a)
            row = data.conversations.get(key)
            if row is None:
                row = data.conversations[key] = [0, None, 0, 0]
            row[0], row[1] = message_id, timestamp
            if not read:
                data.unread += 1
                row[2 if receiver == key[0] else 3] += 1
                if receiver == 0:
                    data.heavy_unread_notifications += 1
            if 0 in key:
                data.heavy_messages += 1
                data.heavy_search_matches += _holds_search_word(content)
            if pair_index == self.top_pair:
                data.top_partner_messages += 1

            if len(messages) >= size or len(notifications) >= notes_size:
                yield messages, history, notifications
                messages, history, notifications = [], [], []
        if messages:
            yield messages, history, notifications
        data.thread_size = len(thread)

    def _group_message(
        self,
        plan: GroupPlan,
        message_id: int,
        timestamp: datetime,
        messages: list[tuple],
        history: list[tuple],
        notifications: list[tuple],
    ) -> None:
        """One message of `plan`'s group, as `services.message_send(group=...)` stores it:
        no receiver, not `read` (a member's read state is their pointer), a notification
        for every other member (nobody blocks anybody here), read when their pointer
        reached it, as `services.group_mark_read` leaves them; replies to one of the
        group's last few messages, an edit's old text in the history (no notification)."""
        rng, data = self.grng, self.expected
        plan.sent += 1
        number = plan.sent
        sender = plan.members[bisect_right(plan.cum_weights, rng.random() * plan.cum_weights[-1])]
        parent_id, root_id, level = None, None, 1
        if plan.recent and rng.random() < REPLY_RATE:
            candidates = [r for r in plan.recent if r[1] < MAX_THREAD_LEVELS]
            if candidates:
                parent_id, parent_level, parent_root = rng.choice(candidates)
                root_id, level = parent_root or parent_id, parent_level + 1
        if len(plan.recent) == REPLY_WINDOW:
            del plan.recent[0]
        plan.recent.append((message_id, level, root_id))
        content = _content(rng)
        sender_id = data.user_id(sender)
        kind = Notification.Kind.REPLY.value if parent_id else Notification.Kind.MESSAGE.value
        # The notifications carry the text as it was sent.
        text = services.notification_text(
            kind, data.usernames[sender], content, group_name=plan.name
        )
        edited = rng.random() < EDIT_RATE
        if edited:
            old, content = content, content + " (edited)"
            edited_at = timestamp + timedelta(microseconds=rng.randrange(1, 3_600_000_000))
            history.append((message_id, old, edited_at, sender_id))
            data.edited += 1
            data.group_edited += 1
        for member in plan.members:
            if member == sender:
                continue
            read = number <= plan.read_upto[member]
            notifications.append(
                (data.user_id(member), message_id, kind, sender_id, text, timestamp, read)
            )
            if not read:
                plan.unread[member] = plan.unread.get(member, 0) + 1
                if member == 0:
                    data.heavy_unread_notifications += 1
        plan.notifications += len(plan.members) - 1
        data.group_notifications += len(plan.members) - 1
        # In MESSAGE_FIELDS' order: no receiver, no Idempotency-Key.
        head = (message_id, sender_id, None, plan.id, content, timestamp, edited, False)
        messages.append((*head, parent_id, root_id, None))
        data.group_messages += 1
        data.replies += parent_id is not None
        if 0 in plan.read_upto:
            data.heavy_search_matches += _holds_search_word(content)
        plan.last_id, plan.last_at = message_id, timestamp
        if number in plan.read_upto.values():
            plan.pointer_ids[number] = message_id
        plan.tail.append((message_id, sender, number))
        if len(plan.tail) > 50:
            del plan.tail[0]


# Writing -----------------------------------------------------------------------


def _columns(model: type[models.Model], names: Sequence[str]) -> list[str]:
    """The database columns of the model's fields named by attribute (`sender_id`)."""
    by_attname = {f.attname: f.column for f in model._meta.concrete_fields}
    return [by_attname[name] for name in names]


def _defaulted(model: type[models.Model], names: Sequence[str]) -> list[models.Field]:
    """Concrete fields the generator does not set (added since it was written): their defaults.

    `COPY` bypasses Django, and Django keeps no column default in the database.
    """
    return [
        f
        for f in model._meta.concrete_fields
        if f.attname not in names and not isinstance(f, models.AutoField)
    ]


class Writer:
    """Rows into a model's table: `COPY` on PostgreSQL, `bulk_create` elsewhere."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.connection = connections[using]
        self.postgres = self.connection.vendor == "postgresql"
        self.written: dict[str, int] = {}

    def write(self, model: type[models.Model], names: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.postgres:
            self._copy(model, names, rows)
        else:
            model.objects.using(self.using).bulk_create(
                [model(**dict(zip(names, row, strict=True))) for row in rows]
            )
        label = model._meta.label
        self.written[label] = self.written.get(label, 0) + len(rows)

    def _copy(self, model: type[models.Model], names: Sequence[str], rows: list[tuple]) -> None:
        connection = self.connection
        quote = connection.ops.quote_name
        extra = _defaulted(model, names)
        defaults = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
        columns = ", ".join(quote(c) for c in [*_columns(model, names), *(f.column for f in extra)])
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor, under Django's wrapper
            with raw.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + defaults)


def _user_rows(data: Expected, password_hash: str) -> Iterator[tuple[tuple, tuple]]:
    """Each user's row and their `UsernameKey` row, the keys as `services.username_keys` makes."""
    joined = START - timedelta(days=30)
    for index, username in enumerate(data.usernames):
        user_id = data.user_id(index)
        user = (user_id, password_hash, None, False, username, "", "")
        user += (f"{username}@example.com", False, True, joined)
        yield user, (user_id, *services.username_keys(username))


def write(generator: Generator, *, using: str = DEFAULT_DB_ALIAS, batch_size: int = 50_000):
    """Insert the dataset in one transaction, then reset sequences (and ANALYZE on PostgreSQL)."""
    data = generator.expected
    writer = Writer(using)
    connection = writer.connection
    password_hash = make_password(PASSWORD)  # once: hashing is deliberately slow
    progress = tqdm(
        total=data.users + generator.total + generator.group_total,
        desc="dataset",
        unit="row",
        disable=None,
    )
    with transaction.atomic(using=using):
        if writer.postgres:
            with connection.cursor() as cursor:
                # Foreign keys are checked row by row as they come, not queued to the commit.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        users: list[tuple] = []
        keys: list[tuple] = []
        for user, key in _user_rows(data, password_hash):
            users.append(user)
            keys.append(key)
            if len(users) >= batch_size:
                writer.write(User, USER_FIELDS, users)
                writer.write(UsernameKey, USERNAME_KEY_FIELDS, keys)
                progress.update(len(users))
                users, keys = [], []
        writer.write(User, USER_FIELDS, users)
        writer.write(UsernameKey, USERNAME_KEY_FIELDS, keys)
        progress.update(len(users))
        # Each group made by heavy a day before the first message.
        created = START - timedelta(days=1)
        writer.write(
            Group, GROUP_FIELDS, [(g.id, g.name, data.user_id(0), created) for g in data.groups]
        )
        for messages, history, notifications in generator.batches(batch_size):
            writer.write(Message, MESSAGE_FIELDS, messages)
            writer.write(MessageHistory, HISTORY_FIELDS, history)
            writer.write(Notification, NOTIFICATION_FIELDS, notifications)
            progress.update(len(messages))
        progress.close()
        rows: list[tuple] = []
        for (low, high), (last_id, last_at, unread_low, unread_high) in data.conversations.items():
            low_id, high_id = data.user_id(low), data.user_id(high)
            rows.append((low_id, high_id, None, last_id, last_at, unread_low, 0))
            rows.append((high_id, low_id, None, last_id, last_at, unread_high, 0))
            if len(rows) >= batch_size:
                writer.write(Conversation, CONVERSATION_FIELDS, rows)
                rows = []
        writer.write(Conversation, CONVERSATION_FIELDS, rows)
        # Memberships: each member's row shows the group's last message, no unread count
        # (a group's is counted past the read pointer, `last_read_id`).
        writer.write(
            Conversation,
            CONVERSATION_FIELDS,
            [
                (
                    data.user_id(member),
                    None,
                    plan.id,
                    plan.last_id,
                    plan.last_at or created,
                    0,
                    plan.pointer(member),
                )
                for plan in data.groups
                for member in plan.members
            ],
        )
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [User, Message, Group]):
                cursor.execute(sql)
        # No signal fired: whatever was cached before the load is unreachable once it commits.
        cache_keys.invalidate_all()
    if writer.postgres:
        # Fresh statistics for the planner; VACUUM also sets the visibility map that
        # index-only scans need, but cannot run inside a transaction (a test's).
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            for model in TABLES:
                cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")
    return writer.written


# Checking ----------------------------------------------------------------------


def _tree(root: Message) -> tuple[int, int]:
    """(messages, levels) of a tree `selectors.thread_get` returned."""
    size, levels = 0, 0
    stack = [(root, 1)]
    while stack:
        node, level = stack.pop()
        size += 1
        levels = max(levels, level)
        stack.extend((reply, level + 1) for reply in node.replies_list)
    return size, levels


def _checked_users(data: Expected) -> list[int]:
    """User indexes whose unread counts and inboxes are compared: heavy, its busiest
    partner, and a spread of the others."""
    top = data.top_pair[1] if data.top_pair[0] == 0 else data.top_pair[0]
    step = max(1, data.users // CHECKED_USERS)
    return list(dict.fromkeys([0, top, *range(1, data.users, step)]))


def _check_groups(
    data: Expected,
    heavy: Any,
    expect: Callable[[str, Any, Any], None],
    using: str,
) -> None:
    """The groups through the selectors the group workloads exercise (as heavy), then
    every group's rows as the services would have left them."""
    by_index = {data.user_id(i): i for i in range(data.users)}
    for plan in data.groups:
        if 0 not in plan.read_upto:
            continue
        found = selectors.group_get(heavy, plan.id)
        expect(
            f"selectors.group_get(heavy, {plan.name!r}) (name, members)",
            (found.name, found.member_names),
            (plan.name, sorted(data.usernames[i] for i in plan.members)),
        )
        listed = selectors.group_messages(heavy, plan.id).using(using)
        expect(f"selectors.group_messages(heavy, {plan.name!r}): count", listed.count(), plan.sent)
        upto = plan.read_upto[0]
        expect(
            f"selectors.group_messages(heavy, {plan.name!r}): first page (id, read by heavy)",
            list(listed.values_list("pk", "viewer_read")[:50]),
            [(pk, sender == 0 or n <= upto) for pk, sender, n in reversed(plan.tail)],
        )
        expect(
            f"selectors.membership(heavy, {plan.name!r}).last_read_id",
            selectors.membership(heavy, plan.id).last_read_id,
            plan.pointer(0),
        )
    mine = [plan for plan in data.groups if 0 in plan.read_upto]
    expect(
        "selectors.group_unread_counts(heavy, their groups)",
        selectors.group_unread_counts(heavy, [plan.id for plan in mine]),
        {plan.id: plan.unread[0] for plan in mine if plan.unread.get(0)},
    )

    # Every group's rows, the whole database.
    in_groups = Message.objects.using(using).filter(group__isnull=False).order_by()
    expect(
        "messages per group (count, last id)",
        {
            g: (n, last)
            for g, n, last in in_groups.values("group_id")
            .annotate(n=Count("id"), last=Max("id"))
            .values_list("group_id", "n", "last")
        },
        {plan.id: (plan.sent, plan.last_id) for plan in data.groups if plan.sent},
    )
    rows = Conversation.objects.using(using).filter(group__isnull=False)
    memberships = {
        (group, by_index.get(owner)): (last_id, at, unread_count, pointer, hidden)
        for group, owner, last_id, at, unread_count, pointer, hidden in rows.values_list(
            "group_id",
            "owner_id",
            "last_message_id",
            "last_activity",
            "unread_count",
            "last_read_id",
            "hidden",
        )
    }
    expect(
        "memberships (group, member): last message, its time, no unread count, read pointer",
        memberships,
        {
            (plan.id, member): (plan.last_id, plan.last_at, 0, plan.pointer(member), False)
            for plan in data.groups
            for member in plan.members
        },
    )
    replies = in_groups.filter(parent_message__isnull=False)
    wrong = replies.exclude(group_id=models.F("parent_message__group_id")) | replies.exclude(
        thread_root_id=models.functions.Coalesce(
            "parent_message__thread_root_id", "parent_message_id"
        )
    )
    expect("group replies: in their parent's group, thread_root the parent's", wrong.count(), 0)
    notes = Notification.objects.using(using).filter(message__group__isnull=False).order_by()
    expect(
        "group notifications per group (one per other member of each message)",
        dict(
            notes.values("message__group_id")
            .annotate(n=Count("id"))
            .values_list("message__group_id", "n")
        ),
        {plan.id: plan.notifications for plan in data.groups if plan.notifications},
    )
    pointer = Conversation.objects.using(using).filter(
        owner_id=models.OuterRef("user_id"), group_id=models.OuterRef("message__group_id")
    )
    stray = notes.exclude(
        models.Exists(pointer),
        actor_id=models.F("message__sender_id"),
        kind__in=[Notification.Kind.MESSAGE, Notification.Kind.REPLY],
    ) | notes.filter(user_id=models.F("actor_id"))
    expect("group notifications: to another member, from the sender", stray.count(), 0)
    pointers = pointer.values("last_read_id")[:1]
    misread = notes.annotate(pointer=models.Subquery(pointers)).exclude(
        read=models.Case(
            models.When(message_id__lte=models.F("pointer"), then=models.Value(True)),
            default=models.Value(False),
        )
    )
    expect(
        "group notifications read exactly up to their member's read pointer",
        misread.count(),
        0,
    )


def check(data: Expected, *, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Read the written rows back through the product's selectors and models.

    Returns what was checked; raises DatasetError listing every mismatch.
    """
    failures: list[str] = []
    checked: list[str] = []

    def shown(value: Any) -> str:
        text = repr(value)
        return text if len(text) < 200 else f"{text[:200]}..."

    def expect(what: str, got: Any, want: Any) -> None:
        checked.append(what)
        if got != want:
            failures.append(f"{what}: got {shown(got)}, expected {shown(want)}")

    first, last = data.user_id(0), data.user_id(data.users - 1)
    generated = User.objects.using(using).filter(pk__gte=first, pk__lte=last)
    users = {
        u.pk: u for u in generated.filter(pk__in=[data.user_id(i) for i in _checked_users(data)])
    }
    heavy = users.get(first)
    if heavy is None or heavy.username != HEAVY_USERNAME:
        raise DatasetError(f"check: user {first} is not {HEAVY_USERNAME!r}")

    # Row counts: the database held no messages before, so every message row is ours.
    expect("users", generated.count(), data.users)
    keys = UsernameKey.objects.using(using).filter(user_id__gte=first, user_id__lte=last)
    expect("username keys (one per user)", keys.count(), data.users)
    expect(
        "messages (direct, in groups)",
        (
            Message.objects.using(using).filter(group__isnull=True).count(),
            Message.objects.using(using).filter(group__isnull=False).count(),
        ),
        (data.messages, data.group_messages),
    )
    expect("edit history rows", MessageHistory.objects.using(using).count(), data.edited)
    expect(
        "notifications (one per direct message and edit, one per other member of a group's)",
        Notification.objects.using(using).count(),
        data.messages + data.edited - data.group_edited + data.group_notifications,
    )
    expect(
        "inbox rows (two per pair, one per member of a group)",
        Conversation.objects.using(using).count(),
        2 * len(data.conversations) + sum(len(plan.members) for plan in data.groups),
    )

    # Look-alike names: the stored keys are the product's, so it refuses a look-alike.
    for index in _checked_users(data)[:5]:
        name = data.usernames[index]
        stored = keys.filter(user_id=data.user_id(index)).values_list("folded", "skeleton").first()
        expect(f"username keys of {name!r}", stored, services.username_keys(name))
    expect(
        f"services.username_taken({HEAVY_USERNAME.upper()!r})",
        services.username_taken(HEAVY_USERNAME.upper()),
        True,
    )

    # What the benchmark reads, through the selectors it exercises.
    for index in _checked_users(data):
        user = users[data.user_id(index)]
        inbox = selectors.conversation_list(user).using(using)
        expect(
            f"selectors.conversation_list({user.username!r}) "
            "(partner, group, last message, unread)",
            list(inbox.values_list("partner_id", "group_id", "last_message_id", "unread")),
            data.inbox(index),
        )
        expect(
            f"selectors.unread_count({user.username!r})",
            selectors.unread_count(user),
            data.unread_for(index),
        )
    expect(
        f"selectors.notification_unread_count({HEAVY_USERNAME!r})",
        selectors.notification_unread_count(heavy),
        data.heavy_unread_notifications,
    )
    top_index = data.top_pair[1] if data.top_pair[0] == 0 else data.top_pair[0]
    top = users[data.user_id(top_index)]
    between = selectors.message_list_between(heavy, top).using(using)
    expect(
        "selectors.message_list_between(heavy, busiest partner)",
        between.count(),
        data.top_partner_messages,
    )
    expect(
        f"selectors.message_search(heavy, {SEARCH_WORD!r}): messages found (its window)",
        selectors.message_search(user=heavy, query=SEARCH_WORD).using(using).count(),
        min(data.heavy_search_matches, selectors.SEARCH_WINDOW),
    )
    if data.thread_root is not None:
        root = selectors.thread_get(heavy, data.thread_leaf)
        expect(
            "selectors.thread_get(heavy, the thread's last reply): root", root.pk, data.thread_root
        )
        expect(
            "selectors.thread_get(heavy, ...): (messages, levels)",
            _tree(root),
            (data.thread_size, data.thread_levels),
        )

    _check_groups(data, heavy, expect, using)

    # Every inbox row agrees with the messages of its pair (the whole database).
    messages = Message.objects.using(using).filter(group__isnull=True).order_by()
    pairs = messages.annotate(
        low=Least("sender_id", "receiver_id"), high=Greatest("sender_id", "receiver_id")
    )
    from_messages: dict[tuple[int, int], tuple[int, int]] = {}
    unread = Q(read=False)
    for low, high, last_id, unread_low, unread_high in (
        pairs.values("low", "high")
        .annotate(
            last=Max("id"),
            unread_low=Count("id", filter=unread & Q(receiver_id__lt=models.F("sender_id"))),
            unread_high=Count("id", filter=unread & Q(receiver_id__gt=models.F("sender_id"))),
        )
        .values_list("low", "high", "last", "unread_low", "unread_high")
    ):
        from_messages[low, high] = (last_id, unread_low)
        from_messages[high, low] = (last_id, unread_high)
    from_rows: dict[tuple[int, int], tuple[int, int]] = {}
    stale = 0
    for owner, partner, last_id, unread_count, at, last_at in (
        Conversation.objects.using(using)
        .filter(group__isnull=True)
        .values_list(
            "owner_id",
            "partner_id",
            "last_message_id",
            "unread_count",
            "last_activity",
            "last_message__timestamp",
        )
    ):
        from_rows[owner, partner] = (last_id, unread_count)
        stale += at != last_at
    checked.append("inbox rows against the messages of each pair")
    if from_rows != from_messages:
        wrong = sorted(
            k
            for k in from_rows.keys() | from_messages.keys()
            if from_rows.get(k) != from_messages.get(k)
        )
        owner, partner = wrong[0]
        failures.append(
            f"inbox rows disagree with the messages for {len(wrong)} (owner, partner) pairs; "
            f"first ({owner}, {partner}): row (last message, unread) "
            f"{from_rows.get(wrong[0])}, messages {from_messages.get(wrong[0])}"
        )
    if stale:
        failures.append(f"{stale} inbox rows' last activity is not their last message's time")

    # Threads and notifications as the services write them.
    checked.append("replies: thread_root is the parent's root, both people the same")
    bad_replies = messages.filter(parent_message__isnull=False).exclude(
        thread_root_id=models.functions.Coalesce(
            "parent_message__thread_root_id", "parent_message_id"
        ),
    ) | messages.filter(parent_message__isnull=False).exclude(
        Q(
            sender_id=models.F("parent_message__sender_id"),
            receiver_id=models.F("parent_message__receiver_id"),
        )
        | Q(
            sender_id=models.F("parent_message__receiver_id"),
            receiver_id=models.F("parent_message__sender_id"),
        )
    )
    if n := bad_replies.count():
        failures.append(f"{n} replies with a wrong thread_root or other people than their parent")
    checked.append("notifications: one per message, to its receiver, from its sender")
    notes = (
        Notification.objects.using(using)
        .exclude(kind=Notification.Kind.EDIT)
        .filter(message__group__isnull=True)
        .order_by()
    )
    counted = notes.aggregate(n=Count("id"), messages=Count("message_id", distinct=True))
    if counted != {"n": data.messages, "messages": data.messages}:
        failures.append(f"message notifications {counted}, expected {data.messages} of each")
    misdirected = notes.exclude(user_id=models.F("message__receiver_id")) | notes.exclude(
        actor_id=models.F("message__sender_id")
    )
    if n := misdirected.count():
        failures.append(f"{n} notifications not to the receiver from the sender")
    if failures:
        raise DatasetError(
            "the generated rows fail the product's checks:\n  " + "\n  ".join(failures)
        )
    return checked


# Loading -----------------------------------------------------------------------


def sent_message_ids(user_id: int, *, using: str = DEFAULT_DB_ALIAS) -> list[int]:
    """The user's latest sent message in each direct conversation, newest first, at most
    `SENT_MESSAGES`: messages of their own, each in another conversation (edits of them
    lock different rows and notify different people)."""
    return list(
        Message.objects.using(using)
        .filter(sender_id=user_id, group__isnull=True)
        .order_by()
        .values("receiver_id")
        .annotate(last=Max("id"))
        .order_by("-last")
        .values_list("last", flat=True)[:SENT_MESSAGES]
    )


def load(
    *,
    users: int,
    messages: int,
    seed: int = 42,
    using: str = DEFAULT_DB_ALIAS,
    batch_size: int = 50_000,
) -> tuple[dict[str, Any], Expected]:
    """Generate into an empty database, check it, and return the manifest (and what was
    expected, for further checks)."""
    if Message.objects.using(using).exists():
        raise DatasetError("The database already holds messages: generate into an empty one.")
    if User.objects.using(using).filter(username=HEAVY_USERNAME).exists():
        raise DatasetError(f"A user named {HEAVY_USERNAME!r} exists already.")
    user_base = (User.objects.using(using).aggregate(m=Max("pk"))["m"] or 0) + 1
    message_base = (Message.objects.using(using).aggregate(m=Max("pk"))["m"] or 0) + 1
    group_base = (Group.objects.using(using).aggregate(m=Max("pk"))["m"] or 0) + 1
    started = time.monotonic()
    generator = Generator(
        users=users,
        messages=messages,
        seed=seed,
        user_base=user_base,
        message_base=message_base,
        group_base=group_base,
    )
    written = write(generator, using=using, batch_size=batch_size)
    loaded = time.monotonic()
    data = generator.expected
    checks = check(data, using=using)
    checked = time.monotonic()
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "database_vendor": connections[using].vendor,
        "users": users,
        "messages": messages,
        "unread": data.unread,
        "replies": data.replies,
        "edited": data.edited,
        "conversations": 2 * len(data.conversations),
        "groups": len(data.groups),
        "group_messages": data.group_messages,
        "memberships": sum(len(plan.members) for plan in data.groups),
        "rows": written,
        "password": PASSWORD,
        "heavy": {
            **data.heavy(),
            "sent_message_ids": sent_message_ids(data.user_id(0), using=using),
        },
        "checks": checks,
        "seconds": {
            "load": round(loaded - started, 1),
            "check": round(checked - loaded, 1),
            # What the benchmark report shows as "generate + load" (generation is streamed).
            "total": round(loaded - started, 1),
        },
    }
    return manifest, data


# Side by side: each preset in a scratch PostgreSQL database ----------------------


def measure(preset: str, *, seed: int, batch_size: int, database: str = SCRATCH_DATABASE):
    """Load one preset into a fresh scratch database, in a process of its own; then its
    size on disk, and the database is dropped."""
    import resource

    import psycopg

    from bench.harness import own_database

    manifest_path = ROOT / "var" / "bench" / f"dataset-{preset}.json"
    with own_database(database) as url:
        env = dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1")
        env.pop("DB_POOL_MAX_SIZE", None)
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        started = time.monotonic()
        load = ["--preset", preset, "--seed", str(seed), "--batch-size", str(batch_size)]
        load += ["--manifest", str(manifest_path)]
        # Its progress on this terminal.
        subprocess.run(
            [sys.executable, "-m", "bench.dataset", *load], cwd=ROOT, env=env, check=True
        )
        wall = time.monotonic() - started
        # Peak resident memory of the largest child so far (Linux: kilobytes).
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        with psycopg.connect(url, autocommit=True) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            tables = dict(
                conn.execute(
                    "SELECT relname, pg_total_relation_size(relid) FROM pg_statio_user_tables"
                ).fetchall()
            )
    manifest = json.loads(manifest_path.read_text())
    by_table = {model._meta.db_table: tables.get(model._meta.db_table, 0) for model in TABLES}
    return {
        "preset": preset,
        "users": manifest["users"],
        "messages": manifest["messages"],
        "group_messages": manifest.get("group_messages", 0),
        "rows": manifest["rows"],
        "load_s": manifest["seconds"]["load"],
        "check_s": manifest["seconds"]["check"],
        "process_s": round(wall, 1),
        "database_bytes": size,
        "table_bytes": by_table,
        "peak_rss_mb_so_far": round(peak_mb),
    }


def _side_by_side(results: list[dict[str, Any]]) -> str:
    def mb(n: int) -> str:
        return f"{n / 2**20:,.1f} MB"

    rows = [
        ("users", lambda r: f"{r['users']:,}"),
        ("messages", lambda r: f"{r['messages']:,}"),
        ("group messages", lambda r: f"{r.get('group_messages', 0):,}"),
        ("rows written", lambda r: f"{sum(r['rows'].values()):,}"),
        ("load (generate + COPY)", lambda r: f"{r['load_s']:.1f} s"),
        ("checks", lambda r: f"{r['check_s']:.1f} s"),
        ("whole process (incl. VACUUM)", lambda r: f"{r['process_s']:.1f} s"),
        ("database size", lambda r: mb(r["database_bytes"])),
        *(
            (f"  {table}", lambda r, t=table: mb(r["table_bytes"][t]))
            for table in results[0]["table_bytes"]
        ),
        ("peak RSS (largest child so far)", lambda r: f"{r['peak_rss_mb_so_far']} MB"),
    ]
    lines = ["| | " + " | ".join(r["preset"] for r in results) + " |"]
    lines.append("|---|" + "---:|" * len(results))
    for label, show in rows:
        lines.append(f"| {label} | " + " | ".join(show(r) for r in results) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dataset", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
    parser.add_argument("--users", type=int, help="Override the preset's number of users.")
    parser.add_argument("--messages", type=int, help="Override the preset's number of messages.")
    parser.add_argument("--manifest", type=Path, help="Write a JSON manifest to this file.")
    parser.add_argument("--batch-size", type=int, default=50_000, help="Messages per batch.")
    parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Django database alias.")
    parser.add_argument(
        "--compare",
        action="store_true",
        help=f"Load each of --presets into a scratch PostgreSQL database ({SCRATCH_DATABASE}, "
        "dropped after) and report load time and size side by side.",
    )
    parser.add_argument("--presets", default="small,large", help="For --compare.")
    args = parser.parse_args(argv)

    if args.compare:
        results = []
        for preset in args.presets.split(","):
            results.append(measure(preset, seed=args.seed, batch_size=args.batch_size))
        print(_side_by_side(results))
        if args.manifest:
            args.manifest.parent.mkdir(parents=True, exist_ok=True)
            args.manifest.write_text(json.dumps(results, indent=2) + "\n")
        return 0

    preset = PRESETS[args.preset]
    users = args.users or preset.users
    messages = args.messages or preset.messages
    try:
        manifest, _ = load(
            users=users,
            messages=messages,
            seed=args.seed,
            using=args.database,
            batch_size=args.batch_size,
        )
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    manifest["preset"] = args.preset
    if args.manifest:
        args.manifest.parent.mkdir(parents=True, exist_ok=True)
        args.manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    heavy, seconds = manifest["heavy"], manifest["seconds"]
    print(
        f"{users:,} users and {messages:,} messages loaded in {seconds['load']:.1f} s, "
        f"{len(manifest['checks'])} checks passed in {seconds['check']:.1f} s. "
        f"Heaviest user {heavy['username']!r}: {heavy['partners']:,} partners, "
        f"{heavy['messages']:,} messages, thread root {heavy['thread_root']} "
        f"({heavy['thread_size']} messages), {heavy['groups']} groups, the largest "
        f"{heavy['group_members']} people and {heavy['group_messages']:,} messages "
        f"(+{manifest['group_messages']:,} group messages in all). Password: {PASSWORD}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
