"""The process's room hub: one subscription per room that heals when the layer fails, and no
socket left behind in it whatever fails around the socket."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from messaging.actions.messages import post_message
from messaging.actions.rooms import create_room, join_room
from messaging.realtime import hub as fanout
from messaging.realtime.hub import room_hub
from messaging.realtime.outlet import room_event, room_group_name, send_to_user
from messaging.realtime.ratelimit import user_buckets
from messaging.selectors import message_with_state
from messaging.serializers import message_new_frame, stored_message_payload

pytestmark = pytest.mark.django_db(transaction=True)


async def publish_from_another_process(message) -> None:
    frame = message_new_frame(stored_message_payload(message))
    event = room_event(message.room_id, message.change, message.seq, frame, origin="x")
    await get_channel_layer().group_send(room_group_name(message.room_id), event)


def stored(room, author, body, client_id):
    posted = post_message(author=author, room_id=room.id, body=body, client_id=client_id)
    return message_with_state(room_id=room.id, seq=posted.message.seq)


async def test_a_failed_subscription_is_retried_within_seconds(connect, room, alice, bob, monkeypatch):
    monkeypatch.setattr(fanout, "RETRY_SECONDS", 0.2)
    layer = get_channel_layer()
    real_group_add = layer.group_add
    failures = []

    async def group_add_failing_once(group, channel):
        if group == room_group_name(room.id) and not failures:
            failures.append(group)
            raise ConnectionError("Redis is restarting")
        await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", group_add_failing_once)
    b = await connect(bob)
    assert failures and room.id in room_hub().unsubscribed
    c = await connect(alice)  # a later socket does not take the failed entry for a subscription

    message = await database_sync_to_async(stored)(room, alice, "from the other process", "x1")
    for _ in range(30):
        if room.id not in room_hub().unsubscribed:
            break
        await asyncio.sleep(0.1)
    await publish_from_another_process(message)

    for client in (b, c):
        assert [m["body"] for m in await client.receive_messages(1)] == ["from the other process"]


async def test_disconnect_releases_everything_even_when_one_room_fails(connect, room, alice, monkeypatch):
    other = await database_sync_to_async(create_room)(creator=alice, name="ops")
    a = await connect(alice)
    hub = room_hub()
    consumer = next(iter(hub.sockets))
    real_remove = hub.remove

    async def remove_failing_for_the_first_room(room_id, member):
        if room_id == room.id:
            raise ConnectionError("Redis went away")
        await real_remove(room_id, member)

    monkeypatch.setattr(hub, "remove", remove_failing_for_the_first_room)
    await a.close()

    assert consumer not in hub.sockets
    assert other.id not in hub.members
    assert alice.id not in user_buckets.sockets
    assert not consumer.streams.fills
    assert consumer.outbox.stopped and consumer.outbox.writer is None


async def test_a_failing_layer_event_leaves_the_socket_serving(connect, room, alice, bob, monkeypatch):
    a, b = await connect(alice), await connect(bob)
    hub = room_hub()

    async def add_failing(room_id, member):
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(hub, "add", add_failing)
    other = await database_sync_to_async(create_room)(creator=alice, name="ops")
    await database_sync_to_async(join_room)(user=bob, room=other)
    monkeypatch.undo()

    await b.send({"type": "ping"})
    assert (await b.receive_type("pong"))["type"] == "pong"
    await a.post(room.id, "still delivered", "c1")
    assert [m["body"] for m in await b.receive_messages(1)] == ["still delivered"]


async def test_a_socket_whose_opening_fails_leaves_nothing_behind(room, alice, monkeypatch):
    from .chat import communicator_for, session_cookie

    layer = get_channel_layer()

    async def group_add_down(group, channel):
        raise ConnectionError("Redis is down")

    cookie = await database_sync_to_async(session_cookie)(alice)
    monkeypatch.setattr(layer, "group_add", group_add_down)
    communicator = communicator_for(alice, cookie=cookie)
    connected, _ = await communicator.connect()

    assert not connected
    assert not room_hub().sockets
    assert alice.id not in user_buckets.sockets


async def test_a_message_is_written_to_every_socket_within_the_hand_out(connect, room, alice, bob, carol):
    clients = [await connect(user) for user in (alice, bob, carol, bob, carol)]
    hub = room_hub()
    delivered, seq = next(iter(hub.sockets)).streams.positions(room.id)
    frame = '{"type":"message.new","message":{}}'

    hub.deliver(room.id, delivered + 1, seq + 1, frame)

    # No await between: each socket's frame is with the server (here the test's ASGI queue)
    # when the hand-out returns, with no task woken per recipient.
    for client in clients:
        assert client.communicator.output_queue.get_nowait() == {"type": "websocket.send", "text": frame}


async def test_an_idle_socket_is_one_task_and_the_hub_takes_its_users_events(
    connect, room, alice, bob, carol
):
    await connect(alice)  # the hub's own tasks start with the process's first socket
    await asyncio.sleep(0.05)
    tasks = len(asyncio.all_tasks())
    bobs = [await connect(bob), await connect(bob)]
    carols = [await connect(carol), await connect(carol)]
    await asyncio.sleep(0.05)

    assert len(asyncio.all_tasks()) == tasks + 4  # the socket's own, awaiting its client
    assert len(room_hub().users[bob.id]) == 2  # one subscription of the hub for both
    await send_to_user(bob.id, '{"type": "notification.new", "n": 1}')
    for client in bobs:
        assert await client.receive() == {"type": "notification.new", "n": 1}
    for client in carols:
        await client.assert_nothing_more(wait=0.1)


async def test_an_open_socket_keeps_nothing_of_its_handshake_nor_an_empty_queue(connect, room, alice):
    a = await connect(alice)
    consumer = next(iter(room_hub().sockets))

    assert consumer.scope["headers"] == [] and consumer.scope["cookies"] == {}
    assert consumer.outbox.frames is None and consumer.outbox.writer is None
    await a.send({"type": "ping"})
    assert (await a.receive_type("pong"))["type"] == "pong"


async def test_a_burst_of_user_events_past_a_channels_capacity_reaches_every_socket(
    connect, room, alice, bob, carol, settings
):
    clients = {user.id: await connect(user) for user in (alice, bob, carol)}
    capacity = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("capacity", 100)

    # A mention of a whole large room: a frame for every member, sent without a pause.
    for i in range(capacity // 2):
        for user_id in clients:
            await send_to_user(user_id, f'{{"type": "notification.new", "n": {i}}}')

    for client in clients.values():
        got = [(await client.receive())["n"] for _ in range(capacity // 2)]
        assert got == list(range(capacity // 2))
