"""The worker's frames reach a server's sockets on the embedded default (messaging/realtime/relay.py).

The worker's in-memory channel layer is its own; what it publishes goes through the database,
and the server's hub reads it every RELAY_SECONDS. Without that, a scheduled message or a
reminder would reach an open tab only at the next sync or audit (15 s).
"""

import asyncio
import time

import pytest

from .live_server import DEMO_PASSWORD, running_server
from .realtime import RealClient, http_login

AUDIT_SECONDS = 15.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("relay")) as server:
        yield server


async def test_a_message_sent_by_the_worker_reaches_an_open_socket_live_with_its_mention(server):
    room = server.call("tests.server_data:room_id", slug="general")
    bob = RealClient("bob", server.url, http_login(server.url, "bob", DEMO_PASSWORD), [room])
    await bob.start()
    try:
        await asyncio.sleep(0.5)  # the hub's relay reader has its starting point
        started = time.monotonic()
        seq = await asyncio.to_thread(
            server.call, "tests.server_data:post_from_worker", author="alice", room_slug="general",
            body="@bob sent later", client_id="later-1",
        )  # fmt: skip
        await bob.wait_for_seq(room, seq, timeout=AUDIT_SECONDS / 3)
        assert time.monotonic() - started < AUDIT_SECONDS / 3, "live, not the audit's catch-up"
        [message] = [m for m in bob.messages_in(room) if m["seq"] == seq]
        assert message["body"] == "@bob sent later" and message["mentions"] == ["bob"]
        deadline = time.monotonic() + 5
        while not any(f["type"] == "notification.new" for f in bob.others) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        [notification] = [f for f in bob.others if f["type"] == "notification.new"]
        assert notification["notification"]["message"]["seq"] == seq
    finally:
        await bob.close()
