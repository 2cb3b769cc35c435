"""Delivery: every member connected to a room gets every message, mentions or not."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from messaging.actions.memberships import add_member
from messaging.actions.messages import post_message, send_message
from messaging.actions.rooms import create_room, join_room, leave_room
from messaging.models import ChatMessage
from notifications import actions as notification_actions
from notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


async def test_plain_message_reaches_every_member(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)

    echo = await a.post(room.id, "Hello team", "c-1")

    for client in (b, c):
        (message,) = await client.receive_messages(1)
        assert message == echo
    assert echo["body"] == "Hello team"
    assert echo["seq"] == 1
    assert echo["author"] == {"id": alice.id, "username": "alice", "display_name": "Alice"}
    assert echo["mentions"] == []
    await a.assert_nothing_more()  # the sender gets its echo once, not twice
    assert await ChatMessage.objects.filter(room=room).acount() == 1


async def test_mention_delivers_to_all_and_notifies_only_the_mentioned(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)

    echo = await a.post(room.id, "@bob can you look at this?", "c-1")

    assert echo["mentions"] == ["bob"]
    (to_bob,) = await b.receive_messages(1)
    (to_carol,) = await c.receive_messages(1)
    assert to_bob == to_carol == echo
    notification = (await b.receive_type("notification.new"))["notification"]
    assert notification["kind"] == "mention"
    assert notification["message"]["id"] == echo["id"]
    assert notification["actor"] == "alice"
    await c.assert_nothing_more()
    await a.assert_nothing_more()
    recipients = [n.recipient_id async for n in Notification.objects.all()]
    assert recipients == [bob.id]


async def test_several_mentions_notify_each(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)

    echo = await a.post(room.id, "@bob and @Carol: standup in 5, cc @bob.", "c-1")

    assert echo["mentions"] == ["bob", "carol"]
    for client in (b, c):
        assert (await client.receive_messages(1))[0]["id"] == echo["id"]
        notification = (await client.receive_type("notification.new"))["notification"]
        assert notification["message"]["id"] == echo["id"]
    assert await Notification.objects.acount() == 2  # bob once, though named twice


async def test_unknown_mention_is_delivered_without_error(connect, room, alice, bob, dave):
    a, b = await connect(alice), await connect(bob)

    echo = await a.post(room.id, "@nobody @dave @alice hello?", "c-1")

    # Unknown names, non-members (dave) and self-mentions are ignored, without an error.
    assert echo["mentions"] == []
    assert (await b.receive_messages(1))[0] == echo
    await a.assert_nothing_more()
    await b.assert_nothing_more()
    assert await Notification.objects.acount() == 0


async def test_email_address_is_not_a_mention(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    echo = await a.post(room.id, "write to bob@example.com", "c-1")
    assert echo["mentions"] == []
    await b.receive_messages(1)
    await b.assert_nothing_more()


async def test_rapid_exchange_arrives_once_in_seq_order_everywhere(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    per_sender = 60

    async def send_all(client, name):
        for i in range(per_sender):
            await client.send(
                {"type": "message.send", "room": room.id, "body": f"{name} {i}", "client_id": f"{name}-{i}"}
            )

    await asyncio.gather(send_all(a, "alice"), send_all(b, "bob"))

    total = 2 * per_sender
    for client in (a, b, c):
        messages = await client.receive_messages(total, timeout=30)
        seqs = [m["seq"] for m in messages]
        assert seqs == list(range(1, total + 1)), "every message once, in seq order"
        await client.assert_nothing_more()
    bodies = {m["body"] for m in messages}
    assert bodies == {f"{n} {i}" for n in ("alice", "bob") for i in range(per_sender)}
    stored = [m.seq async for m in ChatMessage.objects.filter(room=room).order_by("seq")]
    assert stored == list(range(1, total + 1))


async def test_notification_failure_never_stops_delivery(connect, room, alice, bob, carol, monkeypatch):
    def broken_notify(**kwargs):
        raise RuntimeError("notification store is down")

    monkeypatch.setattr(notification_actions, "notify_mentions", broken_notify)
    a, b, c = await connect(alice), await connect(bob), await connect(carol)

    echo = await a.post(room.id, "@bob @carol this still arrives", "c-1")

    assert echo["mentions"] == ["bob", "carol"]
    for client in (b, c):
        assert (await client.receive_messages(1))[0] == echo
    for client in (a, b, c):
        await client.assert_nothing_more()  # no error frame to anyone, no notification
    assert await ChatMessage.objects.acount() == 1
    assert await Notification.objects.acount() == 0

    # The step is pending, not lost: once the store is back, the retry notifies each once.
    monkeypatch.undo()
    for client in (b, c):
        notification = (await client.receive_type("notification.new", timeout=5))["notification"]
        assert notification["message"]["id"] == echo["id"]
    assert await Notification.objects.acount() == 2


async def test_mention_lookup_failure_still_delivers(connect, room, alice, bob, monkeypatch):
    link = ChatMessage.mentioned_users.through

    def broken_link(*args, **kwargs):
        raise RuntimeError("lookup exploded")

    monkeypatch.setattr(link.objects, "bulk_create", broken_link)
    a, b = await connect(alice), await connect(bob)
    echo = await a.post(room.id, "@bob urgent", "c-1")
    assert echo["mentions"] == []
    assert (await b.receive_messages(1))[0] == echo


async def test_non_member_receives_nothing(connect, room, alice, dave):
    a, d = await connect(alice), await connect(dave)
    await a.post(room.id, "members only", "c-1")
    await d.assert_nothing_more()


async def test_joining_while_connected_starts_delivery(connect, room, alice, dave):
    a, d = await connect(alice), await connect(dave)

    await database_sync_to_async(join_room)(user=dave, room=room)
    joined = await d.receive_type("room.joined")
    assert joined["room"]["id"] == room.id

    echo = await a.post(room.id, "welcome dave", "c-1")
    assert (await d.receive_messages(1))[0] == echo


async def test_a_private_room_joined_while_connected_says_it_is_private(connect, alice, dave):
    private = await database_sync_to_async(create_room)(creator=alice, name="staff", is_private=True)
    d = await connect(dave)

    await database_sync_to_async(add_member)(actor=alice, room=private, username="dave")

    joined = (await d.receive_type("room.joined"))["room"]
    assert joined == {
        "id": private.id,
        "name": "staff",
        "slug": "staff",
        "is_private": True,
        "last_seq": 0,
        "last_change": 0,
        "kind": "room",
    }


async def test_leaving_while_connected_stops_delivery(connect, room, alice, carol):
    a, c = await connect(alice), await connect(carol)

    await database_sync_to_async(leave_room)(user=carol, room=room)
    left = await c.receive_type("room.left")
    assert left["room"]["id"] == room.id

    await a.post(room.id, "carol is gone", "c-1")
    await c.assert_nothing_more()
    await c.send({"type": "message.send", "room": room.id, "body": "still here?", "client_id": "x"})
    error = await c.receive_type("error")
    assert error["code"] == "not_member"


async def test_every_tab_of_a_user_receives_and_the_sending_tab_once(connect, room, alice, bob):
    first_tab, second_tab, b = await connect(alice), await connect(alice), await connect(bob)
    echo = await first_tab.post(room.id, "from tab one", "c-1")
    assert (await second_tab.receive_messages(1))[0] == echo
    assert (await b.receive_messages(1))[0] == echo
    await first_tab.assert_nothing_more()


async def test_long_lived_sockets_and_hubs_renew_their_groups(connect, room, alice, bob, monkeypatch):
    from channels.layers import get_channel_layer

    from messaging.realtime import consumer as consumers
    from messaging.realtime.hub import room_hub
    from messaging.realtime.outlet import room_group_name, user_group_name

    b = await connect(bob)
    layer = get_channel_layer()
    hub = room_hub()
    # A day later the layer has forgotten every group membership ...
    for members in layer.groups.values():
        members.clear()
    # ... the hub's hourly renewal joins its rooms again, and the socket's next ping, an hour
    # after its last renewal, joins the user's own group again.
    await hub._rejoin()
    monkeypatch.setattr(consumers, "GROUP_REFRESH_SECONDS", -1)
    await b.send({"type": "ping"})
    await b.receive_type("pong")
    assert hub.channel in group_members(layer, room_group_name(room.id))
    assert len(group_members(layer, user_group_name(bob.id))) == 1


def group_members(layer, group: str):
    """The layer's record of a group (the pub/sub layer keys it "<prefix>__group__<name>")."""
    return next(
        members
        for key, members in layer.groups.items()
        if key in (group, f"{getattr(layer, 'prefix', '')}__group__{group}")
    )


async def test_message_sent_without_a_socket_reaches_sockets_and_notifies(connect, room, alice, bob, carol):
    """A view, a management command or a test posts through the same whole action as the socket."""
    b, c = await connect(bob), await connect(carol)

    posted = await database_sync_to_async(send_message)(
        author=alice, room_id=room.id, body="From a script, @bob", client_id="script-1"
    )

    for client in (b, c):
        (message,) = await client.receive_messages(1)
        assert message["id"] == posted.message.id
        assert message["seq"] == 1
        assert message["mentions"] == ["bob"]
    notification = (await b.receive_type("notification.new"))["notification"]
    assert notification["message"]["id"] == posted.message.id
    await c.assert_nothing_more()
    assert await Notification.objects.filter(recipient=bob).acount() == 1


async def test_resend_of_a_message_whose_notification_step_was_lost_notifies_once(connect, room, alice, bob):
    """Stored, then the process died before the mention step: the client's resend runs it."""
    b = await connect(bob)
    await database_sync_to_async(post_message)(
        author=alice, room_id=room.id, body="@bob look", client_id="lost-step"
    )
    a = await connect(alice)

    await a.post(room.id, "@bob look", "lost-step")
    await a.post(room.id, "@bob look", "lost-step")

    notification = (await b.receive_type("notification.new"))["notification"]
    assert notification["message"]["body"] == "@bob look"
    await b.assert_nothing_more()
    assert await Notification.objects.filter(recipient=bob).acount() == 1
