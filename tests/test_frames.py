"""Every frame has one shape: what the server sends and what docs/protocol.md shows are both
checked against the one table in tests/frame_schema.py, so the next divergence fails here."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from awareness.actions import set_status
from messaging.actions.rooms import join_room, leave_room
from messaging.models import MUTED_FOREVER, ChatRoom, Membership
from messaging.realtime.consumer import ChatConsumer
from notifications import actions as notification_actions
from notifications import preferences

from .frame_schema import CLIENT_FRAMES, SERVER_FRAMES, check_frame

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def documented_frames() -> list[dict]:
    """Every JSON object in the ```json blocks of docs/protocol.md that has a string type."""
    decoder = json.JSONDecoder()
    frames = []
    for block in re.findall(r"```json\n(.*?)```", PROTOCOL.read_text(), flags=re.DOTALL):
        position = 0
        while (position := _skip_space(block, position)) < len(block):
            value, position = decoder.raw_decode(block, position)
            if isinstance(value, dict) and isinstance(value.get("type"), str):
                frames.append(value)
    return frames


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


def test_every_documented_frame_has_the_shape_of_the_table():
    frames = documented_frames()
    for frame in frames:
        if frame["type"] in SERVER_FRAMES and frame["type"] in CLIENT_FRAMES:
            # room.read and thread.read are requests and answers: the example is one of the two.
            try:
                check_frame(frame, CLIENT_FRAMES)
            except AssertionError:
                check_frame(frame, SERVER_FRAMES)
        else:
            check_frame(frame, SERVER_FRAMES if frame["type"] in SERVER_FRAMES else CLIENT_FRAMES)
    documented = {frame["type"] for frame in frames}
    assert set(SERVER_FRAMES) <= documented, f"undocumented: {sorted(set(SERVER_FRAMES) - documented)}"
    assert set(CLIENT_FRAMES) <= documented, f"undocumented: {sorted(set(CLIENT_FRAMES) - documented)}"


@pytest.mark.django_db(transaction=True)
async def test_every_frame_the_server_sends_has_the_shape_of_the_table(
    connect, room, alice, bob, carol, dave, monkeypatch, settings
):
    settings.PARLEY = {**settings.PARLEY, "PRESENCE": True, "READ_RECEIPTS": True}
    sent: list[str] = []
    real_push = ChatConsumer.push

    def recording_push(self, text, size=None):
        sent.append(text)
        real_push(self, text, size)

    monkeypatch.setattr(ChatConsumer, "push", recording_push)
    a, b, d = await connect(alice), await connect(bob), await connect(dave)

    await a.post(room.id, "@bob have a look", "f1")
    await b.receive_type("notification.new")
    await a.send({"type": "reaction.add", "room": room.id, "seq": 1, "emoji": "👍"})
    await b.receive_type("message.updated")
    await a.send({"type": "message.pin", "room": room.id, "seq": 1, "pinned": True})
    await b.receive_type("message.updated")
    await a.send({"type": "message.edit", "room": room.id, "seq": 1, "body": "@bob look", "client_id": "e1"})
    await b.receive_type("message.updated")
    await b.send({"type": "sync", "room": room.id, "after_change": 0})
    await b.receive_type("sync.done")
    await a.post(room.id, "@bob gone soon", "f2")
    await b.receive_type("notification.new")
    await a.send({"type": "message.delete", "room": room.id, "seq": 2})
    await b.receive_type("notification.removed")
    await b.send({"type": "sync", "room": room.id, "after_seq": 0})
    await b.receive_type("sync.done")
    await b.send({"type": "room.read", "room": room.id, "seq": 1})
    await b.receive_type("room.read")
    await b.send({"type": "ping"})
    await b.receive_type("pong")
    await b.send(
        {"type": "message.send", "room": room.id, "body": "in a thread", "client_id": "t1", "thread_root": 1}
    )
    await a.receive_type("thread.followed")  # the root's author follows its thread
    await a.receive_type("notification.new")  # … and hears of the reply
    await a.send({"type": "thread.read", "room": room.id, "root": 1, "seq": 3})
    await a.receive_type("thread.read")
    await a.send({"type": "thread.follow", "room": room.id, "root": 1, "following": False})
    await a.receive_type("thread.followed")
    await b.send({"type": "threads.sync"})
    await b.receive_type("threads.state")
    await b.send({"type": "sync", "room": 999_999, "after_seq": 0, "client_id": "x"})
    await b.receive_type("error")
    await b.send("not json")
    await b.receive_type("error")
    await database_sync_to_async(join_room)(user=dave, room=room)
    await d.receive_type("room.joined")
    await database_sync_to_async(leave_room)(user=dave, room=room)
    await d.receive_type("room.left")
    await Membership.objects.filter(user=bob, room=room).adelete()  # as if the event was lost
    await b.send({"type": "sync", "room": room.id, "after_seq": 1})
    await b.receive_type("room.left")
    await database_sync_to_async(notification_actions.mark_read)(recipient=bob)
    await b.receive_type("notification.read")
    # Awareness: presence, status, typing, receipts (b is no longer in the room; a and c are).
    c = await connect(carol)
    await c.send({"type": "presence.set", "state": "active"})
    await a.receive_type("presence.changed")
    await a.send({"type": "presence.sync", "users": [carol.id, dave.id]})
    await a.receive_type("presence.state")
    await database_sync_to_async(set_status)(user=carol, text="Lunch", emoji_text="🍜")
    await a.receive_type("user.status")
    await c.send({"type": "typing.start", "room": room.id, "thread_root": 1})
    await a.receive_type("typing.started")
    await c.send({"type": "typing.stop", "room": room.id, "thread_root": 1})
    await a.receive_type("typing.stopped")
    await c.send({"type": "room.read", "room": room.id, "seq": 3})
    await a.receive_type("receipts.changed")
    await a.send({"type": "receipts.sync", "room": room.id})
    await a.receive_type("receipts.state")
    # A group mention refused (here only the room's managers may), delivered as plain text.
    await ChatRoom.objects.filter(pk=room.id).aupdate(group_mentions_by=ChatRoom.Audience.MANAGERS)
    await c.post(room.id, "@room hi", "g1")
    await c.receive_type("mention.refused")
    # Notification settings, to the user's own sockets.
    await database_sync_to_async(preferences.mute_room)(user=carol, room_id=room.id, until=MUTED_FOREVER)
    await c.receive_type("room.settings")
    await database_sync_to_async(preferences.set_dnd)(user=carol, until=timezone.now() + timedelta(hours=1))
    await c.receive_type("notify.settings")

    frames = [json.loads(text) for text in sent]
    for frame in frames:
        check_frame(frame)
    assert {frame["type"] for frame in frames} == set(SERVER_FRAMES)
