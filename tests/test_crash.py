"""The server process is killed (SIGKILL) while clients send: no acknowledged message is lost."""

import asyncio
import signal

from .live_server import running_server
from .realtime import RealClient, http_login

PASSWORD = "parley-demo"
SERVER_ENV = {"PARLEY_RATE_BURST": "100000", "PARLEY_RATE_PER_SECOND": "100000"}


def stored_messages(server, room: int) -> list[tuple[int, str]]:
    return [tuple(row) for row in server.call("tests.server_data:stored_messages", room=room)]


def general_room_id(server) -> int:
    return server.call("tests.server_data:room_id", slug="general")


async def test_killed_server_loses_no_acknowledged_message(tmp_path):
    with running_server(tmp_path, env=SERVER_ENV) as server:
        room = await asyncio.to_thread(general_room_id, server)
        sessions = {
            name: await asyncio.to_thread(http_login, server.url, name, PASSWORD) for name in ("alice", "bob")
        }
        alice = RealClient("alice", server.url, sessions["alice"], [room])
        bob = RealClient("bob", server.url, sessions["bob"], [room])
        await alice.start()
        await bob.start()
        sent = []
        try:
            for i in range(80):
                if i == 40:
                    # No goodbye: the process dies mid-stream, as on a power cut of the process.
                    server.process.send_signal(signal.SIGKILL)
                    server.process.wait(timeout=10)
                    server.process = None
                    await asyncio.to_thread(server.start)
                client_id = f"crash-{i}"
                sent.append(client_id)
                await alice.send_message(room, f"message {i}", client_id)
                await asyncio.sleep(0.02)

            for _ in range(300):
                if not alice.unacknowledged:
                    break
                await asyncio.sleep(0.1)
            assert alice.unacknowledged == {}, "sends never acknowledged"
            assert alice.connections >= 2, "the client did not have to reconnect: no crash happened?"

            stored = await asyncio.to_thread(stored_messages, server, room)
            seqs = [seq for seq, _ in stored]
            assert seqs == list(range(1, len(stored) + 1)), "seq has gaps or repeats after the crash"
            stored_ids = [client_id for _, client_id in stored]
            assert sorted(stored_ids) == sorted(sent), "each sent message stored exactly once"
            assert {m["client_id"] for m in alice.acks.values()} <= set(stored_ids)

            await bob.wait_for_seq(room, len(stored), timeout=30)
            received = [m["seq"] for m in bob.messages_in(room)]
            assert received == seqs, "bob got each message once, in order, across the crash"
        finally:
            await alice.close()
            await bob.close()
