"""Production's shape: gunicorn (WSGI) serves pages and API, uvicorn (ASGI) the sockets.

Both are real processes on one database; with REDIS_URL set they share the channel
layer, so a message sent through the WSGI workers reaches a socket held by the ASGI
server, as it does behind the load balancer that splits `/ws/` from the rest.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from .servers import WS_MAX_SIZE, Servers, http

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    servers = Servers(
        tmp_path_factory.mktemp("server-shapes"),
        kinds=["gunicorn", "uvicorn"],
        server_args=[(), WS_MAX_SIZE],
        people=("ann", "ben"),
    )
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def test_the_wsgi_workers_serve_the_api_and_the_pages(split):
    http_port = split.ports[0]
    ann = split.people["ann"]

    with split.explained():
        assert http(http_port, "GET", "/healthz")[0] == 200
        status, body = http(http_port, "GET", "/api/v1/users/me/", token=ann["token"])
        assert status == 200 and json.loads(body)["username"] == "ann"
        status, _ = http(
            http_port,
            "POST",
            "/api/v1/messages/",
            {"receiver": "ben", "content": "hi"},
            ann["token"],
        )
        assert status == 201
        assert http(http_port, "GET", "/accounts/login/")[0] == 200


def test_a_chunked_send_to_the_wsgi_workers_is_told_to_send_a_length(split):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", split.ports[0], timeout=10)
    body = json.dumps({"receiver": "ben", "content": "chunked"}).encode()
    connection.request(
        "POST",
        "/api/v1/messages/",
        body=iter([body]),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {split.people['ann']['token']}",
        },
        encode_chunked=True,
    )
    response = connection.getresponse()

    assert response.status == 411
    assert "Content-Length" in json.loads(response.read())["detail"]


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="needs REDIS_URL: the WSGI and ASGI processes meet only on the Redis channel layer",
)
async def test_a_message_sent_through_wsgi_reaches_a_socket_on_asgi(split):
    from websockets.asyncio.client import connect

    ben, ann = split.people["ben"], split.people["ann"]
    with split.explained():
        async with connect(split.socket_url(1, ben["token"]), open_timeout=10) as socket:
            status, _ = await asyncio.to_thread(
                http,
                split.ports[0],
                "POST",
                "/api/v1/messages/",
                {"receiver": "ben", "content": "across the split"},
                ann["token"],
            )
            assert status == 201
            async with asyncio.timeout(5):
                while True:
                    frame = json.loads(await socket.recv())
                    if frame["type"] == "message.created":
                        break
            assert frame["data"]["content"] == "across the split"
