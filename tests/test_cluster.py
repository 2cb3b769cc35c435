"""Two real server processes sharing PostgreSQL and Redis: delivery across them, and faults.

Each layer kind gets a private PostgreSQL cluster and Redis server (so stopping them breaks
nothing else) and two daphne processes on two ports. Clients are real WebSocket clients that
behave like the browser: sync after every reconnect, resend unacknowledged messages.
"""

import asyncio
import os
import random
from pathlib import Path

import pytest

from .live_server import LiveServer
from .realtime import ChangeClient, RealClient, http_login
from .servers import MissingBinaries, find_binaries, start_postgres, start_redis

pytestmark = [pytest.mark.servers]

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    pytest.skip("runs in the PostgreSQL + Redis pass of `make test`", allow_module_level=True)
try:
    find_binaries()
except MissingBinaries as missing:  # pragma: no cover - depends on the machine
    pytest.skip(f"needs PostgreSQL and Redis: {missing}", allow_module_level=True)

PASSWORD = "parley-demo"
SERVER_ENV = {
    # The clients here send faster than a person; flood control has its own tests.
    "PARLEY_RATE_BURST": "100000",
    "PARLEY_RATE_PER_SECOND": "100000",
    "LOG_LEVEL": "WARNING",
}


class Cluster:
    def __init__(self, directory: Path, kind: str, extra_env: dict[str, str] | None = None):
        # Its own temporary directory: pytest's is private to root, and PostgreSQL runs as postgres.
        self.postgres = start_postgres()
        self.redis = start_redis()
        env = {
            **SERVER_ENV,
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "CHANNEL_LAYER_KIND": kind,
            **(extra_env or {}),
        }
        # Both ASGI servers serve the same application, side by side.
        self.a = LiveServer(directory / "a", env=env, server="daphne")
        self.b = LiveServer(directory / "b", env=env, server="uvicorn")
        for server in (self.a, self.b):
            server.directory.mkdir(parents=True, exist_ok=True)
        self.a.prepare()
        self.a.start()
        self.b.start()
        self.rooms_made = 0

    def new_room(self, members: list[str]) -> int:
        """A fresh room with these members (the first is its owner); its id."""
        self.rooms_made += 1
        return self.a.call(
            "tests.server_data:new_room", members=members, name=f"cluster room {self.rooms_made}"
        )

    def stored_seqs(self, room: int) -> list[int]:
        return self.a.call("tests.server_data:stored_seqs", room=room)

    def close(self) -> None:
        for server in (self.a, self.b):
            server.stop()
        self.redis.close()
        self.postgres.close()


@pytest.fixture(scope="module", params=["pubsub", "core"])
def cluster(request, tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp(f"cluster-{request.param}"), request.param)
    yield cluster
    cluster.close()


async def connect(name: str, server: LiveServer, rooms: list[int]) -> RealClient:
    session = await asyncio.to_thread(http_login, server.url, name, PASSWORD)
    client = RealClient(name, server.url, session, rooms)
    await client.start()
    return client


def assert_complete_and_in_order(client: RealClient, room: int, count: int) -> None:
    seqs = [m["seq"] for m in client.messages_in(room)]
    assert seqs == list(range(1, count + 1)), f"{client.name}: not each of 1..{count} once, in order"


async def test_every_member_on_both_processes_gets_every_message_once(cluster):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob", "carol"])
    alice = await connect("alice", cluster.a, [room])
    bob = await connect("bob", cluster.b, [room])
    carol_on_a = await connect("carol", cluster.a, [room])
    carol_on_b = await connect("carol", cluster.b, [room])
    clients = [alice, bob, carol_on_a, carol_on_b]
    per_sender = 60

    async def send_all(client: RealClient) -> None:
        for i in range(per_sender):
            await client.send_message(room, f"{client.name} {i}", f"{client.name}-{room}-{i}")
            if i % 10 == 9:
                await asyncio.sleep(0)

    try:
        await asyncio.gather(send_all(alice), send_all(bob))
        total = 2 * per_sender
        for client in clients:
            await client.wait_for_seq(room, total, timeout=30)
        await asyncio.sleep(0.3)  # anything extra (a duplicate) would arrive by now
        for client in clients:
            assert_complete_and_in_order(client, room, total)
            assert client.errors == []
        ids_by_seq = {m["seq"]: m["id"] for m in alice.messages_in(room)}
        for client in clients[1:]:
            assert {m["seq"]: m["id"] for m in client.messages_in(room)} == ids_by_seq
        assert len(alice.acks) == len(bob.acks) == per_sender
        assert await asyncio.to_thread(cluster.stored_seqs, room) == list(range(1, total + 1))
    finally:
        for client in clients:
            await client.close()


async def test_redis_outage_loses_no_acknowledged_message(cluster):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob", "carol"])
    alice = await connect("alice", cluster.a, [room])
    bob = await connect("bob", cluster.b, [room])
    carol = await connect("carol", cluster.a, [room])
    clients = [alice, bob, carol]
    sent = []
    try:
        for i in range(60):
            if i == 20:
                await asyncio.to_thread(cluster.redis.stop)
            if i == 40:
                await asyncio.to_thread(cluster.redis.start)
            client_id = f"outage-{room}-{i}"
            sent.append(client_id)
            await alice.send_message(room, f"during the outage? {i}", client_id)
            await asyncio.sleep(0.05)

        # Every send ends acknowledged: at once, or resent by the client after a reconnect.
        # One more message after recovery lets everybody notice a gap, if nothing else did.
        await alice.send_message(room, "after the outage", f"outage-{room}-after")
        sent.append(f"outage-{room}-after")
        for _ in range(300):
            if not alice.unacknowledged:
                break
            await asyncio.sleep(0.1)
        assert alice.unacknowledged == {}, "sends left without any answer"
        assert set(alice.acks) == set(sent)
        assert all(error["code"] == "server_error" for error in alice.errors), alice.errors

        stored = await asyncio.to_thread(cluster.stored_seqs, room)
        assert stored == list(range(1, len(sent) + 1)), "each message stored once, seq without gaps"
        acked_seqs = {m["seq"] for m in alice.acks.values()}
        assert acked_seqs == set(stored), "an acknowledged message is not in the database"
        for client in clients:
            await client.wait_for_seq(room, len(stored), timeout=30)
            assert_complete_and_in_order(client, room, len(stored))
    finally:
        if not cluster.redis.is_running():
            cluster.redis.start()
        for client in clients:
            await client.close()


async def test_database_outage_is_a_clear_error_and_nothing_half_saved(cluster):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob"])
    alice = await connect("alice", cluster.a, [room])
    bob = await connect("bob", cluster.b, [room])
    try:
        for i in range(5):
            await alice.send_message(room, f"before {i}", f"db-{room}-before-{i}")
        await bob.wait_for_seq(room, 5, timeout=10)

        await asyncio.to_thread(cluster.postgres.stop)
        failed = [f"db-{room}-down-{i}" for i in range(3)]
        for client_id in failed:
            await alice.send_message(room, "while the database is down", client_id)
        for _ in range(100):
            if len(alice.errors) >= len(failed):
                break
            await asyncio.sleep(0.1)
        assert [e["client_id"] for e in alice.errors] == failed
        assert {e["code"] for e in alice.errors} == {"server_error"}
        connections_during_outage = alice.connections

        await asyncio.to_thread(cluster.postgres.start)
        for client_id in failed:  # the person presses retry: the same client_id
            await alice.send_message(room, "while the database is down", client_id)
        await bob.wait_for_seq(room, 8, timeout=20)
        assert alice.connections == connections_during_outage, "the socket did not survive"
        assert await asyncio.to_thread(cluster.stored_seqs, room) == list(range(1, 9))
        assert_complete_and_in_order(bob, room, 8)
    finally:
        if not cluster.postgres.is_running():
            cluster.postgres.start()
        for client in (alice, bob):
            await client.close()


async def connect_following_changes(name: str, server: LiveServer, rooms: list[int]) -> ChangeClient:
    session = await asyncio.to_thread(http_login, server.url, name, PASSWORD)
    client = ChangeClient(name, server.url, session, rooms)
    await client.start()
    return client


async def wait_until_converged(cluster, room: int, clients: list[ChangeClient], timeout: float = 30) -> dict:
    """The database's state of the room, once every client shows exactly it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stored = await asyncio.to_thread(cluster.a.call, "tests.server_data:stored_states", room=room)
        expected = {int(seq): state for seq, state in stored.items()}
        differing = [c.name for c in clients if c.states[room] != expected]
        if not differing:
            return expected
        if asyncio.get_running_loop().time() > deadline:
            positions = {c.name: c.last_change[room] for c in clients}
            newest = max((state["change"] for state in expected.values()), default=0)
            raise AssertionError(f"{differing} never reached the database's state (at {positions}; {newest})")
        await asyncio.sleep(0.2)


async def redis_outage_in_the_middle(cluster, outage: bool) -> None:
    if outage:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(cluster.redis.stop)
        await asyncio.sleep(0.4)
        await asyncio.to_thread(cluster.redis.start)


async def one_more_message(client: ChangeClient, room: int) -> None:
    """One more change after it all lets every socket notice a gap, as a later message would;
    sent now, or resent once the client's socket is back (an outage may have closed it)."""
    await client.send_message(room, "after it all", f"{client.name}-{room}-after")
    for _ in range(300):
        if not client.unacknowledged:
            break
        await asyncio.sleep(0.1)
    assert client.unacknowledged == {}, "the last message was never acknowledged"


@pytest.mark.parametrize("outage", [False, True], ids=["steady", "redis-outage"])
async def test_changes_on_both_processes_converge_at_every_client(cluster, outage):
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob", "carol"])
    alice = await connect_following_changes("alice", cluster.a, [room])
    bob = await connect_following_changes("bob", cluster.b, [room])
    carol = await connect_following_changes("carol", cluster.a, [room])
    clients = [alice, bob, carol]
    rng = random.Random(11 if outage else 5)
    try:
        for client in clients:
            for j in range(3):
                await client.send_message(room, f"{client.name} {j}", f"{client.name}-{room}-{j}")
        for client in clients:
            await client.wait_for_changes(room, 9, timeout=20)
        authors = {seq: state["author"]["username"] for seq, state in alice.states[room].items()}

        async def play(client: ChangeClient) -> None:
            for i in range(30):
                seq = rng.choice(sorted(authors))
                own = authors[seq] == client.name
                roll = rng.random()
                if own and roll < 0.3:
                    frame = {
                        "type": "message.edit",
                        "room": room,
                        "seq": seq,
                        "body": f"{client.name} {i}",
                        "client_id": f"{client.name}-{room}-edit-{i}",
                    }
                elif own and roll < 0.35:
                    frame = {"type": "message.delete", "room": room, "seq": seq}
                elif roll < 0.8:
                    kind = "reaction.add" if rng.random() < 0.65 else "reaction.remove"
                    frame = {"type": kind, "room": room, "seq": seq, "emoji": rng.choice(["👍", "🎉", "👀"])}
                else:
                    frame = {"type": "message.pin", "room": room, "seq": seq, "pinned": rng.random() < 0.5}
                await client.send_frame(frame)
                await asyncio.sleep(0.02)

        await asyncio.gather(
            *(play(client) for client in clients), redis_outage_in_the_middle(cluster, outage)
        )
        await one_more_message(alice, room)
        expected = await wait_until_converged(cluster, room, clients)
        assert sorted(expected) == list(range(1, 11))
        assert all(
            error["code"] in {"message_deleted", "server_error"} for c in clients for error in c.errors
        )
    finally:
        if not cluster.redis.is_running():
            cluster.redis.start()
        for client in clients:
            await client.close()


@pytest.mark.parametrize("outage", [False, True], ids=["steady", "redis-outage"])
async def test_a_busy_thread_on_both_processes_converges_at_every_client(cluster, outage):
    """Replies on two processes (some also sent to the room, some deleted) change their roots in
    the room's change order: every client ends with the database's replies and root counts."""
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob", "carol"])
    alice = await connect_following_changes("alice", cluster.a, [room])
    bob = await connect_following_changes("bob", cluster.b, [room])
    carol = await connect_following_changes("carol", cluster.b, [room])
    clients = [alice, bob, carol]
    rng = random.Random(23 if outage else 17)
    try:
        for j in range(3):
            await alice.send_message(room, f"root {j}", f"alice-{room}-root-{j}")
        for client in clients:
            await client.wait_for_changes(room, 3, timeout=20)

        async def play(client: ChangeClient) -> None:
            mine: list[int] = []
            for i in range(25):
                if mine and rng.random() < 0.15:
                    frame = {
                        "type": "message.delete",
                        "room": room,
                        "seq": mine.pop(rng.randrange(len(mine))),
                    }
                else:
                    frame = {
                        "type": "message.send",
                        "room": room,
                        "body": f"{client.name} reply {i}",
                        "client_id": f"{client.name}-{room}-reply-{i}",
                        "thread_root": rng.randint(1, 3),
                        "also_in_room": rng.random() < 0.2,
                    }
                await client.send_frame(frame)
                await asyncio.sleep(0.02)
                if frame["type"] == "message.send":
                    stored = [
                        s for s, m in client.states[room].items() if m["client_id"] == frame["client_id"]
                    ]
                    mine.extend(stored)

        await asyncio.gather(
            *(play(client) for client in clients), redis_outage_in_the_middle(cluster, outage)
        )
        await one_more_message(alice, room)
        expected = await wait_until_converged(cluster, room, clients)
        replies = [m for m in expected.values() if m["thread_root"] is not None]
        assert len(replies) > 20, "too few replies were stored to make the point"
        for root in (1, 2, 3):
            alive = [m for m in replies if m["thread_root"] == root and not m["deleted"]]
            summary = expected[root]["thread"]
            assert (summary["reply_count"] if summary else 0) == len(alive), f"root {root}"
        assert all(
            error["code"] in {"message_deleted", "server_error"} for c in clients for error in c.errors
        )
    finally:
        if not cluster.redis.is_running():
            cluster.redis.start()
        for client in clients:
            await client.close()
