"""Messages that change, over the socket: every edit, delete, reaction and pin reaches every
member live in the room's change order, a member who was away catches up in one sync, and
every refusal has its code."""

import asyncio
import random
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from messaging.actions.changes import delete_message
from messaging.actions.memberships import end_membership
from messaging.actions.rooms import create_room
from messaging.models import ChatMessage, ChatRoom, Membership, MessageRevision, Reaction
from notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


def edit(room, seq, body, client_id):
    return {"type": "message.edit", "room": room.id, "seq": seq, "body": body, "client_id": client_id}


def react(room, seq, emoji, kind="reaction.add"):
    return {"type": kind, "room": room.id, "seq": seq, "emoji": emoji}


async def last_change(room) -> int:
    return (await ChatRoom.objects.aget(pk=room.id)).last_change


async def test_each_change_reaches_every_member_live_in_order(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.post(room.id, "hello", "m1")
    for client in (b, c):
        await client.receive_messages(1)

    changes = [
        (a, edit(room, 1, "hello team", "e1")),
        (b, react(room, 1, "👍")),
        (c, react(room, 1, "🎉")),
        (b, {"type": "message.pin", "room": room.id, "seq": 1, "pinned": True}),
        (b, react(room, 1, "👍", "reaction.remove")),
    ]
    states = []
    for sender, frame in changes:
        await sender.send(frame)
        # Every member's tab, the sender's included, gets the same new state once.
        seen = [(await client.receive_updates(1))[0] for client in (a, b, c)]
        assert seen[0] == seen[1] == seen[2]
        states.append(seen[0])
    for client in (a, b, c):
        await client.assert_nothing_more()

    assert [state["change"] for state in states] == [2, 3, 4, 5, 6]
    final = states[-1]
    assert final["body"] == "hello team" and final["edited_at"] is not None
    assert final["reactions"] == [{"emoji": "🎉", "count": 1, "users": ["carol"]}]
    assert final["pinned"]["by"] == "bob"
    assert await last_change(room) == 6


async def test_every_member_gets_every_change_in_change_order(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.send({"type": "message.send", "room": room.id, "body": "one", "client_id": "m1"})
    await c.receive_messages(1)
    await b.send({"type": "message.send", "room": room.id, "body": "two", "client_id": "m2"})
    await c.receive_messages(1)
    await a.send(edit(room, 1, "one!", "e1"))
    await c.send(react(room, 2, "👀"))
    await a.send({"type": "message.delete", "room": room.id, "seq": 1})

    for client, heard in ((a, 0), (b, 0), (c, 2)):
        frames = []
        while len(frames) < 5 - heard:
            frame = await client.receive()
            if frame["type"] in ("message.new", "message.updated"):
                frames.append(frame)
        assert [f["message"]["change"] for f in frames] == [1, 2, 3, 4, 5][heard:]
        assert [f["type"] for f in frames] == (["message.new"] * 2 + ["message.updated"] * 3)[heard:]
        assert frames[-1]["message"] | {"author": None, "created_at": None} == {
            "id": frames[-1]["message"]["id"],
            "room": room.id,
            "seq": 1,
            "change": 5,
            "author": None,
            "body": "",
            "created_at": None,
            "client_id": "m1",
            "mentions": [],
            "group_mention": "",
            "edited_at": None,
            "deleted": True,
            "reactions": [],
            "pinned": None,
            "thread_root": None,
            "in_room": True,
            "thread": None,
        }


async def test_a_member_who_was_away_catches_up_on_exactly_what_changed_in_one_sync(
    connect, room, alice, bob
):
    a, b = await connect(alice), await connect(bob)
    for i in range(1, 6):
        await a.post(room.id, f"m{i}", f"c{i}")
    await b.receive_messages(5)
    held = await last_change(room)
    await b.close()

    # While bob is away: message 2 edited twice, 3 deleted, 4 reacted to, a new message 6.
    await a.change(edit(room, 2, "m2 once", "e1"))
    await a.change(edit(room, 2, "m2 twice", "e2"))
    await a.change({"type": "message.delete", "room": room.id, "seq": 3})
    await a.change(react(room, 4, "❤️"))
    await a.post(room.id, "m6", "c6")

    b = await connect(bob)
    await b.send({"type": "sync", "room": room.id, "after_change": held})
    frames = []
    while (frame := await b.receive())["type"] != "sync.done":
        frames.append(frame)

    assert [f["type"] for f in frames] == ["message.updated"] * 4
    assert [(f["message"]["seq"], f["message"]["change"]) for f in frames] == [
        (2, 7),
        (3, 8),
        (4, 9),
        (6, 10),
    ]
    states = {f["message"]["seq"]: f["message"] for f in frames}
    assert states[2]["body"] == "m2 twice" and states[2]["edited_at"]
    assert states[3]["deleted"] and states[3]["body"] == ""
    assert states[4]["reactions"] == [{"emoji": "❤️", "count": 1, "users": ["alice"]}]
    assert states[6]["body"] == "m6"
    assert frame == {
        "type": "sync.done",
        "room": room.id,
        "last_seq": 6,
        "last_change": 10,
        "has_more": False,
    }
    await b.assert_nothing_more()


async def test_a_sync_by_change_comes_in_batches(connect, room, alice, bob, settings):
    settings.PARLEY = {**settings.PARLEY, "SYNC_BATCH_SIZE": 2}
    a = await connect(alice)
    for i in range(1, 4):
        await a.post(room.id, f"m{i}", f"c{i}")
    for seq in (3, 1, 2):
        await a.change(react(room, seq, "👍"))
    b = await connect(bob)

    order, after = [], 3
    while True:
        await b.send({"type": "sync", "room": room.id, "after_change": after})
        while (frame := await b.receive())["type"] != "sync.done":
            order.append(frame["message"]["seq"])
        if not frame["has_more"]:
            break
        assert frame["last_seq"] is None
        after = frame["last_change"]
    assert order == [3, 1, 2]
    assert frame["last_change"] == 6


async def test_a_sync_may_not_name_both_orders(connect, room, alice):
    a = await connect(alice)
    await a.send({"type": "sync", "room": room.id, "after_change": 0, "after_seq": 0})
    error = await a.receive_type("error")
    assert (error["code"], error["frame"], error["room"]) == ("bad_request", "sync", room.id)


async def test_refusals_have_their_codes_and_change_nothing(connect, room, alice, bob, dave, settings):
    a, b, d = await connect(alice), await connect(bob), await connect(dave)
    await a.post(room.id, "alice's", "m1")
    await b.post(room.id, "bob's", "m2")
    before = await last_change(room)

    async def refused(client, frame) -> tuple[str, int | None]:
        answer = await client.change(frame)
        assert answer["type"] == "error", answer
        assert answer["frame"] == frame["type"] and answer["room"] == room.id
        return answer["code"], answer.get("seq")

    assert await refused(b, edit(room, 1, "mine now", "x1")) == ("forbidden", 1)
    assert await refused(b, {"type": "message.delete", "room": room.id, "seq": 1}) == ("forbidden", 1)
    assert await refused(b, edit(room, 9, "nothing there", "x2")) == ("no_such_message", 9)
    assert await refused(b, react(room, 1, "not an emoji")) == ("bad_request", 1)
    assert await refused(b, react(room, 1, "👍👍")) == ("bad_request", 1)
    assert await refused(d, react(room, 1, "👍")) == ("not_member", 1)
    assert await refused(b, {"type": "message.pin", "room": room.id, "seq": 1, "pinned": "yes"}) == (
        "bad_request",
        1,
    )
    assert await refused(b, edit(room, 2, "   ", "x3")) == ("bad_request", 2)

    await ChatRoom.objects.filter(pk=room.id).aupdate(pins_by=ChatRoom.Audience.MANAGERS)
    assert await refused(b, {"type": "message.pin", "room": room.id, "seq": 2, "pinned": True}) == (
        "forbidden",
        2,
    )

    settings.PARLEY = {**settings.PARLEY, "EDIT_WINDOW_MINUTES": 5, "DELETE_WINDOW_MINUTES": 5}
    await ChatMessage.objects.filter(room=room, seq=2).aupdate(
        created_at=(await ChatMessage.objects.aget(room=room, seq=2)).created_at - timedelta(minutes=6)
    )
    assert await refused(b, edit(room, 2, "too late", "x4")) == ("too_late", 2)
    assert await refused(b, {"type": "message.delete", "room": room.id, "seq": 2}) == ("too_late", 2)
    # A room's own window overrides the site's: 10 minutes here.
    await ChatRoom.objects.filter(pk=room.id).aupdate(edit_window_minutes=10)
    assert (await b.change(edit(room, 2, "in time", "x5")))["type"] == "message.updated"
    before += 1

    await a.change({"type": "message.delete", "room": room.id, "seq": 1})
    await b.receive_updates(1)
    before += 1
    assert await refused(a, edit(room, 1, "back", "x6")) == ("message_deleted", 1)
    assert await refused(b, react(room, 1, "👍")) == ("message_deleted", 1)
    assert await last_change(room) == before
    assert await MessageRevision.objects.filter(message__room=room).acount() == 1


async def test_managers_delete_anyones_message_at_any_time(connect, room, alice, bob, settings):
    settings.PARLEY = {**settings.PARLEY, "DELETE_WINDOW_MINUTES": 1}
    a, b = await connect(alice), await connect(bob)
    await b.post(room.id, "bob's old message", "m1")
    await ChatMessage.objects.filter(room=room, seq=1).aupdate(
        created_at=(await ChatMessage.objects.aget(room=room, seq=1)).created_at - timedelta(hours=1)
    )
    answer = await a.change({"type": "message.delete", "room": room.id, "seq": 1})  # alice owns the room
    assert answer["message"]["deleted"] is True
    assert (await b.receive_updates(1))[0]["deleted"] is True


async def test_resent_changes_change_nothing_and_are_answered_with_the_current_state(
    connect, room, alice, bob
):
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "draft", "m1")
    await b.receive_messages(1)
    first = await a.change(edit(room, 1, "final", "e1"))
    await b.receive_updates(1)
    reacted = await b.change(react(room, 1, "👍"))
    await a.receive_updates(1)
    position = await last_change(room)

    again = [
        await a.change(edit(room, 1, "final", "e1")),
        await a.change(edit(room, 1, "final", "e2")),  # a new edit that changes nothing
        await b.change(react(room, 1, "👍")),
        await b.change(react(room, 1, "🙈", "reaction.remove")),
        await a.change({"type": "message.pin", "room": room.id, "seq": 1, "pinned": False}),
    ]
    assert all(answer["message"] == reacted["message"] for answer in again)
    assert first["message"]["change"] < reacted["message"]["change"] == position
    assert await last_change(room) == position
    assert await MessageRevision.objects.acount() == 1
    assert await Reaction.objects.acount() == 1
    # Only the sender was answered; nobody else heard of the no-ops.
    await a.assert_nothing_more()
    await b.assert_nothing_more()

    await a.change({"type": "message.delete", "room": room.id, "seq": 1})
    await b.receive_updates(1)
    assert (await a.change({"type": "message.delete", "room": room.id, "seq": 1}))["message"]["deleted"]
    await b.assert_nothing_more()


async def test_reactions_are_grouped_and_limited(connect, room, alice, bob, carol, settings):
    settings.PARLEY = {**settings.PARLEY, "MAX_REACTIONS_PER_MESSAGE": 3, "MAX_REACTIONS_PER_USER": 2}
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.post(room.id, "vote", "m1")
    await b.change(react(room, 1, "👍"))
    await c.change(react(room, 1, "👍"))
    await c.change(react(room, 1, "❤"))  # unqualified: stored as ❤️
    await a.receive_updates(3)
    answer = await a.change(react(room, 1, "❤️"))
    assert answer["message"]["reactions"] == [
        {"emoji": "👍", "count": 2, "users": ["bob", "carol"]},
        {"emoji": "❤️", "count": 2, "users": ["carol", "alice"]},
    ]
    assert (await c.change(react(room, 1, "🎉")))["code"] == "reaction_limit"  # carol has two
    assert (await a.change(react(room, 1, "🎉")))["type"] == "message.updated"  # the third emoji
    assert (await b.change(react(room, 1, "🚀")))["code"] == "reaction_limit"  # a fourth emoji
    assert (await b.change(react(room, 1, "❤️")))["type"] == "message.updated"  # an existing one


async def test_an_edit_that_adds_a_mention_notifies_once(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await a.post(room.id, "hi @carol", "m1")
    await c.receive_type("notification.new")

    await a.change(edit(room, 1, "hi @carol and @bob", "e1"))
    notified = await b.receive_type("notification.new")
    assert notified["notification"]["message"]["seq"] == 1
    await a.change(edit(room, 1, "hi all", "e2"))
    updated = await a.change(edit(room, 1, "hi @carol and @bob again", "e3"))
    assert updated["message"]["mentions"] == ["bob", "carol"]

    for client in (b, c):
        later = [frame["type"] for frame in await client.drain(quiet=0.5)]
        assert "notification.new" not in later, later
    assert await Notification.objects.filter(message__room=room).acount() == 2


async def test_a_deleted_message_is_gone_from_every_table(connect, room, alice, bob, carol):
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "the launch code is SWORDFISH @bob", "m1")
    await b.receive_type("notification.new")
    await a.change(edit(room, 1, "the launch code is SWORDFISH2 @bob @carol", "e1"))
    await b.change(react(room, 1, "😱"))
    await a.change({"type": "message.pin", "room": room.id, "seq": 1, "pinned": True})

    answer = await a.change({"type": "message.delete", "room": room.id, "seq": 1})
    assert answer["message"]["deleted"]
    removed = await b.receive_type("notification.removed")
    assert removed["unread"] == 0 and len(removed["ids"]) == 1

    found = await database_sync_to_async(tables_containing)("SWORDFISH")
    assert found == [], f"the deleted body survives in {found}"
    message = await ChatMessage.objects.aget(room=room, seq=1)
    assert (message.body, message.pinned_at, message.deleted_by_id) == ("", None, alice.id)
    assert await Notification.objects.filter(message=message).acount() == 0
    assert await Reaction.objects.filter(message=message).acount() == 0
    assert await message.mentioned_users.acount() == 0


def tables_containing(text: str) -> list[str]:
    """Every table with a text column holding `text`, anywhere in the database."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                quoted = f"{connection.ops.quote_name(table)}.{connection.ops.quote_name(column.name)}"
                try:
                    cursor.execute(
                        f"SELECT 1 FROM {connection.ops.quote_name(table)} "
                        f"WHERE CAST({quoted} AS TEXT) LIKE %s LIMIT 1",
                        [f"%{text}%"],
                    )
                except Exception:
                    continue
                if cursor.fetchone():
                    found.append(f"{table}.{column.name}")
    return found


def lose_change(monkeypatch, lost: int) -> None:
    """The room's broadcast of change `lost` reaches no socket (the channel layer lost it)."""
    from messaging.realtime import outlet

    real_send = outlet.send_to_room

    async def lossy_send(room_id, change, seq, frame, **kwargs):
        if change != lost:
            await real_send(room_id, change, seq, frame, **kwargs)

    monkeypatch.setattr(outlet, "send_to_room", lossy_send)


async def test_a_change_lost_by_the_layer_is_fetched_by_the_socket(connect, room, alice, bob, monkeypatch):

    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "one", "m1")
    await b.receive_messages(1)
    lose_change(monkeypatch, 2)
    await a.change(react(room, 1, "👍"))  # change 2: lost on its way to bob
    await a.change(react(room, 1, "🎉"))  # change 3: held behind it, then the gap is filled

    updates = await bob_updates(b, 1)
    # Change 2's own state is superseded: what the database has is message 1 at change 3.
    assert [(u["change"], [r["emoji"] for r in u["reactions"]]) for u in updates] == [(3, ["👍", "🎉"])]
    await b.assert_nothing_more(wait=1.5)


async def bob_updates(client, count):
    return await client.receive_updates(count, timeout=5)


async def test_a_removed_member_changes_nothing(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "hello", "m1")
    membership = await Membership.objects.aget(room=room, user=bob)
    await database_sync_to_async(end_membership)(membership=membership)
    await b.receive_type("room.left")
    answer = await b.change(react(room, 1, "👍"))
    assert answer["code"] == "not_member"
    assert await Reaction.objects.acount() == 0


async def test_a_site_admin_deletes_through_the_same_action_and_members_see_it(
    connect, make_user, alice, bob
):
    admin = await database_sync_to_async(make_user)("root")
    room = await database_sync_to_async(create_room)(creator=alice, name="ops")
    from messaging.actions.rooms import join_room

    await database_sync_to_async(join_room)(user=bob, room=room)
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "oops", "m1")
    await b.receive_messages(1)

    changed = await database_sync_to_async(delete_message)(
        user=admin, room_id=room.id, seq=1, as_site_admin=True
    )

    assert changed.changed and changed.message.is_deleted
    assert (await b.receive_updates(1))[0]["deleted"] is True


def random_changes(rng: random.Random, room, me: str, authors: dict[int, str], count: int) -> list[dict]:
    """A seeded mix of edits (of one's own messages), deletes, reactions and pins."""
    frames = []
    for i in range(count):
        seq = rng.choice(sorted(authors))
        kind = rng.choice(
            ["edit", "react", "unreact", "pin", "delete"]
            if authors[seq] == me
            else ["react", "unreact", "pin"]
        )
        if kind == "edit":
            frames.append(edit(room, seq, f"{me} edit {i}", f"{me}-edit-{i}"))
        elif kind in ("react", "unreact"):
            frames.append(
                react(room, seq, rng.choice(EMOJI), "reaction.add" if kind == "react" else "reaction.remove")
            )
        elif kind == "pin":
            frames.append({"type": "message.pin", "room": room.id, "seq": seq, "pinned": rng.random() < 0.6})
        elif rng.random() < 0.3:  # deletes are rarer, or nothing would be left to change
            frames.append({"type": "message.delete", "room": room.id, "seq": seq})
    return frames


EMOJI = ["👍", "❤️", "🎉", "👀", "😂"]


class StateTracker:
    """What a client shows: for each seq, the payload with the highest change."""

    def __init__(self):
        self.states: dict[int, dict] = {}

    def take(self, frames: list[dict]) -> None:
        for frame in frames:
            if frame["type"] in ("message.new", "message.updated"):
                message = frame["message"]
                held = self.states.get(message["seq"])
                if held is None or message["change"] > held["change"]:
                    self.states[message["seq"]] = message


def stored_states(room) -> dict[int, dict]:
    from messaging.selectors import messages_with_state
    from messaging.serializers import stored_message_payload

    return {m.seq: stored_message_payload(m) for m in messages_with_state().filter(room=room)}


@pytest.mark.parametrize("seed", [7, 2026])
async def test_concurrent_changes_converge_at_every_client_to_the_database(
    connect, room, alice, bob, carol, seed
):
    clients = {"alice": await connect(alice), "bob": await connect(bob), "carol": await connect(carol)}
    authors = {}
    for name, client in clients.items():
        for j in range(2):
            message = await client.post(room.id, f"{name} {j}", f"{name}-m{j}")
            authors[message["seq"]] = name
    trackers = {name: StateTracker() for name in clients}
    for name, client in clients.items():
        trackers[name].take(await client.drain())

    rng = random.Random(seed)
    plans = {name: random_changes(rng, room, name, authors, 25) for name in clients}

    async def play(name: str) -> None:
        for frame in plans[name]:
            await clients[name].send(frame)
            if rng.random() < 0.3:
                await asyncio.sleep(0)

    await asyncio.gather(*(play(name) for name in clients))
    for name, client in clients.items():
        trackers[name].take(await client.drain(quiet=1.0))

    expected = await database_sync_to_async(stored_states)(room)
    for name, tracker in trackers.items():
        assert tracker.states == expected, f"{name} differs from the database"
    # A client that comes later catches up to the same state in one sync from the start.
    late = await connect(alice)
    await late.send({"type": "sync", "room": room.id, "after_change": 0})
    late_tracker = StateTracker()
    frames = []
    while (frame := await late.receive())["type"] != "sync.done":
        frames.append(frame)
    late_tracker.take(frames)
    assert late_tracker.states == expected
    assert frame["last_change"] == await last_change(room)


async def test_the_audit_brings_a_socket_the_last_change_the_layer_lost(
    connect, room, alice, bob, monkeypatch
):
    """Nothing follows the lost change, so no gap shows it; the process's audit (every
    AUDIT_SECONDS) compares each socket with its rooms' newest change and fetches the rest."""
    from messaging.realtime import ordering
    from messaging.realtime.hub import room_hub

    monkeypatch.setattr(ordering, "GAP_WAIT_SECONDS", 0.01)
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "one", "m1")
    await b.receive_messages(1)
    lose_change(monkeypatch, 2)
    await a.change(react(room, 1, "👍"))
    await b.assert_nothing_more(wait=0.5)

    await room_hub().audit()

    update = (await b.receive_updates(1))[0]
    assert (update["change"], update["reactions"][0]["emoji"]) == (2, "👍")
    await b.assert_nothing_more()


async def test_an_archived_private_room_is_a_missing_room_to_a_stranger(connect, alice, dave):
    """The change frames answer a private room one is not in as `not_found`, archived or not,
    exactly as `message.send` does: its existence cannot be probed."""
    from django.utils import timezone

    from messaging.actions.messages import post_message

    private = await database_sync_to_async(create_room)(creator=alice, name="vault", is_private=True)
    await database_sync_to_async(post_message)(author=alice, room_id=private.id, body="x", client_id="v1")
    await ChatRoom.objects.filter(pk=private.id).aupdate(archived_at=timezone.now())
    d = await connect(dave)
    for frame in (
        edit(private, 1, "y", "d1"),
        {"type": "message.delete", "room": private.id, "seq": 1},
        {"type": "reaction.add", "room": private.id, "seq": 1, "emoji": "👍"},
        {"type": "message.pin", "room": private.id, "seq": 1, "pinned": True},
    ):
        answer = await d.change(frame)
        assert (answer["code"], answer["detail"]) == ("not_found", "No such room."), answer
    a = await connect(alice)
    answer = await a.change(react(private, 1, "👍"))
    assert answer["code"] == "bad_request" and "archived" in answer["detail"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("❤", "❤️"),
        ("1⃣", "1️⃣"),
        ("❤‍🔥", "❤️‍🔥"),
        ("🏳‍🌈", "🏳️‍🌈"),
        ("👁‍🗨", "👁️‍🗨️"),
        ("👍🏽", "👍🏽"),
        ("🇫🇷", "🇫🇷"),
    ],
)
def test_every_form_of_an_emoji_is_stored_as_its_fully_qualified_one(sent, stored):
    from messaging import emoji

    assert emoji.normalize(sent) == stored
    assert emoji.normalize(stored) == stored


@pytest.mark.parametrize("text", ["🏻", "🦰", "👍👍", "a", "", "\u200d", "🇦"])
def test_components_and_sequences_are_not_reactions(text):
    from messaging import emoji

    assert emoji.normalize(text) is None
