"""Request bodies over DATA_UPLOAD_MAX_MEMORY_SIZE are refused before they are read in full.

In process, through asgiref's ApplicationCommunicator: the limiter in front of the
HTTP application answers 413 for a declared Content-Length over the limit without
reading a byte, and for a chunked body as soon as the bytes pass the limit; the
application under it never runs for a refused body and gets a body that fits
whole, with its length, so a chunked JSON send works. Then the same against a real
`uvicorn config.asgi:application` process over a raw socket, and the WSGI entry
point, which cannot read a body without Content-Length, saying so (411).
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from messaging.models import Message
from messaging.tests.api.conftest import bearer

LIMIT = 1000
WITHIN = 2.0  # seconds any answer may take in process


@pytest.fixture
def limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    return LIMIT


class Recorder:
    """An HTTP application that records whether it ran and the body it read."""

    def __init__(self):
        self.ran = False
        self.scope = None
        self.body = None

    async def __call__(self, scope, receive, send):
        self.ran = True
        self.scope = scope
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.body = body
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def http_scope(path="/api/v1/messages/", headers=()):
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


CHUNKED = [(b"transfer-encoding", b"chunked")]


def limited(app):
    from config.middleware import RequestBodyLimit

    return RequestBodyLimit(app)


async def response_of(communicator) -> tuple[int, dict[bytes, bytes], bytes]:
    start = await communicator.receive_output(WITHIN)
    assert start["type"] == "http.response.start", start
    body = b""
    while True:
        message = await communicator.receive_output(WITHIN)
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return start["status"], dict(start["headers"]), body


def assert_refused(status, headers, body, *, api=True):
    assert status == 413
    assert headers[b"connection"] == b"close"
    assert int(headers[b"content-length"]) == len(body)
    if api:
        assert headers[b"content-type"] == b"application/json"
        assert set(json.loads(body)) == {"detail"}
    else:
        assert headers[b"content-type"].startswith(b"text/plain")
        assert b"too large" in body


# The limiter, in process --------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_refused_before_reading_the_body(limit):
    app = Recorder()
    headers = [(b"content-length", str(limit + 1).encode())]
    communicator = ApplicationCommunicator(limited(app), http_scope(headers=headers))

    # No body is ever sent: the answer must not wait for one.
    assert_refused(*await response_of(communicator))
    await communicator.wait(WITHIN)
    assert not app.ran


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(limit):
    app = Recorder()
    communicator = ApplicationCommunicator(limited(app), http_scope(headers=CHUNKED))

    for _ in range(3):  # 1200 bytes, and more announced (more_body) that never comes
        await communicator.send_input(
            {"type": "http.request", "body": b"x" * 400, "more_body": True}
        )

    assert_refused(*await response_of(communicator))
    await communicator.wait(WITHIN)
    assert not app.ran


async def test_a_page_is_refused_with_a_short_plain_page(limit):
    app = Recorder()
    headers = [(b"content-length", str(limit * 10).encode())]
    communicator = ApplicationCommunicator(limited(app), http_scope("/messages/new/", headers))

    assert_refused(*await response_of(communicator), api=False)
    assert not app.ran


async def test_a_chunked_body_that_fits_reaches_the_application_whole_with_its_length(limit):
    app = Recorder()
    communicator = ApplicationCommunicator(limited(app), http_scope(headers=CHUNKED))

    await communicator.send_input({"type": "http.request", "body": b"a" * 600, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"b" * 400, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    status, _, _ = await response_of(communicator)
    assert status == 200
    assert app.body == b"a" * 600 + b"b" * 400
    headers = dict(app.scope["headers"])
    # Framing that no longer applies is gone; the length Django and DRF read is there.
    assert headers[b"content-length"] == b"1000"
    assert b"transfer-encoding" not in headers


async def test_a_declared_length_at_the_limit_passes_untouched(limit):
    app = Recorder()
    scope = http_scope(headers=[(b"content-length", str(limit).encode())])
    communicator = ApplicationCommunicator(limited(app), scope)

    await communicator.send_input({"type": "http.request", "body": b"x" * limit})

    status, _, _ = await response_of(communicator)
    assert status == 200
    assert app.body == b"x" * limit
    assert app.scope["headers"] == scope["headers"]


async def test_a_client_that_leaves_mid_body_runs_nothing(limit):
    app = Recorder()
    communicator = ApplicationCommunicator(limited(app), http_scope(headers=CHUNKED))

    await communicator.send_input({"type": "http.request", "body": b"x" * 10, "more_body": True})
    await communicator.send_input({"type": "http.disconnect"})

    await communicator.wait(WITHIN)
    assert not app.ran
    assert await communicator.receive_nothing()


async def test_without_a_limit_the_body_goes_through_as_it_comes(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None
    app = Recorder()
    scope = http_scope(headers=CHUNKED)
    communicator = ApplicationCommunicator(limited(app), scope)

    await communicator.send_input({"type": "http.request", "body": b"x" * 5000, "more_body": True})
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})

    status, _, _ = await response_of(communicator)
    assert status == 200
    assert app.body == b"x" * 5000
    assert app.scope is scope


# The project's ASGI application -------------------------------------------------------


@pytest.fixture
def token(transactional_db, alice, bob):
    return bearer(alice).encode()


def send_chunked_in_process(token: bytes, chunks: list[bytes]):
    from config.asgi import application

    headers = [*CHUNKED, (b"authorization", token), (b"accept", b"application/json")]

    async def run():
        communicator = ApplicationCommunicator(application, http_scope(headers=headers))
        for chunk in chunks:
            await communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": True}
            )
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        try:
            return await response_of(communicator)
        finally:
            await communicator.send_input({"type": "http.disconnect"})
            await communicator.wait(WITHIN)

    return async_to_sync(run)()


def test_a_chunked_json_send_through_the_asgi_application_is_stored(token):
    body = json.dumps({"receiver": "bob", "content": "sent in chunks"}).encode()

    status, _, answer = send_chunked_in_process(token, [body[:7], body[7:20], body[20:]])

    assert status == 201, answer
    assert json.loads(answer)["content"] == "sent in chunks"
    assert Message.objects.filter(content="sent in chunks").count() == 1


def test_an_oversized_chunked_send_through_the_asgi_application_stores_nothing(token, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    body = json.dumps({"receiver": "bob", "content": "x" * LIMIT}).encode()

    status, headers, _ = send_chunked_in_process(token, [body[:500], body[500:]])

    assert status == 413
    assert headers[b"connection"] == b"close"
    assert not Message.objects.exists()


# The WSGI entry point -----------------------------------------------------------------


def wsgi_call(environ):
    from config.wsgi import application

    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    # As Django's test client does: the test's connection holds its transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        body = b"".join(response)
        if hasattr(response, "close"):  # as a WSGI server does
            response.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_wsgi_refuses_a_body_without_content_length_saying_why(alice, bob):
    payload = json.dumps({"receiver": "bob", "content": "hello"}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/messages/",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_AUTHORIZATION": bearer(alice),
        "wsgi.input": io.BytesIO(payload),
    }
    setup_testing_defaults(environ)
    environ.pop("CONTENT_LENGTH", None)

    status, _, body = wsgi_call(environ)

    assert status == 411
    assert "Content-Length" in json.loads(body)["detail"]
    assert not Message.objects.exists()


def test_wsgi_serves_a_body_with_content_length(alice, bob):
    payload = json.dumps({"receiver": "bob", "content": "hello"}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/messages/",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(payload)),
        "HTTP_AUTHORIZATION": bearer(alice),
        "wsgi.input": io.BytesIO(payload),
    }
    setup_testing_defaults(environ)

    status, _, body = wsgi_call(environ)

    assert status == 201, body


# A real server ------------------------------------------------------------------------

#: What the client offers to send on a refused request: far more than any buffer holds.
OFFERED = 64 * 1024 * 1024
FRAME = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`uvicorn config.asgi:application`, as `make run` serves it, on a SQLite file."""
    from messaging.tests.browser.conftest import AppServer

    running = AppServer(tmp_path_factory.mktemp("request-limits"))
    running.manage("migrate", "--no-input", "-v0")
    running.start()
    try:
        for name in ("alice", "bob"):
            api_post(
                running.url, "/api/v1/auth/register/", {"username": name, "password": PASSWORD}
            )
        running.token = api_post(
            running.url, "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}
        )["access"]
        yield running
    finally:
        running.stop()


PASSWORD = "a long enough passphrase 4 tests"


def api_post(url: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def request_head(server, length_header: bytes) -> bytes:
    return (
        b"POST /api/v1/messages/ HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Authorization: Bearer " + server.token.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + length_header + b"\r\n\r\n"
    )


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before a response: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in lines)}
    while len(body) < int(headers["content-length"]):
        piece = sock.recv(65536)
        assert piece, "connection closed mid-body"
        body += piece
    return int(status_line.split()[1]), headers, body


def test_a_real_server_refuses_an_oversized_chunked_body_before_it_is_sent(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    sent = 0

    def pump():
        nonlocal sent
        frame = b"%x\r\n" % FRAME + b"x" * FRAME + b"\r\n"
        try:
            while sent < OFFERED:
                sock.sendall(frame)
                sent += FRAME
        except OSError:  # the server closed the connection: it read no further
            pass

    with sock:
        sock.sendall(request_head(server, b"Transfer-Encoding: chunked"))
        sender = threading.Thread(target=pump, daemon=True)
        started = time.monotonic()
        sender.start()
        status, headers, body = read_response(sock)
        answered_after = time.monotonic() - started
        sender.join(15)

    assert status == 413, body
    assert headers["connection"] == "close"
    assert set(json.loads(body)) == {"detail"}
    # Answered while the client was still sending, and the rest was never read.
    assert sent < OFFERED / 4, sent
    assert answered_after < 10


def test_a_real_server_refuses_a_declared_oversized_body_without_waiting_for_it(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request_head(server, b"Content-Length: %d" % OFFERED))

        status, headers, body = read_response(sock)

    assert status == 413, body
    assert headers["connection"] == "close"


def test_a_real_server_stores_a_small_chunked_json_send(server):
    payload = json.dumps({"receiver": "bob", "content": "chunked over a socket"}).encode()
    pieces = [payload[:9], payload[9:25], payload[25:]]

    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        sock.sendall(request_head(server, b"Transfer-Encoding: chunked"))
        for piece in pieces:
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            time.sleep(0.05)  # separate reads on the server: several body messages
        sock.sendall(b"0\r\n\r\n")

        status, _, body = read_response(sock)

    assert status == 201, body
    assert json.loads(body)["content"] == "chunked over a socket"
