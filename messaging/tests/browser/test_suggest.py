"""The "To" field suggests people as one types (static/messaging/suggest.js): a WAI-ARIA
combobox over people search. Picked with the keyboard or the mouse, closed with Escape,
quiet when the search is refused, fitting a phone, and without JavaScript the plain
text field it always was."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .test_story import message, sign_up

pytestmark = pytest.mark.browser

SEARCH = "**/api/v1/users/?*"

# Every browser test shares one database: the people here have names that start with
# letters no other test's people start with, so that a search finds only them.


def sign_up_people(person, *names: str, blocking: str | None = None) -> None:
    """Sign up `names` one after the other in one browser without JavaScript; with
    `blocking`, each of them blocks that person."""
    page = person(java_script_enabled=False).new_page()
    for name in names:
        sign_up(page, name)
        if blocking:
            page.goto(f"/conversations/{blocking}/")
            page.get_by_role("button", name=f"Block {blocking}").click()
            expect(page.locator("#block-notice")).to_contain_text(f"You blocked {blocking}.")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/accounts/login/$"))


def to_field(page: Page):
    return page.get_by_role("combobox", name="To", exact=True)


def suggestions(page: Page):
    return page.get_by_role("listbox", name="People", exact=True, include_hidden=True)


def names(listbox):
    """The names the options show (each also shows an initial, hidden from screen readers)."""
    return listbox.get_by_role("option").locator(".suggest__name")


def status(page: Page):
    return page.locator("[data-suggest-status]")


def test_keyboard_only_two_letters_arrow_down_enter_and_send(person):
    kwame = person().new_page()
    sign_up(kwame, "kwame")
    sign_up_people(person, "kwasi", "kwabena")
    sign_up_people(person, "kweku", blocking="kwame")
    kwame.goto("/")
    kwame.evaluate("window.notReloaded = true")
    to = to_field(kwame)
    listbox = suggestions(kwame)
    options = listbox.get_by_role("option")
    expect(to).to_have_attribute("aria-autocomplete", "list")
    expect(to).to_have_attribute("aria-expanded", "false")
    expect(to).to_have_attribute("aria-controls", listbox.get_attribute("id") or "missing")
    expect(listbox).to_be_hidden()

    # Two letters: the people Zora can write to, not herself, not who blocked her.
    to.focus()
    kwame.keyboard.type("kw")
    expect(names(listbox)).to_have_text(["kwabena", "kwasi"])
    expect(options.nth(0)).to_have_accessible_name("kwabena")
    expect(to).to_have_attribute("aria-expanded", "true")
    expect(status(kwame)).to_have_text("2 people found")
    expect(to).not_to_have_attribute("aria-activedescendant", re.compile(".*"))

    # The arrows move the highlight, the input keeps the focus.
    kwame.keyboard.press("ArrowDown")
    expect(to).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    kwame.keyboard.press("ArrowDown")
    expect(to).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_have_attribute("aria-selected", "false")
    kwame.keyboard.press("ArrowUp")
    kwame.keyboard.press("ArrowUp")  # round to the last
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(to).to_be_focused()

    # Enter picks (the form is not sent) and the cursor moves on to the message.
    kwame.keyboard.press("Enter")
    expect(to).to_have_value("kwasi")
    expect(kwame.get_by_label("Message", exact=True)).to_be_focused()
    expect(listbox).to_be_hidden()
    expect(to).to_have_attribute("aria-expanded", "false")
    expect(to).not_to_have_attribute("aria-activedescendant", re.compile(".*"))
    kwame.keyboard.type("Found you with two letters.")
    assert kwame.evaluate("window.notReloaded") is True
    kwame.keyboard.press("Tab")
    expect(kwame.get_by_role("button", name="Send")).to_be_focused()
    kwame.keyboard.press("Enter")

    expect(kwame).to_have_url(re.compile(r"/conversations/kwasi/#m\d+$"))
    expect(message(kwame, "Found you with two letters.")).to_be_visible()


def test_escape_closes_a_click_picks_and_a_refused_search_leaves_a_plain_field(person):
    yara = person().new_page()
    sign_up(yara, "yara")
    sign_up_people(person, "xavi", "xander", "xiomara")
    yara.goto("/messages/new/")
    to = to_field(yara)
    listbox = suggestions(yara)
    options = listbox.get_by_role("option")

    to.click()
    yara.keyboard.type("xa")
    expect(names(listbox)).to_have_text(["xander", "xavi"])

    # Escape closes and keeps the text; ArrowDown opens again at the first.
    yara.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(to).to_have_attribute("aria-expanded", "false")
    expect(to).to_have_value("xa")
    yara.keyboard.press("ArrowDown")
    expect(listbox).to_be_visible()
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")

    # Nobody by that name: said, and nothing to pick.
    yara.keyboard.type("q")
    expect(status(yara)).to_have_text("No one found")
    expect(listbox).to_be_hidden()
    expect(yara.locator(".suggest__none")).to_have_text("No one found")
    expect(yara.locator(".suggest__none")).to_be_visible()

    # One more letter, one person; a click picks them.
    yara.keyboard.press("Backspace")
    yara.keyboard.type("v")
    expect(names(listbox)).to_have_text(["xavi"])
    expect(status(yara)).to_have_text("1 person found")
    options.first.click()
    expect(to).to_have_value("xavi")
    expect(listbox).to_be_hidden()
    expect(yara.get_by_label("Message", exact=True)).to_be_focused()

    # Throttled: the popup closes quietly and the field still sends what was typed.
    to.fill("xi")
    expect(names(listbox)).to_have_text(["xiomara"])
    yara.route(
        SEARCH,
        lambda route: route.fulfill(
            status=429,
            headers={"Retry-After": "30"},
            content_type="application/json",
            body='{"detail": "Request was throttled."}',
        ),
    )
    yara.keyboard.type("o")
    expect(listbox).to_be_hidden()
    expect(to).to_have_attribute("aria-expanded", "false")
    yara.keyboard.type("mara")
    yara.get_by_label("Message", exact=True).fill("Typed in full.")
    yara.get_by_role("button", name="Send").click()
    expect(yara).to_have_url(re.compile(r"/conversations/xiomara/#m\d+$"))
    expect(message(yara, "Typed in full.")).to_be_visible()


def test_on_a_phone_the_popup_fits_and_a_tap_picks(person):
    long_name = "ph" + "o" * 60 + "nix"
    phone = person(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    sign_up(page, "philippa")
    sign_up_people(person, "phoebe", long_name)
    page.goto("/")
    listbox = suggestions(page)
    options = listbox.get_by_role("option")

    to_field(page).tap()
    page.keyboard.type("ph")
    expect(names(listbox)).to_have_text(["phoebe", long_name])

    # Nothing wider than the screen, rows big enough for a finger.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for index in range(2):
        box = options.nth(index).bounding_box()
        assert box and box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    options.nth(0).tap()
    expect(to_field(page)).to_have_value("phoebe")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()


def test_without_javascript_the_to_field_is_plain_text_and_sends(person):
    sign_up_people(person, "vidar")
    valdis = person(java_script_enabled=False).new_page()
    sign_up(valdis, "valdis")

    to = valdis.get_by_role("textbox", name="To", exact=True)
    expect(to).to_have_attribute("autocomplete", "off")
    expect(to).not_to_have_attribute("aria-expanded", re.compile(".*"))
    to.fill("vidar")
    valdis.get_by_label("Message", exact=True).fill("No suggestions needed.")
    valdis.get_by_role("button", name="Send").click()

    expect(valdis).to_have_url(re.compile(r"/conversations/vidar/#m\d+$"))
    expect(message(valdis, "No suggestions needed.")).to_be_visible()
