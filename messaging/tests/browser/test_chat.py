"""The conversation as a chat: oldest at the top, Enter sends without a reload, a
pending message that survives going offline, drafts, the one actions menu (reply,
edit in place, delete after asking, copy link), older history on scrolling up, the
first unread message on opening, and a "new messages" button when scrolled away."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Page, expect

from .test_live import live
from .test_story import PASSWORD, log_in, message, sign_up

pytestmark = pytest.mark.browser


def composer(page: Page):
    return page.locator("#compose-content")


def say(page: Page, text: str) -> None:
    """Type and press Enter, as a person does."""
    composer(page).fill(text)
    composer(page).press("Enter")


def expect_sent(
    page: Page, text: str, receipt: str | re.Pattern = re.compile("^(Sent|Read)$")
) -> None:
    """The server has the message: it has its id, and its receipt shows."""
    sent = message(page, text)
    expect(sent).to_have_attribute("data-id", re.compile(r"^\d+$"))
    expect(sent.locator("[data-receipt]")).to_be_visible()
    expect(sent.locator("[data-receipt]")).to_have_text(receipt)


def chat_items(page: Page):
    return page.locator("#messages > .chat__item")


def open_menu(page: Page, text: str) -> None:
    message(page, text).locator("[data-menu]").click()
    expect(page.get_by_role("menu", name="Message actions")).to_be_visible()


def api_token(page: Page, username: str) -> str:
    answer = page.request.post(
        "/api/v1/auth/token/", data={"username": username, "password": PASSWORD}
    )
    assert answer.ok, answer.text()
    return answer.json()["access"]


def send_by_api(page: Page, token: str, receiver: str, count: int, text: str) -> None:
    for number in range(1, count + 1):
        answer = page.request.post(
            "/api/v1/messages/",
            data={"receiver": receiver, "content": f"{text} {number}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status == 201, answer.text()


def scroll_offset(page: Page) -> float:
    """How far above the newest message the reader is (0: at the bottom)."""
    return page.locator("#chat-scroller").evaluate("el => -el.scrollTop")


_people = itertools.count(1)


def names() -> tuple[str, str]:
    """Two new usernames: the app server lives for the whole session."""
    number = next(_people)
    return f"ann{number}", f"ben{number}"


def meet(person, **options):
    """Ann (in a browser made with `options`) and Ben, signed up, each in a browser of
    their own: their pages, their names and Ann's browser."""
    context = person(**options)
    ann, ben = context.new_page(), person().new_page()
    a, b = names()
    sign_up(ann, a)
    sign_up(ben, b)
    return ann, ben, a, b, context


@pytest.fixture
def pair(person):
    """Ann's and Ben's pages and names."""
    return meet(person)[:4]


def test_enter_sends_without_a_reload_and_the_other_side_sees_it_live(pair):
    ann, ben, a, b = pair
    ann.goto(f"/conversations/{b}/")
    ben.goto(f"/conversations/{a}/")
    live(ann)
    live(ben)
    ann.evaluate("() => { window.samePage = true; }")

    # Shift+Enter breaks the line; Enter sends.
    composer(ann).fill("First line")
    composer(ann).press("Shift+Enter")
    composer(ann).press_sequentially("second line")
    composer(ann).press("Enter")
    expect_sent(ann, "second line")
    expect(message(ann, "second line").locator("[data-content]")).to_have_text(
        "First line\nsecond line"
    )
    expect(composer(ann)).to_have_value("")
    assert ann.evaluate("() => window.samePage") is True, "the page reloaded"

    # The newest is at the bottom, on both sides.
    say(ann, "And a second message")
    expect(chat_items(ann).last).to_contain_text("And a second message")
    expect(chat_items(ben).last).to_contain_text("And a second message")
    expect(chat_items(ben).first).to_contain_text("second line")
    # Ben is looking: read, and Ann's receipts say so.
    expect_sent(ann, "And a second message", "Read")

    # A reload shows each message once, in the same order.
    ann.reload()
    expect(chat_items(ann)).to_have_count(2)
    expect(chat_items(ann).last).to_contain_text("And a second message")


def test_the_actions_menu_replies_edits_in_place_and_deletes_after_asking(pair):
    ann, ben, a, b = pair
    ann.goto(f"/conversations/{b}/")
    say(ann, "Lunch at noon?")
    expect_sent(ann, "Lunch at noon?")
    ben.goto(f"/conversations/{a}/")
    live(ann)
    live(ben)

    # Reply: the composer says to what; the reply quotes it, and the quote leads to it.
    open_menu(ben, "Lunch at noon?")
    ben.keyboard.press("Enter")  # the first item, "Reply", has the focus
    expect(ben.locator("#composer-reply")).to_contain_text(f"Replying to {a}")
    expect(composer(ben)).to_be_focused()
    say(ben, "Yes, see you there")
    reply = message(ben, "Yes, see you there")
    expect(reply.locator("[data-quote]")).to_contain_text("Lunch at noon?")
    expect(ben.locator("#composer-reply")).to_be_hidden()
    live_reply = message(ann, "Yes, see you there")
    expect(live_reply.locator("[data-quote]")).to_contain_text("Lunch at noon?")
    live_reply.locator("[data-quote]").click()
    expect(message(ann, "Lunch at noon?")).to_be_focused()
    # The whole thread is one click away.
    open_menu(ann, "Yes, see you there")
    expect(ann.get_by_role("menuitem", name="View thread")).to_have_attribute(
        "href", re.compile(r"^/messages/\d+/#m\d+$")
    )
    ann.keyboard.press("Escape")
    expect(ann.get_by_role("menu", name="Message actions")).to_be_hidden()

    # Only one's own messages offer Edit and Delete.
    open_menu(ann, "Yes, see you there")
    expect(ann.get_by_role("menuitem", name="Edit", exact=True)).to_be_hidden()
    ann.keyboard.press("Escape")

    # Edit in place: Enter saves; the other side sees the new text and the mark.
    open_menu(ann, "Lunch at noon?")
    ann.get_by_role("menuitem", name="Edit", exact=True).click()
    box = ann.get_by_label("Edit your message")
    expect(box).to_be_focused()
    box.fill("Lunch at one?")
    box.press("Enter")
    expect(message(ann, "Lunch at one?").locator("[data-history]")).to_be_visible()
    expect(message(ben, "Lunch at one?").locator("[data-history]")).to_be_visible()
    # The quote of the reply follows the edit.
    expect(message(ben, "Yes, see you there").locator("[data-quote]")).to_contain_text(
        "Lunch at one?"
    )

    # Delete asks first; cancelling keeps it.
    open_menu(ann, "Lunch at one?")
    ann.get_by_role("menuitem", name="Delete…").click()
    dialog = ann.get_by_role("dialog", name="Delete this message?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(message(ann, "Lunch at one?")).to_be_visible()
    open_menu(ann, "Lunch at one?")
    ann.get_by_role("menuitem", name="Delete…").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(message(ann, "Lunch at one?")).to_have_count(0)
    expect(message(ben, "Lunch at one?")).to_have_count(0)
    ann.reload()
    expect(message(ann, "Lunch at one?")).to_have_count(0)
    expect(message(ann, "Yes, see you there")).to_be_visible()


def test_copy_link_puts_the_message_address_on_the_clipboard(person, app_server):
    ann, _, _, b, _ = meet(person, permissions=["clipboard-read", "clipboard-write"])
    ann.goto(f"/conversations/{b}/")
    say(ann, "Bookmark this")
    expect_sent(ann, "Bookmark this")
    message_id = message(ann, "Bookmark this").get_attribute("data-id")
    open_menu(ann, "Bookmark this")
    ann.get_by_role("menuitem", name="Copy link").click()
    expect(ann.locator("#live-announcer")).to_have_text("Link copied")
    copied = ann.evaluate("() => navigator.clipboard.readText()")
    assert copied == f"{app_server.url}/messages/{message_id}/#m{message_id}"


def test_a_draft_survives_a_reload_and_is_gone_once_sent(pair):
    ann, _, _, b = pair
    ann.goto(f"/conversations/{b}/")
    composer(ann).fill("Half a tho")
    ann.reload()
    expect(composer(ann)).to_have_value("Half a tho")
    composer(ann).press_sequentially("ught, now whole")
    composer(ann).press("Enter")
    expect_sent(ann, "Half a thought, now whole")
    ann.reload()
    expect(composer(ann)).to_have_value("")


def test_offline_a_message_waits_and_goes_once_when_the_connection_returns(person):
    ann, ben, a, b, context = meet(person)
    ann.goto(f"/conversations/{b}/")
    expect(composer(ann)).to_be_visible()

    context.set_offline(True)
    say(ann, "Sent from a tunnel")
    pending = ann.locator("#pending .chat__item")
    expect(pending).to_contain_text("Waiting for a connection")
    context.set_offline(False)
    expect(pending).to_have_count(0)
    expect_sent(ann, "Sent from a tunnel")
    ann.reload()
    expect(message(ann, "Sent from a tunnel")).to_have_count(1)
    ben.goto(f"/conversations/{a}/")
    expect(message(ben, "Sent from a tunnel")).to_have_count(1)


def test_a_refused_send_is_marked_failed_with_retry(pair):
    ann, ben, a, b = pair
    ann.goto(f"/conversations/{b}/")
    expect(composer(ann)).to_be_visible()
    ben.goto(f"/conversations/{a}/")
    ben.once("dialog", lambda dialog: dialog.accept())
    ben.get_by_role("button", name=f"Block {a}").click()
    expect(ben.locator("#block-notice")).to_be_visible()

    say(ann, "Are you ignoring me?")
    failed = ann.locator("#pending .chat__item[data-state=failed]")
    expect(failed).to_contain_text("Not sent")
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()

    ben.get_by_role("button", name=f"Unblock {a}").click()
    expect(ben.locator("#block-notice")).to_have_count(0)
    failed.get_by_role("button", name="Retry").click()
    expect_sent(ann, "Are you ignoring me?")
    expect(ann.locator("#pending .chat__item")).to_have_count(0)


def test_long_histories_open_at_the_first_unread_and_load_older_on_scrolling_up(pair):
    ann, ben, a, b = pair
    token = api_token(ann, a)
    send_by_api(ann, token, b, 70, "Old news")
    ben.goto(f"/conversations/{a}/")
    expect(chat_items(ben)).to_have_count(70)  # the window reaches the first unread
    divider = ben.locator("#first-unread")
    expect(divider).to_be_in_viewport()
    expect(ben.locator("#first-unread + .chat__item")).to_contain_text("Old news 1")

    # Now all read: the page opens at the latest, with 50 of them.
    ben.goto("/")
    send_by_api(ann, token, b, 30, "Newer news")
    ben.goto(f"/conversations/{a}/")
    expect(chat_items(ben)).to_have_count(50)
    expect(ben.locator("#first-unread")).to_be_in_viewport()
    expect(ben.locator("#first-unread + .chat__item")).to_contain_text("Newer news 1")
    ben.goto(f"/conversations/{a}/")
    expect(ben.locator("#first-unread")).to_have_count(0)
    assert scroll_offset(ben) < 5

    # Scrolling up brings the rest, without moving what the reader looks at.
    ben.locator("#chat-scroller").evaluate("el => { el.scrollTop = -el.scrollHeight; }")
    expect(chat_items(ben)).to_have_count(100)
    expect(ben.get_by_text(f"This is the start of your conversation with {a}.")).to_be_attached()
    ids = [int(i) for i in chat_items(ben).evaluate_all("els => els.map(e => e.dataset.item)")]
    assert ids == sorted(ids)


def test_scrolled_up_a_new_message_shows_a_button_instead_of_jumping(pair):
    ann, ben, a, b = pair
    token = api_token(ann, a)
    send_by_api(ann, token, b, 40, "Filler")
    ben.goto(f"/conversations/{a}/")
    ben.goto(f"/conversations/{a}/")
    live(ben)
    ben.locator("#chat-scroller").evaluate("el => { el.scrollTop = -el.scrollHeight; }")
    before = scroll_offset(ben)
    assert before > 200
    send_by_api(ann, token, b, 1, "Fresh")
    jump = ben.get_by_role("button", name="New messages")
    expect(jump).to_be_visible()
    expect(message(ben, "Fresh 1")).not_to_be_in_viewport()
    jump.click()
    expect(message(ben, "Fresh 1")).to_be_in_viewport()
    expect(jump).to_be_hidden()


def test_the_chat_fits_a_phone(person):
    ann, _, _, b, _ = meet(
        person, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True
    )
    ann.goto(f"/conversations/{b}/")
    composer(ann).fill("A long word: " + "x" * 200)
    # On a phone Enter breaks the line; the button sends.
    composer(ann).press("Enter")
    expect(composer(ann)).to_have_value(re.compile(r"x\n$"))
    ann.get_by_role("button", name="Send", exact=True).click()
    expect(ann.locator("#messages .chat__item")).to_have_count(1)
    expect(ann.get_by_role("button", name="Send", exact=True)).to_be_in_viewport()
    assert ann.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    send = ann.get_by_role("button", name="Send", exact=True).bounding_box()
    assert send is not None and send["height"] >= 44


def test_without_javascript_the_chat_posts_and_replies_through_the_thread_page(person):
    ann, _, a, b, _ = meet(person, java_script_enabled=False)
    ben = person(java_script_enabled=False).new_page()
    log_in(ben, b)
    ann.goto(f"/conversations/{b}/")
    ann.get_by_label(f"Message to {b}").fill("Plain old forms")
    ann.get_by_role("button", name="Send", exact=True).click()
    expect(ann).to_have_url(re.compile(rf"/conversations/{b}/#m\d+$"))
    expect(message(ann, "Plain old forms")).to_be_visible()

    # "⋯" leads to the message on its thread page, with what one can do with it.
    ben.goto(f"/conversations/{a}/")
    message(ben, "Plain old forms").get_by_role("link", name="Actions for this message").click()
    expect(ben).to_have_url(re.compile(r"/messages/\d+/#m\d+$"))
    actions = ben.get_by_role("navigation", name="Actions for this message")
    expect(actions.get_by_role("link", name="Edit")).to_have_count(0)  # not his
    actions.get_by_role("link", name="Reply").click()
    expect(ben.locator("#composer-reply")).to_contain_text(f"Replying to {a}")
    ben.get_by_label(f"Message to {a}").fill("Still works")
    ben.get_by_role("button", name="Send", exact=True).click()
    expect(message(ben, "Still works").locator("[data-quote]")).to_contain_text("Plain old forms")
    # Cancelling a reply is a link back.
    ben.goto(
        f"/conversations/{a}/?reply={message(ben, 'Plain old forms').get_attribute('data-id')}"
    )
    ben.get_by_role("link", name="Cancel reply").click()
    expect(ben.locator("#composer-reply")).to_be_hidden()
