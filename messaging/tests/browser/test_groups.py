"""Group conversations in real Chromium: a group made from the inbox with the people
suggestions, written to and replied to on the chat page, seen live by the others (their
chat pages and inbox rows), renamed, and left; someone removed sees it on their open page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .test_chat import composer, expect_sent, names, say
from .test_live import live
from .test_story import message, reply_to, sign_up

pytestmark = pytest.mark.browser


def pick_person(page: Page, username: str) -> None:
    """Type a name into the group's "People" field and pick it from the suggestions."""
    field = page.get_by_label("Members", exact=True)
    field.press_sequentially(username)
    page.get_by_role("option", name=username, exact=True).click()
    expect(field).to_be_focused()


def group_row(page: Page, name: str):
    return page.locator("#conversations li[data-group]", has_text=name)


def test_make_a_group_write_reply_see_it_live_and_leave(person):
    ann, ben, cy = (person().new_page() for _ in range(3))
    a, b = names()
    c, _ = names()
    for page, name in ((ann, a), (ben, b), (cy, c)):
        sign_up(page, name)
    live(ben)
    live(cy)

    # Ann makes the group from the inbox, picking both people from the suggestions.
    ann.get_by_role("link", name="New group").click()
    ann.get_by_label("Group name").fill("Climbing <Sunday>")
    pick_person(ann, b)
    pick_person(ann, c)
    expect(ann.get_by_label("Members", exact=True)).to_have_value(f"{b}, {c}, ")
    ann.get_by_role("button", name="Create the group").click()
    expect(ann).to_have_url(re.compile(r"/groups/\d+/$"))
    expect(ann.locator("[data-group-name]")).to_have_text("Climbing <Sunday>")
    group_path = re.sub(r"^https?://[^/]+", "", ann.url)
    live(ann)

    # The others' inboxes show the new group at once.
    expect(group_row(ben, "Climbing <Sunday>")).to_contain_text("No messages yet")
    expect(group_row(cy, "Climbing <Sunday>")).to_be_visible()

    # Ben opens it; Ann writes; Ben sees it live, with who wrote it.
    group_row(ben, "Climbing <Sunday>").get_by_role("link").click()
    expect(ben).to_have_url(re.compile(re.escape(group_path) + "$"))
    live(ben)
    say(ann, "Who brings the rope?")
    expect_sent(ann, "Who brings the rope?", "Sent")
    arrived = message(ben, "Who brings the rope?")
    expect(arrived).to_be_visible()
    expect(arrived.locator(".msg__author")).to_have_text(a)

    # Ben replies; the reply stays in the group, Ann sees it live quoting her message,
    # and Cy's inbox row shows it with who wrote it.
    reply_to(ben, "Who brings the rope?", "I do, and the quickdraws.")
    reply = message(ann, "I do, and the quickdraws.")
    expect(reply).to_be_visible()
    expect(reply.locator("[data-quote-text]")).to_have_text("Who brings the rope?")
    expect(reply.locator(".msg__author")).to_have_text(b)
    row = group_row(cy, "Climbing <Sunday>")
    expect(row.locator("[data-from]")).to_have_text(f"{b}: ")
    expect(row.locator("[data-preview]")).to_have_text("I do, and the quickdraws.")
    expect(row.locator("[data-unread] [data-badge-count]")).to_have_text("2")

    # Ben renames it from the members panel; Ann's page follows.
    ben.locator("#members-summary").click()
    ben.get_by_label("Group name").fill("Climbing on Sunday")
    ben.get_by_role("button", name="Rename").click()
    expect(ben.locator("[data-group-name]")).to_have_text("Climbing on Sunday")
    expect(ann.locator("[data-group-name]")).to_have_text("Climbing on Sunday")
    expect(group_row(cy, "Climbing on Sunday")).to_be_visible()

    # Cy opens the group; Ann, its creator, removes Cy: Cy's open page says so.
    group_row(cy, "Climbing on Sunday").get_by_role("link").click()
    live(cy)
    ann.locator("#members-summary").click()
    ann.once("dialog", lambda dialog: dialog.accept())
    ann.get_by_role("button", name=f"Remove {c}").click()
    expect(ann.locator("#members-summary")).to_contain_text("2 members")
    expect(cy.locator("#group-gone")).to_be_visible()
    expect(cy.locator("#group-gone")).to_contain_text("You are no longer in this group")
    expect(composer(cy)).to_be_hidden()

    # Ben leaves (after saying yes); the group leaves his inbox; Ann sees one member left.
    ben.locator("#members-summary").click()
    ben.once("dialog", lambda dialog: dialog.accept())
    ben.get_by_role("button", name="Leave the group").click()
    expect(ben).to_have_url(re.compile(r"/$"))
    expect(ben.locator(".flash")).to_contain_text("You left Climbing on Sunday.")
    expect(group_row(ben, "Climbing on Sunday")).to_have_count(0)
    expect(ann.locator("#members-summary")).to_contain_text("1 member")
    assert ben.goto(group_path).status == 404
