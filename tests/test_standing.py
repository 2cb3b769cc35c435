"""An open socket keeps only what its user may still have: removed members, ended sessions,
deactivated accounts and changed passwords are cut off at once, or within the audit's bound
when the event saying so is lost."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client

from accounts import actions as account_actions
from messaging import selectors
from messaging.actions.memberships import remove_member
from messaging.actions.rooms import create_room, join_room
from messaging.models import ChatMessage, Membership
from messaging.realtime import consumer as consumers
from messaging.realtime import hub as fanout
from messaging.realtime.hub import room_hub

pytestmark = pytest.mark.django_db(transaction=True)

CLOSED_4401 = {"type": "websocket.close", "code": 4401}


async def remove_without_event(user, room) -> None:
    """As if the removal's event never reached the socket (the channel layer was down)."""
    await Membership.objects.filter(user=user, room=room).adelete()


async def test_member_removed_while_the_event_is_lost_is_cut_off_by_the_audit(
    connect, room, alice, carol, monkeypatch
):
    monkeypatch.setattr(fanout, "AUDIT_SECONDS", 0.3)
    a, c = await connect(alice), await connect(carol)
    await remove_without_event(carol, room)

    left = await c.receive_type("room.left", timeout=2)

    assert left["room"]["id"] == room.id
    await a.post(room.id, "secret", "after")
    await c.assert_nothing_more(wait=0.6)


async def test_audit_cuts_off_every_lost_room_and_keeps_the_rest(connect, room, alice, bob, carol):
    other = await database_sync_to_async(create_room)(creator=alice, name="ops")
    await database_sync_to_async(join_room)(user=carol, room=other)
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await remove_without_event(carol, room)

    await room_hub().audit()

    assert (await c.receive_type("room.left"))["room"]["id"] == room.id
    await a.post(room.id, "secret", "s1")
    await a.post(other.id, "still yours", "s2")
    assert [m["body"] for m in await c.receive_messages(1)] == ["still yours"]
    assert (await b.receive_messages(1))[0]["body"] == "secret"
    await c.assert_nothing_more()


async def test_a_refused_frame_drops_the_room_from_the_socket(connect, room, alice, carol):
    a, c = await connect(alice), await connect(carol)
    await remove_without_event(carol, room)

    await c.send({"type": "sync", "room": room.id, "after_seq": 0})

    assert (await c.receive_type("room.left"))["room"]["id"] == room.id
    error = await c.receive_type("error")
    assert (error["code"], error["room"], error["frame"]) == ("not_member", room.id, "sync")
    await a.post(room.id, "secret", "after")
    await c.assert_nothing_more()


async def test_removed_as_the_socket_opens_gets_nothing_after(connect, room, alice, carol, monkeypatch):
    """Removed between the socket reading its rooms and joining the user's group."""
    real_read = selectors.member_room_positions

    def read_then_removed(user):
        rooms = real_read(user)
        if user.pk == carol.pk:
            remove_member(actor=alice, room=room, user=carol)
        return rooms

    monkeypatch.setattr(selectors, "member_room_positions", read_then_removed)
    a = await connect(alice)
    c = await connect(carol)

    assert (await c.receive_type("room.left"))["room"]["id"] == room.id
    await a.post(room.id, "secret", "after")
    await c.assert_nothing_more()


async def test_deactivated_user_cannot_post_through_an_open_socket(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    alice.is_active = False
    await alice.asave(update_fields=["is_active"])  # no event: as if it was lost

    await a.send({"type": "message.send", "room": room.id, "body": "still here?", "client_id": "x"})

    assert await a.communicator.receive_output(timeout=3) == CLOSED_4401
    assert await ChatMessage.objects.acount() == 0
    await b.assert_nothing_more()


async def test_deactivation_in_the_admin_closes_the_users_sockets_at_once(connect, room, bob, make_user):
    admin = await database_sync_to_async(make_user)("root")
    admin.is_staff = admin.is_superuser = True
    await admin.asave()
    first, second = await connect(bob), await connect(bob)

    def deactivate_in_admin():
        browser = Client()
        browser.force_login(admin)
        response = browser.post(
            f"/admin/accounts/user/{bob.pk}/change/",
            {
                "username": "bob",
                "display_name": "Bob",
                "is_active": "",
                "date_joined_0": "2026-01-01",
                "date_joined_1": "00:00:00",
            },
        )
        assert response.status_code == 302, response.content[:2000]

    await database_sync_to_async(deactivate_in_admin)()

    for socket in (first, second):
        assert await socket.communicator.receive_output(timeout=3) == CLOSED_4401


async def test_password_change_in_the_admin_closes_the_users_sockets(connect, room, alice, make_user):
    admin = await database_sync_to_async(make_user)("root")
    admin.is_staff = admin.is_superuser = True
    await admin.asave()
    a = await connect(alice)

    def change_password_in_admin():
        browser = Client()
        browser.force_login(admin)
        new = "a new and long passphrase"
        response = browser.post(
            f"/admin/accounts/user/{alice.pk}/password/", {"password1": new, "password2": new}
        )
        assert response.status_code == 302, response.content[:2000]

    await database_sync_to_async(change_password_in_admin)()

    assert await a.communicator.receive_output(timeout=3) == CLOSED_4401


async def test_password_changed_outside_the_admin_is_caught_by_the_audit(connect, room, alice, monkeypatch):
    """`manage.py changepassword` sends no event; the audit closes the socket within its bound."""
    monkeypatch.setattr(fanout, "AUDIT_SECONDS", 0.3)
    a = await connect(alice)
    alice.set_password("another long passphrase")
    await alice.asave(update_fields=["password"])

    assert await a.communicator.receive_output(timeout=2) == CLOSED_4401


async def test_a_lost_log_out_event_stops_the_next_write(connect, room, alice, monkeypatch):
    monkeypatch.setattr(consumers, "WRITE_RECHECK_SECONDS", 0.0)
    a = await connect(alice)
    await Session.objects.all().adelete()  # every session logged out; no event reached the sockets

    await a.send({"type": "message.send", "room": room.id, "body": "after log-out", "client_id": "x"})

    assert await a.communicator.receive_output(timeout=3) == CLOSED_4401
    assert await ChatMessage.objects.acount() == 0


async def test_recheck_keeps_valid_sockets_open(connect, room, alice):
    a = await connect(alice)
    await database_sync_to_async(account_actions.recheck_user_sockets)(user_id=alice.id)
    await asyncio.sleep(0.2)
    await a.send({"type": "ping"})
    assert await a.receive() == {"type": "pong"}
