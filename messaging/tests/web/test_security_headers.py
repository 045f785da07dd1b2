"""What every response promises the browser: our own code only, no sniffing, no framing."""

import pytest

PAGES = ["/accounts/login/", "/accounts/signup/", "/healthz", "/api/v1/schema/"]


@pytest.mark.parametrize("path", PAGES)
def test_responses_carry_a_strict_content_security_policy(client, db, path):
    response = client.get(path)

    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", PAGES)
def test_responses_refuse_sniffing_framing_and_cross_site_referrers(client, db, path):
    response = client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_load_no_inline_script_or_style(client, django_user_model):
    user = django_user_model.objects.create_user("dora", password="pw-for-dora-123")
    client.force_login(user)

    for path in ["/", "/notifications/", "/account/", "/accounts/login/"]:
        html = client.get(path).content.decode()
        assert "<style" not in html
        assert "style=" not in html
        for tag in html.split("<script")[1:]:
            assert tag.split(">", 1)[0].strip().startswith("src=") or " src=" in tag.split(">")[0]


def test_api_docs_allow_inline_styles_but_only_our_scripts(client, db):
    policy = client.get("/api/v1/docs/")["Content-Security-Policy"]

    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy + ";"
