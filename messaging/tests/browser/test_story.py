"""The whole story in a real browser: sign up, send, reply, edit, history, notifications,
export, delete; the same without JavaScript; and live updates over the socket.

Screenshots go to docs/screenshots/ (see the README).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PASSWORD = "a-long-enough-secret-42"


def sign_up(page: Page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flash")).to_contain_text(f"Welcome, {username}")


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))


def message(page: Page, text: str):
    """The article of the message whose own text contains `text`."""
    return page.locator("article.msg").filter(has=page.locator("[data-content]", has_text=text))


def sent(page: Page, text: str) -> None:
    """Wait until the server has the message saying `text` (the page sends in the background)."""
    expect(message(page, text)).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=15_000)


def _scripted(page: Page) -> bool:
    return page.evaluate("() => Boolean(window.Messaging)")


def _from_the_thread_page(page: Page, text: str, action: str) -> None:
    """Without JavaScript: "⋯" opens the message on its thread page, with its actions."""
    message(page, text).get_by_role("link", name="Actions for this message").click()
    page.get_by_role("navigation", name="Actions for this message").get_by_role(
        "link", name=action
    ).click()


def reply_to(page: Page, text: str, reply: str) -> None:
    """Reply to the message saying `text`: its menu's Reply, then the composer."""
    if _scripted(page):
        message(page, text).locator("[data-menu]").click()
        page.get_by_role("menuitem", name="Reply").click()
    else:
        _from_the_thread_page(page, text, "Reply")
    expect(page.locator("#composer-reply")).to_contain_text("Replying to")
    page.locator("#compose-content").fill(reply)
    page.get_by_role("button", name="Send", exact=True).click()
    sent(page, reply)


def edit(page: Page, text: str, new_text: str) -> None:
    """Edit one's message saying `text`: in place from its menu, or on the edit page."""
    if _scripted(page):
        message(page, text).locator("[data-menu]").click()
        page.get_by_role("menuitem", name="Edit", exact=True).click()
        box = page.get_by_label("Edit your message")
        expect(box).to_be_focused()
        box.fill(new_text)
        box.press("Enter")
        expect(box).to_have_count(0)
    else:
        _from_the_thread_page(page, text, "Edit")
        page.get_by_label("Message", exact=True).fill(new_text)
        page.get_by_role("button", name="Save").click()
    expect(message(page, new_text)).to_be_visible()


def badge(page: Page, name: str):
    return page.locator(f"header [data-badge={name}]")


def test_two_people_talk_edit_export_and_one_leaves(person, screenshots):
    alice, bob, carol = (person().new_page() for _ in range(3))

    # Three people sign up; Carol writes to Bob first, so his inbox has two conversations.
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    sign_up(carol, "carol")
    expect(alice.get_by_text("No conversations yet")).to_be_visible()
    carol.get_by_label("To", exact=True).fill("bob")
    carol.get_by_label("Message", exact=True).fill(
        "Welcome to the team, Bob! Ping me if you need anything."
    )
    carol.get_by_role("button", name="Send").click()

    # Alice sends from her inbox's compose form and lands on the conversation.
    alice.goto("/")
    alice.get_by_label("To", exact=True).fill("bob")
    alice.get_by_label("Message", exact=True).fill("Are we still on for lunch on Friday?")
    alice.get_by_role("button", name="Send").click()
    expect(alice).to_have_url(re.compile(r"/conversations/bob/#m\d+$"))
    expect(message(alice, "lunch on Friday")).to_be_visible()

    # Bob is notified: both badges count, the inbox shows the preview and the unread count.
    bob.goto("/")
    expect(badge(bob, "notifications")).to_contain_text("2")
    expect(badge(bob, "messages")).to_contain_text("2")
    row = bob.locator("li.conv[data-partner=alice]")
    expect(row).to_contain_text("Are we still on for lunch on Friday?")
    expect(row.locator("[data-unread]")).to_contain_text("1")
    bob.screenshot(path=screenshots / "inbox.png", full_page=True)

    # Bob opens it (now read), replies in the thread and starts another one.
    row.click()
    expect(bob).to_have_url(re.compile(r"/conversations/alice/$"))
    reply_to(bob, "lunch on Friday", "Yes! I booked a table at Luigi's for 12:30.")
    bob.get_by_label("Message to alice").fill("Also: could you send me the slides from Tuesday?")
    bob.get_by_role("button", name="Send", exact=True).click()
    sent(bob, "slides from Tuesday")

    # Alice sees the reply quoting her message, edits her message and answers the reply.
    alice.goto("/conversations/bob/")
    expect(message(alice, "I booked a table").locator("[data-quote]")).to_contain_text(
        "lunch on Friday"
    )
    edit(alice, "lunch on Friday", "Are we still on for lunch on Friday? My treat this time!")
    expect(message(alice, "My treat").locator("a[data-history]")).to_be_visible()
    reply_to(alice, "I booked a table", "Perfect, see you there.")
    expect(message(alice, "Perfect, see you there.").locator("[data-quote]")).to_contain_text(
        "I booked a table"
    )
    # The thread page shows the replies nested, one click away.
    alice.goto(message(alice, "Perfect").locator("[data-quote]").get_attribute("href"))
    root_id = message(alice, "My treat").get_attribute("data-id")
    nested = alice.locator(f"ol[data-replies-for='{root_id}'] article.msg")
    expect(nested.first).to_contain_text("I booked a table")

    # Bob sees the edit: the "edited" mark opens the history, old text and time, inline.
    bob.goto("/conversations/alice/")
    edited = message(bob, "My treat")
    expect(edited.locator("a[data-history]")).to_be_visible()
    bob.screenshot(path=screenshots / "conversation.png", full_page=True)
    edited.locator("a[data-history]").click()
    panel = edited.locator(".history-panel")
    expect(panel).to_contain_text("Are we still on for lunch on Friday?")
    expect(panel.locator("time")).to_have_count(1)
    panel.screenshot(path=screenshots / "history.png")
    # ... and as its own page too.
    bob.goto(edited.locator("a[data-history]").get_attribute("href"))
    expect(bob.locator(".history__text--old")).to_have_text("Are we still on for lunch on Friday?")

    # Bob's notifications link to their messages; he marks them all read.
    bob.goto("/notifications/")
    expect(bob.locator(".note")).to_have_count(4)
    expect(bob.locator(".note").first).to_contain_text("alice replied to you: Perfect")
    expect(bob.locator(".note__link", has_text="alice edited a message: Are we")).to_be_visible()
    bob.screenshot(path=screenshots / "notifications.png", full_page=True)
    bob.locator(".note__link", has_text="alice edited a message").click()
    expect(bob).to_have_url(re.compile(r"/messages/\d+/\?notification=\d+#m\d+$"))
    expect(bob.locator(".tree__item--highlight > article.msg")).to_contain_text("My treat")
    bob.goto("/notifications/")
    bob.get_by_role("button", name="Mark all as read").click()
    expect(badge(bob, "notifications")).to_be_hidden()
    expect(bob.locator(".note--unread")).to_have_count(0)

    # Alice downloads her data.
    alice.goto("/account/")
    with alice.expect_download() as download:
        alice.get_by_role("link", name="Download my data (JSON)").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert data["user"]["username"] == "alice"
    texts = [m["content"] for m in data["messages_sent"]]
    assert "Are we still on for lunch on Friday? My treat this time!" in texts
    assert [h["old_content"] for h in data["history"]] == ["Are we still on for lunch on Friday?"]

    # Bob deletes his account: first what will go, then his password.
    bob.goto("/account/")
    bob.get_by_role("link", name="Delete my account…").click()
    summary = bob.locator("#delete-summary")
    expect(summary.locator("[data-count=messages]")).to_have_text("5")
    expect(summary.locator("[data-count=conversations]")).to_have_text("2")
    bob.screenshot(path=screenshots / "account-delete.png", full_page=True)
    bob.get_by_label("Your password").fill("not my password")
    bob.get_by_role("button", name="Delete my account and all its data").click()
    expect(bob.locator(".field__errors")).to_contain_text("The password is not correct.")
    bob.get_by_label("Your password").fill(PASSWORD)
    bob.get_by_role("button", name="Delete my account and all its data").click()
    expect(bob).to_have_url(re.compile(r"/accounts/login/$"))
    expect(bob.locator(".flash")).to_contain_text("deleted")

    # He is gone for Alice: no conversation, a friendly 404 where it was.
    alice.goto("/")
    expect(alice.locator("li.conv[data-partner=bob]")).to_have_count(0)
    response = alice.goto("/conversations/bob/")
    assert response.status == 404
    expect(alice.get_by_role("heading", name="Nothing here")).to_be_visible()


def test_every_step_works_without_javascript(person):
    ann = person(java_script_enabled=False).new_page()
    ben = person(java_script_enabled=False).new_page()
    sign_up(ann, "ann")
    sign_up(ben, "ben")

    ann.get_by_label("To", exact=True).fill("ben")
    ann.get_by_label("Message", exact=True).fill("No scripts here.")
    ann.get_by_role("button", name="Send").click()
    expect(message(ann, "No scripts here.")).to_be_visible()

    ben.goto("/conversations/ann/")
    reply_to(ben, "No scripts here.", "Forms and links are enough.")

    ann.goto("/conversations/ben/")
    edit(ann, "No scripts here.", "No scripts here at all.")
    ann.locator("a[data-history]").first.click()
    expect(ann).to_have_url(re.compile(r"/messages/\d+/history/$"))
    expect(ann.locator(".history__text--old")).to_have_text("No scripts here.")

    ben.goto("/notifications/")
    # Opening the conversation read Ann's message and its notification; her edit came after.
    expect(badge(ben, "notifications")).to_contain_text("1")
    ben.get_by_role("button", name=re.compile("^Mark read")).first.click()
    expect(badge(ben, "notifications")).to_be_hidden()


def test_pages_look_right_on_a_phone(person, screenshots):
    quinn = person().new_page()
    sign_up(quinn, "quinn")
    phone = person(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    sign_up(phone, "pia")
    quinn.goto("/conversations/pia/")
    quinn.get_by_label("Message to pia").fill("Hi Pia, welcome aboard!")
    quinn.get_by_role("button", name="Send", exact=True).click()
    sent(quinn, "welcome aboard")

    phone.goto("/conversations/quinn/")
    reply_to(phone, "welcome aboard", "Thanks Quinn, happy to be here.")
    phone.screenshot(path=screenshots / "conversation-phone.png", full_page=True)
    phone.goto("/")
    expect(phone.locator("li.conv[data-partner=quinn]")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling on a phone.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
