"""Groups: one for a member, a person's groups, who a group message goes to, what a
member has not read, and the people a member may add.

Membership decides everything: anyone not a member now (never, or no longer) is told
`NotFound`, exactly as if the group did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
)

from ..content import storable
from ..exceptions import NotFound, ValidationError
from ..managers import MessageQuerySet
from ..models import Conversation, Group, Message, MessagingProfile
from .messages import messages_with_people, reply_count_subquery, viewer_read

if TYPE_CHECKING:
    from django.contrib.auth.models import User
else:
    User = get_user_model()


#: The largest id a row can have (a signed 64-bit key): past it, no group.
MAX_GROUP_ID = 2**63 - 1


def group_pk(group_id: Any) -> int:
    """A group's id as asked for (an int, or the text of one), else NotFound: an id no
    row can have (out of the 64-bit key's range) is no group, not a database error."""
    try:
        pk = int(group_id)
    except (TypeError, ValueError):
        raise NotFound("No such group.") from None
    if not 0 < pk <= MAX_GROUP_ID:
        raise NotFound("No such group.")
    return pk


def _with_member_names(groups: QuerySet[Group]) -> QuerySet[Group]:
    members = Conversation.objects.select_related("owner").only("group_id", "owner__username")
    return groups.select_related("created_by").prefetch_related(
        Prefetch("memberships", queryset=members.order_by("owner__username"), to_attr="_rows")
    )


def _named(group: Group) -> Group:
    group.member_names = [row.owner.username for row in getattr(group, "_rows", [])]
    return group


def group_get(user: User, group_id: Any) -> Group:
    """The group if `user` is a member, with its members' usernames; else NotFound.

    Two queries: the group (with its creator) for a member, then its members.
    """
    pk = group_pk(group_id)
    found = _with_member_names(Group.objects.filter(pk=pk, memberships__owner=user)).first()
    if found is None:
        raise NotFound("No such group.")
    return _named(found)


def group_get_any(group_id: int) -> Group:
    """The group with its members' usernames, whoever asks: for what the services
    announce to its members."""
    return _named(_with_member_names(Group.objects.filter(pk=group_id)).get())


def group_list(user: User) -> list[Group] | QuerySet[Group]:
    """The groups `user` belongs to, newest first, each with its members' usernames
    (unsliced, for a paginator: each page costs two queries)."""
    return _with_member_names(
        Group.objects.filter(memberships__owner=user).order_by("-created_at", "-id")
    )


def group_named(groups: list[Group]) -> list[Group]:
    """Each group of a loaded page with its `member_names` (from the prefetch)."""
    return [_named(group) for group in groups]


def membership(user: User, group_id: Any, *, for_update: bool = False) -> Conversation:
    """`user`'s row in the group (their inbox row and read pointer), with the group; else
    NotFound. What pages and reads need of a group: one query."""
    rows = Conversation.objects.select_related("group").filter(
        owner=user, group_id=group_pk(group_id)
    )
    if for_update:
        rows = rows.select_for_update(of=("self",))
    found = rows.first()
    if found is None:
        raise NotFound("No such group.")
    return found


@dataclass(frozen=True)
class Audience:
    """Who a group message from `sender` reaches: the group's name, every other member,
    and those of them to notify (not the ones who blocked the sender)."""

    group_id: int
    name: str
    others: tuple[int, ...]
    notified: tuple[int, ...]


def group_audience(sender: User, group_id: Any) -> Audience:
    """The audience of a message `sender` writes to the group, in one query; NotFound
    unless `sender` is a member."""
    pk = group_pk(group_id)
    blocks = MessagingProfile.blocked.through.objects.filter(
        messagingprofile_id=OuterRef("owner_id"), user_id=sender.pk
    )
    rows = list(
        Conversation.objects.filter(group_id=pk)
        .annotate(blocks_sender=Exists(blocks))
        .values_list("owner_id", "group__name", "blocks_sender")
    )
    if not any(owner == sender.pk for owner, _, _ in rows):
        raise NotFound("No such group.")
    others = tuple(owner for owner, _, _ in rows if owner != sender.pk)
    return Audience(
        group_id=pk,
        name=rows[0][1],
        others=others,
        notified=tuple(owner for owner, _, blocks in rows if owner != sender.pk and not blocks),
    )


def group_audience_rows(group_id: int, *, sender_id: int) -> list[tuple[int, int, bool]]:
    """Each member of the group: (id, read pointer, whether they block `sender_id`)."""
    blocks = MessagingProfile.blocked.through.objects.filter(
        messagingprofile_id=OuterRef("owner_id"), user_id=sender_id
    )
    return list(
        Conversation.objects.filter(group_id=group_id)
        .annotate(blocks_sender=Exists(blocks))
        .values_list("owner_id", "last_read_id", "blocks_sender")
    )


def group_member_ids(group_id: int) -> list[int]:
    return list(Conversation.objects.filter(group_id=group_id).values_list("owner_id", flat=True))


def group_messages(user: User, group: Group | int) -> MessageQuerySet:
    """The group's messages, newest first, as `user` (a member: the caller checked)
    sees them: with `reply_count` and their own `read`."""
    pk = group if isinstance(group, int) else group.pk
    return (
        messages_with_people()  # type: ignore[no-redef]  # stubs bug, django-stubs#2818
        .filter(group_id=pk)
        .annotate(reply_count=reply_count_subquery(), viewer_read=viewer_read(user))
        .order_by("-timestamp", "-id")
    )


def group_unread(user: User) -> MessageQuerySet:
    """The group messages `user` has not read: past their read pointer in each group they
    belong to, from someone else. The `msg_group_id` index serves each group's part."""
    return Message.objects.filter(
        group__memberships__owner=user,
        pk__gt=F("group__memberships__last_read_id"),
    ).exclude(sender=user)


def group_newest_unread(user: User, group_id: Any) -> int | None:
    """The newest message of the group `user` has not read (None when they have read them
    all); NotFound for anyone not a member.

    One query (the membership row, which knows the group's newest message) unless that
    newest message is the user's own and newer than their pointer; then a second one,
    with the pointer as a constant. Never a subquery correlated on the pointer: with
    statistics that lag behind the sends, PostgreSQL walked the primary key down through
    every message sent anywhere since the pointer instead of the group's own range.

    Their notifications need no question of their own: every read of a group marks read
    the notifications of what it read, so an unread one is about an unread message.
    """
    row = (
        Conversation.objects.filter(owner=user, group_id=group_pk(group_id))
        .values_list("group_id", "last_read_id", "last_message_id", "last_message__sender_id")
        .first()
    )
    if row is None:
        raise NotFound("No such group.")
    group, pointer, newest, newest_sender = row
    if newest is None or newest <= pointer:
        return None
    if newest_sender != user.pk:
        return newest
    others: int | None = (
        Message.objects.filter(group_id=group, pk__gt=pointer)
        .exclude(sender=user)
        .aggregate(newest=Max("pk"))["newest"]
    )
    return others


def group_unread_counts(user: User, group_ids: list[int]) -> dict[int, int]:
    """How many messages `user` has not read in each of `group_ids`: one query."""
    if not group_ids:
        return {}
    rows = (
        group_unread(user)
        .filter(group_id__in=group_ids)
        .order_by()
        .values("group_id")
        .annotate(n=Count("pk"))
        .values_list("group_id", "n")
    )
    return dict(rows)


def addable_people(adder: User, usernames: list[str], *, field: str) -> list[User]:
    """The people named `usernames` that `adder` may put in a group, in one query: each
    must exist and be active, with no block either way between them (the rules of a
    direct send). Else ValidationError on `field`, naming whom."""
    from .users import block_flags  # the people rules live with users

    wanted = [name for name in dict.fromkeys(usernames) if storable(name) and "\x00" not in name]
    found: dict[str, Any] = {  # users with their block flags
        user.username: user
        for user in User.objects.annotate(**block_flags(adder)).filter(
            username__in=wanted, is_active=True
        )
    }
    unknown = [name for name in dict.fromkeys(usernames) if name not in found]
    if unknown:
        raise ValidationError(
            "No user has this username: " + ", ".join(unknown[:5]) + ".", field=field
        )
    refused = [user.username for user in found.values() if user.blocks_them or user.blocked_by_them]
    if refused:
        raise ValidationError(
            "You cannot add someone you blocked or who blocked you: "
            + ", ".join(refused[:5])
            + ".",
            field=field,
        )
    return list(found.values())
