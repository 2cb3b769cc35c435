"""A socket's rooms (messaging/realtime/ordering.py), without a socket: frames go out in change
order, once; what the layer loses is fetched; a hole or a lost room never stalls a stream.
Here every change is a new message (change = seq) unless a test says otherwise."""

import asyncio

import pytest

from messaging.realtime import ordering
from messaging.realtime.ordering import RoomStreams


@pytest.fixture(autouse=True)
def no_gap_wait(monkeypatch):
    monkeypatch.setattr(ordering, "GAP_WAIT_SECONDS", 0.01)


class Socket:
    def __init__(self, stored: dict[int, str] | None, batch: int = 200):
        self.stored = stored  # change → frame in the database; None: not a member any more
        self.pushed: list[str] = []
        self.fetches: list[tuple[int, int]] = []
        self.lost: list[int] = []
        self.rooms = RoomStreams(
            push=self.push, fetch=self.fetch, render=self.render, lost=self.lose, batch=batch
        )
        self.seq_of = {}  # change → seq, where a change is not a new message

    def render(self, payload, is_new):
        return payload if is_new else f"updated {payload}"

    def push(self, frame, size):
        self.pushed.append(frame)

    async def fetch(self, room_id, after_seq, up_to_seq, limit):
        self.fetches.append((after_seq, up_to_seq))
        if self.stored is None:
            return None
        changes = sorted(c for c in self.stored if after_seq < c <= up_to_seq)[:limit]
        return [(c, self.seq_of.get(c, c), self.stored[c]) for c in changes]

    async def lose(self, room_id):
        self.lost.append(room_id)
        self.rooms.drop(room_id)

    async def settle(self):
        for _ in range(50):
            if not self.rooms.fills:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("a gap fill never ended")


async def test_frames_held_behind_a_lost_one_go_out_after_it_is_fetched():
    socket = Socket({1: "m1", 2: "m2", 3: "m3", 4: "m4"})
    socket.rooms.add(7, delivered=1, seq=1)
    socket.rooms.forward(7, 3, 3, "m3")
    socket.rooms.forward(7, 4, 4, "m4")
    assert socket.pushed == []

    await socket.settle()

    assert socket.pushed == ["m2", "m3", "m4"]
    assert socket.fetches == [(1, 4)]


async def test_a_hole_is_passed_over_with_one_fetch():
    socket = Socket({1: "m1", 3: "m3"})
    socket.rooms.add(7, delivered=1, seq=1)
    socket.rooms.forward(7, 3, 3, "m3")

    await socket.settle()

    assert socket.pushed == ["m3"]
    assert socket.fetches == [(1, 3)]


async def test_a_long_gap_is_fetched_in_batches():
    socket = Socket({s: f"m{s}" for s in range(1, 12)}, batch=4)
    socket.rooms.add(7, delivered=0, seq=0)
    socket.rooms.forward(7, 11, 11, "m11")

    await socket.settle()

    assert socket.pushed == [f"m{s}" for s in range(1, 12)]
    assert socket.fetches == [(0, 11), (4, 11), (8, 11)]


async def test_a_room_the_database_says_is_lost_is_dropped():
    socket = Socket(None)
    socket.rooms.add(7, delivered=1, seq=1)
    socket.rooms.forward(7, 3, 3, "m3")

    await socket.settle()

    assert socket.lost == [7] and 7 not in socket.rooms
    socket.rooms.forward(7, 4, 4, "m4")
    assert socket.pushed == []


async def test_a_fill_sends_a_changed_message_as_updated_and_a_new_one_as_new():
    # Positions 2 and 3 were lost: 2 was a reaction to message 1 (which the client has), 3 a
    # new message 2. The database holds message 1 at change 2 and message 2 at change 3.
    socket = Socket({2: "m1 with a reaction", 3: "m2", 4: "m3"})
    socket.seq_of = {2: 1, 3: 2, 4: 3}
    socket.rooms.add(7, delivered=1, seq=1)
    socket.rooms.forward(7, 4, 3, "m3")

    await socket.settle()

    assert socket.pushed == ["updated m1 with a reaction", "m2", "m3"]


async def test_a_position_superseded_by_a_later_change_is_passed_over():
    # Change 2 (an edit of message 1) was lost and then superseded by change 3 (another edit):
    # the database has message 1 at 3 only. Frame 4 waits behind 2, then everything goes out.
    socket = Socket({3: "m1 edited twice", 4: "m2"})
    socket.seq_of = {3: 1, 4: 2}
    socket.rooms.add(7, delivered=1, seq=1)
    socket.rooms.forward(7, 4, 2, "m2")

    await socket.settle()

    assert socket.pushed == ["updated m1 edited twice", "m2"]


async def test_any_arrival_order_with_repeats_goes_out_in_order_once():
    import random

    generator = random.Random(19)
    for _ in range(200):
        socket = Socket(stored=None)
        socket.rooms.add(1, 0, 0)
        arrivals = [change for change in range(1, 31) for _ in range(generator.randint(1, 3))]
        # Mostly in order (the fast path), with some late and repeated ones (held, dropped).
        arrivals.sort(key=lambda change: change + generator.choice((0, 0, 0, 2.5, -1.5)))
        for change in arrivals:
            socket.rooms.forward(1, change, change, f"m{change}", 3)
        assert socket.pushed == [f"m{change}" for change in range(1, 31)]
        assert socket.rooms.positions(1) == (30, 30)
        socket.rooms.close()
