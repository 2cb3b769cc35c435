"""The presence tracker against the review's races (found by a hostile review, each failing on
the first version): one process announcing a state older than another's, invisibility lost
when a process's last socket closes, a live process reaped after a stall, a user's store writes
overtaking each other, refreshes writing the store, a queued announcement reaching a room the
user has left, a slow store holding up sockets, and hubs passing an older version on."""

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from channels.db import database_sync_to_async

from awareness import presence as presence_module
from awareness import realtime as awareness_realtime
from awareness.presence import PresenceTracker
from awareness.store import MemoryPresenceStore
from messaging.actions.memberships import add_member, remove_member
from messaging.actions.rooms import create_room
from messaging.realtime.hub import RoomHub

TTL = 30.0


def person(user_id: int, invisible: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        id=user_id,
        invisible=invisible,
        status_text="",
        status_emoji="",
        status_expires_at=None,
        last_active_at=None,
    )


class Socket:
    def __init__(self, user, rooms=(1,)):
        self.user = user
        self.streams = list(rooms)


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Announced(list):
    """(user id, state) as announced; `people` is the database the tracker reads."""

    def __init__(self):
        super().__init__()
        self.people: dict[int, SimpleNamespace] = {}


class Peer:
    def __init__(self, got: list):
        self.got = got

    def ephemeral(self, kind, frame):
        self.got.append(frame)


@pytest.fixture
def sent(monkeypatch, settings):
    """What the trackers announce, as (user id, state); the database is the people above."""
    settings.PARLEY = {**settings.PARLEY, "PRESENCE_COALESCE_SECONDS": 0.2, "PRESENCE_TTL_SECONDS": TTL}
    frames = Announced()
    people = frames.people

    async def send_to_peers(user_id, rooms, frame, kind, version=None):
        frames.append((user_id, orjson.loads(frame)["user"]["state"]))

    async def users_and_rooms(ids, without_rooms):
        return {i: people[i] for i in ids if i in people}, {i: [1] for i in without_rooms}

    monkeypatch.setattr(presence_module.outlet, "send_to_peers", send_to_peers)
    monkeypatch.setattr(presence_module, "database_sync_to_async", lambda function: users_and_rooms)
    return frames


async def settle(*trackers, seconds: float = 0.35) -> None:
    await asyncio.sleep(seconds)
    for tracker in trackers:
        while tracker.dirty or tracker.pending:
            await asyncio.sleep(0.05)


async def test_a_state_queued_on_one_process_never_overrides_a_newer_one_from_another(sent):
    store, clock = MemoryPresenceStore(), Clock()
    a = PresenceTracker(store, process="A", clock=clock)
    b = PresenceTracker(store, process="B", clock=clock)
    sent.people[8] = person(8)
    on_a = Socket(person(8))
    await a.attach(on_a)
    await settle(a, seconds=0.05)
    await a.set_state(on_a, "active")  # A holds these for its interval …
    await a.set_state(on_a, "away")
    on_b = Socket(person(8))
    await b.attach(on_b)
    await b.set_state(on_b, "active")  # … while B's "active" goes out at once
    await settle(a, b, seconds=0.5)
    states = [state for user_id, state in sent if user_id == 8]
    assert states[-1] == "active", states
    for tracker in (a, b):
        await tracker.close()


async def test_an_invisible_user_whose_last_socket_on_one_process_closes_stays_invisible_then_shows(sent):
    store, clock = MemoryPresenceStore(), Clock()
    a = PresenceTracker(store, process="A", clock=clock)
    b = PresenceTracker(store, process="B", clock=clock)
    sent.people[7] = person(7, invisible=True)
    on_a, on_b = Socket(person(7, True)), Socket(person(7, True))
    await a.attach(on_a)
    await b.attach(on_b)
    await a.detach(on_a)
    await settle(a, b)
    assert (await store.read([7], clock(), TTL))[7].state == "offline"
    sent.people[7] = person(7)
    on_b.user.invisible = False
    sent.clear()
    await b.refresh_user(7)
    await settle(b)
    assert sent == [(7, "away")]
    for tracker in (a, b):
        await tracker.close()


async def test_a_live_process_taken_for_dead_after_a_stall_puts_its_users_back(sent):
    store, clock = MemoryPresenceStore(), Clock()
    a = PresenceTracker(store, process="A", clock=clock)
    b = PresenceTracker(store, process="B", clock=clock)
    sent.people[9] = person(9)
    await b.attach(Socket(person(9)))
    await settle(b)
    b._beating.cancel()
    clock.t += TTL + 1  # B's loop stalls past the TTL
    await a.beat()  # A reaps B
    await b.beat()  # B renews: it was taken for dead, so it puts its users again
    await settle(a, b)
    assert (await store.read([9], clock(), TTL))[9].state == "away"
    for tracker in (a, b):
        await tracker.close()


async def test_a_process_taken_for_dead_puts_its_users_back_even_if_a_write_comes_before_its_beat(sent):
    store, clock = MemoryPresenceStore(), Clock()
    a = PresenceTracker(store, process="A", clock=clock)
    b = PresenceTracker(store, process="B", clock=clock)
    sent.people[9], sent.people[10] = person(9), person(10)
    idle, busy = Socket(person(9)), Socket(person(10))
    await b.attach(idle)
    await b.attach(busy)
    await settle(b)
    b._beating.cancel()
    clock.t += TTL + 1  # B stalls (or its Redis is cut off) past the TTL
    await a.beat()  # A reaps B
    await b.set_state(busy, "active")  # B's first write after the stall, before its beat
    await settle(b)
    await b.beat()
    await settle(a, b)
    shown = await store.read([9, 10], clock(), TTL)
    assert (shown[9].state, shown[10].state) == ("away", "active")
    for tracker in (a, b):
        await tracker.close()


class FailsOnce(MemoryPresenceStore):
    def __init__(self):
        super().__init__()
        self.fail_next = False

    async def put(self, *args):
        if self.fail_next:
            self.fail_next = False
            raise TimeoutError("the store timed out")
        return await super().put(*args)


async def test_a_failed_write_is_made_again_at_the_next_beat(sent):
    store, clock = FailsOnce(), Clock()
    tracker = PresenceTracker(store, process="A", clock=clock)
    sent.people[6] = person(6)
    tab = Socket(person(6))
    await tracker.attach(tab)
    await settle(tracker)
    store.fail_next = True
    await tracker.detach(tab)  # the store times out on the last socket's close
    await settle(tracker)
    await tracker.beat()
    await settle(tracker)
    assert (await store.read([6], clock(), TTL))[6].state == "offline"
    await tracker.close()


async def test_a_tab_that_closes_without_a_word_leaves_its_last_activity_as_last_active(sent):
    store, clock = MemoryPresenceStore(), Clock()
    tracker = PresenceTracker(store, process="A", clock=clock)
    sent.people[5] = person(5)
    tab = Socket(person(5))
    await tracker.attach(tab)
    await tracker.set_state(tab, "active")
    await settle(tracker)
    for _ in range(30):  # an hour of once-a-minute refreshes: none writes the store …
        clock.t += 60
        await tracker.set_state(tab, "active")
    await tracker.detach(tab)  # … and the network drops, no "away" first
    await settle(tracker)
    assert (await store.read([5], clock(), TTL))[5].last_active == clock.t
    await tracker.close()


class SecondWriteSlow(MemoryPresenceStore):
    """As Redis with two pooled connections can do: the second write finishes after the third."""

    def __init__(self):
        super().__init__()
        self.writes = 0

    async def put(self, *args):
        self.writes += 1
        if self.writes == 2:
            await asyncio.sleep(0.05)
        return await super().put(*args)


async def test_a_users_store_writes_never_overtake_each_other(sent):
    store, clock = SecondWriteSlow(), Clock()
    tracker = PresenceTracker(store, process="A", clock=clock)
    sent.people[10] = person(10)
    first = Socket(person(10))
    await tracker.attach(first)
    await settle(tracker, seconds=0.05)
    await asyncio.gather(tracker.detach(first), tracker.attach(Socket(person(10))))
    await settle(tracker)
    assert (await store.read([10], clock(), TTL))[10].state == "away"
    await tracker.close()


async def test_refreshing_an_unchanged_active_writes_the_store_once(sent):
    store, clock = MemoryPresenceStore(), Clock()
    tracker = PresenceTracker(store, process="A", clock=clock)
    sent.people[11] = person(11)
    tab = Socket(person(11))
    await tracker.attach(tab)
    await settle(tracker, seconds=0.05)
    writes = []
    real_put = store.put

    async def counted(*args):
        writes.append(args)
        return await real_put(*args)

    store.put = counted
    for _ in range(10):
        clock.t += 60
        await tracker.set_state(tab, "active")
        await settle(tracker, seconds=0.01)
    assert len(writes) == 1, writes
    await tracker.close()


def test_a_hub_passes_on_only_a_newer_version_of_a_users_presence():
    hub = RoomHub.__new__(RoomHub)
    hub.users, hub.members, hub.versions = {}, {}, {}
    got = []
    hub.members[1] = {Peer(got)}
    for version, frame in [(5, "v5"), (4, "v4"), (5, "v5 again"), (6, "v6"), (None, "status")]:
        hub.deliver_to_peers(7, [1], frame, kind="presence", version=version)
    assert got == ["v5", "v6", "status"]


# --- with real sockets ---------------------------------------------------------------------------


@pytest.fixture
def awareness_on(settings):
    settings.PARLEY = {**settings.PARLEY, "PRESENCE": True, "PRESENCE_COALESCE_SECONDS": 1.0}


@pytest.mark.django_db(transaction=True)
async def test_presence_queued_before_a_removal_does_not_reach_the_room_left(
    awareness_on, connect, alice, dave
):
    private = await database_sync_to_async(create_room)(creator=alice, name="x", is_private=True)
    await database_sync_to_async(add_member)(actor=alice, room=private, username="dave")
    watcher = await connect(alice)
    subject = await connect(dave)
    while (await watcher.receive_type("presence.changed"))["user"]["id"] != dave.id:
        pass  # dave away, at once (alice's own comes too)
    await subject.send({"type": "presence.set", "state": "active"})  # held for the interval
    await asyncio.sleep(0.1)
    await database_sync_to_async(remove_member)(actor=alice, room=private, user=dave)
    await subject.receive_type("room.left")
    frames = [
        f
        for f in await watcher.drain(quiet=1.5)
        if f["type"] == "presence.changed" and f["user"]["id"] == dave.id
    ]
    assert frames == [], "alice, who shares no room with dave any more, hears that he is active"


class HungStore(MemoryPresenceStore):
    async def put(self, *args):
        await asyncio.sleep(3600)


@pytest.mark.django_db(transaction=True)
async def test_a_hung_presence_store_holds_up_no_socket(awareness_on, monkeypatch, connect, room, alice):
    monkeypatch.setattr(awareness_realtime, "presence_store", lambda: HungStore())
    tab = await connect(alice)
    await tab.send({"type": "ping"})
    await tab.receive_type("pong", timeout=0.5)
    await tab.post(room.id, "still here", "c1")
    hub = awareness_realtime.awareness().presence
    await tab.close()
    assert tab.user.id not in hub.users  # released at once, whatever the store does
