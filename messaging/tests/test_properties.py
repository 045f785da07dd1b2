"""Properties of the services, checked by Hypothesis over arbitrary input and sequences.

Whatever they are given, the services either do their job or refuse with one of the
domain's errors (`ValidationError`, `NotFound`, `PermissionDenied`), and a refusal
stores nothing. Sends and edits take clean arguments: raw input goes through each rule
where it lives, as the API does (`send_as_an_interface`, `edit_as_an_interface`), then
the service. A state machine then runs random sequences of sends, edits, deletes,
reads, blocks and unblocks between three people and checks after every step that the
stored rows agree with each other: the inbox rows with the messages, threads with
their parents, notifications and history with their messages.

Each example runs in a savepoint that is rolled back (`rolled_back`, and the state
machine's own `__init__`/`teardown`), so every example starts from the fixtures'
state. Runs are derandomized: CI sees the same examples every time.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework import serializers as drf
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from messaging import selectors, services
from messaging.api.serializers import MessageCreateSerializer
from messaging.content import clean_content, clean_idempotency_key, has_visible_text
from messaging.exceptions import MessagingError, NotFound, PermissionDenied, ValidationError
from messaging.models import (
    MAX_CONTENT_LENGTH,
    Conversation,
    Message,
    MessageHistory,
    MessagingProfile,
    Notification,
)
from messaging.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()

DOMAIN_ERRORS = (ValidationError, NotFound, PermissionDenied)
NAMES = ("alice", "bob", "carol")

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the fixtures' rows are shared on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@contextmanager
def rolled_back() -> Iterator[None]:
    """One example: whatever it writes is undone, whether it passes or fails."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


COUNTED = {
    "messages": Message,
    "notifications": Notification,
    "history": MessageHistory,
    "conversations": Conversation,
    "profiles": MessagingProfile,
    "blocks": MessagingProfile.blocked.through,
}


def counts() -> dict[str, int]:
    """The rows of every table a service writes, in one query (it runs around every call)."""
    tables = (connection.ops.quote_name(model._meta.db_table) for model in COUNTED.values())
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t})" for t in tables))
        return dict(zip(COUNTED, cursor.fetchone(), strict=True))


def attempt(call, **kwargs) -> tuple[Any, MessagingError | None]:
    """The service's answer, or its refusal; any other exception fails the property."""
    try:
        result = call(**kwargs)
    except MessagingError as refusal:
        assert isinstance(refusal, DOMAIN_ERRORS), refusal
        assert refusal.message
        event(f"{call.__name__}: {type(refusal).__name__} on {refusal.field or 'detail'}")
        return None, refusal
    event(f"{call.__name__}: done")
    return result, None


def parsed(field: str, value: Any) -> Any:
    """`value` read as the API reads the send's `field` (its strict serializer field),
    else the refusal on `field` the API answers with a 400."""
    try:
        return MessageCreateSerializer().fields[field].run_validation(value)
    except drf.ValidationError as error:
        raise ValidationError(str(error.detail[0]), field=field) from None


def send_as_an_interface(
    *, sender, receiver, content, parent=None, idempotency_key=None
) -> Message:
    """Raw input through each rule where it lives, in the API's order, then the service.

    The key (`clean_idempotency_key`), and the message sent earlier with it, which
    answers whatever the rest; the content (`clean_content`); the receiver: a User as
    it is (the service checks it), anything else read as the API's `receiver`, then
    `selectors.recipient`; the parent: a Message as it is (the service checks it is
    between the two people), anything else read as the API's id, then
    `selectors.reply_parent`.
    """
    key = None
    if idempotency_key is not None:
        key = clean_idempotency_key(idempotency_key)
        earlier = selectors.message_for_idempotency_key(sender, key)
        if earlier is not None:
            return earlier
    content = clean_content(content)
    if not isinstance(receiver, User):
        receiver = selectors.recipient(sender=sender, username=parsed("receiver", receiver))
    if parent is not None and not isinstance(parent, Message):
        parent = selectors.reply_parent(parsed("parent_message", parent))
    return services.message_send(
        sender=sender, receiver=receiver, content=content, parent=parent, idempotency_key=key
    )


def edit_as_an_interface(*, user, message, content) -> Message:
    """The API's order: the content (`clean_content`), then the service."""
    return services.message_edit(user=user, message=message, content=clean_content(content))


def api_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


# Strategies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One of the fixture's people, by index into `world["people"]` (ghost: inactive)."""

    index: int


@dataclass(frozen=True)
class Existing:
    """One of the fixture's messages, given as its id, its id as text, or the instance."""

    index: int
    form: str


BOUNDARY_CONTENT = [
    "x" * MAX_CONTENT_LENGTH,
    "x" * (MAX_CONTENT_LENGTH + 1),
    " \n\t" * 30 + "é" * MAX_CONTENT_LENGTH + "\r\n" * 30,
    "😀" * MAX_CONTENT_LENGTH,
    "😀" * (MAX_CONTENT_LENGTH + 1),
    "\u3000\x1c\x1d\x1e\x1f\x85\u2028",  # only what Python's strip() calls whitespace
    "\u200b",  # zero-width space: invisible, so an empty message
    "\ufeffhi\ufeff",
    "\x00",
    "hi\x00there",
    "hi \ud800 there",
    "\udfff",
    "",
]


def mostly(usual: st.SearchStrategy, *unusual: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` seven times in ten, else one of `unusual`: enough valid input that the
    success path is exercised as much as the refusals."""
    return st.integers(min_value=0, max_value=9).flatmap(
        lambda n: usual if n < 7 else st.one_of(*unusual)
    )


contents = mostly(
    st.one_of(
        st.text(min_size=1, max_size=80),
        st.builds(
            lambda unit, times, pad: pad + unit * times + pad,
            st.text(st.characters(exclude_categories=["Z", "Cc"]), min_size=1, max_size=3),
            st.integers(min_value=1_000, max_value=3_000),
            st.sampled_from(["", " ", "\n\t "]),
        ),
    ),
    st.text(),
    st.text(st.characters(categories=["Z", "Cc"])),  # whitespace and control characters
    st.text(st.characters(categories=["L", "Cs"]), min_size=1),  # unpaired surrogates
    st.sampled_from(BOUNDARY_CONTENT),
    st.none(),
    st.integers(),
    st.binary(max_size=10),
    st.lists(st.text(max_size=3), max_size=2),
)

receivers = mostly(
    st.one_of(st.builds(Person, st.integers(min_value=0, max_value=2)), st.sampled_from(NAMES)),
    st.just(Person(3)),
    st.sampled_from(
        [
            "ghost",  # inactive
            "nobody",
            "",
            " bob",
            "BOB",
            "bob\x00",
            "\x00",
            "b\ud800b",
            "x" * 151,
            "x" * 5_000,
            "'; DROP TABLE auth_user; --",
            "%",
            "_",
        ]
    ),
    st.text(max_size=20),
    st.none(),
    st.integers(),
    st.booleans(),
)

existing_messages = st.builds(
    Existing, st.integers(min_value=0, max_value=3), st.sampled_from(["pk", "str", "instance"])
)

parents = mostly(
    st.none() | existing_messages,
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.integers(max_value=-1),
    st.sampled_from(
        ["", " ", "1", " 1 ", "+1", "-1", "1.0", "0x1", "\u0661", "²", "9" * 40, "\x00"]
    ),
    st.text(max_size=12),
    st.floats(allow_nan=True),
)

idempotency_keys = mostly(
    st.none() | st.text(min_size=1, max_size=64).filter(str.strip),
    st.sampled_from(["k", " k ", "", " ", "x" * 64, "x" * 65, "k\x00", "k\ud800", "é" * 64]),
    st.text(max_size=70),
    st.integers(),
    st.binary(max_size=4),
)

message_refs = mostly(
    st.builds(Existing, st.integers(min_value=0, max_value=3), st.sampled_from(["pk", "str"])),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**80),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
)

block_targets = mostly(
    st.one_of(st.builds(Person, st.integers(min_value=0, max_value=3)), st.sampled_from(NAMES)),
    st.sampled_from(["ghost", "nobody", "", "\x00", "a\x00b", "\ud800", "x" * 151]),
    st.text(max_size=20),
    st.none(),
    st.integers(),
)

blocks = mostly(
    st.just([]),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=3,
    ),
)


@pytest.fixture
def world(db):
    """Three people and a ghost (inactive), with a thread and two other conversations."""
    alice, bob, carol = (UserFactory(username=name) for name in NAMES)
    ghost = UserFactory(username="ghost", is_active=False)
    ab = services.message_send(sender=alice, receiver=bob, content="ab")
    ba = services.message_send(sender=bob, receiver=alice, content="ba", parent=ab)
    ac = services.message_send(sender=alice, receiver=carol, content="ac")
    bc = services.message_send(sender=bob, receiver=carol, content="bc")
    return {"people": [alice, bob, carol, ghost], "messages": [ab, ba, ac, bc]}


def resolve(value: Any, world) -> Any:
    if isinstance(value, Person):
        return world["people"][value.index]
    if isinstance(value, Existing):
        message = world["messages"][value.index]
        return {"pk": message.pk, "str": str(message.pk), "instance": message}[value.form]
    return value


def apply_blocks(pairs, world) -> set[tuple[int, int]]:
    """Make these blocks (blocker index, blocked index); answers them as user id pairs."""
    made = set()
    for blocker, blocked in pairs:
        if blocker != blocked:
            people = world["people"]
            services.user_block(user=people[blocker], target=people[blocked])
            made.add((people[blocker].pk, people[blocked].pk))
    return made


# Sending -------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    sender=st.integers(min_value=0, max_value=2),
    receiver=receivers,
    content=contents,
    parent=parents,
    key=idempotency_keys,
    blocked=blocks,
)
def test_a_send_stores_one_valid_message_or_refuses_and_stores_nothing(
    world, sender, receiver, content, parent, key, blocked
):
    with rolled_back():
        block_pairs = apply_blocks(blocked, world)
        sender = world["people"][sender]
        receiver, parent = resolve(receiver, world), resolve(parent, world)
        before = counts()

        message, refusal = attempt(
            send_as_an_interface,
            sender=sender,
            receiver=receiver,
            content=content,
            parent=parent,
            idempotency_key=key,
        )

        if refusal is not None:
            assert counts() == before
            assert refusal.field in {"receiver", "content", "parent_message", "idempotency_key"}
            return
        stored = Message.objects.select_related("receiver").get(pk=message.pk)
        assert stored.sender_id == sender.pk
        assert stored.receiver_id != sender.pk
        assert stored.receiver.is_active
        assert (sender.pk, stored.receiver_id) not in block_pairs
        assert (stored.receiver_id, sender.pk) not in block_pairs
        assert isinstance(content, str)
        assert stored.content == content.strip()
        assert 1 <= len(stored.content) <= MAX_CONTENT_LENGTH
        if stored.parent_message_id is not None:
            chosen = Message.objects.get(pk=stored.parent_message_id)
            assert {chosen.sender_id, chosen.receiver_id} == {sender.pk, stored.receiver_id}
            assert stored.thread_root_id == chosen.root_id
        else:
            assert parent is None and stored.thread_root_id is None
        assert counts() == {
            **before,
            "messages": before["messages"] + 1,
            "notifications": before["notifications"] + 1,
            "conversations": Conversation.objects.count(),
        }
        notification = Notification.objects.get(message=stored)
        assert (notification.user_id, notification.actor_id) == (stored.receiver_id, sender.pk)
        rows = Conversation.objects.filter(last_message=stored)
        assert {(row.owner_id, row.partner_id) for row in rows} == {
            (sender.pk, stored.receiver_id),
            (stored.receiver_id, sender.pk),
        }


@PROPERTY_SETTINGS
@given(
    sender=st.integers(min_value=0, max_value=2),
    receiver=st.integers(min_value=0, max_value=2),
    content=st.text(min_size=1).filter(lambda text: has_visible_text(text) and "\x00" not in text),
    reply_to=st.none() | st.integers(min_value=0, max_value=3),
)
def test_every_valid_send_is_accepted(world, sender, receiver, content, reply_to):
    sender, receiver = world["people"][sender], world["people"][receiver]
    if sender == receiver or len(content.strip()) > MAX_CONTENT_LENGTH:
        return
    parent = None if reply_to is None else world["messages"][reply_to]
    if parent is not None and {sender.pk, receiver.pk} != {parent.sender_id, parent.receiver_id}:
        parent = None
    with rolled_back():
        message = services.message_send(
            sender=sender,
            receiver=selectors.recipient(sender=sender, username=receiver.username),
            content=clean_content(content),
            parent=parent,
        )
        assert Message.objects.get(pk=message.pk).content == content.strip()


@PROPERTY_SETTINGS
@given(
    sender=st.integers(min_value=0, max_value=2),
    key=st.text(min_size=1, max_size=64).filter(lambda key: key.strip() and "\x00" not in key),
    first=st.text(min_size=1, max_size=20).filter(
        lambda text: has_visible_text(text) and "\x00" not in text
    ),
    retry=contents,
)
def test_a_retry_with_the_same_key_answers_the_first_message_and_stores_nothing(
    world, sender, key, first, retry
):
    sender = world["people"][sender]
    receiver = world["people"][(world["people"].index(sender) + 1) % 3]
    with rolled_back():
        original = services.message_send(
            sender=sender,
            receiver=receiver,
            content=clean_content(first),
            idempotency_key=clean_idempotency_key(key),
        )
        before = counts()

        # The API answers the earlier message before it reads the body, whatever it is.
        body = (
            retry
            if isinstance(retry, bytes)
            else json.dumps({"receiver": "whoever", "content": retry})
        )
        response = api_client(sender).generic(
            "POST",
            "/api/v1/messages/",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": f" {key} "},
        )
        # A concurrent retry, past that check: its insert collides on the key.
        try:
            retried = clean_content(retry)
        except ValidationError:
            retried = original.content
        again = services.message_send(
            sender=sender,
            receiver=receiver,
            content=retried,
            idempotency_key=clean_idempotency_key(f" {key} "),
        )

        assert response.status_code == 201, response.content
        assert (response.json()["id"], response.json()["content"]) == (
            original.pk,
            original.content,
        )
        assert (again.pk, again.content) == (original.pk, original.content)
        assert counts() == before


# Every other write ---------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(
    user=st.integers(min_value=0, max_value=2),
    message=message_refs,
    content=contents,
    blocked=blocks,
)
def test_an_edit_changes_only_the_senders_text_or_refuses_and_stores_nothing(
    world, user, message, content, blocked
):
    with rolled_back():
        apply_blocks(blocked, world)
        user = world["people"][user]
        ref = resolve(message, world)
        before = counts()
        texts = dict(Message.objects.values_list("pk", "content"))

        edited, refusal = attempt(edit_as_an_interface, user=user, message=ref, content=content)

        if refusal is not None:
            assert counts() == before
            assert dict(Message.objects.values_list("pk", "content")) == texts
            return
        stored = Message.objects.get(pk=edited.pk)
        assert stored.sender_id == user.pk
        assert stored.content == content.strip()
        assert 1 <= len(stored.content) <= MAX_CONTENT_LENGTH
        changed = texts[stored.pk] != stored.content
        # A receiver who blocks the sender is not notified of the edit.
        silenced = blocks_sender(stored)
        assert counts() == {
            **before,
            "history": before["history"] + changed,
            "notifications": before["notifications"] + (changed and not silenced),
        }
        if changed:
            assert stored.edited
            assert stored.history.get().old_content == texts[stored.pk]


OPERATIONS = ["delete", "mark_read", "conversation_mark_read", "block", "unblock"]


@PROPERTY_SETTINGS
@given(
    operation=st.sampled_from(OPERATIONS),
    user=st.integers(min_value=0, max_value=2),
    message=message_refs,
    target=block_targets,
)
def test_other_writes_do_their_job_or_refuse_and_store_nothing(
    world, operation, user, message, target
):
    with rolled_back():
        user = world["people"][user]
        ref, other = resolve(message, world), resolve(target, world)
        call, kwargs = {
            "delete": (services.message_delete, {"message": ref}),
            "mark_read": (services.message_mark_read, {"message": ref}),
            "conversation_mark_read": (services.conversation_mark_read, {"partner": other}),
            "block": (services.user_block, {"target": other}),
            "unblock": (services.user_unblock, {"target": other}),
        }[operation]
        before = counts()
        reads = list(Message.objects.order_by("pk").values_list("pk", "read"))

        _, refusal = attempt(call, user=user, **kwargs)

        if refusal is not None:
            assert counts() == before
            assert list(Message.objects.order_by("pk").values_list("pk", "read")) == reads
        check_consistency(world["people"][:3])


# The whole picture, after any sequence -------------------------------------------------


def newest(messages: list[Message]) -> Message | None:
    return max(messages, key=lambda m: (m.timestamp, m.pk), default=None)


def blocks_sender(message: Message) -> bool:
    """Whether the message's receiver blocks its sender."""
    return MessagingProfile.blocked.through.objects.filter(
        messagingprofile_id=message.receiver_id, user_id=message.sender_id
    ).exists()


def check_consistency(people, silent_edits: Counter | None = None) -> None:
    """Every stored row agrees with the messages; nothing points at a missing row.

    `silent_edits`: per message, the edits made while its receiver blocked its
    sender, which notified nobody."""
    silent_edits = silent_edits or Counter()
    messages = {m.pk: m for m in Message.objects.all()}
    blocked = set(
        MessagingProfile.blocked.through.objects.values_list("messagingprofile_id", "user_id")
    )
    rows = {(c.owner_id, c.partner_id): c for c in Conversation.objects.all()}

    for owner in people:
        for partner in people:
            if owner == partner:
                continue
            pair = [
                m
                for m in messages.values()
                if {m.sender_id, m.receiver_id} == {owner.pk, partner.pk}
            ]
            row = rows.get((owner.pk, partner.pk))
            label = f"{owner.username}'s row for {partner.username}"
            if not pair:
                assert row is None, label
                continue
            assert row is not None, label
            last = newest(pair)
            assert row.last_message_id == last.pk, label
            assert row.last_activity == last.timestamp, label
            unread = sum(1 for m in pair if m.sender_id == partner.pk and not m.read)
            assert row.unread_count == unread, label
            assert row.hidden == ((owner.pk, partner.pk) in blocked), label

    for message in messages.values():
        content = message.content
        assert content == content.strip() and 1 <= len(content) <= MAX_CONTENT_LENGTH
        assert has_visible_text(content), message.pk
        if message.parent_message_id is None:
            assert message.thread_root_id is None, message.pk
        else:
            parent = messages[message.parent_message_id]  # KeyError: a dangling reply
            assert {parent.sender_id, parent.receiver_id} == {
                message.sender_id,
                message.receiver_id,
            }
            root = parent
            while root.parent_message_id is not None:
                root = messages[root.parent_message_id]
            assert message.thread_root_id == root.pk, message.pk

    kinds: dict[int, list[str]] = {pk: [] for pk in messages}
    for note in Notification.objects.all():
        kinds[note.message_id].append(note.kind)  # KeyError: a dangling notification
        message = messages[note.message_id]
        assert note.user_id == message.receiver_id
        assert note.actor_id == message.sender_id
        # Reading a message reads its notification: the unread counts agree.
        assert note.read or not message.read or note.kind == Notification.Kind.EDIT, note.pk
    edits: dict[int, int] = {pk: 0 for pk in messages}
    for message_id in MessageHistory.objects.values_list("message_id", flat=True):
        edits[message_id] += 1  # KeyError: dangling history
    for pk, message in messages.items():
        kinds_of = kinds[pk]
        new = [k for k in kinds_of if k != Notification.Kind.EDIT]
        assert len(new) == 1, f"message {pk} has notifications {kinds_of}"
        assert kinds_of.count(Notification.Kind.EDIT) == edits[pk] - silent_edits[pk]
        assert message.edited == (edits[pk] > 0)
    assert set(Conversation.objects.values_list("last_message_id", flat=True)) <= set(messages)


class Exchanges(RuleBasedStateMachine):
    """Random sequences of every write between alice, bob and carol.

    Rules mostly act as someone allowed to (the sender edits, the receiver reads) and
    now and then as someone who is not, or on a deleted message: both paths are taken.
    """

    def __init__(self, people) -> None:
        super().__init__()
        self.people = people
        self.live: dict[int, tuple[int, int]] = {}  # id: (sender, receiver) as indexes
        self.gone: list[int] = []
        self.keys: dict[tuple[int, str], int] = {}
        self.silent_edits: Counter = Counter()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def write(self, call, **kwargs) -> Any:
        before = counts()
        result, refusal = attempt(call, **kwargs)
        if refusal is not None:
            assert counts() == before, refusal
        return result

    def pick(self, index: int, role: str) -> tuple[Any, int]:
        """(who acts, on which message id): `role` is the message's "sender", its
        "receiver", a "stranger" to it, or "gone" for a deleted message."""
        if role == "gone" or not self.live:
            pk = self.gone[index % len(self.gone)] if self.gone else 10**9
            return self.people[index % 3], pk
        pk = sorted(self.live)[index % len(self.live)]
        sender, receiver = self.live[pk]
        who = {"sender": sender, "receiver": receiver, "stranger": 3 - sender - receiver}
        return self.people[who[role]], pk

    people_index = st.integers(min_value=0, max_value=2)
    texts = mostly(
        st.text(min_size=1, max_size=30).filter(
            lambda text: has_visible_text(text) and "\x00" not in text
        ),
        st.text(max_size=30),
        st.sampled_from(["  padded  ", " ", "x" * (MAX_CONTENT_LENGTH + 1)]),
    )
    # Mostly someone else: sending to oneself is refused, and tried now and then.
    others = mostly(st.integers(min_value=1, max_value=2), st.just(0))
    keys = mostly(st.none(), st.sampled_from(["k1", "k2"]))
    as_sender = mostly(st.just("sender"), st.sampled_from(["receiver", "stranger", "gone"]))
    as_receiver = mostly(st.just("receiver"), st.sampled_from(["sender", "stranger", "gone"]))
    either_side = mostly(st.sampled_from(["sender", "receiver"]), st.just("stranger"))

    def _send(self, sender: int, receiver: int, content, parent, key) -> None:
        earlier = self.keys.get((sender, key)) if key else None
        message = self.write(
            send_as_an_interface,
            sender=self.people[sender],
            receiver=self.people[receiver].username,
            content=content,
            parent=parent,
            idempotency_key=key,
        )
        if earlier in self.live:
            assert message is not None and message.pk == earlier  # the retry's answer
        elif message is not None:
            assert message.pk not in self.live
            self.live[message.pk] = (sender, receiver)
            if key:
                self.keys[(sender, key)] = message.pk

    @initialize(unread=st.lists(st.booleans(), min_size=4, max_size=4))
    def some_conversations(self, unread):
        """A thread between alice and bob and two other conversations, some of it read."""
        for sender, receiver, parent in ((0, 1, None), (1, 0, 0), (0, 2, None), (2, 1, None)):
            parent_id = sorted(self.live)[parent] if parent is not None else None
            self._send(sender, receiver, f"hello {receiver}", parent_id, None)
        for pk, leave_unread in zip(sorted(self.live), unread, strict=True):
            if not leave_unread:
                services.message_mark_read(user=self.people[self.live[pk][1]], message=pk)

    @rule(sender=people_index, offset=others, content=texts, key=keys)
    def send(self, sender, offset, content, key):
        self._send(sender, (sender + offset) % 3, content, None, key)

    @precondition(lambda self: self.live)
    @rule(message=st.integers(min_value=0), side=either_side, content=texts)
    def reply(self, message, side, content):
        author, parent = self.pick(message, side)
        sender = self.people.index(author)
        first, second = self.live.get(parent, (0, 1))
        receiver = second if sender == first else first
        if side == "stranger":
            receiver = (sender + 1) % 3  # a reply into somebody else's conversation
        self._send(sender, receiver, content, parent, None)

    @precondition(lambda self: self.live)
    @rule(message=st.integers(min_value=0), role=as_sender, content=texts)
    def edit(self, message, role, content):
        user, pk = self.pick(message, role)
        history = MessageHistory.objects.filter(message_id=pk).count()
        edited = self.write(edit_as_an_interface, user=user, message=pk, content=content)
        changed = MessageHistory.objects.filter(message_id=pk).count() > history
        if edited is not None and changed and blocks_sender(edited):
            self.silent_edits[pk] += 1

    @precondition(lambda self: self.live)
    @rule(message=st.integers(min_value=0), role=as_sender)
    def delete(self, message, role):
        user, pk = self.pick(message, role)
        before = Message.objects.filter(pk=pk).exists()
        self.write(services.message_delete, user=user, message=pk)
        if before and not Message.objects.filter(pk=pk).exists():
            del self.live[pk]
            self.gone.append(pk)

    @precondition(lambda self: self.live)
    @rule(message=st.integers(min_value=0), role=as_receiver)
    def mark_read(self, message, role):
        user, pk = self.pick(message, role)
        self.write(services.message_mark_read, user=user, message=pk)

    @rule(user=people_index, offset=others, by_name=st.booleans())
    def conversation_mark_read(self, user, offset, by_name):
        partner = self.people[(user + offset) % 3]
        self.write(
            services.conversation_mark_read,
            user=self.people[user],
            partner=partner.username if by_name else partner,
        )

    # (`target` is a keyword of `rule` itself.)
    @rule(user=people_index, offset=others, blocks=mostly(st.just(False), st.just(True)))
    def block_or_unblock(self, user, offset, blocks):
        user, other = self.people[user], self.people[(user + offset) % 3]
        if blocks:
            self.write(services.user_block, user=user, target=other)
        else:
            self.write(services.user_unblock, user=user, target=other.username)

    @invariant()
    def rows_agree_with_the_messages(self):
        check_consistency(self.people, self.silent_edits)


def test_any_sequence_of_writes_keeps_every_row_consistent(world):
    people = world["people"][:3]
    # Start from no messages: every row the machine sees is one it made.
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    run_state_machine_as_test(
        lambda: Exchanges(people),
        settings=settings(
            PROPERTY_SETTINGS, max_examples=50, stateful_step_count=40, deadline=None
        ),
    )


def test_the_consistency_check_catches_a_wrong_unread_count(world):
    """The invariant is not vacuous: one counter off by one is caught."""
    Conversation.objects.filter(owner=world["people"][1]).update(unread_count=5)

    with pytest.raises(AssertionError, match="bob's row for alice"):
        check_consistency(world["people"][:3])


# Regressions found by the properties ----------------------------------------------------


# (What a client sees of these three: messaging/tests/api/test_send_rules.py.)


@pytest.mark.parametrize("key", [5, b"k", ["k"], "k\x00", "k\ud800"])
def test_an_idempotency_key_that_is_not_storable_text_is_refused(key):
    with pytest.raises(ValidationError) as refused:
        clean_idempotency_key(key)

    assert refused.value.field == "idempotency_key"


@pytest.mark.parametrize("name", ["bob\x00", "\x00", "b\ud800b"])
def test_a_receiver_name_the_database_cannot_hold_is_unknown(alice, bob, name):
    with pytest.raises(ValidationError) as refused:
        selectors.recipient(sender=alice, username=name)

    assert refused.value.field == "receiver"


@pytest.mark.parametrize("content", ["hi \ud800", "\udfff", "a\udc80b"])
def test_content_with_an_unpaired_surrogate_is_refused(content):
    """Sends and edits alike: every interface cleans both with `clean_content`."""
    with pytest.raises(ValidationError) as refused:
        clean_content(content)

    assert refused.value.field == "content"


@pytest.mark.parametrize("target", [None, 5, "a\x00b", "\x00", "\ud800"])
@pytest.mark.parametrize("action", [services.user_block, services.user_unblock])
def test_a_block_target_that_names_nobody_is_not_found(alice, action, target):
    with pytest.raises(NotFound):
        action(user=alice, target=target)

    assert not MessagingProfile.objects.exists()


@pytest.mark.parametrize("partner", ["a\x00b", "\ud800"])
def test_marking_a_conversation_read_with_an_impossible_name_is_not_found(alice, partner):
    with pytest.raises(NotFound):
        services.conversation_mark_read(user=alice, partner=partner)


def fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms, which NFKC normalization turns back."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize("name", [fullwidth("ALICE"), fullwidth("alice"), "ALICE"])
def test_a_name_that_normalizes_to_a_taken_one_is_taken(alice, name):
    """Names are normalized (NFKC) before saving, so fullwidth "ALICE" is saved "ALICE".
    The uniqueness check, which ignores case, looked for the name as typed: it let the
    fullwidth name through as a second "alice"."""
    with pytest.raises(ValidationError) as refused:
        services.user_register(username=name, password="a-long-enough-secret")

    assert refused.value.field == "username"
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
