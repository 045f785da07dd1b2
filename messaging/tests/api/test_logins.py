"""Logins end when they should: refresh rotation, logout, password change, account deletion."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from messaging.models import EndedLogin
from messaging.tests.conftest import PASSWORD

from .test_throttling import assert_throttled, rates  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a much longer new passphrase 42"
TOKEN_URL = "/api/v1/auth/token/"
REFRESH_URL = "/api/v1/auth/token/refresh/"
LOGOUT_URL = "/api/v1/auth/logout/"
PASSWORD_URL = "/api/v1/users/me/password/"
ME_URL = "/api/v1/users/me/"


def log_in(api, user, password=PASSWORD) -> dict[str, str]:
    response = api().post(TOKEN_URL, {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()


def me(api, access: str):
    return api().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {access}")


# Refresh tokens rotate --------------------------------------------------------------


def test_a_used_refresh_token_is_refused(api, alice):
    tokens = log_in(api, alice)

    first = api().post(REFRESH_URL, {"refresh": tokens["refresh"]})
    again = api().post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert first.status_code == 200
    assert again.status_code == 401


def test_a_used_refresh_token_presented_again_ends_its_whole_login(api, alice):
    tokens = log_in(api, alice)
    rotated = api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).json()
    other_login = log_in(api, alice)

    # Someone replays the copied, already used token: both holders lose the login.
    assert api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 401

    assert api().post(REFRESH_URL, {"refresh": rotated["refresh"]}).status_code == 401
    assert me(api, rotated["access"]).status_code == 401
    assert me(api, other_login["access"]).status_code == 200


def test_a_refreshed_access_token_belongs_to_the_same_login(api, alice):
    tokens = log_in(api, alice)
    rotated = api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).json()

    assert api().post(LOGOUT_URL, {"refresh": rotated["refresh"]}).status_code == 204

    assert me(api, rotated["access"]).status_code == 401
    assert me(api, tokens["access"]).status_code == 401


# Logout -----------------------------------------------------------------------------


def test_logout_revokes_the_refresh_token_and_the_logins_access_tokens(api, alice):
    tokens = log_in(api, alice)
    elsewhere = log_in(api, alice)

    response = api().post(LOGOUT_URL, {"refresh": tokens["refresh"]})

    assert response.status_code == 204
    assert api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 401
    assert me(api, tokens["access"]).status_code == 401
    # Another login of the same person goes on.
    assert me(api, elsewhere["access"]).status_code == 200
    assert api().post(REFRESH_URL, {"refresh": elsewhere["refresh"]}).status_code == 200


@pytest.mark.parametrize(
    "body", [{"refresh": "not-a-token"}, {"refresh": "a.b.c"}, {"refresh": ""}]
)
def test_logout_with_a_token_that_is_not_one_is_refused(api, alice, body):
    response = api().post(LOGOUT_URL, body)

    assert response.status_code in {400, 401}
    assert not EndedLogin.objects.exists()


def test_logout_with_an_access_token_in_place_of_the_refresh_token_is_401(api, alice):
    tokens = log_in(api, alice)

    response = api().post(LOGOUT_URL, {"refresh": tokens["access"]})

    assert response.status_code == 401
    assert me(api, tokens["access"]).status_code == 200


def test_logout_needs_its_field(api, alice):
    assert api().post(LOGOUT_URL, {}).json() == {"refresh": ["This field is required."]}


def test_logout_forgets_logins_whose_tokens_expired(api, alice):
    from datetime import timedelta

    from django.utils import timezone

    EndedLogin.objects.create(sid="old", user=alice, expires_at=timezone.now() - timedelta(1))
    tokens = log_in(api, alice)

    api().post(LOGOUT_URL, {"refresh": tokens["refresh"]})

    assert list(EndedLogin.objects.values_list("sid", flat=True)) != ["old"]
    assert not EndedLogin.objects.filter(sid="old").exists()


def test_checking_a_login_costs_no_query_beyond_loading_the_user(
    api, alice, django_assert_num_queries
):
    tokens = log_in(api, alice)

    # One query: the user, whether the login ended, and (from the row) the password's
    # fingerprint, all at once.
    with django_assert_num_queries(1):
        assert me(api, tokens["access"]).status_code == 200


# Password change --------------------------------------------------------------------


def test_changing_the_password_refuses_every_token_issued_before(api, alice):
    first, second = log_in(api, alice), log_in(api, alice)

    response = api().post(
        PASSWORD_URL,
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        HTTP_AUTHORIZATION=f"Bearer {first['access']}",
    )

    assert response.status_code == 204
    for tokens in (first, second):
        assert me(api, tokens["access"]).status_code == 401
        assert api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 401
    assert api().post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).status_code == 401
    fresh = log_in(api, alice, NEW_PASSWORD)
    assert me(api, fresh["access"]).status_code == 200


def test_the_old_password_set_again_does_not_bring_old_refresh_tokens_back(api, alice):
    tokens = log_in(api, alice)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    api().post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD}, **auth)
    fresh = log_in(api, alice, NEW_PASSWORD)

    api().post(
        PASSWORD_URL,
        {"old_password": NEW_PASSWORD, "new_password": PASSWORD},
        HTTP_AUTHORIZATION=f"Bearer {fresh['access']}",
    )

    assert api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"old_password": "wrong", "new_password": NEW_PASSWORD}, "old_password"),
        ({"old_password": PASSWORD, "new_password": "123"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "password"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "alice"}, "new_password"),
        ({"old_password": PASSWORD}, "new_password"),
        ({"old_password": PASSWORD, "new_password": NEW_PASSWORD, "x": 1}, "x"),
    ],
)
def test_a_wrong_old_password_or_a_weak_new_one_is_400_and_changes_nothing(api, alice, body, field):
    tokens = log_in(api, alice)

    response = api(alice).post(PASSWORD_URL, body)

    assert response.status_code == 400
    assert field in response.json()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert me(api, tokens["access"]).status_code == 200


def test_password_change_needs_a_login(api):
    response = api().post(PASSWORD_URL, {"old_password": PASSWORD, "new_password": NEW_PASSWORD})

    assert response.status_code == 401


def test_a_browser_session_changing_the_password_stays_signed_in_and_others_end(
    session_client, alice
):
    mine, other = session_client(alice), session_client(alice)

    response = mine.post(
        PASSWORD_URL,
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        content_type="application/json",
        headers=mine.csrf_headers,
    )

    assert response.status_code == 204
    assert mine.get(ME_URL).status_code == 200
    assert other.get(ME_URL).status_code in {401, 403}


def test_password_attempts_are_throttled_per_account_across_ips(api, alice, rates):  # noqa: F811
    rates(auth="2/min")
    client = api(alice)
    body = {"old_password": "wrong", "new_password": NEW_PASSWORD}

    statuses = [
        client.post(PASSWORD_URL, body, REMOTE_ADDR=f"10.1.0.{i}").status_code for i in range(2)
    ]
    throttled = client.post(PASSWORD_URL, body, REMOTE_ADDR="10.1.0.9")

    assert statuses == [400, 400]
    assert_throttled(throttled)


def test_account_deletion_is_throttled_per_account(api, alice, rates):  # noqa: F811
    rates(auth="2/min")
    client = api(alice)

    for i in range(2):
        client.delete(ME_URL, {"password": "wrong"}, REMOTE_ADDR=f"10.2.0.{i}")
    throttled = client.delete(ME_URL, {"password": PASSWORD}, REMOTE_ADDR="10.2.0.9")

    assert_throttled(throttled)
    assert type(alice).objects.filter(pk=alice.pk).exists()


def test_log_in_attempts_at_one_account_are_throttled_across_ips(api, alice, bob, rates):  # noqa: F811
    rates(auth="2/min")
    wrong = {"username": "alice", "password": "wrong"}

    for i in range(2):
        api().post(TOKEN_URL, wrong, REMOTE_ADDR=f"10.3.0.{i}")
    throttled = api().post(TOKEN_URL, {**wrong, "username": "ALICE"}, REMOTE_ADDR="10.3.0.9")
    bob_elsewhere = api().post(
        TOKEN_URL, {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="10.3.0.10"
    )

    assert_throttled(throttled)
    assert bob_elsewhere.status_code == 200


# Account deletion -------------------------------------------------------------------


def test_deleting_the_account_refuses_its_tokens_and_forgets_them(api, alice):
    tokens = log_in(api, alice)

    response = api().delete(
        ME_URL, {"password": PASSWORD}, HTTP_AUTHORIZATION=f"Bearer {tokens['access']}"
    )

    assert response.status_code == 204
    assert me(api, tokens["access"]).status_code == 401
    assert api().post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 401
    assert not OutstandingToken.objects.exists()


def test_two_uses_of_one_refresh_token_at_once_let_exactly_one_through(api, alice):
    from rest_framework_simplejwt.tokens import RefreshToken

    from messaging import auth_tokens

    raw = log_in(api, alice)["refresh"]
    # Both requests passed the blacklist check before either wrote: the insert decides.
    first, second = RefreshToken(raw), RefreshToken(raw)

    auth_tokens.rotate_refresh_token(first, alice)
    with pytest.raises(auth_tokens.RefreshTokenUsed):
        auth_tokens.rotate_refresh_token(second, alice)


def test_a_name_typed_with_a_combining_accent_registers_as_its_composed_form(api, db):
    response = api().post(
        "/api/v1/auth/register/", {"username": "E\u0301mile", "password": NEW_PASSWORD}
    )

    assert response.status_code == 201
    assert response.json()["username"] == "\u00c9mile"
