"""Reconnect without loss: `sync` returns exactly what a client missed, in order."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging import selectors
from messaging.actions.messages import post_message
from messaging.actions.rooms import create_room
from messaging.models import ChatMessage
from messaging.realtime import outlet
from messaging.realtime.ordering import RoomStream

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
    assert done == {"type": "sync.done", "room": room.id, "last_seq": 8, "last_change": 8, "has_more": False}
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
    assert await a.receive() == {
        "type": "sync.done",
        "room": room.id,
        "last_seq": 1,
        "last_change": 1,
        "has_more": False,
    }


async def test_sync_of_a_room_one_is_not_in_is_refused(connect, room, alice, dave):
    a = await connect(alice)
    await a.post(room.id, "secret-ish", "c1")
    d = await connect(dave)
    await d.send({"type": "sync", "room": room.id, "after_seq": 0})
    error = await d.receive()
    assert error["type"] == "error" and error["code"] == "not_member"
    private = await database_sync_to_async(create_room)(creator=alice, name="staff", is_private=True)
    await d.send({"type": "sync", "room": private.id, "after_seq": 0})
    assert (await d.receive())["code"] == "not_found"  # a private room does not exist for dave


async def test_dropped_broadcast_is_fetched_by_the_socket_itself(connect, room, alice, bob, monkeypatch):
    """The channel layer loses message 2: bob's socket still shows 1, 2, 3 in order."""
    from messaging.realtime import outlet

    a, b = await connect(alice), await connect(bob)
    real_send = outlet.send_to_room

    async def lossy_send(room_id, change, seq, frame, **kwargs):
        if seq != 2:
            await real_send(room_id, change, seq, frame, **kwargs)

    monkeypatch.setattr(outlet, "send_to_room", lossy_send)
    for i in range(1, 4):
        await a.post(room.id, f"m{i}", f"c{i}")

    messages = await b.receive_messages(3, timeout=5)
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [m["body"] for m in messages] == ["m1", "m2", "m3"]
    await b.assert_nothing_more()


def test_room_stream_orders_and_dedupes():
    stream = RoomStream(delivered=4)
    assert stream.offer(4, 4, "old") == []
    assert stream.offer(6, 6, "six") == []
    assert stream.offer(7, 7, "seven") == []
    assert stream.has_gap and stream.missing_up_to == 7
    assert stream.offer(5, 5, "five") == ["five", "six", "seven"]
    assert stream.offer(6, 6, "six again") == []
    assert not stream.has_gap
    assert stream.offer(9, 9, "nine") == []
    assert stream.advance(8) == ["nine"]
    assert stream.delivered == 9


def test_room_stream_passes_over_a_hole_the_database_lacks():
    stream = RoomStream(delivered=2)
    assert stream.offer(4, 4, "four") == []
    assert stream.offer(5, 5, "five") == []
    # The database has nothing at 3 (removed by hand): 4 and 5 go out.
    assert stream.fill([(4, 4, "four"), (5, 5, "five")], up_to=5, render=lambda payload, is_new: payload) == [
        "four",
        "five",
    ]
    assert stream.delivered == 5 and not stream.has_gap


async def test_a_hole_in_seq_does_not_freeze_the_room(connect, room, alice, bob, monkeypatch):
    """Message 2 is gone from the database; a socket holding 3 behind it delivers 3, and its gap
    fill asks the database once per socket, not over and over."""
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "one", "c1")
    assert [m["seq"] for m in await b.receive_messages(1)] == [1]
    lost = await database_sync_to_async(post_message)(
        author=alice, room_id=room.id, body="never broadcast", client_id="c2"
    )
    await ChatMessage.objects.filter(pk=lost.message.pk).adelete()
    reads = []
    real_read = selectors.changes_after

    def counted_read(**kwargs):
        reads.append(kwargs)
        return real_read(**kwargs)

    monkeypatch.setattr(selectors, "changes_after", counted_read)

    await a.post(room.id, "three", "c3")

    assert [(m["seq"], m["body"]) for m in await b.receive_messages(1, timeout=3)] == [(3, "three")]
    await b.assert_nothing_more(wait=1.5)
    # One read per socket that held 3 (alice's own and bob's), not one per retry.
    assert sorted(r["user"].username for r in reads) == ["alice", "bob"]


async def test_sync_across_a_hole_reaches_the_end_of_the_room(connect, room, alice, settings):
    settings.PARLEY = {**settings.PARLEY, "SYNC_BATCH_SIZE": 2}
    a = await connect(alice)
    for i in range(1, 6):
        await a.post(room.id, f"m{i}", f"c{i}")
    await ChatMessage.objects.filter(room=room, seq__in=[2, 3]).adelete()
    reconnected = await connect(alice)  # holds up to 1, as a client that was away

    await reconnected.send({"type": "sync", "room": room.id, "after_seq": 1})
    first = [await reconnected.receive() for _ in range(3)]
    assert [f["message"]["seq"] for f in first[:2]] == [4, 5]
    assert first[2] == {
        "type": "sync.done",
        "room": room.id,
        "last_seq": 5,
        "last_change": 5,
        "has_more": False,
    }


async def test_a_sync_sends_again_what_the_socket_sent_before_the_request(connect, room, alice, bob):
    """A client that lost frames on its side (a page that dropped them) asks again: the answer
    is every message after `after_seq`, whatever the socket sent before."""
    a, b = await connect(alice), await connect(bob)
    for i in range(1, 4):
        await a.post(room.id, f"m{i}", f"c{i}")
    assert [m["seq"] for m in await b.receive_messages(3)] == [1, 2, 3]

    await b.send({"type": "sync", "room": room.id, "after_seq": 1})

    assert [m["seq"] for m in await b.receive_messages(2)] == [2, 3]
    assert await b.receive() == {
        "type": "sync.done",
        "room": room.id,
        "last_seq": 3,
        "last_change": 3,
        "has_more": False,
    }
    await b.assert_nothing_more()


async def test_a_message_sent_live_while_a_sync_is_answered_reaches_the_socket_once(
    connect, room, alice, bob, monkeypatch
):
    """The race behind a once-flaky cluster test: a message goes out live while the sync's
    query runs, and the query finds it too. It reaches the client once, before `sync.done`."""
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "m1", "c1")
    assert [m["seq"] for m in await b.receive_messages(1)] == [1]
    loop, query = asyncio.get_running_loop(), selectors.messages_after

    def messages_after_a_live_one(**kwargs):
        if kwargs["user"] == bob:
            # Alice's message is stored and handed to the sockets (as `send_message_async` does)
            # while bob's sync is on its way: the hub puts it on bob's socket there and then.
            posted = post_message(author=alice, room_id=room.id, body="live", client_id="c-live")
            handed = outlet.send_to_room(room.id, posted.message.change, posted.message.seq, posted.frame)
            asyncio.run_coroutine_threadsafe(handed, loop).result(timeout=3)
        return query(**kwargs)

    monkeypatch.setattr(selectors, "messages_after", messages_after_a_live_one)
    await b.send({"type": "sync", "room": room.id, "after_seq": 1})

    frames = [await b.receive(), await b.receive()]
    assert [f["type"] for f in frames] == ["message.new", "sync.done"]
    assert frames[0]["message"]["body"] == "live"
    assert frames[1] == {
        "type": "sync.done",
        "room": room.id,
        "last_seq": 2,
        "last_change": 2,
        "has_more": False,
    }
    await b.assert_nothing_more()
