"""The socket handshake: Host and Origin are judged as Django judges an HTTP request's.

In process through channels' WebsocketCommunicator (headers, `scope["scheme"]`,
`scope["server"]` set as a server sets them), and once against a real uvicorn server with a
raw `websockets` client that sets Origin and Host itself.
"""

import asyncio
import json
import socket
import urllib.error
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application

from .live_server import DEMO_PASSWORD, running_server
from .realtime import http_login

HOST = "127.0.0.1:8000"
OUR_ORIGIN = "http://127.0.0.1:8000"


def handshake(origin=OUR_ORIGIN, host=HOST, *, scheme="ws", server=("127.0.0.1", 8000), extra=(), cookie=""):
    """A handshake as a server hands it to the application; `None` leaves a header out."""
    headers = [(b"host", host.encode())] if host is not None else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    headers.extend((name.encode(), value.encode()) for name, value in extra)
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    # The application instance is created on the first event, so the scope can still be completed.
    communicator.scope["scheme"] = scheme
    if server is not None:
        communicator.scope["server"] = server
    return communicator


async def refused(communicator) -> bool:
    connected, _ = await communicator.connect()
    if connected:
        await communicator.disconnect()
    return not connected


@pytest.fixture
async def session(client, alice):
    await database_sync_to_async(client.force_login)(alice)
    return client.cookies["sessionid"].value


@pytest.fixture
def chat_example(settings):
    settings.ALLOWED_HOSTS = ["chat.example.com"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        (OUR_ORIGIN, HOST, "ws"),
        ("https://127.0.0.1:8000", HOST, "wss"),
        ("http://localhost:8000", "localhost:8000", "ws"),
    ],
)
async def test_our_own_origin_gets_hello(session, origin, host, scheme):
    communicator = handshake(origin, host, scheme=scheme, cookie=session)
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from())["type"] == "hello"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9000",  # another port of the same machine: another site
        "http://127.0.0.1",
        "https://127.0.0.1:8000",  # another scheme
        "http://localhost:8000",  # another host name for the same machine
        "http://localhost:9000",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8000.evil.example",
        "null",
        "",
        None,
    ],
)
async def test_any_other_origin_is_refused(origin):
    assert await refused(handshake(origin))


async def test_two_origin_headers_are_refused():
    assert await refused(handshake(OUR_ORIGIN, extra=[("origin", OUR_ORIGIN)]))


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("evil.example", OUR_ORIGIN),  # our origin, a host we do not serve (DNS rebinding)
        ("evil.example", "http://evil.example"),  # self-consistent, but not ours
        ("evil.example:8000", "http://evil.example:8000"),
        (f"{HOST}, evil.example", OUR_ORIGIN),
        ("127.0.0.1:8000@evil.example", OUR_ORIGIN),
    ],
)
async def test_a_host_not_in_allowed_hosts_is_refused(host, origin):
    assert await refused(handshake(origin, host))


async def test_host_is_refused_as_django_refuses_it_for_http(client):
    assert client.get("/healthz", headers={"host": "evil.example"}).status_code == 400
    assert await refused(handshake(OUR_ORIGIN, "evil.example"))


@pytest.mark.django_db(transaction=True)
async def test_without_a_host_header_the_servers_address_is_the_host(session, settings):
    communicator = handshake(OUR_ORIGIN, None, server=("127.0.0.1", 8000), cookie=session)
    assert (await communicator.connect())[0]
    await communicator.disconnect()
    assert await refused(handshake("http://localhost:8000", None, server=("127.0.0.1", 8000)))
    # X-Forwarded-Host counts only when USE_X_FORWARDED_HOST says the proxy sets it.
    forwarded = [("x-forwarded-host", "evil.example")]
    assert await refused(handshake("http://evil.example", HOST, extra=forwarded))
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.USE_X_FORWARDED_HOST = True
    behind_proxy = handshake(
        "http://chat.example.com", HOST, extra=[("x-forwarded-host", "chat.example.com")], cookie=session
    )
    assert (await behind_proxy.connect())[0]
    await behind_proxy.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_wss_behind_a_proxy_counts_as_https_only_when_secure_proxy_ssl_header_says_so(
    session, settings, chat_example
):
    host, secure_origin = "chat.example.com", "https://chat.example.com"
    forwarded_https = [("x-forwarded-proto", "https")]
    assert await refused(handshake(secure_origin, host, extra=forwarded_https))  # the header means nothing
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    accepted = handshake(secure_origin, host, extra=forwarded_https, cookie=session)
    assert (await accepted.connect())[0]
    await accepted.disconnect()
    assert await refused(handshake("http://chat.example.com", host, extra=forwarded_https))
    # The proxy said http: a wss connection to it does not make it https (Django's rule).
    assert await refused(handshake(secure_origin, host, scheme="wss", extra=[("x-forwarded-proto", "http")]))


@pytest.mark.django_db(transaction=True)
async def test_csrf_trusted_origins_may_open_the_socket(session, settings, chat_example):
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "https://*.example.org"]
    for origin in ("https://app.example.com", "https://team.example.org", "https://example.org"):
        communicator = handshake(origin, "chat.example.com", scheme="wss", cookie=session)
        assert (await communicator.connect())[0], origin
        await communicator.disconnect()
    for origin in ("http://app.example.com", "https://app.example.com:444", "http://team.example.org"):
        assert await refused(handshake(origin, "chat.example.com", scheme="wss")), origin


# --- against a real server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("handshake")) as live:
        yield live


async def open_real_socket(server, *, origin: str, host: str, session: str | None = None):
    """A raw websockets handshake to `server` with exactly this Host and Origin; hello or the status."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    try:
        async with websockets.connect(
            f"ws://{host}/ws/chat/",
            sock=sock,
            origin=origin,
            additional_headers={"Cookie": f"sessionid={session}"} if session else None,
            open_timeout=5,
        ) as socket_:
            return json.loads(await asyncio.wait_for(socket_.recv(), 5))["type"]
    except websockets.InvalidStatus as error:
        return error.response.status_code
    finally:
        sock.close()


async def test_real_server_accepts_only_its_own_origin_and_allowed_hosts(server):
    session = await asyncio.to_thread(http_login, server.url, "alice", DEMO_PASSWORD)
    port = server.port
    ours = f"127.0.0.1:{port}"
    assert await open_real_socket(server, origin=server.url, host=ours, session=session) == "hello"
    for origin in (
        f"http://127.0.0.1:{port + 1}",
        f"https://127.0.0.1:{port}",
        f"http://localhost:{port + 1}",
    ):
        assert await open_real_socket(server, origin=origin, host=ours, session=session) == 403, origin
    assert (
        await open_real_socket(server, origin=server.url, host=f"evil.example:{port}", session=session) == 403
    )
    request = urllib.request.Request(f"{server.url}/healthz", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as plain_http:
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
    assert plain_http.value.code == 400
