"""Reconnect without loss: `sync` returns exactly what a client missed, in order."""

import pytest
from channels.db import database_sync_to_async

from messaging import services
from messaging.ordering import RoomStream

pytestmark = pytest.mark.django_db(transaction=True)


async def test_reconnecting_client_gets_exactly_what_it_missed(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    for i in range(3):
        await a.post(room.id, f"before {i}", f"before-{i}")
    seen = await b.receive_messages(3)
    last_seen = seen[-1]["seq"]
    await b.close()

    for i in range(5):
        await a.post(room.id, f"while away {i}", f"away-{i}")

    b = await connect(bob)
    await b.send({"type": "sync", "room": room.id, "after_seq": last_seen})
    missed = await b.receive_messages(5)
    done = await b.receive_type("sync.done")

    assert [m["seq"] for m in missed] == [4, 5, 6, 7, 8]
    assert [m["body"] for m in missed] == [f"while away {i}" for i in range(5)]
    assert done == {"type": "sync.done", "room": room.id, "last_seq": 8, "has_more": False}
    await b.assert_nothing_more()


async def test_sync_comes_in_batches_with_has_more(connect, room, alice, bob, settings):
    settings.PARLEY = {**settings.PARLEY, "SYNC_BATCH_SIZE": 4}
    a = await connect(alice)
    for i in range(10):
        await a.post(room.id, f"m{i}", f"c{i}")
    b = await connect(bob)

    seqs, after, rounds = [], 0, 0
    while True:
        await b.send({"type": "sync", "room": room.id, "after_seq": after})
        frames = []
        while (frame := await b.receive())["type"] != "sync.done":
            frames.append(frame["message"]["seq"])
        seqs += frames
        after, rounds = frame["last_seq"], rounds + 1
        if not frame["has_more"]:
            break
    assert seqs == list(range(1, 11))
    assert rounds == 3


async def test_sync_of_an_up_to_date_room_sends_only_done(connect, room, alice):
    a = await connect(alice)
    await a.post(room.id, "one", "c1")
    await a.send({"type": "sync", "room": room.id, "after_seq": 1})
    assert await a.receive() == {"type": "sync.done", "room": room.id, "last_seq": 1, "has_more": False}


async def test_sync_of_a_room_one_is_not_in_is_refused(connect, room, alice, dave):
    a = await connect(alice)
    await a.post(room.id, "secret-ish", "c1")
    d = await connect(dave)
    await d.send({"type": "sync", "room": room.id, "after_seq": 0})
    error = await d.receive()
    assert error["type"] == "error" and error["code"] == "not_member"
    private = await database_sync_to_async(services.create_room)(creator=alice, name="staff", is_private=True)
    await d.send({"type": "sync", "room": private.id, "after_seq": 0})
    assert (await d.receive())["code"] == "not_found"  # a private room does not exist for dave


async def test_dropped_broadcast_is_fetched_by_the_socket_itself(connect, room, alice, bob, monkeypatch):
    """The channel layer loses message 2: bob's socket still shows 1, 2, 3 in order."""
    from messaging import delivery

    a, b = await connect(alice), await connect(bob)
    real_broadcast = delivery.broadcast_message

    async def lossy_broadcast(**kwargs):
        if kwargs["seq"] != 2:
            await real_broadcast(**kwargs)

    monkeypatch.setattr(delivery, "broadcast_message", lossy_broadcast)
    for i in range(1, 4):
        await a.post(room.id, f"m{i}", f"c{i}")

    messages = await b.receive_messages(3, timeout=5)
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [m["body"] for m in messages] == ["m1", "m2", "m3"]
    await b.assert_nothing_more()


def test_room_stream_orders_and_dedupes():
    stream = RoomStream(delivered=4)
    assert stream.offer(4, "old") == []
    assert stream.offer(6, "six") == []
    assert stream.offer(7, "seven") == []
    assert stream.has_gap and stream.missing_up_to == 7
    assert stream.offer(5, "five") == ["five", "six", "seven"]
    assert stream.offer(6, "six again") == []
    assert not stream.has_gap
    assert stream.offer(9, "nine") == []
    assert stream.advance(8) == ["nine"]
    assert stream.delivered == 9
