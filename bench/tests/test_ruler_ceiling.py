"""The ceiling's view answers 25 bytes, bare and behind the product's stack."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory, override_settings

from bench import ruler
from bench.ceiling.views import BODY_BYTES, ceiling

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_view_answers_a_signed_in_user_with_25_bytes_of_json():
    request = RequestFactory().get("/ceiling/")
    request.user = User(username="someone")

    response = ceiling(request)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == BODY_BYTES == ruler.BODY_BYTES
    assert len(response.content) == 25
    assert json.loads(response.content) == {"user": "authenticated"}


def test_the_view_refuses_a_request_nobody_signed_in_for():
    request = RequestFactory().get("/ceiling/")
    request.user = AnonymousUser()

    assert ceiling(request).status_code == 401


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.ceiling.product_urls")
def test_the_view_answers_the_same_bytes_behind_the_products_middleware(client):
    client.force_login(User.objects.create_user("someone"))

    response = client.get("/ceiling/", secure=True)

    assert response.status_code == 200
    assert response.content == BODY_BYTES
    assert "no-store" in response["Cache-Control"]


# Run in a process of its own: the suite's settings are the product's.
BARE_PROJECT = textwrap.dedent(
    """
    import contextlib, io, json
    from bench.ceiling import prepare

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        prepare.main()
    cookie = json.loads(out.getvalue())

    from django.conf import settings
    from django.test import Client

    client = Client()
    client.cookies[cookie["name"]] = cookie["value"]
    signed_in = client.get("/ceiling/")
    anonymous = Client().get("/ceiling/")
    print(json.dumps({
        "middleware": settings.MIDDLEWARE,
        "apps": settings.INSTALLED_APPS,
        "debug": settings.DEBUG,
        "status": signed_in.status_code,
        "body": signed_in.content.decode(),
        "anonymous": anonymous.status_code,
    }))
    """
)


def test_the_bare_project_serves_its_session_user_25_bytes(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "bench.ceiling.settings",
        "CEILING_DATABASE_URL": f"sqlite:///{tmp_path / 'ceiling.sqlite3'}",
    }
    proc = subprocess.run(
        [sys.executable, "-c", BARE_PROJECT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])

    assert found["middleware"] == [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]
    assert found["apps"] == [
        "django.contrib.contenttypes",
        "django.contrib.auth",
        "django.contrib.sessions",
    ]
    assert found["debug"] is False
    assert found["status"] == 200
    assert found["body"].encode() == BODY_BYTES
    assert found["anonymous"] == 401
