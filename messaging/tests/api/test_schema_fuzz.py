"""Schema-driven fuzzing: schemathesis against the schema the app serves.

Every operation of /api/v1/schema/ gets a bounded number of generated requests
(valid and invalid), sent through the WSGI application as a real user with
messages, replies, an edit and notifications. Each response must not be a server
error and must match what the schema documents for that operation: the status
code, the content type, the headers (`Retry-After` on 429) and the body.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from messaging import services
from messaging.tests.factories import UserFactory

from .conftest import bearer

#: Generated requests per operation and mode; the whole run stays well under two minutes.
MAX_EXAMPLES = 50


@pytest.fixture
def wsgi_app(db):
    """The WSGI application, without closing the test's connection after each request.

    Django closes connections at the end of every request; its test client turns
    that off so the test's transaction survives. The fuzzer calls the application
    directly, so the same is done here.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_schema(wsgi_app):
    return schemathesis.openapi.from_wsgi("/api/v1/schema/", wsgi_app)


@pytest.fixture
def fuzz_user(db):
    """A user with something in every list: a thread, an edit, unread messages, notifications.

    Answers what generated requests should sometimes point at: these ids and names.
    """
    fuzzer = UserFactory(username="fuzzer")
    partner = UserFactory(username="partner")
    first = services.message_send(sender=fuzzer, receiver=partner, content="first")
    reply = services.message_send(sender=partner, receiver=fuzzer, content="a reply", parent=first)
    deeper = services.message_send(sender=fuzzer, receiver=partner, content="deeper", parent=reply)
    services.message_edit(user=fuzzer, message=first, content="first, edited")
    unread = services.message_send(sender=partner, receiver=fuzzer, content="unread")
    return {
        "headers": {"Authorization": bearer(fuzzer)},
        "messages": [first.pk, reply.pk, deeper.pk, unread.pk],
        "notifications": list(fuzzer.notifications.values_list("pk", flat=True)),
        "usernames": ["partner", "fuzzer"],
    }


def point_at_real_objects(case, fuzz_user) -> None:
    """Half of the valid ids and names become the fuzz user's own, so that valid requests
    reach real messages, notifications and conversations and not only 404s (ids count up
    across tests on PostgreSQL, so generated small ids rarely exist there).

    Only valid (positive) cases are changed, and only to other valid values.
    """
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    parameters = case.path_parameters or {}
    generated = parameters.get("id")
    if isinstance(generated, int) and generated % 2 == 0:
        kind = "notifications" if "/notifications/" in case.operation.path else "messages"
        ids = fuzz_user[kind]
        parameters["id"] = ids[(generated // 2) % len(ids)]
    name = parameters.get("username")
    if isinstance(name, str) and len(name) % 2 == 0:
        names = fuzz_user["usernames"]
        parameters["username"] = names[len(name) // 2 % len(names)]


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_schema(case, fuzz_user):
    """No server error, and every answer is one the schema documents for the operation.

    `positive_data_acceptance` is left out: the contract answers 400 to schema-valid
    bodies that break a rule no JSON schema can state (a taken username, a weak password,
    an unknown receiver, content that is only whitespace, a wrong password).
    """
    point_at_real_objects(case, fuzz_user)
    case.call_and_validate(headers=fuzz_user["headers"], excluded_checks=[positive_data_acceptance])
