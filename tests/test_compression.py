"""Production's server answers a browser's offer of permessage-deflate without it: each frame
is serialised once and written as is to every member (docs/performance.md has the figures)."""

import asyncio
import json

import websockets

from .live_server import running_server
from .realtime import http_login


def test_a_socket_offering_permessage_deflate_gets_plain_frames(tmp_path):
    async def negotiate(server) -> tuple[list, str]:
        session = await asyncio.to_thread(http_login, server.url, "alice", "parley-demo")
        async with websockets.connect(
            server.url.replace("http", "ws", 1) + "/ws/chat/",
            additional_headers={"Cookie": f"sessionid={session}"},
            origin=server.url,
            compression="deflate",  # what browsers offer
        ) as socket:
            hello = json.loads(await socket.recv())
            return socket.protocol.extensions, hello["type"]

    with running_server(tmp_path, server="uvicorn") as server:
        extensions, first = asyncio.run(negotiate(server))
    assert first == "hello"
    assert extensions == []
