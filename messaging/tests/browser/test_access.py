"""Every page fits a phone and passes axe-core.

For each page, at 390 x 844 (a phone) and at 1280 x 800 (a laptop):

- axe-core (pinned: the one bundled by the `axe-playwright-python` dev dependency)
  reports no violation, with its default rules (WCAG A/AA and best practices);
- nothing is wider than the screen: no sideways scrolling, also at 320 px, and every
  control lies inside the screen;
- on the phone every visible control is a tap target of at least 44 x 44 px (its box,
  or the area around its centre that taps land on).

The people, messages, edits, replies, notifications and blocks are made once through
the pages themselves (the ORM cannot run in this process, see conftest.py); each check
then opens its page in a fresh browser context with that person's cookies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .test_live import live
from .test_story import PASSWORD, edit, message, reply_to, sent, sign_up

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 640}
LAPTOP = {"width": 1280, "height": 800}
MIN_TARGET = 44

#: Long enough to have to wrap on a phone: it must not push the page sideways.
LONG_URL = "https://example.com/menus/luigis-trattoria/friday-lunch-specials-and-the-wine-list"


@dataclass(frozen=True)
class Site:
    states: dict[str, dict]  # username -> Playwright storage state (its session cookie)
    root: int  # the edited message, with a reply, that Ada sent Bram
    group: int  # Ada's group with Bram and Dora, where Bram wrote


def _new_page(chromium, app_server, viewport: dict, state: dict | None = None) -> Page:
    phone = viewport["width"] < 600
    context = chromium.new_context(
        base_url=app_server.url,
        viewport=viewport,
        is_mobile=phone,
        has_touch=phone,
        storage_state=state,
    )
    context.set_default_timeout(15_000)
    return context.new_page()


@pytest.fixture(scope="module")
def site(chromium, app_server) -> Iterator[Site]:
    """Ada talks with Bram (a message with a link, his reply, her edit), Dora writes to
    Ada (unread: both of Ada's badges count), Ada blocked Eli, Ada made a group with Bram
    and Dora where both wrote; Cleo has nothing yet."""
    names = ["ada", "bram", "cleo", "dora", "eli"]
    pages = {name: _new_page(chromium, app_server, LAPTOP) for name in names}
    try:
        for name, page in pages.items():
            sign_up(page, name)
        ada, bram, dora = pages["ada"], pages["bram"], pages["dora"]

        ada.goto("/conversations/bram/")
        ada.get_by_label("Message to bram").fill(f"Lunch on Friday? The menu: {LONG_URL}")
        ada.get_by_role("button", name="Send", exact=True).click()
        sent(ada, "Lunch on Friday?")

        bram.goto("/conversations/ada/")
        reply_to(bram, "Lunch on Friday?", "Yes! I booked a table for 12:30.")

        ada.goto("/conversations/bram/")
        edit(ada, "Lunch on Friday?", f"Lunch on Friday at 12:30? The menu: {LONG_URL}")
        root = int(message(ada, "Lunch on Friday at 12:30?").get_attribute("data-id"))

        ada.goto("/conversations/eli/")
        ada.once("dialog", lambda dialog: dialog.accept())
        ada.get_by_role("button", name="Block eli").click()
        expect(ada.locator("#block-notice")).to_be_visible()

        dora.goto("/conversations/ada/")
        dora.get_by_label("Message to ada").fill("Hello Ada, are you free tomorrow?")
        dora.get_by_role("button", name="Send", exact=True).click()
        sent(dora, "are you free tomorrow")

        ada.goto("/groups/new/")
        ada.get_by_label("Group name").fill("Friday lunch")
        ada.get_by_label("Members", exact=True).fill("bram, dora")
        ada.get_by_role("button", name="Create the group").click()
        expect(ada).to_have_url(re.compile(r"/groups/\d+/$"))
        group = int(ada.url.rstrip("/").rsplit("/", 1)[1])
        ada.get_by_label("Message to the group Friday lunch").fill("Who is in for Friday?")
        ada.get_by_role("button", name="Send", exact=True).click()
        sent(ada, "Who is in for Friday?")
        bram.goto(f"/groups/{group}/")
        reply_to(bram, "Who is in for Friday?", f"Me! Same place as last time? {LONG_URL}")

        states = {name: page.context.storage_state() for name, page in pages.items()}
    finally:
        for page in pages.values():
            page.context.close()
    yield Site(states=states, root=root, group=group)


def _log_in_wrongly(page: Page) -> None:
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("not " + PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".alert--error")).to_be_visible()


def _sign_up_wrongly(page: Page) -> None:
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".field__errors").first).to_be_visible()


def _open_menu_reply_edit_and_history(page: Page) -> None:
    """The first message's edit history inline, its actions menu, the composer replying
    to it, and its text being edited in place."""
    first = page.locator("article.msg").first
    first.locator("a[data-history]").click()
    expect(first.locator(".history-panel")).to_be_visible()
    first.locator("[data-menu]").click()
    page.get_by_role("menuitem", name="Reply").click()
    expect(page.locator("#composer-reply")).to_be_visible()
    first.locator("[data-menu]").click()
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    expect(page.get_by_label("Edit your message")).to_be_focused()
    first.locator("[data-menu]").click()
    expect(page.get_by_role("menu", name="Message actions")).to_be_visible()


def _open_members(page: Page) -> None:
    page.locator("#members-summary").click()
    expect(page.get_by_role("button", name="Leave the group")).to_be_visible()


def _open_history(page: Page) -> None:
    first = page.locator("article.msg").first
    first.locator("a[data-history]").click()
    expect(first.locator(".history-panel")).to_be_visible()


@dataclass(frozen=True)
class Screen:
    who: str | None  # None: not logged in
    path: str  # "{root}" stands for Site.root, "{group}" for Site.group
    status: int = 200
    then: Callable[[Page], None] | None = None  # what to do on the page before checking it


SCREENS = {
    "log-in": Screen(None, "/accounts/login/"),
    "log-in-error": Screen(None, "/accounts/login/", then=_log_in_wrongly),
    "sign-up": Screen(None, "/accounts/signup/"),
    "sign-up-error": Screen(None, "/accounts/signup/", then=_sign_up_wrongly),
    "inbox-empty": Screen("cleo", "/"),
    "inbox": Screen("ada", "/"),
    "compose": Screen("ada", "/messages/new/"),
    "conversation": Screen("ada", "/conversations/bram/"),
    "conversation-opened": Screen(
        "ada", "/conversations/bram/", then=_open_menu_reply_edit_and_history
    ),
    "thread": Screen("ada", "/messages/{root}/"),
    "thread-opened": Screen("ada", "/messages/{root}/", then=_open_history),
    "history": Screen("ada", "/messages/{root}/history/"),
    "message-edit": Screen("ada", "/messages/{root}/edit/"),
    "message-delete": Screen("ada", "/messages/{root}/delete/?next=/conversations/bram/"),
    "notifications": Screen("ada", "/notifications/"),
    "notifications-empty": Screen("cleo", "/notifications/"),
    "account": Screen("ada", "/account/"),
    "password-change": Screen("ada", "/account/password/"),
    "account-delete": Screen("ada", "/account/delete/"),
    "group-new": Screen("ada", "/groups/new/"),
    "group": Screen("ada", "/groups/{group}/"),
    "group-members": Screen("ada", "/groups/{group}/", then=_open_members),
    "not-found": Screen("ada", "/conversations/nobody-by-this-name/", status=404),
}


@pytest.fixture
def open_screen(chromium, app_server, site) -> Iterator[Callable[[str, dict], Page]]:
    contexts = []

    def _open(name: str, viewport: dict) -> Page:
        screen = SCREENS[name]
        state = site.states[screen.who] if screen.who else None
        page = _new_page(chromium, app_server, viewport, state)
        contexts.append(page.context)
        response = page.goto(screen.path.format(root=site.root, group=site.group))
        assert response is not None and response.status == screen.status, page.url
        if screen.who:
            # Logged in, not bounced to the log-in page; the live status has settled.
            assert not re.search(r"/accounts/login/", page.url), page.url
            live(page)
        if screen.then:
            screen.then(page)
        page.wait_for_load_state("load")
        return page

    yield _open
    for context in contexts:
        context.close()


# axe-core -----------------------------------------------------------------------------


def _axe_report(violations: list[dict]) -> str:
    lines = [f"{len(violations)} axe-core violation(s):"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            lines.append(f"    {target}: {node['html'][:160]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1280"])
@pytest.mark.parametrize("name", list(SCREENS))
def test_axe_finds_no_violation(open_screen, name, viewport):
    page = open_screen(name, viewport)
    results = Axe().run(page, options={"resultTypes": ["violations"]})
    violations = results.response["violations"]
    assert violations == [], _axe_report(violations)


# No sideways scrolling ------------------------------------------------------------------

OUTSIDE_THE_SCREEN = """() => {
  const width = window.innerWidth;
  const out = [];
  for (const el of document.querySelectorAll("a, button, input, select, textarea, summary")) {
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 && box.height <= 1) continue;  // .visually-hidden
    if (box.left < -0.5 || box.right > width + 0.5) {
      const html = el.outerHTML.slice(0, 120);
      out.push(`${html} spans ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("viewport", [SMALL_PHONE, PHONE, LAPTOP], ids=["320", "390", "1280"])
@pytest.mark.parametrize("name", list(SCREENS))
def test_nothing_is_wider_than_the_screen(open_screen, name, viewport):
    page = open_screen(name, viewport)
    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= widths["inner"], widths
    # On a phone a page wider than the screen may be zoomed out to fit: the screen's width.
    assert widths["scroll"] <= viewport["width"], widths
    outside = page.evaluate(OUTSIDE_THE_SCREEN)
    assert outside == [], "controls outside the screen:\n" + "\n".join(outside)


# Tap targets ------------------------------------------------------------------------------

# A control passes if its box is at least 44 x 44 px, or if taps 22 px above, below, left
# and right of its centre still land on it (a padded or pseudo-element hit area).
# Links inside running text, like the footer's sentence or "New here? Create an account",
# are exempt: WCAG 2.5.8's inline exception (their size is set by the line of text).
SMALL_TARGETS = """(min) => {
  const inRunningText = (el) => {
    if (el.tagName !== "A" || getComputedStyle(el).display !== "inline") return false;
    return [...el.parentElement.childNodes].some(
      (node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim() !== "");
  };
  const landsOn = (el) => {
    el.scrollIntoView({ block: "center", inline: "center" });
    const box = el.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2, r = min / 2 - 0.5;
    return [[x, y - r], [x, y + r], [x - r, y], [x + r, y]].every(([px, py]) => {
      const hit = document.elementFromPoint(px, py);
      return hit !== null && (hit === el || el.contains(hit));
    });
  };
  const small = [];
  for (const el of document.querySelectorAll("a, button, input, select, textarea, summary")) {
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    const box = el.getBoundingClientRect();
    if (box.width <= 1 && box.height <= 1) continue;  // .visually-hidden
    if (inRunningText(el)) continue;
    if (box.width >= min - 0.5 && box.height >= min - 0.5) continue;
    if (landsOn(el)) continue;
    const label = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim();
    small.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${label.slice(0, 40)}"`
      + ` ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  return small;
}"""


@pytest.mark.parametrize("name", list(SCREENS))
def test_tap_targets_are_at_least_44_px_on_a_phone(open_screen, name):
    page = open_screen(name, PHONE)
    # The skip link shows when focused (it is the first tab stop).
    page.keyboard.press("Tab")
    small = page.evaluate(SMALL_TARGETS, MIN_TARGET)
    assert small == [], "tap targets under 44 x 44 px:\n" + "\n".join(small)


# The account link --------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1280"])
def test_the_account_link_says_whose_account_it_is(open_screen, viewport):
    page = open_screen("inbox", viewport)
    link = page.get_by_role("link", name="Account (ada)", exact=True)
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", "/account/")
    # The username shows beside the avatar where there is room; on a phone only the
    # avatar does, and the link's name still says whose account it opens.
    expect(link.locator(".nav__user")).to_be_visible(visible=viewport is LAPTOP)
