"""Reading in one tab changes every other open tab of the reader: the header's badges
and the tab's title, "(N) Inbox · Messaging" with N unread messages, count down live,
as they count up when a message arrives."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_live import live
from .test_story import badge, sign_up

pytestmark = pytest.mark.browser


def test_reading_in_one_tab_counts_down_the_badges_and_title_of_another(person):
    theo = person()  # one browser profile: the tabs share the session
    inbox, tess = theo.new_page(), person().new_page()
    sign_up(inbox, "theo")
    sign_up(tess, "tess")
    tess.goto("/conversations/theo/")
    for text in ("Lunch?", "At noon?"):
        tess.get_by_label("Message to theo").fill(text)
        tess.get_by_role("button", name="Send", exact=True).click()
        expect(tess.locator("article.msg [data-content]", has_text=text)).to_be_visible()

    inbox.goto("/")
    live(inbox)
    expect(inbox).to_have_title("(2) Inbox · Messaging")
    inbox.evaluate("window.notReloaded = true")

    # A third message arrives: the title and both badges count up, no reload.
    live(tess)
    tess.get_by_label("Message to theo").fill("Or one?")
    tess.get_by_role("button", name="Send", exact=True).click()
    expect(inbox).to_have_title("(3) Inbox · Messaging")
    expect(badge(inbox, "messages")).to_contain_text("3")
    expect(inbox.get_by_role("link", name="Notifications 3 unread notifications")).to_be_visible()

    # Theo opens the conversation in another tab (following the inbox's link).
    reading = theo.new_page()
    reading.goto("/")
    reading.locator("li.conv[data-partner=tess] .conv__link").click()
    expect(reading).to_have_url(re.compile(r"/conversations/tess/$"))

    # The first tab counts down: title, both badges and the inbox row.
    expect(inbox).to_have_title("Inbox · Messaging")
    expect(badge(inbox, "messages")).to_be_hidden()
    expect(badge(inbox, "notifications")).to_be_hidden()
    expect(inbox.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    expect(inbox.locator("li.conv[data-partner=tess] [data-unread]")).to_be_hidden()
    assert inbox.evaluate("window.notReloaded") is True
    # The reading tab drew its header before it marked the conversation read: it
    # counts anew too.
    expect(reading).to_have_title("tess · Messaging")
    expect(badge(reading, "notifications")).to_be_hidden()
    expect(badge(reading, "messages")).to_be_hidden()
