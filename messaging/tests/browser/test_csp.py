"""The Content-Security-Policy breaks nothing a person uses: no violation on any page."""

import pytest

from .test_story import sign_up

pytestmark = pytest.mark.browser


def _violations(page) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    return found


def test_pages_and_api_docs_run_under_the_policy(person):
    page = person().new_page()
    violations = _violations(page)

    sign_up(page, "csp-checker")
    for path in ["/", "/notifications/", "/account/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")

    page.goto("/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=20_000)

    assert violations == []
