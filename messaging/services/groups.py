"""Groups: create, rename, add and remove members (leaving is removing oneself), and
reading a group.

A member is the owner of the group's `Conversation` row: their inbox row and their read
pointer (`last_read_id`, the newest message of the group they have read). A pointer
rather than a row per member and message: a send writes nothing per member for read
state, reading a whole group is one UPDATE, and what is unread is an index range
(`msg_group_id`) past the pointer (docs/benchmarks.md measures the send to 100 people).

Every change reaches every member's sockets as `group.updated` (the group as it is now,
with what changed); someone who leaves or is removed hears `group.left` on every socket
at once, and from then on sees nothing of the group (`selectors.group_get` and
`Message.objects.for_participant` ask for a membership now).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef
from django.db.models.functions import Greatest
from django.utils import timezone

from .. import cache as cache_keys
from .. import payloads, selectors
from ..content import MAX_GROUP_MEMBERS, storable
from ..exceptions import NotFound, PermissionDenied, ValidationError
from ..models import Conversation, Group, Message, MessageHistory, Notification
from ..realtime.publishing import Event, send_on_commit
from .conversations import _group_refresh_last

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _announce(group: Group, member_ids: list[int], change: dict[str, Any]) -> None:
    """`group.updated` to every member, once the transaction commits; their inboxes and
    the group's pages move on."""
    cache_keys.invalidate(users=member_ids, groups=[group.pk])

    def build() -> dict[str, Any]:
        fresh = selectors.group_get_any(group.pk)
        return {**payloads.group(fresh), "change": change}

    send_on_commit(Event(tuple(member_ids), "group.updated", build))


@transaction.atomic
def group_create(*, creator: User, name: str, members: list[User]) -> Group:
    """A group named `name` (clean: `content.clean_group_name`) of `creator` and
    `members` (people `creator` may add: `selectors.addable_people`)."""
    others = {user.pk: user for user in members if user.pk != creator.pk}
    if not others:
        raise ValidationError("Add at least one other person.", field="members")
    if len(others) + 1 > MAX_GROUP_MEMBERS:
        raise ValidationError(f"A group has at most {MAX_GROUP_MEMBERS} people.", field="members")
    now = timezone.now()
    group = Group.objects.create(name=name, created_by=creator, created_at=now)
    Conversation.objects.bulk_create(
        Conversation(owner_id=pk, group=group, last_activity=now) for pk in [creator.pk, *others]
    )
    group.member_names = sorted([creator.username, *(user.username for user in others.values())])
    _announce(
        group,
        [creator.pk, *others],
        {"kind": "created", "by": creator.username},
    )
    return group


@transaction.atomic
def group_rename(*, user: User, group: Group | int, name: str) -> Group:
    """Any member renames the group (`name` clean: `content.clean_group_name`)."""
    found = selectors.membership(user, _pk(group)).member_group
    if found.name != name:
        Group.objects.filter(pk=found.pk).update(name=name)
        _announce(
            found,
            selectors.group_member_ids(found.pk),
            {"kind": "renamed", "by": user.username, "name": name},
        )
    return selectors.group_get(user, found.pk)


@transaction.atomic
def group_add_member(*, user: User, group: Group | int, member: User) -> Group:
    """Any member adds `member` (someone `user` may add: `selectors.addable_people`).

    The newcomer sees the group's history, none of it unread: their read pointer starts
    at its newest message.
    """
    row = selectors.membership(user, _pk(group))
    group_id = row.member_group.pk
    member_ids = selectors.group_member_ids(group_id)
    if member.pk in member_ids:
        raise ValidationError("This person is a member already.", field="username")
    if len(member_ids) >= MAX_GROUP_MEMBERS:
        raise ValidationError(f"A group has at most {MAX_GROUP_MEMBERS} people.", field="username")
    try:
        with transaction.atomic():
            Conversation.objects.create(
                owner=member,
                group_id=group_id,
                last_message_id=row.last_message_id,
                last_activity=timezone.now(),
                # The adder's row shows the group's newest message (sends and deletes
                # keep it): no query for it.
                last_read_id=row.last_message_id or 0,
            )
    except IntegrityError:  # added by someone else meanwhile: the unique membership decides
        raise ValidationError("This person is a member already.", field="username") from None
    _announce(
        row.member_group,
        [*member_ids, member.pk],
        {"kind": "added", "by": user.username, "member": member.username},
    )
    return selectors.group_get(user, group_id)


@transaction.atomic
def group_remove_member(*, user: User, group: Group | int, username: str) -> None:
    """`user` leaves the group (their own name), or its creator removes someone else.

    Anyone else asking to remove someone: PermissionDenied; a name that is no member's:
    NotFound. The person removed sees nothing of the group from the commit on: their
    notifications about its messages go, their sockets hear `group.left`. A group whose
    last member leaves is deleted with its messages.
    """
    row = selectors.membership(user, _pk(group))
    found = row.member_group
    if not storable(username) or "\x00" in username:
        raise NotFound("No member of this group has this username.")
    if username == user.username:
        leaving = row
    else:
        if found.created_by_id != user.pk:
            raise PermissionDenied("Only the group's creator removes other people.")
        other = (
            Conversation.objects.select_related("owner")
            .filter(group=found, owner__username=username)
            .first()
        )
        if other is None:
            raise NotFound("No member of this group has this username.")
        leaving = other
    member_id = leaving.owner_id
    leaving.delete()
    Notification.objects.filter(user_id=member_id, message__group=found).delete()
    remaining = selectors.group_member_ids(found.pk)
    cache_keys.invalidate(users=[member_id], groups=[found.pk])
    send_on_commit(Event((member_id,), "group.left", lambda: {"id": found.pk}))
    if not remaining:
        _groups_delete([found.pk])  # nobody can see it any more: its messages go with it
        return
    kind = "left" if member_id == user.pk else "removed"
    change = {"kind": kind, "by": user.username, "member": username}
    _announce(found, remaining, change)


def group_mark_read(*, user: User, group: Group | int) -> int:
    """Every message of the group is read by `user`, and so are their notifications
    about them. Answers how many messages were unread.

    Viewing a group calls this on every view, so when nothing is unread it is one
    read-only query (no write transaction, no lock): `selectors.group_newest_unread`.
    """
    pk = _pk(group)
    newest = selectors.group_newest_unread(user, pk)
    if newest is None:
        return 0
    return _group_read(user=user, group_id=pk, up_to=newest)


def group_message_mark_read(*, user: User, message: Message) -> None:
    """A member has read `message` of a group, and with it every earlier one (the read
    pointer moves to it, never back). Its sender has read it already."""
    if message.sender_id == user.pk:
        return
    _group_read(user=user, group_id=message.group_pk, up_to=message.pk)


@transaction.atomic
def _group_read(*, user: User, group_id: int, up_to: int | None) -> int:
    row = selectors.membership(user, group_id, for_update=True)
    before = row.last_read_id
    moved = 0
    if up_to is not None and up_to > before:
        moved = (
            selectors.group_unread(user)
            .filter(group_id=group_id, pk__gt=before, pk__lte=up_to)
            .count()
        )
        Conversation.objects.filter(pk=row.pk).update(last_read_id=Greatest("last_read_id", up_to))
    pointer = max(before, up_to or 0)
    # The notifications of what was just read, found from the group's range of messages
    # (not from all of the reader's unread notifications, which may be many).
    newly_read = Message.objects.filter(group_id=group_id, pk__gt=before, pk__lte=pointer)
    Notification.objects.filter(
        user=user, read=False, message_id__in=newly_read.values("pk")
    ).update(read=True)
    cache_keys.invalidate(users=[user.pk], groups=[group_id])
    if pointer > before:
        others = tuple(pk for pk in selectors.group_member_ids(group_id) if pk != user.pk)
        receipt = {"group": group_id, "reader": user.username, "up_to": pointer}
        send_on_commit(Event(others, "message.read", lambda: receipt))
    send_on_commit(
        Event((user.pk,), "conversation.read", lambda: {"group": group_id, "up_to": pointer})
    )
    return moved


def groups_before_member_deleted(user: User, group_ids: list[int]) -> None:
    """Before the user's group messages go with their account: every reply someone else
    wrote to one of them moves up its thread (`messages._detach_replies`), so nobody
    else's message is deleted with them (a few queries per message that has such
    replies; none for the others), and no member's inbox row points at them."""
    from .messages import _detach_replies

    Conversation.objects.filter(group_id__in=group_ids, last_message__sender=user).update(
        last_message=None
    )

    others_replies = Message.objects.filter(parent_message=OuterRef("pk")).exclude(sender=user)
    while True:
        answered = list(
            Message.objects.filter(sender=user, group__isnull=False)
            .filter(Exists(others_replies))
            .only("id", "parent_message_id", "thread_root_id")
            .order_by("-timestamp", "-id")[:100]
        )
        if not answered:
            break
        for message in answered:
            _detach_replies(message)


def groups_member_gone(group_ids: list[int], *, username: str) -> None:
    """After an account is deleted: its groups' members hear it left; a group left with
    no member is deleted with everything in it."""
    counts = dict(
        Group.objects.filter(pk__in=group_ids)
        .annotate(n=Count("memberships"))
        .values_list("pk", "n")
    )
    empty = [pk for pk, n in counts.items() if n == 0]
    if empty:
        _groups_delete(empty)
    for pk, n in counts.items():
        if n:
            _group_refresh_last(pk)
            group = Group(pk=pk)
            _announce(group, selectors.group_member_ids(pk), {"kind": "left", "member": username})


def _groups_delete(group_ids: list[int]) -> None:
    """Delete these groups and everything in them, a fixed number of statements however
    many messages they hold (no per-row signals: nobody is left to tell)."""
    messages = Message.objects.filter(group_id__in=group_ids)
    for rows in (
        MessageHistory.objects.filter(message__in=messages),
        Notification.objects.filter(message__in=messages),
        Conversation.objects.filter(group_id__in=group_ids),
        messages,
        Group.objects.filter(pk__in=group_ids),
    ):
        rows._raw_delete(rows.db)
    cache_keys.invalidate(groups=group_ids)


def _pk(group: Group | int) -> int:
    return group.pk if isinstance(group, Group) else selectors.group_pk(group)
