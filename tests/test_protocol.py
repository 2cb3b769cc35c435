"""Every bad frame gets an `error` frame with a stable code; the socket stays open."""

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

from messaging.actions import messages as message_actions
from messaging.actions.memberships import remove_member
from messaging.actions.rooms import create_room
from messaging.models import ChatMessage

from .chat import communicator_for, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_error(client, code: str, **expected):
    frame = await client.receive()
    assert frame["type"] == "error", frame
    assert frame["code"] == code, frame
    assert isinstance(frame["detail"], str) and frame["detail"]
    for key, value in expected.items():
        assert frame[key] == value
    return frame


async def assert_still_serving(client, room):
    echo = await client.post(room.id, "still here", f"alive-{id(client)}")
    assert echo["body"] == "still here"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2, 3]",
        '"a string"',
        "{}",
        '{"type": 7}',
        b"\x00\x01binary",
    ],
)
async def test_malformed_frame_is_bad_request(connect, room, alice, frame):
    a = await connect(alice)
    await a.send(frame)
    await assert_error(a, "bad_request")
    await assert_still_serving(a, room)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message.send", "body": "no room", "client_id": "x"},
        {"type": "message.send", "room": "12", "body": "room as text", "client_id": "x"},
        {"type": "message.send", "room": True, "body": "room as bool", "client_id": "x"},
        {"type": "message.send", "room": 2**70, "body": "huge room", "client_id": "x"},
        {"type": "message.send", "room": -1, "body": "negative", "client_id": "x"},
        {"type": "message.send", "room": "ROOM", "body": None, "client_id": "x"},
        {"type": "message.send", "room": "ROOM", "body": "no client id"},
        {"type": "message.send", "room": "ROOM", "body": "empty client id", "client_id": ""},
        {"type": "message.send", "room": "ROOM", "body": "long client id", "client_id": "x" * 65},
        {"type": "message.send", "room": "ROOM", "body": "   \n\t  ", "client_id": "x"},
        {"type": "sync", "room": "ROOM"},
        {"type": "sync", "room": "ROOM", "after_seq": -5},
    ],
)
async def test_invalid_fields_are_bad_request_and_store_nothing(connect, room, alice, frame):
    frame = {k: (room.id if v == "ROOM" else v) for k, v in frame.items()}
    a = await connect(alice)
    await a.send(frame)
    # A usable client_id is echoed so the client can mark that message failed; an overlong one is not.
    echoable = isinstance(frame.get("client_id"), str) and 1 <= len(frame["client_id"]) <= 64
    await assert_error(a, "bad_request", **({"client_id": frame["client_id"]} if echoable else {}))
    assert await ChatMessage.objects.acount() == 0
    await assert_still_serving(a, room)


async def test_unknown_type(connect, room, alice):
    a = await connect(alice)
    await a.send({"type": "message.explode", "room": room.id})
    await assert_error(a, "unknown_type")
    await assert_still_serving(a, room)


async def test_sending_to_a_public_room_one_is_not_in_is_not_member(connect, room, dave):
    d = await connect(dave)
    await d.send({"type": "message.send", "room": room.id, "body": "let me in", "client_id": "d1"})
    await assert_error(d, "not_member", client_id="d1")
    assert await ChatMessage.objects.acount() == 0


async def test_unknown_and_private_rooms_are_not_found(connect, room, alice, dave):
    private = await database_sync_to_async(create_room)(creator=alice, name="staff", is_private=True)
    d = await connect(dave)
    for room_id in (private.id, 999_999):
        await d.send({"type": "message.send", "room": room_id, "body": "hi", "client_id": f"d{room_id}"})
        await assert_error(d, "not_found")
    assert await ChatMessage.objects.acount() == 0


async def test_body_over_the_limit_is_too_large(connect, room, alice):
    a = await connect(alice)
    await a.send({"type": "message.send", "room": room.id, "body": "x" * 10_001, "client_id": "big"})
    await assert_error(a, "too_large", client_id="big")
    exactly = await a.post(room.id, "y" * 10_000, "limit")
    assert len(exactly["body"]) == 10_000
    assert await ChatMessage.objects.acount() == 1


async def test_body_is_trimmed(connect, room, alice):
    a = await connect(alice)
    echo = await a.post(room.id, "  \n hello \n ", "trim")
    assert echo["body"] == "hello"


async def test_frame_over_64_kib_closes_with_4413(connect, room, alice):
    a = await connect(alice)
    await a.send({"type": "message.send", "room": room.id, "body": "x" * 70_000, "client_id": "huge"})
    closed = await a.communicator.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4413}


async def test_flooding_is_rate_limited_then_closed(connect, room, alice, settings):
    settings.PARLEY = {
        **settings.PARLEY,
        "RATE_BURST": 3,
        "RATE_PER_SECOND": 0.5,
        "RATE_ABUSE_CLOSE_AFTER": 5,
    }
    a = await connect(alice)
    for i in range(3):
        await a.post(room.id, f"ok {i}", f"ok-{i}")
    await a.send({"type": "message.send", "room": room.id, "body": "too fast", "client_id": "fast"})
    error = await assert_error(a, "rate_limited", client_id="fast")
    assert 0 < error["retry_after"] <= 2
    for _ in range(4):  # five refused frames in a row are answered ...
        await a.send({"type": "ping"})
        await assert_error(a, "rate_limited")
    await a.send({"type": "ping"})  # ... the sixth closes the socket
    closed = await a.communicator.receive_output(timeout=3)
    assert closed == {"type": "websocket.close", "code": 4429}
    assert await ChatMessage.objects.acount() == 3


async def test_database_failure_is_server_error_and_socket_survives(connect, room, alice, monkeypatch):
    a = await connect(alice)

    def database_down(requests):
        raise OperationalError("connection refused")

    # The socket's sends are written in batches (group commit).
    monkeypatch.setattr(message_actions, "post_messages", database_down)
    await a.send({"type": "message.send", "room": room.id, "body": "lost?", "client_id": "db"})
    await assert_error(a, "server_error", client_id="db")
    assert await ChatMessage.objects.acount() == 0

    monkeypatch.undo()
    echo = await a.post(room.id, "lost?", "db")  # the client retries with the same client_id
    assert echo["seq"] == 1


async def test_resend_with_same_client_id_stores_once_and_answers_the_original(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    first = await a.post(room.id, "@bob only once", "same-id")
    second = await a.post(room.id, "@bob only once", "same-id")

    assert second == first
    assert await ChatMessage.objects.acount() == 1
    assert (await b.receive_messages(1))[0] == first
    await b.receive_type("notification.new")
    await b.assert_nothing_more()  # neither a second message nor a second notification


async def test_same_client_id_from_another_author_is_a_new_message(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    first = await a.post(room.id, "mine", "shared-id")
    second = await b.post(room.id, "also mine", "shared-id")
    assert second["id"] != first["id"] and second["seq"] == 2


async def test_ping_gets_pong(connect, alice):
    a = await connect(alice)
    await a.send({"type": "ping"})
    assert await a.receive() == {"type": "pong"}


async def test_anonymous_socket_is_closed_with_4401(db):
    communicator = communicator_for(None)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}


async def test_foreign_origin_is_refused_at_handshake(alice, transactional_db):
    cookie = await database_sync_to_async(session_cookie)(alice)
    communicator = communicator_for(alice, origin=b"https://evil.example", cookie=cookie)
    connected, _ = await communicator.connect()
    assert not connected


async def test_hello_lists_the_rooms_of_the_user(room, alice, dave):
    cookie = await database_sync_to_async(session_cookie)(alice)
    communicator = communicator_for(alice, cookie=cookie)
    assert (await communicator.connect())[0]
    hello = await communicator.receive_json_from()
    assert hello == {"type": "hello", "user": alice.id, "rooms": [room.id]}
    await communicator.disconnect()


async def test_logging_out_closes_that_sessions_sockets_only(room, alice):
    from django.test import AsyncClient

    cookie = await database_sync_to_async(session_cookie)(alice)
    other_cookie = await database_sync_to_async(session_cookie)(alice)
    this_tab = communicator_for(alice, cookie=cookie)
    other_device = communicator_for(alice, cookie=other_cookie)
    for communicator in (this_tab, other_device):
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from())["type"] == "hello"

    browser = AsyncClient()
    browser.cookies["sessionid"] = cookie
    response = await browser.post("/accounts/logout/")
    assert response.status_code == 302

    assert await this_tab.receive_output(timeout=3) == {"type": "websocket.close", "code": 4401}
    assert await other_device.receive_nothing(timeout=0.3)
    await other_device.send_json_to({"type": "ping"})
    assert await other_device.receive_json_from() == {"type": "pong"}
    await other_device.disconnect()


async def test_removed_member_stops_receiving_at_once_and_cannot_send(connect, room, alice, carol):
    a, c = await connect(alice), await connect(carol)
    await database_sync_to_async(remove_member)(actor=alice, room=room, user=carol)
    assert (await c.receive_type("room.left"))["room"]["id"] == room.id
    await a.post(room.id, "after carol left", "after")
    await c.assert_nothing_more()
    for frame in (
        {"type": "message.send", "room": room.id, "body": "hi", "client_id": "c-x"},
        {"type": "sync", "room": room.id, "after_seq": 0},
        {"type": "room.read", "room": room.id, "seq": 1},
    ):
        await c.send(frame)
        await assert_error(c, "not_member")


async def test_rate_limit_is_per_user_across_tabs(connect, room, alice, settings):
    settings.PARLEY = {**settings.PARLEY, "RATE_BURST": 4, "RATE_PER_SECOND": 0.1}
    first_tab, second_tab = await connect(alice), await connect(alice)
    for i in range(2):
        await first_tab.post(room.id, f"one {i}", f"one-{i}")
        await second_tab.post(room.id, f"two {i}", f"two-{i}")
    await second_tab.send({"type": "message.send", "room": room.id, "body": "fifth", "client_id": "five"})
    while (frame := await second_tab.receive())["type"] != "error":
        pass
    assert frame["code"] == "rate_limited"
