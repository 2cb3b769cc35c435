"""What one user or one socket may take from the server: a flood allowance that reconnecting
does not renew, a cap on sockets, nothing run after an abuse close, bounded memory for a
socket that does not read."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging.models import ChatMessage
from messaging.realtime import consumer as consumers
from messaging.realtime.hub import room_hub

from .chat import communicator_for, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def limits(settings, **values):
    settings.PARLEY = {**settings.PARLEY, **values}


async def test_reconnecting_does_not_renew_the_flood_allowance(connect, room, alice, settings):
    limits(settings, RATE_BURST=3, RATE_PER_SECOND=0.2)
    first = await connect(alice)
    for i in range(3):
        await first.post(room.id, f"burst {i}", f"b{i}")
    await first.close()

    again = await connect(alice)
    await again.send({"type": "message.send", "room": room.id, "body": "fresh burst?", "client_id": "x"})

    error = await again.receive_type("error")
    assert error["code"] == "rate_limited"
    assert await ChatMessage.objects.acount() == 3


async def test_sockets_per_user_are_capped_with_4409(connect, room, alice, bob, settings):
    limits(settings, MAX_SOCKETS_PER_USER=2)
    await connect(alice)
    await connect(alice)
    cookie = await database_sync_to_async(session_cookie)(alice)
    third = communicator_for(alice, cookie=cookie)

    assert (await third.connect())[0]
    assert await third.receive_output(timeout=3) == {"type": "websocket.close", "code": 4409}
    await connect(bob)  # other users are not affected


async def test_nothing_runs_after_an_abuse_close(connect, room, alice, settings):
    limits(settings, RATE_BURST=5, RATE_PER_SECOND=0.01, RATE_ABUSE_CLOSE_AFTER=3)
    a = await connect(alice)
    for i in range(400):
        await a.send({"type": "message.send", "room": room.id, "body": f"flood {i}", "client_id": f"f{i}"})

    outputs = []
    while (output := await a.communicator.receive_output(timeout=3))["type"] != "websocket.close":
        outputs.append(output)
    assert output["code"] == 4429
    await asyncio.sleep(0.5)

    acknowledged = [o for o in outputs if '"message.new"' in o.get("text", "")]
    assert len(acknowledged) == 5
    assert await ChatMessage.objects.acount() == 5
    assert await a.communicator.receive_nothing(timeout=0.3)


async def test_a_socket_that_does_not_read_is_let_go_once_within_its_byte_bound(
    connect, room, alice, bob, monkeypatch
):
    stalled = asyncio.Event()
    monkeypatch.setattr(consumers, "OUTBOX_LIMIT_BYTES", 256 * 1024)
    a = await connect(alice)
    b = await connect(bob)
    outbox = next(socket for socket in room_hub().sockets if socket.user == bob).outbox
    real_send = outbox.send

    async def send(message):
        await stalled.wait()  # as uvicorn's send() does while the client reads nothing
        await real_send(message)

    outbox.send = send
    body = "x" * 9_000
    for i in range(60):  # 60 frames of ~9 KB: 540 KB for a reader that takes nothing
        await a.post(room.id, body, f"big-{i}")

    closes = []
    while (output := await b.communicator.receive_output(timeout=3)) is not None:
        closes.append(output)
        if output["type"] == "websocket.close":
            break
    assert closes == [{"type": "websocket.close", "code": 4503}]
    assert await b.communicator.receive_nothing(timeout=0.3)  # closed once, not once per frame


async def test_frame_over_64_kib_closes_with_4413(connect, room, alice):
    a = await connect(alice)
    await a.send({"type": "message.send", "room": room.id, "body": "x" * 70_000, "client_id": "huge"})
    assert await a.communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": 4413}
    assert await ChatMessage.objects.acount() == 0


async def test_a_refused_sync_names_its_room_and_frame(connect, room, alice, settings):
    limits(settings, RATE_BURST=1, RATE_PER_SECOND=0.5)
    a = await connect(alice)
    await a.send({"type": "ping"})
    await a.receive()
    await a.send({"type": "sync", "room": room.id, "after_seq": 0})

    error = await a.receive()
    assert (error["code"], error["room"], error["frame"]) == ("rate_limited", room.id, "sync")
    assert 0 < error["retry_after"] <= 2
