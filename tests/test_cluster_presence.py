"""Presence across two real server processes on PostgreSQL + Redis: a user's state is the
union of their sockets on both, invisibility holds on both, and a process that is killed takes
its users' presence with it within the TTL (plus one renewal and one coalescing interval)."""

import asyncio
import signal
import time

import pytest

from .realtime import RealClient
from .test_cluster import Cluster, connect

pytestmark = [pytest.mark.servers]

TTL = 2.0
# Reaped after the TTL by the survivor's next renewal (every TTL/3), announced within one
# coalescing interval; the rest is slack for a loaded machine.
GONE_WITHIN = TTL + TTL / 3 + 0.3 + 3.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    env = {"PARLEY_PRESENCE_TTL_SECONDS": str(TTL), "PARLEY_PRESENCE_COALESCE_SECONDS": "0.3"}
    cluster = Cluster(tmp_path_factory.mktemp("cluster-presence"), "pubsub", extra_env=env)
    yield cluster
    cluster.close()


async def presence(client: RealClient, user_id: int, state: str, timeout: float = 5.0) -> float:
    """Wait until the client's latest presence news of the user says `state`; seconds waited."""
    started = time.monotonic()
    while True:
        news = [
            f["user"] for f in client.others if f["type"] == "presence.changed" and f["user"]["id"] == user_id
        ]
        if news and news[-1]["state"] == state:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{client.name} never saw user {user_id} {state}: {news}")
        await asyncio.sleep(0.05)


def user_id(cluster: Cluster, username: str) -> int:
    return cluster.b.call("tests.server_data:user_id", username=username)


async def test_a_user_is_active_while_any_socket_on_any_process_is(cluster):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob"])
    bob_id = await asyncio.to_thread(user_id, cluster, "bob")
    alice = await connect("alice", cluster.b, [room])
    on_a = [await connect("bob", cluster.a, [room]) for _ in range(2)]
    on_b = await connect("bob", cluster.b, [room])
    try:
        await presence(alice, bob_id, "away")
        await on_a[0].send_frame({"type": "presence.set", "state": "active"})
        await presence(alice, bob_id, "active")
        # Process A's other tab and process B's tab are away; A's first still active.
        await on_a[0].send_frame({"type": "presence.set", "state": "away"})
        await on_b.send_frame({"type": "presence.set", "state": "active"})
        await asyncio.sleep(1.0)
        await presence(alice, bob_id, "active")
        for client in on_a:
            await client.close()
        await asyncio.sleep(1.0)
        await presence(alice, bob_id, "active")  # B's socket still is
        await on_b.close()
        await presence(alice, bob_id, "offline")
        # Invisible, set on A: offline to alice on B, though bob's socket there is active.
        again = await connect("bob", cluster.b, [room])
        await again.send_frame({"type": "presence.set", "state": "active"})
        await presence(alice, bob_id, "active")
        await asyncio.to_thread(
            cluster.a.call, "tests.server_data:set_invisible", username="bob", invisible=True
        )
        await presence(alice, bob_id, "offline")
        await again.close()
    finally:
        await alice.close()


async def test_a_killed_process_takes_its_users_presence_with_it_within_the_ttl(cluster):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "carol"])
    carol_id = await asyncio.to_thread(user_id, cluster, "carol")
    alice = await connect("alice", cluster.b, [room])
    carol = await connect("carol", cluster.a, [room])
    try:
        await carol.send_frame({"type": "presence.set", "state": "active"})
        await presence(alice, carol_id, "active")
        cluster.a.process.send_signal(signal.SIGKILL)
        cluster.a.process.wait(timeout=10)
        waited = await presence(alice, carol_id, "offline", timeout=GONE_WITHIN + 2)
        assert waited <= GONE_WITHIN, f"offline after {waited:.1f} s, bound {GONE_WITHIN:.1f} s"
    finally:
        await carol.close()
        await alice.close()
