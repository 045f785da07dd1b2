"""Message search in a real browser: a person searches from the header box, sees the
matched words marked and opens a result at its place in the conversation; the results
page passes axe-core on a phone and a laptop, fits 320 px and has 44 px tap targets."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from .test_access import LAPTOP, MIN_TARGET, OUTSIDE_THE_SCREEN, PHONE, SMALL_PHONE, SMALL_TARGETS
from .test_access import _axe_report as axe_report
from .test_story import message, sent, sign_up

pytestmark = pytest.mark.browser


def _write(page: Page, to: str, text: str) -> None:
    page.goto(f"/conversations/{to}/")
    page.get_by_label(f"Message to {to}").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()
    sent(page, text)


@pytest.fixture(scope="module")
def searcher(chromium, app_server) -> dict:
    """srchana wrote to srchbo about the café deploy, and about lunch; her session."""
    contexts = [chromium.new_context(base_url=app_server.url) for _ in range(2)]
    try:
        ana, bo = (context.new_page() for context in contexts)
        sign_up(ana, "srchana")
        sign_up(bo, "srchbo")
        _write(ana, "srchbo", "Deploy the new café menu on Friday <b>please</b>")
        _write(ana, "srchbo", "Lunch at noon?")
        _write(bo, "srchana", "The deployment of the café menu went well")
        state = contexts[0].storage_state()
    finally:
        for context in contexts:
            context.close()
    return state


def _open(person, searcher: dict, viewport: dict) -> Page:
    phone = viewport["width"] < 600
    context = person(viewport=viewport, is_mobile=phone, has_touch=phone, storage_state=searcher)
    return context.new_page()


def test_a_person_searches_from_the_header_and_opens_a_result(person, searcher):
    page = _open(person, searcher, LAPTOP)
    page.goto("/")

    box = page.get_by_role("searchbox", name="Search messages")
    box.fill("CAFE deplo")
    box.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=CAFE\+deplo$"))
    expect(page.get_by_role("searchbox", name="Search messages")).to_have_value("CAFE deplo")
    results = page.locator(".search-hit")
    expect(results).to_have_count(2)
    first = results.filter(has_text="Deploy the new")
    expect(first.locator("mark")).to_have_text(["Deploy", "café"])
    expect(first).to_contain_text("<b>please</b>")  # text, not markup
    expect(first.locator("time[datetime]")).to_have_count(1)
    expect(results.filter(has_text="went well").locator("mark")).to_have_text(
        ["deployment", "café"]
    )
    expect(page.locator(".search-hit", has_text="Lunch")).to_have_count(0)

    first.get_by_role("link").click()

    expect(page).to_have_url(re.compile(r"/conversations/srchbo/\?at=(\d+)#m\1$"))
    expect(message(page, "Deploy the new café menu")).to_be_visible()


def test_the_search_button_searches_without_javascript(person, searcher):
    context = person(java_script_enabled=False, storage_state=searcher)
    page = context.new_page()
    page.goto("/notifications/")

    page.get_by_role("searchbox", name="Search messages").fill("lunch")
    page.get_by_role("button", name="Search", exact=True).click()

    expect(page.locator(".search-hit mark")).to_have_text(["Lunch"])


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["390", "1280"])
def test_axe_finds_no_violation_on_the_results_page(person, searcher, viewport):
    page = _open(person, searcher, viewport)
    page.goto("/search/?q=cafe")
    expect(page.locator(".search-hit")).to_have_count(2)

    results = Axe().run(page, options={"resultTypes": ["violations"]})

    violations = results.response["violations"]
    assert violations == [], axe_report(violations)


@pytest.mark.parametrize("viewport", [SMALL_PHONE, PHONE], ids=["320", "390"])
def test_the_results_page_fits_a_phone_with_44_px_targets(person, searcher, viewport):
    page = _open(person, searcher, viewport)
    page.goto("/search/?q=cafe")
    expect(page.locator(".search-hit")).to_have_count(2)

    widths = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    assert widths["scroll"] <= viewport["width"], widths
    assert page.evaluate(OUTSIDE_THE_SCREEN) == []
    page.keyboard.press("Tab")  # the skip link shows when focused
    assert page.evaluate(SMALL_TARGETS, MIN_TARGET) == []
