"""Live pages: what arrives over /ws/events/ shows without a reload, a dropped socket
comes back by itself (the server is restarted under the open pages) and the page then
shows what was sent while it was away; a page whose socket was displaced by too many
open pages of the same person stops until it is looked at again."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from .test_story import badge, edit, message, reply_to, sent, sign_up

pytestmark = pytest.mark.browser

#: After the server is back: the page's next retry (quick, then backoff) and its open.
RECONNECT_WITHIN = 20_000


def live(page: Page, timeout: float = 10_000, state: str = "open") -> None:
    """Wait until the page says its socket is `state` (`<html data-live>`).

    An assertion on the attribute, not `wait_for_function`: the latter evaluates its
    expression with `eval` in the page, which the pages' CSP (script-src 'self')
    refuses as soon as it has to poll, failing as if the socket never opened.
    """
    expect(page.locator("html"), f"the page's socket did not become {state!r}").to_have_attribute(
        "data-live", state, timeout=timeout
    )


class HeldCatchUp:
    """Holds the page's catch-up request for `path` (its `fetch`, not a navigation): the
    server answers at once, the page gets the answer only on `release()`."""

    def __init__(self, page: Page, path: str) -> None:
        self.page = page
        self.path = path
        self.held: list[tuple[Route, object]] = []
        page.route(lambda url: url.split("?")[0].endswith(path), self._hold)

    def _hold(self, route: Route) -> None:
        if route.request.resource_type != "fetch" or self.held:
            route.continue_()
            return
        self.held.append((route, route.fetch()))

    def wait_answered(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.held:
            assert time.monotonic() < deadline, f"the page did not catch up on {self.path}"
            self.page.wait_for_timeout(50)  # lets Playwright run the route handler

    def release(self) -> None:
        route, response = self.held[0]
        route.fulfill(response=response)
        self.page.unroute_all(behavior="ignoreErrors")


def test_new_messages_edits_and_badges_arrive_live_and_survive_a_drop(person, app_server):
    uma, vic = person().new_page(), person().new_page()
    sign_up(uma, "uma")
    sign_up(vic, "vic")
    uma.goto("/conversations/vic/")
    vic.goto("/")
    live(uma)
    live(vic)

    # Uma writes: Vic's inbox grows a row and both badges count up, no reload.
    uma.get_by_label("Message to vic").fill("Are you there?")
    uma.get_by_role("button", name="Send", exact=True).click()
    row = vic.locator("li.conv[data-partner=uma]")
    expect(row).to_contain_text("Are you there?")
    expect(row.locator("[data-unread]")).to_contain_text("1")
    expect(badge(vic, "messages")).to_contain_text("1")
    expect(badge(vic, "notifications")).to_contain_text("1")

    # Vic answers it: on Uma's open page the reply arrives at the bottom, quoting it.
    vic.goto("/conversations/uma/")
    live(uma)
    reply_to(vic, "Are you there?", "Here! What's up?")
    root_id = message(uma, "Are you there?").get_attribute("data-id")
    expect(uma.locator("#messages > .chat__item").last).to_contain_text("Here! What's up?")
    expect(message(uma, "Here! What's up?").locator("[data-quote]")).to_contain_text(
        "Are you there?"
    )

    # Uma edits: Vic's page shows the new text and the "edited" mark, no reload.
    live(vic)
    edit(uma, "Are you there?", "Are you there? Need a hand with the deploy.")
    updated = vic.locator(f"#m{root_id}")
    expect(updated.locator("[data-content]")).to_have_text(
        "Are you there? Need a hand with the deploy."
    )
    expect(updated.locator("a[data-history]")).to_be_visible()

    # The server goes away and comes back while Vic's page is cut off from it, and Uma
    # writes meanwhile. Uma's page reconnects by itself.
    vic.evaluate("window.notReloaded = true")
    vic.context.set_offline(True)
    app_server.restart()
    live(uma, timeout=RECONNECT_WITHIN)
    uma.get_by_label("Message to vic").fill("Sent while you were away")
    uma.get_by_role("button", name="Send", exact=True).click()
    sent(uma, "Sent while you were away")

    # Vic's page comes back, and catches up. Its catch-up answer is held until a message
    # sent after the server answered has arrived live: neither may hide the other.
    catch_up = HeldCatchUp(vic, "/conversations/uma/")
    vic.context.set_offline(False)
    live(vic, timeout=RECONNECT_WITHIN)
    catch_up.wait_answered()
    live(uma)
    uma.get_by_label("Message to vic").fill("Back online?")
    uma.get_by_role("button", name="Send", exact=True).click()
    expect(message(vic, "Back online?")).to_be_visible()
    catch_up.release()
    expect(message(vic, "Sent while you were away")).to_be_visible()
    expect(message(vic, "Back online?")).to_be_visible()
    assert vic.evaluate("window.notReloaded") is True
    # Both were read on Vic's open page: Uma's receipts say so.
    for text in ("Sent while you were away", "Back online?"):
        expect(message(uma, text).locator("[data-receipt]")).to_have_text("Read")

    # Vic opens the conversation from his inbox: Uma's receipt turns to "Read" live.
    vic.goto("/")
    live(vic)
    uma.get_by_label("Message to vic").fill("One more thing.")
    uma.get_by_role("button", name="Send", exact=True).click()
    live(uma)
    sent(uma, "One more thing.")
    expect(message(uma, "One more thing.").locator("[data-receipt]")).to_have_text("Sent")
    expect(vic.locator("li.conv[data-partner=uma] [data-unread]")).to_contain_text("1")
    vic.locator("li.conv[data-partner=uma] a").click()
    expect(message(uma, "One more thing.").locator("[data-receipt]")).to_have_text("Read")


FAILING_SOCKET = """
window.socketAttempts = 0;
window.WebSocket = class {
  constructor() {
    window.socketAttempts += 1;
    this.readyState = 0;
    this.listeners = {};
    setTimeout(() => {
      this.readyState = 3;
      (this.listeners.close || []).forEach((f) => f({ code: 1006 }));
    }, 10);
  }
  addEventListener(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); }
  close() {}
};
"""


def test_without_the_socket_pages_work_and_retries_back_off(person):
    sign_up(person().new_page(), "xena")
    context = person()
    context.add_init_script(FAILING_SOCKET)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_up(page, "wes")

    page.wait_for_timeout(6_000)

    # Backoff with jitter: a handful of tries in six seconds, not a busy loop.
    attempts = page.evaluate("window.socketAttempts")
    assert 1 <= attempts <= 5
    assert errors == []
    expect(page.locator("#live-status")).to_be_hidden()
    page.get_by_label("To", exact=True).fill("xena")
    page.get_by_label("Message", exact=True).fill("Still works without live updates.")
    page.get_by_role("button", name="Send").click()
    expect(message(page, "Still works without live updates.")).to_be_visible()


def test_a_page_displaced_by_too_many_open_pages_waits_to_be_looked_at(person, one_socket_server):
    """One socket per person on this server: each page that opens displaces the other's (4008)."""
    context = person(base_url=one_socket_server.url)
    first = context.new_page()
    sign_up(first, "yuri")
    first.goto("/")
    live(first)

    second = context.new_page()
    second.goto("/notifications/")
    live(second)

    # The first page's socket was the oldest: it says it is not live, and does not come
    # back by itself (it would displace the second page's, which would come back...).
    live(first, state="displaced")
    expect(first.locator("#live-status")).to_have_text("Not live: open in too many tabs")
    with pytest.raises(PlaywrightTimeoutError), first.expect_websocket(timeout=3_000):
        pass
    live(second)

    # Looked at again, it is live, and the page in the background makes way.
    first.bring_to_front()
    first.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    live(first)
    live(second, state="displaced")
