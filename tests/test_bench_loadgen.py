"""bench/loadgen.py and bench/generator.py: the load generator counts every delivery once, in one
process or split between several, and still catches a lost, a duplicated and a reordered one.

A broadcast server like bench/baseline_server.py runs on this test's event loop on loopback;
a fault plan makes it drop, duplicate or swap one delivery to one member. The multi-process
runs put two worker processes on whatever cores this process has (one core proves the split
as well as two)."""

import asyncio
import contextlib
import math
import os
import time

import orjson
import pytest
from websockets.asyncio.server import broadcast, serve

from bench import baseline_server, generator, loadgen
from messaging.serializers import message_new_frame

pytestmark = pytest.mark.timeout(60)
# picows comes with the benchmark's requirements (requirements-bench.txt), not the tests': without
# it the generator uses the websockets client, and so do these tests.
PICOWS = pytest.param(
    "picows", marks=pytest.mark.skipif(generator.picows is None, reason="picows not installed")
)


class FaultyServer:
    """The baseline's broadcast; `faults` maps a seq to what happens to it for the last member
    to have connected: "drop" (never sent to it), "dup" (sent to it twice) or "swap" (sent to it
    after the next one)."""

    def __init__(self, faults: dict[int, str] | None = None):
        self.room = baseline_server.Room()
        self.faults = faults or {}
        self.sockets: list = []
        self.held = None
        self.port = 0
        self.sent_from: dict[str, str] = {}  # client_id -> the sender's source address
        self.joined: list[tuple[int, str]] = []  # (port, source address) of each connection

    async def handler(self, socket) -> None:
        self.sockets.append(socket)
        self.joined.append((socket.local_address[1], socket.remote_address[0]))
        await socket.send(baseline_server.HELLO)
        async for text in socket:
            frame = orjson.loads(text)
            if frame["type"] != "message.send":
                continue
            self.sent_from[frame["client_id"]] = socket.remote_address[0]
            data = self.room.post(int(frame["room"]), frame["body"], frame["client_id"])
            seq = self.room.seq
            victim = self.sockets[-1]
            others = [s for s in self.sockets if s is not victim]
            broadcast(others, data, text=True)
            fault = self.faults.get(seq)
            if fault == "drop":
                continue
            if fault == "swap":
                self.held = data
                continue
            await victim.send(data, text=True)
            if fault == "dup":
                await victim.send(data, text=True)
            if self.held is not None:
                held, self.held = self.held, None
                await victim.send(held, text=True)

    @contextlib.asynccontextmanager
    async def running(self, listeners: int = 1):
        """Listening on `listeners` ports, all into the one room (as server processes sharing a
        channel layer would be)."""
        async with contextlib.AsyncExitStack() as stack:
            self.ports = []
            for _ in range(listeners):
                server = await stack.enter_async_context(
                    serve(self.handler, "127.0.0.1", 0, compression=None)
                )
                self.ports.append(server.sockets[0].getsockname()[1])
            self.port = self.ports[0]
            yield self


def room(server: FaultyServer, members: int, senders: int, **kwargs) -> loadgen.Room:
    return loadgen.Room(
        loadgen.Target("127.0.0.1", server.port),
        1,
        [None] * members,
        senders=senders,
        server_cpu=lambda: 0.0,
        services_cpu=lambda: 0.0,
        **kwargs,
    )


async def one_step(server: FaultyServer, *, members=7, senders=3, rate=60.0, drain=2.0, **kwargs) -> dict:
    load = room(server, members, senders, **kwargs)
    await load.connect()
    try:
        return await load.run_step(rate, 0.5, drain, "test")
    finally:
        await load.close()


@pytest.mark.parametrize("client", [PICOWS, "websockets"])
@pytest.mark.parametrize("processes", [1, 2])
async def test_every_delivery_is_counted_once_in_one_process_or_split_between_two(processes, client):
    async with FaultyServer().running() as server:
        result = await one_step(server, processes=processes, client=client)
    assert result["messages_scheduled"] == 30  # 60 msg/s for 0.5 s
    assert result["messages_sent"] == 30
    assert result["expected_deliveries"] == 30 * 7
    assert result["deliveries"] == 30 * 7
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)
    assert result["unacknowledged"] == 0  # every sender's own copy came back to it
    assert result["errors"] == {}
    assert result["generator_processes"] == processes
    assert result["p99_ms"] is not None and result["max_ms"] is not None
    assert result["pass"]


async def test_the_senders_are_split_between_the_processes_with_the_members():
    """Seven members, three senders, two workers: worker 0 holds members 0, 2, 4, 6 (senders 0
    and 2), worker 1 members 1, 3, 5 (sender 1). Member m connects from 127.0.0.(2 + m), and
    message i is sender i % 3's: each comes from its sender's address, each exactly once."""
    async with FaultyServer().running() as server:
        load = room(server, 7, 3, processes=2)
        await load.connect()
        try:
            result = await load.run_step(60.0, 0.5, 2.0, "test")
        finally:
            await load.close()
    assert result["messages_sent"] == 30 and result["deliveries"] == 210
    assert server.sent_from == {f"{load.token}.1.{i}": f"127.0.0.{2 + i % 3}" for i in range(30)}


@pytest.mark.parametrize("processes", [1, 2])
async def test_members_are_dealt_over_several_servers_ports(processes):
    """targets=[a, b]: member m (source address 127.0.0.(2 + m)) connects to port m % 2, in one
    process or from two."""
    async with FaultyServer().running(listeners=2) as server:
        targets = [loadgen.Target("127.0.0.1", port) for port in server.ports]
        result = await one_step(server, processes=processes, targets=targets)
    assert sorted(server.joined, key=lambda j: j[1]) == [
        (server.ports[m % 2], f"127.0.0.{2 + m}") for m in range(7)
    ]
    assert result["deliveries"] == result["expected_deliveries"] == 30 * 7
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)


@pytest.mark.parametrize("processes", [1, 2])
async def test_a_dropped_delivery_is_lost_and_fails_the_step(processes):
    async with FaultyServer({5: "drop"}).running() as server:
        load = room(server, 7, 3, processes=processes)
        await load.connect()
        try:
            result = await load.run_step(60.0, 0.5, 0.5, "test")
            still_missing = await load.late(1, 0.2)  # more time does not bring it
        finally:
            await load.close()
    assert still_missing == 1
    assert result["deliveries"] == 30 * 7 - 1
    assert result["lost"] == 1
    assert result["duplicates"] == 0
    assert result["p999_ms"] is None  # the lost delivery is slower than any that came
    assert not result["pass"]


@pytest.mark.parametrize("processes", [1, 2])
async def test_a_duplicated_delivery_is_counted_once_and_flagged(processes):
    async with FaultyServer({5: "dup"}).running() as server:
        result = await one_step(server, processes=processes)
    assert result["deliveries"] == 30 * 7
    assert result["lost"] == 0
    assert result["duplicates"] == 1
    assert not result["pass"]


@pytest.mark.parametrize("processes", [1, 2])
async def test_a_reordered_delivery_is_out_of_order(processes):
    async with FaultyServer({5: "swap"}).running() as server:
        result = await one_step(server, processes=processes)
    assert result["deliveries"] == 30 * 7
    assert result["out_of_order"] == 1
    assert not result["pass"]


async def test_two_processes_on_one_core_count_that_core_busy_as_their_sum():
    async with FaultyServer().running() as server:
        load = room(server, 7, 3, processes=2)
        await load.connect()
        try:
            cores = {worker.cpu for worker in load.workers}
            result = await load.run_step(60.0, 0.5, 2.0, "test")
        finally:
            await load.close()
    if len(cores) == 1:
        assert result["generator_cpu"] == result["generator_cpu_total"]
    else:
        assert result["generator_cpu"] <= result["generator_cpu_total"]
    assert result["generator_cpu_total"] > 0


def test_merged_percentiles_are_those_of_the_union_of_samples_not_an_average():
    """Worker A's 100 deliveries took 1..100 ms, worker B's 100 took 1001..1100 ms: over all 200
    the p50 is 100 ms and the p99 1098 ms (averaging the workers' p50s would give 550)."""
    ms = 1_000_000
    a = loadgen.Step(1, 10, 1, 10.0, 1.0, "a")
    b = loadgen.Step(1, 10, 1, 10.0, 1.0, "b")
    for i in range(100):
        a.record(i % 10, i // 10 + 1, (i + 1) * ms, "", 0)
        b.record(i % 10, i // 10 + 1, (1001 + i) * ms, "", 0)
    merged = loadgen.Step(1, 20, 1, 10.0, 1.0, "merged")
    generator.merge_into(merged, [generator.export_step(a), generator.export_step(b)])
    result = merged.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)
    assert result["deliveries"] == result["expected_deliveries"] == 200
    assert result["p50_ms"] == 100.0
    assert result["p99_ms"] == 1098.0
    assert result["p999_ms"] == 1100.0
    assert result["max_ms"] == 1100.0


def test_merged_counts_add_up_and_a_delivery_lost_in_one_worker_stays_lost():
    a = loadgen.Step(1, 2, 1, 2.0, 1.0, "a")
    b = loadgen.Step(1, 2, 1, 2.0, 1.0, "b")
    for member in (0, 1):
        a.record(member, 1, 1_000_000, "", 0)
        a.record(member, 2, 2_000_000, "", 0)
    b.record(0, 1, 1_000_000, "", 0)
    b.record(0, 1, 1_000_000, "", 0)  # a duplicate
    b.record(0, 2, 1_000_000, "", 0)
    b.record(1, 2, 1_000_000, "", 0)
    b.record(1, 1, 1_000_000, "", 0)  # out of order
    b.errors["boom"] += 1
    merged = loadgen.Step(1, 4, 1, 2.0, 1.0, "merged")
    generator.merge_into(merged, [generator.export_step(a), generator.export_step(b)])
    result = merged.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)
    assert result["deliveries"] == 8 and result["lost"] == 0
    assert result["duplicates"] == 1 and result["out_of_order"] == 1
    assert result["errors"] == {"boom": 1}
    c = loadgen.Step(1, 2, 1, 2.0, 1.0, "c")
    c.record(0, 1, 1_000_000, "", 0)
    merged = loadgen.Step(1, 4, 1, 2.0, 1.0, "merged")
    generator.merge_into(merged, [generator.export_step(a), generator.export_step(c)])
    result = merged.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)
    assert result["deliveries"] == 5 and result["lost"] == 3
    assert result["p50_ms"] == 2.0 and result["p99_ms"] is None


def frames_to_read() -> list[bytes]:
    """message.new frames as the baseline and Parley write them, with awkward text in them."""
    body = f"3|{time.monotonic_ns()}|{loadgen.PAD}"
    baseline = baseline_server.Room()
    baseline.seq = 41
    author = {"id": 5, "username": "x", "display_name": 'a "body":"9|9|" \\" | x'}
    parley = {
        "id": 77,
        "room": 7,
        "seq": 42,
        "change": 42,
        "author": author,
        "body": body + ' "client_id":"nope" |',
        "created_at": "2026-12-01T00:00:00+00:00",
        "client_id": "abcd1234.3.17",
        "mentions": [],
        "edited_at": None,
        "deleted": False,
        "reactions": [],
        "pinned": None,
    }
    return [baseline.post(7, body, "abcd1234.3.16"), message_new_frame(parley).encode()]


def test_the_cheap_reading_of_a_delivery_agrees_with_parsing_it_as_json():
    for data in frames_to_read():
        message = orjson.loads(data)["message"]
        step, due, _ = message["body"].split("|", 2)
        expected = (message["seq"], int(step), int(due))
        assert generator.parse_new(data, generator.room_needle(7), True) == (
            *expected,
            message["client_id"].encode(),
        )
        assert generator.parse_new(data, generator.room_needle(7), False) == (*expected, b"")


def test_frames_of_another_shape_or_room_are_left_to_the_json_reading():
    baseline, parley = frames_to_read()
    needle = generator.room_needle(7)
    assert generator.parse_new(baseline, generator.room_needle(70), True) is None
    assert generator.parse_new(baseline.replace(b"message.new", b"message.updated"), needle, True) is None
    assert generator.parse_new(baseline.replace(b'"seq":42', b'"seq":4.2'), needle, True) is None
    assert generator.parse_new(orjson.dumps({"type": "error", "code": "x"}), needle, True) is None
    indented = orjson.dumps(orjson.loads(parley), option=orjson.OPT_INDENT_2)
    assert generator.parse_new(indented, needle, True) is None


def test_a_room_of_another_id_delivers_nothing_to_the_step():
    load = room(FaultyServer(), 2, 1, processes=1)
    load.sockets = [None, None]  # two members, never connected: only what they read counts
    step = load.new_step(1, 10.0, 1.0, "x")
    other = baseline_server.Room().post(8, f"1|{time.monotonic_ns()}|x", "t.1.0")
    load._deliver(0, other, time.monotonic_ns())
    assert step.delivered == 0
    mine = baseline_server.Room().post(1, f"1|{time.monotonic_ns()}|x", "t.1.0")
    load._deliver(1, mine, time.monotonic_ns())
    assert step.delivered == 1 and step.seen[1] == {1}
    assert math.isfinite(step.latencies[0])


def test_the_default_is_one_process_per_generator_core():
    load = room(FaultyServer(), 10, 2)
    assert load.processes == len(os.sched_getaffinity(0))
    assert room(FaultyServer(), 10, 2, processes=1).processes == 1


def test_the_websockets_client_is_used_for_permessage_deflate():
    deflate = loadgen.Target("127.0.0.1", 1, compression="deflate")
    load = loadgen.Room(deflate, 1, [None], senders=1, server_cpu=lambda: 0.0, services_cpu=lambda: 0.0)
    assert load.client == "websockets"
    plain = "websockets" if generator.picows is None else "picows"
    assert generator.choose_client(loadgen.Target("127.0.0.1", 1), None) == plain
    with pytest.raises(ValueError):
        generator.choose_client(deflate, "picows")


class FakeTransport:
    is_disconnected = False

    def __init__(self):
        self.sent: list[bytes] = []

    def send(self, kind, data: bytes) -> None:
        self.sent.append(data)


@pytest.mark.skipif(generator.picows is None, reason="picows not installed")
async def test_a_picows_sender_waits_while_its_write_buffer_is_over_the_mark_as_websockets_does():
    listener = generator.PicowsListener()
    transport = FakeTransport()
    member = generator.PicowsMember(transport, listener)
    await member.send(b"a")  # not paused: written, no wait
    listener.pause_writing()
    waiting = asyncio.create_task(member.send(b"b"))
    await asyncio.sleep(0.05)
    assert transport.sent == [b"a", b"b"] and not waiting.done()
    listener.resume_writing()
    await asyncio.wait_for(waiting, 1)
    listener.pause_writing()
    waiting = asyncio.create_task(member.send(b"c"))
    await asyncio.sleep(0.01)
    listener.on_ws_disconnected(transport)  # a lost connection frees the sender too
    await asyncio.wait_for(waiting, 1)


class FakePeerMember:
    """A peer adapter's member (bench/peers/): send(body, txn_id), messages() -> (body, own id)."""

    def __init__(self, socket):
        self.socket = socket

    async def send(self, body: str, txn_id: str) -> None:
        await self.socket.send(
            orjson.dumps({"type": "message.send", "room": 1, "body": body, "client_id": txn_id})
        )

    async def messages(self):
        async for text in self.socket:
            frame = orjson.loads(text)
            if frame["type"] == "message.new":
                message = frame["message"]
                yield message["body"], message["client_id"]

    async def close(self) -> None:
        self.socket.transport.abort()


class FakePeerRoom:
    def __init__(self, server: FaultyServer, members: int):
        self.server, self.members = server, members

    async def connect(self, concurrency: int = 50) -> list[FakePeerMember]:
        target = loadgen.Target("127.0.0.1", self.server.port)
        return [FakePeerMember(await loadgen.open_socket(target, None, i)) for i in range(self.members)]


async def test_a_peer_room_still_counts_every_delivery_once_and_a_duplicate():
    async with FaultyServer({4: "dup"}).running() as server:
        load = loadgen.PeerRoom(
            FakePeerRoom(server, 5), 5, senders=2, server_cpu=lambda: 0.0, services_cpu=lambda: 0.0
        )
        assert load.processes == 1
        await load.connect()
        try:
            result = await load.run_step(40.0, 0.5, 2.0, "test")
        finally:
            await load.close()
    assert result["messages_sent"] == 20
    assert result["deliveries"] == result["expected_deliveries"] == 20 * 5
    assert result["duplicates"] == 1 and result["lost"] == 0
    assert result["unacknowledged"] == 0
