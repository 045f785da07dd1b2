"""Desktop notifications (notify.js): turned on with the notifications page's button, a
page in the background shows one for each notification that arrives live, and only one
of several hidden tabs does; none while the page is in view, before they are turned on
or after they are turned off. A browser that blocks them is said so; where there are
none (or no JavaScript) the control stays hidden.

Playwright cannot put a tab in the background: `HIDDEN_PAGE` lets the test say whether
the page is hidden (`visibilityState`, `hidden`, `visibilitychange`), and `RECORDED`
notes each `new Notification(...)` in `window.__shown` before the browser's own shows
it. The bodies shown so far are also in `<html data-shown>` (JSON), for `expect` to
wait on: `wait_for_function` polls with `eval`, which the pages' CSP refuses.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from .test_live import live
from .test_story import badge, message, sign_up

pytestmark = pytest.mark.browser

HIDDEN_PAGE = """
(() => {
  let state = "visible";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
  window.__setVisibility = (next) => {
    state = next;
    document.dispatchEvent(new Event("visibilitychange"));
  };
})();
"""

RECORDED = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__shown = [];
  window.__notifications = [];
  window.__closed = [];
  function Recorded(title, options) {
    options = options || {};
    window.__shown.push({ title, body: options.body, tag: options.tag, icon: options.icon });
    document.documentElement.dataset.shown = JSON.stringify(window.__shown.map((n) => n.body));
    const notification = new Real(title, options);
    window.__notifications.push(notification);
    notification.addEventListener("close", () => {
      window.__closed.push(options.body);
      document.documentElement.dataset.closed = JSON.stringify(window.__closed);
    });
    return notification;
  }
  Recorded.prototype = Real.prototype;
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""

NO_NOTIFICATIONS = "delete window.Notification;"


def receiver(person, app_server, *, allowed: bool = True):
    """A browser profile whose pages can be hidden and whose notifications are recorded."""
    context = person()
    if allowed:
        context.grant_permissions(["notifications"], origin=app_server.url)
    context.add_init_script(HIDDEN_PAGE)
    context.add_init_script(RECORDED)
    return context


def hide(page: Page) -> None:
    page.evaluate("window.__setVisibility('hidden')")


def show(page: Page) -> None:
    page.evaluate("window.__setVisibility('visible')")


def expect_shown(page: Page, *bodies: str) -> None:
    """Wait until the page has shown exactly these notifications (their bodies), in order."""
    expect(page.locator("html")).to_have_attribute(
        "data-shown", json.dumps(list(bodies), separators=(",", ":"))
    )


def send(page: Page, to: str, text: str) -> None:
    page.get_by_label(f"Message to {to}").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(message(page, text)).to_be_visible()


def note(page: Page, text: str):
    """The notifications page's item for the message `text` (live.js adds it live)."""
    return page.locator("#notes li.note", has_text=text)


def control(page: Page):
    return page.get_by_role("region", name="Desktop notifications")


def test_a_hidden_page_shows_a_desktop_notification_once_they_are_turned_on(person, app_server):
    nell = receiver(person, app_server).new_page()
    otis = person().new_page()
    sign_up(nell, "nell")
    sign_up(otis, "otis")
    otis.goto("/conversations/nell/")
    nell.goto("/notifications/")
    live(nell)

    # Off until Nell turns them on, even though the browser would allow them.
    expect(control(nell).get_by_role("status")).to_contain_text("Off")
    hide(nell)
    send(otis, "nell", "Before you turned them on")
    expect(note(nell, "Before you turned them on")).to_be_visible()
    show(nell)

    control(nell).get_by_role("button", name="Turn on desktop notifications").click()
    expect(control(nell).get_by_role("status")).to_contain_text("On")
    turn_off = control(nell).get_by_role("button", name="Turn off desktop notifications")
    expect(turn_off).to_be_visible()

    # In view: the page itself shows it, no desktop notification.
    send(otis, "nell", "While you look")
    expect(note(nell, "While you look")).to_be_visible()

    # In the background: one, from Otis, with the message's text as plain text. The
    # frames came in order, so the earlier two were not shown: only this one was.
    hide(nell)
    send(otis, "nell", "Lunch at <b>noon</b>?")
    expect_shown(nell, "Lunch at <b>noon</b>?")
    item = note(nell, "Lunch at <b>noon</b>?")
    note_id = item.get_attribute("data-id")
    [shown] = nell.evaluate("window.__shown")
    assert shown["title"] == "otis"
    assert shown["tag"] == note_id
    assert re.fullmatch(r"/static/messaging/icon(\.[0-9a-f]+)?\.svg", shown["icon"])

    # Clicking it opens the message (and reads its notification).
    href = item.locator(".note__link").get_attribute("href")
    message_id = re.match(r"/messages/(\d+)/", href).group(1)
    nell.evaluate("window.__notifications[0].dispatchEvent(new Event('click'))")
    expect(nell).to_have_url(
        re.compile(rf"/messages/{message_id}/\?notification={note_id}#m{message_id}$")
    )
    expect(message(nell, "Lunch at <b>noon</b>?")).to_be_visible()

    # Turned off: none, until turned on again.
    nell.goto("/notifications/")
    live(nell)
    control(nell).get_by_role("button", name="Turn off").click()
    expect(control(nell).get_by_role("status")).to_contain_text("Off")
    hide(nell)
    send(otis, "nell", "After you turned them off")
    expect(note(nell, "After you turned them off")).to_be_visible()
    control(nell).get_by_role("button", name="Turn on desktop notifications").click()
    expect(control(nell).get_by_role("status")).to_contain_text("On")
    send(otis, "nell", "On again")
    expect_shown(nell, "On again")


def test_of_two_hidden_tabs_one_shows_it_and_reading_closes_it(person, app_server):
    rhea = receiver(person, app_server)
    notes, inbox = rhea.new_page(), rhea.new_page()
    sami = person().new_page()
    sign_up(notes, "rhea")
    sign_up(sami, "sami")
    sami.goto("/conversations/rhea/")
    notes.goto("/notifications/")
    control(notes).get_by_role("button", name="Turn on desktop notifications").click()
    expect(control(notes).get_by_role("status")).to_contain_text("On")
    inbox.goto("/")
    live(notes)
    live(inbox)

    hide(notes)
    hide(inbox)
    send(sami, "rhea", "Both of you hidden")
    expect(note(notes, "Both of you hidden")).to_be_visible()
    expect(badge(inbox, "notifications")).to_contain_text("1")

    # The notifications tab comes to the front; the inbox, still hidden, shows the next
    # one. Frames come in order: by then each tab had settled the first one.
    show(notes)
    send(sami, "rhea", "Only the inbox")
    expect(inbox.locator("html")).to_have_attribute("data-shown", re.compile("Only the inbox"))
    bodies = [shown["body"] for page in (notes, inbox) for shown in page.evaluate("window.__shown")]
    assert bodies.count("Both of you hidden") == 1
    assert bodies.count("Only the inbox") == 1

    # Rhea reads the conversation in the notifications tab: the inbox's notifications of
    # it close.
    notes.goto("/conversations/sami/")
    expect(message(notes, "Only the inbox")).to_be_visible()
    expect(inbox.locator("html")).to_have_attribute("data-closed", re.compile("Only the inbox"))


def test_a_browser_that_blocks_them_is_said_so(person, app_server):
    # Headless Chromium answers a permission request for notifications with "denied".
    page = receiver(person, app_server, allowed=False).new_page()
    sign_up(page, "pablo")
    page.goto("/notifications/")

    control(page).get_by_role("button", name="Turn on desktop notifications").click()

    expect(control(page).get_by_role("status")).to_contain_text("Blocked by your browser")
    expect(control(page).get_by_role("status")).to_contain_text("site's settings")
    expect(control(page).get_by_role("button")).to_have_count(0)


def test_without_notifications_or_javascript_there_is_no_control(person):
    page = person().new_page()
    page.add_init_script(NO_NOTIFICATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up(page, "ugo")
    page.goto("/notifications/")
    live(page)
    expect(page.locator("#desktop-notifications")).to_be_attached()
    expect(page.locator("#desktop-notifications")).to_be_hidden()
    assert errors == []

    plain = person(java_script_enabled=False).new_page()
    sign_up(plain, "vera")
    plain.goto("/notifications/")
    expect(plain.get_by_role("heading", name="Notifications", exact=True)).to_be_visible()
    expect(plain.locator("#desktop-notifications")).to_be_attached()
    expect(plain.locator("#desktop-notifications")).to_be_hidden()
