"""After a run: everything the clients were told, compared with what the database holds.

`account()` reads the messaging tables directly (psycopg, autocommit) for the people
of a run and checks, with numbers:

- every acknowledged send is stored exactly once, under its id and Idempotency-Key,
  and nothing of these people is stored that no client was told about;
- no Idempotency-Key holds two messages of one sender;
- every message has exactly one `message`/`reply` notification, for its receiver, of
  the right kind (`reply` exactly when it has a parent);
- every acknowledged edit left one history row and one `edit` notification;
- every Conversation row shows the newest message between its two people and the
  owner's true unread count, and every pair with messages has its two rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any


def account(
    conn,
    *,
    usernames: list[str],
    sends: list[dict[str, Any]],
    edits: dict[int, int] | None = None,
) -> dict[str, Any]:
    """`sends`: acknowledged sends {"sender", "receiver", "key", "id", "parent"};
    `edits`: message id -> acknowledged edits that changed its text."""
    edits = edits or {}
    problems: list[str] = []
    users = dict(
        conn.execute(
            "SELECT username, id FROM auth_user WHERE username = ANY(%s)", (usernames,)
        ).fetchall()
    )
    ids = list(users.values())
    name = {v: k for k, v in users.items()}
    messages = conn.execute(
        """SELECT id, sender_id, receiver_id, idempotency_key, parent_message_id, read,
                  timestamp
           FROM messaging_message WHERE sender_id = ANY(%s) OR receiver_id = ANY(%s)""",
        (ids, ids),
    ).fetchall()
    by_id = {row[0]: row for row in messages}

    # Sends: once each, under the acknowledged id.
    keyed = Counter((row[1], row[3]) for row in messages if row[3] is not None)
    doubled = [(name.get(s, s), k, n) for (s, k), n in keyed.items() if n > 1]
    if doubled:
        problems.append(
            f"{len(doubled)} Idempotency-Keys hold more than one message: {doubled[:5]}"
        )
    stored_by_key = {(row[1], row[3]): row[0] for row in messages if row[3] is not None}
    missing, wrong_id, acked_ids = [], [], set()
    for send in sends:
        stored = stored_by_key.get((users.get(send["sender"]), send["key"]))
        if stored is None:
            missing.append(send)
        elif stored != send["id"]:
            wrong_id.append((send["id"], stored))
        acked_ids.add(send["id"])
    if missing:
        problems.append(f"{len(missing)} acknowledged sends are not stored: {missing[:3]}")
    if wrong_id:
        problems.append(f"{len(wrong_id)} sends stored under another id: {wrong_id[:5]}")
    unacknowledged = [row[0] for row in messages if row[0] not in acked_ids]
    if unacknowledged:
        problems.append(
            f"{len(unacknowledged)} messages stored that no client was told about: "
            f"{unacknowledged[:10]}"
        )

    # Notifications of new messages, and of edits.
    notifications = conn.execute(
        "SELECT message_id, kind, user_id FROM messaging_notification WHERE message_id = ANY(%s)",
        (list(by_id),),
    ).fetchall()
    new_kinds: dict[int, list[tuple[str, int]]] = defaultdict(list)
    edit_notes: Counter[int] = Counter()
    for message_id, kind, user_id in notifications:
        if kind == "edit":
            edit_notes[message_id] += 1
        else:
            new_kinds[message_id].append((kind, user_id))
    bad_notes = []
    for message_id, row in by_id.items():
        found = new_kinds.get(message_id, [])
        expected = ("reply" if row[4] is not None else "message", row[2])
        if found != [expected]:
            bad_notes.append((message_id, found, expected))
    if bad_notes:
        problems.append(
            f"{len(bad_notes)} messages without exactly one right notification: {bad_notes[:5]}"
        )
    history = Counter(
        message_id
        for (message_id,) in conn.execute(
            "SELECT message_id FROM messaging_messagehistory WHERE message_id = ANY(%s)",
            (list(by_id),),
        ).fetchall()
    )
    bad_edits = [
        (message_id, edits.get(message_id, 0), history[message_id], edit_notes[message_id])
        for message_id in set(edits) | set(history) | set(edit_notes)
        if not (edits.get(message_id, 0) == history[message_id] == edit_notes[message_id])
    ]
    if bad_edits:
        problems.append(
            f"{len(bad_edits)} messages whose (acknowledged edits, history rows, edit "
            f"notifications) differ: {bad_edits[:5]}"
        )

    # Conversation rows: newest message and unread count per owner and partner.
    newest: dict[tuple[int, int], tuple[Any, int]] = {}
    unread: Counter[tuple[int, int]] = Counter()
    for message_id, sender, receiver, _key, _parent, read, timestamp in messages:
        for owner, partner in ((sender, receiver), (receiver, sender)):
            current = newest.get((owner, partner))
            if current is None or (timestamp, message_id) > current:
                newest[(owner, partner)] = (timestamp, message_id)
        if not read:
            unread[(receiver, sender)] += 1
    rows = conn.execute(
        """SELECT owner_id, partner_id, last_message_id, unread_count FROM messaging_conversation
           WHERE owner_id = ANY(%s) OR partner_id = ANY(%s)""",
        (ids, ids),
    ).fetchall()
    seen = set()
    bad_rows = []
    for owner, partner, last_id, count in rows:
        seen.add((owner, partner))
        want = newest.get((owner, partner))
        want_last = want[1] if want else None
        want_unread = unread[(owner, partner)]
        if last_id != want_last or count != want_unread:
            bad_rows.append(
                {
                    "owner": name.get(owner, owner),
                    "partner": name.get(partner, partner),
                    "last_message": [last_id, want_last],
                    "unread_count": [count, want_unread],
                }
            )
    absent = [(name.get(o, o), name.get(p, p)) for o, p in newest if (o, p) not in seen]
    if bad_rows:
        problems.append(
            f"{len(bad_rows)} Conversation rows disagree with the messages "
            f"([row, messages]): {bad_rows[:5]}"
        )
    if absent:
        problems.append(f"{len(absent)} conversations without their row: {absent[:5]}")
    return {
        "messages_stored": len(messages),
        "sends_acknowledged": len(sends),
        "sends_stored_once": len(sends) - len(missing) - len(wrong_id),
        "stored_unacknowledged": len(unacknowledged),
        "keys_doubled": len(doubled),
        "notifications_new_message": sum(len(v) for v in new_kinds.values()),
        "messages_with_one_right_notification": len(by_id) - len(bad_notes),
        "edits_acknowledged": sum(edits.values()),
        "history_rows": sum(history.values()),
        "edit_notifications": sum(edit_notes.values()),
        "conversation_rows": len(rows),
        "conversation_rows_consistent": len(rows) - len(bad_rows),
        "problems": problems,
    }
