"""Message text in a real browser: a message that arrives live links its address as the
server would (http(s) only, opening apart from the page) and runs in its own
direction; a long one folds behind "Show more"; times are the reader's; and deleting
goes through the confirmation page."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .test_live import live
from .test_story import log_in, message, sign_up

pytestmark = pytest.mark.browser

TEXT = (
    "Read https://example.com/a_(b). <script>window.hacked = 1</script> javascript:alert(1) مرحبا"
)
LONG = "A long story. " * 150


def test_live_links_folding_times_and_delete_through_the_confirmation(person):
    # Tomo reads in Tokyo: the server writes UTC, the page shows Tokyo time.
    tomo = person(timezone_id="Asia/Tokyo", locale="en-GB").new_page()
    noor = person().new_page()
    sign_up(tomo, "tomo")
    sign_up(noor, "noor")
    tomo.goto("/conversations/noor/")
    noor.goto("/conversations/tomo/")
    live(tomo)

    noor.get_by_label("Message to tomo").fill(TEXT)
    noor.get_by_role("button", name="Send", exact=True).click()

    # On Tomo's open page, live: one link, to the address without the sentence's ".",
    # the rest text (the script tag shown, not run), the direction left to the text.
    arrived = message(tomo, "Read https://example.com")
    content = arrived.locator("[data-content]")
    expect(content).to_have_text(TEXT)
    expect(content).to_have_attribute("dir", "auto")
    links = content.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/a_(b)")
    expect(links).to_have_attribute("rel", "noopener noreferrer")
    expect(links).to_have_attribute("target", "_blank")
    expect(content.locator("script")).to_have_count(0)
    assert tomo.evaluate("window.hacked") is None

    # Times: Tomo's clock (sent today: the time only), the full date its accessible name;
    # the page she loads says the same, not the server's UTC.
    sent = arrived.locator("time")
    iso = sent.get_attribute("datetime")
    tokyo = datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")
    expect(sent).to_have_text(tokyo)
    expect(sent).to_have_attribute("aria-label", re.compile(r"\d"))
    expect(arrived.locator("a.msg__time")).to_have_accessible_name(sent.get_attribute("aria-label"))
    tomo.reload()
    expect(message(tomo, "Read https://example.com").locator("time")).to_have_text(tokyo)
    live(tomo)

    # A long message folds behind "Show more", live as on a loaded page.
    noor.get_by_label("Message to tomo").fill(LONG)
    noor.get_by_role("button", name="Send", exact=True).click()
    for page in (tomo, noor):
        long = message(page, "A long story.")
        more = long.get_by_role("button", name="Show more")
        expect(more).to_have_attribute("aria-expanded", "false")
        folded = long.locator("[data-content]").evaluate("el => el.scrollHeight > el.clientHeight")
        assert folded
        more.click()
        expect(long.get_by_role("button", name="Show less")).to_have_attribute(
            "aria-expanded", "true"
        )
        assert long.locator("[data-content]").evaluate("el => el.scrollHeight <= el.clientHeight")

    # Noor deletes the first message: the menu's Delete asks first, Cancel keeps it.
    mine = message(noor, "Read https://example.com")
    message_id = mine.get_attribute("data-id")
    mine.locator("[data-menu]").click()
    noor.get_by_role("menuitem", name="Delete…").click()
    dialog = noor.get_by_role("dialog", name="Delete this message?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(message(noor, "Read https://example.com")).to_be_visible()

    # The same without JavaScript: "⋯" opens the message's page, Delete asks on its own
    # page, Cancel goes back; this time Delete.
    live(tomo)
    plain = person(java_script_enabled=False).new_page()
    log_in(plain, "noor")
    plain.goto("/conversations/tomo/")
    mine = message(plain, "Read https://example.com")
    mine.get_by_role("link", name="Actions for this message").click()
    actions = plain.get_by_role("navigation", name="Actions for this message")
    actions.get_by_role("link", name="Delete…").click()
    expect(plain).to_have_url(re.compile(rf"/messages/{message_id}/delete/\?next="))
    expect(plain.get_by_role("heading", name="Delete this message?")).to_be_visible()
    expect(plain.locator(".delete-preview__text")).to_have_text(TEXT)
    plain.get_by_role("link", name="Cancel").click()
    expect(plain).to_have_url(re.compile(rf"/conversations/tomo/#m{message_id}$"))
    message(plain, "Read https://example.com").get_by_role(
        "link", name="Actions for this message"
    ).click()
    actions.get_by_role("link", name="Delete…").click()
    plain.get_by_role("button", name="Delete", exact=True).click()
    expect(plain).to_have_url(re.compile(r"/conversations/tomo/$"))
    expect(message(plain, "Read https://example.com")).to_have_count(0)
    # Without JavaScript nothing folds: the long message shows whole, no "Show more".
    long = message(plain, "A long story.")
    expect(long.locator(".msg__more")).to_be_hidden()
    assert long.locator("[data-content]").bounding_box()["height"] > 12 * 20
    # Tomo's page hears of it at once.
    expect(tomo.locator(f"#m{message_id}")).to_have_count(0)
