"""Every close code in docs/protocol.md, sent for real by each ASGI server Parley runs on:
uvicorn (production, `make run`, the tests' live servers) and daphne (`runserver`). daphne
refused to send 1009 and 1013 at all; the application's codes are all in 4000–4999 now."""

import asyncio
import contextlib
import json

import pytest
import websockets

from .live_server import running_server
from .realtime import http_login

SERVER_ENV = {
    "PARLEY_RATE_BURST": "3",
    "PARLEY_RATE_PER_SECOND": "0.1",
    "PARLEY_RATE_ABUSE_CLOSE_AFTER": "2",
    "PARLEY_MAX_SOCKETS_PER_USER": "2",
}


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(request, tmp_path_factory):
    with running_server(tmp_path_factory.mktemp(request.param), env=SERVER_ENV, server=request.param) as live:
        live.kind = request.param
        yield live


def open_socket(server, session: str | None = None):
    headers = {"Cookie": f"sessionid={session}"} if session else {}
    return websockets.connect(
        server.url.replace("http", "ws", 1) + "/ws/chat/",
        additional_headers=headers,
        origin=server.url,
        max_size=2**22,
    )


async def close_code(socket, timeout: float = 5) -> int:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(timeout):
            while True:
                await socket.recv()
    return socket.close_code


async def test_anonymous_socket_is_closed_with_4401(server):
    async with open_socket(server) as socket:
        assert await close_code(socket) == 4401


async def test_a_socket_over_the_per_user_cap_is_closed_with_4409(server):
    session = await asyncio.to_thread(http_login, server.url, "carol", "parley-demo")
    async with open_socket(server, session) as first, open_socket(server, session) as second:
        for socket in (first, second):
            assert json.loads(await socket.recv())["type"] == "hello"
        async with open_socket(server, session) as third:
            assert await close_code(third) == 4409


async def test_flooding_is_closed_with_4429(server):
    session = await asyncio.to_thread(http_login, server.url, "bob", "parley-demo")
    async with open_socket(server, session) as socket:
        await socket.recv()
        for _ in range(10):
            await socket.send(json.dumps({"type": "ping"}))
        assert await close_code(socket) == 4429


async def test_a_frame_over_64_kib_is_closed_with_4413_or_the_servers_own_1009(server):
    session = await asyncio.to_thread(http_login, server.url, "alice", "parley-demo")
    async with open_socket(server, session) as socket:
        await socket.recv()
        await socket.send(json.dumps({"type": "ping", "padding": "x" * 70_000}))
        code = await close_code(socket)
    # uvicorn enforces --ws-max-size itself before the application sees the frame.
    assert code == (1009 if server.kind == "uvicorn" else 4413)
