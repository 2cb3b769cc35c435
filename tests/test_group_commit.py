"""Group commit: the sends that arrive together are stored in one transaction, and each is
still answered for itself (its seq, or why it alone was refused), only after that commit."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import DataError, OperationalError

from messaging.actions import messages as message_actions
from messaging.actions.memberships import mark_room_read
from messaging.actions.messages import SendRequest, post_message, post_messages
from messaging.actions.rooms import create_room, join_room
from messaging.errors import BadRequest, NotFound, NotMember, Unauthenticated
from messaging.models import ChatMessage, ChatRoom, Membership
from messaging.realtime.standing import SocketIdentity
from messaging.selectors import rooms_for

pytestmark = pytest.mark.django_db(transaction=True)


def stored_seqs(room) -> list[tuple[int, str]]:
    return list(ChatMessage.objects.filter(room=room).order_by("seq").values_list("seq", "client_id"))


def test_a_batch_takes_consecutive_seqs_in_the_order_given(room, alice, bob, carol):
    requests = [
        SendRequest(user, room.id, f"hello {i}", f"c{i}") for i, user in enumerate([alice, bob, carol] * 3)
    ]
    outcomes = post_messages(requests)

    assert [o.message.seq for o in outcomes] == list(range(1, 10))
    assert [o.message.change for o in outcomes] == list(range(1, 10))
    assert all(o.created for o in outcomes)
    assert stored_seqs(room) == [(i + 1, f"c{i}") for i in range(9)]
    room.refresh_from_db()
    assert (room.last_seq, room.last_change) == (9, 9)
    # Sending reads only over one's own: each author's newest lies above others' messages they
    # have not been shown, so no pointer moves (each one's own messages are not unread either).
    pointers = dict(Membership.objects.filter(room=room).values_list("user__username", "last_read_seq"))
    assert pointers == {"alice": 0, "bob": 0, "carol": 0}
    assert {r.name: r.unread for r in rooms_for(alice)} == {"general": 6}
    # Once alice has read the room, her next messages move her pointer with them.
    mark_room_read(user=alice, room_id=room.id, seq=9)
    post_messages([SendRequest(alice, room.id, f"more {i}", f"m{i}") for i in range(2)])
    assert Membership.objects.get(room=room, user=alice).last_read_seq == 11


def test_a_refusal_costs_only_its_own_request(room, alice, bob, dave, make_user):
    secret = create_room(creator=bob, name="secret", is_private=True)
    gone = make_user("gone")
    join_room(user=gone, room=room)
    gone.is_active = False
    gone.save()
    requests = [
        SendRequest(alice, room.id, "first", "a1"),
        SendRequest(dave, room.id, "not a member", "d1"),
        SendRequest(alice, room.id, "   ", "a2"),
        SendRequest(alice, secret.id, "private room", "a3"),
        SendRequest(gone, room.id, "deactivated", "g1"),
        SendRequest(alice, room.id, "x" * 10_001, "a4"),
        SendRequest(bob, room.id, "second", "b1"),
        SendRequest(alice, room.id, "bad id", ""),
    ]
    outcomes = post_messages(requests)

    assert [type(o) for o in outcomes] == [
        message_actions.PostedMessage,
        NotMember,
        BadRequest,
        NotFound,
        Unauthenticated,
        message_actions.TooLarge,
        message_actions.PostedMessage,
        BadRequest,
    ]
    assert stored_seqs(room) == [(1, "a1"), (2, "b1")]
    assert ChatRoom.objects.get(pk=room.pk).last_seq == 2
    assert ChatMessage.objects.filter(room=secret).count() == 0
    assert ChatRoom.objects.get(pk=secret.pk).last_seq == 0


def test_a_resend_in_a_batch_is_answered_with_the_original_and_the_others_stored_once(room, alice, bob):
    first = post_message(author=alice, room_id=room.id, body="original", client_id="same")
    outcomes = post_messages(
        [
            SendRequest(bob, room.id, "before", "b1"),
            SendRequest(alice, room.id, "original", "same"),
            SendRequest(alice, room.id, "original again, same batch", "dup"),
            SendRequest(alice, room.id, "original again, same batch", "dup"),
            SendRequest(bob, room.id, "after", "b2"),
        ]
    )

    resend = outcomes[1]
    assert not resend.created and resend.message.pk == first.message.pk and resend.message.seq == 1
    assert outcomes[2].created and not outcomes[3].created
    assert outcomes[3].message.pk == outcomes[2].message.pk
    assert [o.message.seq for o in outcomes] == [2, 1, 3, 3, 4]
    assert stored_seqs(room) == [(1, "same"), (2, "b1"), (3, "dup"), (4, "b2")]
    assert ChatRoom.objects.get(pk=room.pk).last_seq == 4


def test_a_client_id_used_in_another_room_is_refused_in_a_batch(room, alice, bob):
    other = create_room(creator=alice, name="other")
    post_message(author=alice, room_id=other.id, body="there", client_id="taken")
    outcomes = post_messages(
        [SendRequest(alice, room.id, "here", "taken"), SendRequest(bob, room.id, "ok", "b")]
    )

    assert isinstance(outcomes[0], BadRequest)
    assert outcomes[1].created and outcomes[1].message.seq == 1
    assert stored_seqs(room) == [(1, "b")]


def test_several_rooms_in_one_batch_each_stay_gap_free(room, alice, bob):
    other = create_room(creator=bob, name="other")
    join_room(user=alice, room=other)
    outcomes = post_messages(
        [
            SendRequest(alice, other.id, "o1", "o1"),
            SendRequest(alice, room.id, "r1", "r1"),
            SendRequest(bob, other.id, "o2", "o2"),
            SendRequest(bob, room.id, "r2", "r2"),
        ]
    )

    assert [(o.message.room_id, o.message.seq) for o in outcomes] == [
        (other.id, 1),
        (room.id, 1),
        (other.id, 2),
        (room.id, 2),
    ]
    assert stored_seqs(room) == [(1, "r1"), (2, "r2")]
    assert stored_seqs(other) == [(1, "o1"), (2, "o2")]


def test_an_ended_session_in_a_batch_refuses_only_its_sends(room, alice, bob):
    ended = SocketIdentity(user_id=bob.pk, session_key="no-such-session", auth_hash="")
    outcomes = post_messages(
        [
            SendRequest(alice, room.id, "mine", "a1"),
            SendRequest(bob, room.id, "after log-out", "b1", recheck=ended),
        ]
    )

    assert outcomes[0].created
    assert isinstance(outcomes[1], Unauthenticated)
    assert stored_seqs(room) == [(1, "a1")]


def test_a_database_failure_in_a_batch_stores_nothing_of_it(room, alice, bob, monkeypatch):
    def insert_fails(*args, **kwargs):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", insert_fails)
    with pytest.raises(OperationalError):
        post_messages([SendRequest(alice, room.id, "one", "a1"), SendRequest(bob, room.id, "two", "b1")])
    monkeypatch.undo()

    assert stored_seqs(room) == []
    room.refresh_from_db()
    assert (room.last_seq, room.last_change) == (0, 0)
    assert Membership.objects.get(room=room, user=alice).last_read_seq == 0


def test_a_mention_in_a_batch_is_linked_to_its_own_message(room, alice, bob, carol):
    outcomes = post_messages(
        [
            SendRequest(alice, room.id, "plain", "a1"),
            SendRequest(alice, room.id, "@bob and @carol look", "a2"),
        ]
    )

    assert outcomes[0].mentions == []
    assert outcomes[1].mentions == ["bob", "carol"]
    assert sorted(u.username for u in ChatMessage.objects.get(client_id="a2").mentioned_users.all()) == [
        "bob",
        "carol",
    ]


# --- through the socket ------------------------------------------------------------------------


class HeldDatabaseThread:
    """Keeps the database thread busy until released, so that sends queue up behind it."""

    def __init__(self):
        self.release = threading.Event()
        self.task = None

    async def __aenter__(self):
        self.task = asyncio.ensure_future(database_sync_to_async(self.release.wait)(10))
        await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc):
        self.release.set()
        await self.task


@pytest.fixture
def batches(monkeypatch) -> list[int]:
    """The size of every batch the socket path writes."""
    sizes: list[int] = []
    real = message_actions.post_messages

    def spy(requests):
        sizes.append(len(requests))
        return real(requests)

    monkeypatch.setattr(message_actions, "post_messages", spy)
    return sizes


async def test_concurrent_sends_from_many_sockets_are_stored_in_one_transaction(
    connect, room, alice, make_user, batches
):
    people = [await database_sync_to_async(make_user)(f"sender{i}") for i in range(10)]
    for person in people:
        await database_sync_to_async(join_room)(user=person, room=room)
    sockets = [await connect(person) for person in people]
    watcher = await connect(alice)

    async with HeldDatabaseThread():
        for i, socket in enumerate(sockets):
            await socket.send(
                {"type": "message.send", "room": room.id, "body": f"hi {i}", "client_id": f"c{i}"}
            )
        await asyncio.sleep(0.3)  # all ten wait behind the held thread

    echoes = [await own_echo(socket, f"c{i}") for i, socket in enumerate(sockets)]
    assert sorted(e["seq"] for e in echoes) == list(range(1, 11))
    assert sum(batches) == 10 and len(batches) <= 2, batches
    everything = await watcher.receive_messages(10)
    assert [m["seq"] for m in everything] == list(range(1, 11))
    await watcher.assert_nothing_more()
    stored = await database_sync_to_async(stored_seqs)(room)
    assert [seq for seq, _ in stored] == list(range(1, 11))


async def own_echo(socket, client_id: str) -> dict:
    while True:
        message = (await socket.receive_type("message.new"))["message"]
        if message["client_id"] == client_id and message["author"]["id"] == socket.user.id:
            return message


async def test_every_socket_sees_a_batch_once_and_in_seq_order(connect, room, alice, bob, carol, batches):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    async with HeldDatabaseThread():
        for i in range(5):
            for socket, name in ((a, "a"), (b, "b")):
                await socket.send(
                    {"type": "message.send", "room": room.id, "body": f"{name}{i}", "client_id": f"{name}{i}"}
                )
        await asyncio.sleep(0.2)

    got = await c.receive_messages(10)
    assert [m["seq"] for m in got] == list(range(1, 11))
    await c.assert_nothing_more()
    assert len(batches) < 10, batches


async def test_a_database_failure_answers_every_sender_of_the_batch_and_stores_nothing(
    connect, room, alice, bob, monkeypatch
):
    a, b = await connect(alice), await connect(bob)

    def insert_fails(*args, **kwargs):
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", insert_fails)
    async with HeldDatabaseThread():
        await a.send({"type": "message.send", "room": room.id, "body": "one", "client_id": "a1"})
        await b.send({"type": "message.send", "room": room.id, "body": "two", "client_id": "b1"})
        await asyncio.sleep(0.2)
    for socket, client_id in ((a, "a1"), (b, "b1")):
        error = await socket.receive_type("error")
        assert (error["code"], error["client_id"]) == ("server_error", client_id)
    assert await ChatMessage.objects.acount() == 0
    monkeypatch.undo()

    # Both retry with the same client_ids: stored once each, gap-free.
    assert (await a.post(room.id, "one", "a1"))["seq"] == 1
    assert (await b.post(room.id, "two", "b1"))["seq"] == 2


async def test_a_refused_send_in_a_batch_is_answered_and_the_others_delivered(
    connect, room, alice, bob, dave
):
    a, b, d = await connect(alice), await connect(bob), await connect(dave)
    async with HeldDatabaseThread():
        await a.send({"type": "message.send", "room": room.id, "body": "one", "client_id": "a1"})
        await d.send({"type": "message.send", "room": room.id, "body": "intruder", "client_id": "d1"})
        await b.send({"type": "message.send", "room": room.id, "body": "two", "client_id": "b1"})
        await asyncio.sleep(0.2)

    error = await d.receive_type("error")
    assert (error["code"], error["client_id"]) == ("not_member", "d1")
    got = await a.receive_messages(2)
    assert [(m["seq"], m["client_id"]) for m in got] == [(1, "a1"), (2, "b1")]


@pytest.mark.parametrize("client_id", ["a\x00b", "tab\there", "line\nbreak", "\x7fdel", "\u202eflip"])
def test_a_client_id_with_control_characters_is_refused_alone(room, alice, bob, client_id):
    # PostgreSQL refuses NUL in text: stored as it came, one such client_id failed every other
    # send of its batch (a hostile client's review found it). It is refused before the database.
    outcomes = post_messages(
        [SendRequest(alice, room.id, "mine", "a1"), SendRequest(bob, room.id, "evil", client_id)]
    )

    assert outcomes[0].created and outcomes[0].message.seq == 1
    assert isinstance(outcomes[1], BadRequest)
    assert stored_seqs(room) == [(1, "a1")]


def test_a_row_the_database_refuses_fails_only_its_own_send(room, alice, bob, carol, monkeypatch):
    """Defence in depth: a data error on one row (anything the checks before the database let
    through) sends the batch again one message at a time, so it costs only its own send."""
    real = ChatMessage.objects.bulk_create

    def refuse_poison(objs, *args, **kwargs):
        if any(message.client_id == "poison" for message in objs):
            raise DataError("value the database refuses")
        return real(objs, *args, **kwargs)

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", refuse_poison)
    outcomes = post_messages(
        [
            SendRequest(alice, room.id, "one", "a1"),
            SendRequest(bob, room.id, "evil", "poison"),
            SendRequest(carol, room.id, "two", "c1"),
        ]
    )

    assert [o.message.seq for o in (outcomes[0], outcomes[2])] == [1, 2]
    assert isinstance(outcomes[1], DataError)
    assert stored_seqs(room) == [(1, "a1"), (2, "c1")]
    assert ChatRoom.objects.get(pk=room.pk).last_seq == 2
