"""Awareness over the socket: presence (union of sockets, idle, invisible, coalesced, never
leaked), status with expiry, typing (throttled, bounded by room size, stopped by sending and
leaving) and read receipts (live, coalesced, reciprocal), and every refusal with its code.

The stores' own behaviour across processes (union, reaping a dead process) is in
tests/test_presence_store.py; two real processes on PostgreSQL + Redis in tests/test_cluster.py.
"""

import asyncio
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from awareness.actions import set_awareness_settings, set_status, status_expiry
from awareness.serializers import status_payload
from messaging.actions.rooms import create_room, join_room
from messaging.errors import BadRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def awareness_on(settings):
    settings.PARLEY = {
        **settings.PARLEY,
        "PRESENCE": True,
        "READ_RECEIPTS": True,
        "PRESENCE_COALESCE_SECONDS": 0.3,
        "RECEIPTS_COALESCE_SECONDS": 0.3,
        "TYPING_THROTTLE_SECONDS": 0.5,
    }


async def frames_of(client, kind: str, quiet: float = 0.4) -> list[dict]:
    return [f for f in await client.drain(quiet=quiet) if f["type"] == kind]


async def presence_of(client, user) -> str:
    """The state the client was last told for `user`, waiting for news to settle."""
    await client.send({"type": "presence.sync", "users": [user.id]})
    return (await client.receive_type("presence.state"))["users"][0]["state"]


async def wait_presence(client, user, state: str, timeout: float = 3) -> dict:
    """The next presence.changed of `user` to `state`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        frame = await client.receive_type("presence.changed", timeout=max(remaining, 0.01))
        if frame["user"]["id"] == user.id and frame["user"]["state"] == state:
            return frame["user"]


# --- Presence ------------------------------------------------------------------------------------


async def test_a_peer_sees_a_user_away_then_active_then_offline_with_the_last_active_time(
    connect, room, alice, bob
):
    watcher = await connect(alice)
    tab = await connect(bob)
    assert (await wait_presence(watcher, bob, "away"))["last_active_at"] is None
    await tab.send({"type": "presence.set", "state": "active"})
    active = await wait_presence(watcher, bob, "active")
    assert set(active) == {"id", "state", "last_active_at", "status"}
    await tab.close()
    offline = await wait_presence(watcher, bob, "offline")
    assert offline["last_active_at"] is not None
    assert await presence_of(watcher, bob) == "offline"


async def test_a_user_is_active_while_any_tab_is_and_offline_only_when_the_last_closes(
    connect, room, alice, bob
):
    watcher = await connect(alice)
    first, second = await connect(bob), await connect(bob)
    await first.send({"type": "presence.set", "state": "active"})
    await wait_presence(watcher, bob, "active")
    await second.send({"type": "presence.set", "state": "away"})
    await first.close()
    await asyncio.sleep(0.5)
    assert await presence_of(watcher, bob) == "away"
    await second.close()
    await wait_presence(watcher, bob, "offline")


async def test_an_active_tab_with_no_word_from_its_person_turns_away_by_itself(
    settings, connect, room, alice, bob
):
    settings.PARLEY = {**settings.PARLEY, "PRESENCE_IDLE_SECONDS": 0.4}
    watcher = await connect(alice)
    tab = await connect(bob)
    await tab.send({"type": "presence.set", "state": "active"})
    await wait_presence(watcher, bob, "active")
    await wait_presence(watcher, bob, "away", timeout=3)


async def test_flapping_costs_peers_one_frame_per_interval_and_ends_on_the_last_state(
    connect, room, alice, bob
):
    watcher = await connect(alice)
    tab = await connect(bob)
    await wait_presence(watcher, bob, "away")
    for state in ["active", "away"] * 5 + ["active"]:
        await tab.send({"type": "presence.set", "state": state})
    frames = [f for f in await frames_of(watcher, "presence.changed", quiet=0.8) if f["user"]["id"] == bob.id]
    # 11 changes within about one interval: the first at once, the rest as one after it.
    assert 1 <= len(frames) <= 3, frames
    assert frames[-1]["user"]["state"] == "active"


async def test_presence_reaches_only_people_who_share_a_room(connect, room, alice, bob, dave):
    stranger = await connect(dave)
    watcher = await connect(alice)
    tab = await connect(bob)
    await tab.send({"type": "presence.set", "state": "active"})
    await wait_presence(watcher, bob, "active")
    seen = [f for f in await frames_of(stranger, "presence.changed") if f["user"]["id"] == bob.id]
    assert seen == []
    # Asked outright, a stranger learns nothing: offline, no time, no status.
    await database_sync_to_async(set_status)(user=bob, text="On call")
    await stranger.send({"type": "presence.sync", "users": [bob.id, alice.id, 999_999]})
    answer = (await stranger.receive_type("presence.state"))["users"]
    assert answer == [
        {"id": bob.id, "state": "offline", "last_active_at": None, "status": None},
        {"id": alice.id, "state": "offline", "last_active_at": None, "status": None},
        {"id": 999_999, "state": "offline", "last_active_at": None, "status": None},
    ]
    await watcher.send({"type": "presence.sync", "users": [bob.id]})
    mine = (await watcher.receive_type("presence.state"))["users"][0]
    assert mine["state"] == "active" and mine["status"]["text"] == "On call"


async def test_an_invisible_user_looks_like_one_who_left_when_they_went_invisible(connect, room, alice, bob):
    before = timezone.now() - timedelta(hours=1)
    await type(bob).objects.filter(pk=bob.pk).aupdate(last_active_at=before)
    watcher = await connect(alice)
    tab = await connect(bob)
    await tab.send({"type": "presence.set", "state": "active"})
    await wait_presence(watcher, bob, "active")
    await database_sync_to_async(set_awareness_settings)(user=bob, invisible=True)
    # Offline, and "last active" no later than the database had it: nothing tells them apart
    # from someone who really left (no null time, no fresh one).
    assert (await wait_presence(watcher, bob, "offline"))["last_active_at"] == before.isoformat()
    await tab.send({"type": "presence.set", "state": "active"})
    await watcher.send({"type": "presence.sync", "users": [bob.id]})
    hidden = (await watcher.receive_type("presence.state"))["users"][0]
    assert hidden["state"] == "offline" and hidden["last_active_at"] == before.isoformat()
    # A tab opened while invisible says nothing either.
    await connect(bob)
    assert [f for f in await frames_of(watcher, "presence.changed") if f["user"]["id"] == bob.id] == []
    await database_sync_to_async(set_awareness_settings)(user=bob, invisible=False)
    await wait_presence(watcher, bob, "active")


async def test_hello_is_the_first_frame_even_when_the_users_presence_goes_out_as_the_tab_opens(
    monkeypatch, connect, room, bob
):
    # Found as a flaky test: a tab opening while its user's presence went out got the presence
    # frame before its hello (the hub knows the socket from the user's group on, before hello).
    from messaging.realtime.hub import RoomHub

    real_add_user = RoomHub.add_user

    async def add_user_then_presence(self, user_id, consumer):
        await real_add_user(self, user_id, consumer)
        self.deliver_to_peers(user_id, [], '{"type": "presence.changed"}', kind="presence")

    monkeypatch.setattr(RoomHub, "add_user", add_user_then_presence)
    await connect(bob)  # asserts that its first frame is hello


async def test_presence_frames_refused_with_their_codes(connect, room, alice):
    tab = await connect(alice)
    for frame in (
        {"type": "presence.set", "state": "busy"},
        {"type": "presence.set"},
        {"type": "presence.sync", "users": "all"},
        {"type": "presence.sync", "users": [1, "2"]},
        {"type": "presence.sync", "users": list(range(1, 502))},
    ):
        await tab.send(frame)
        error = await tab.receive_type("error")
        assert error["code"] == "bad_request" and error["frame"] == frame["type"], frame
        assert error["detail"]


async def test_with_presence_off_the_socket_says_so_and_sends_none(settings, connect, room, alice, bob):
    settings.PARLEY = {**settings.PARLEY, "PRESENCE": False}
    watcher = await connect(alice)
    tab = await connect(bob)
    await tab.send({"type": "presence.set", "state": "active"})
    await watcher.send({"type": "presence.sync", "users": [bob.id]})
    assert await watcher.receive_type("presence.state") == {
        "type": "presence.state",
        "enabled": False,
        "users": [],
    }
    assert await frames_of(watcher, "presence.changed") == []


async def test_reading_and_awareness_never_cost_a_person_their_messages(settings, connect, room, alice):
    # Found by a flaky browser test: a tab's room.read, presence and typing frames used the
    # allowance its messages need, and a Retry was refused (rate_limited) and sent again.
    settings.PARLEY = {**settings.PARLEY, "RATE_BURST": 3, "RATE_PER_SECOND": 0.01}
    tab = await connect(alice)
    for frame in (
        {"type": "presence.set", "state": "active"},
        {"type": "typing.start", "room": room.id},
        {"type": "room.read", "room": room.id, "seq": 0},
    ):
        await tab.send(frame)
    await tab.send({"type": "presence.sync", "users": [alice.id]})  # the reading allowance is spent
    assert (await tab.receive_type("error"))["code"] == "rate_limited"
    for i in range(3):  # the messages' allowance is whole
        await tab.post(room.id, f"m{i}", f"c{i}")
    await tab.send({"type": "message.send", "room": room.id, "body": "one more", "client_id": "c9"})
    assert (await tab.receive_type("error"))["code"] == "rate_limited"


# --- Status --------------------------------------------------------------------------------------


async def test_a_status_reaches_peers_live_and_ends_by_itself_at_its_expiry(connect, room, alice, bob):
    watcher = await connect(alice)
    await connect(bob)
    now = timezone.now()
    until = now + timedelta(hours=1)
    await database_sync_to_async(set_status)(
        user=bob, text="  In a   meeting ", emoji_text="📅", expires_at=until
    )
    frame = await watcher.receive_type("user.status")
    assert frame["user"] == {
        "id": bob.id,
        "status": {"text": "In a meeting", "emoji": "📅", "expires_at": until.isoformat()},
    }
    await database_sync_to_async(bob.refresh_from_db)()
    assert status_payload(bob, now + timedelta(minutes=59))["text"] == "In a meeting"
    assert status_payload(bob, until) is None
    await database_sync_to_async(set_status)(user=bob, text="")
    assert (await watcher.receive_type("user.status"))["user"]["status"] is None


def test_a_status_that_cannot_be_is_refused_and_changes_nothing(alice):
    alice.refresh_from_db()
    for kwargs in (
        {"text": "x" * 101},
        {"text": "hi", "emoji_text": "no"},
        {"text": "hi", "emoji_text": "😀😀"},
        {"text": "hi", "expires_at": timezone.now() - timedelta(seconds=1)},
    ):
        with pytest.raises(BadRequest):
            set_status(user=alice, **kwargs)
    alice.refresh_from_db()
    assert (alice.status_text, alice.status_emoji, alice.status_expires_at) == ("", "", None)


def test_clear_after_choices_end_where_they_say():
    now = timezone.now().replace(hour=10, minute=0)
    assert status_expiry("never", now=now) is None
    assert status_expiry("30m", now=now) == now + timedelta(minutes=30)
    assert status_expiry("4h", now=now) == now + timedelta(hours=4)
    today = status_expiry("today", now=now)
    assert timezone.localtime(today).date() == timezone.localtime(now).date() and today > now
    week = status_expiry("week", now=now)
    assert timezone.localtime(week).weekday() == 6 and week > now
    # "Today" is the person's day: 23:59 in Tokyo is 14:59 UTC.
    tokyo = status_expiry("today", now=now.replace(hour=1), zone=ZoneInfo("Asia/Tokyo"))
    assert tokyo.astimezone(ZoneInfo("Asia/Tokyo")).hour == 23 and tokyo.astimezone(UTC).hour == 14
    with pytest.raises(BadRequest):
        status_expiry("custom", now=now)
    with pytest.raises(BadRequest):
        status_expiry("forever", now=now)


def test_the_status_and_privacy_forms_work_without_javascript_and_answer_json(client, alice):
    client.force_login(alice)
    response = client.post(
        "/accounts/status/",
        {
            "text": "Lunch",
            "emoji": "🍜",
            "clear_after": "custom",
            "until": "2099-01-02T13:30",
            "tz_offset": "-60",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    alice.refresh_from_db()
    assert alice.status_text == "Lunch" and alice.status_expires_at.isoformat() == "2099-01-02T12:30:00+00:00"
    client.post(
        "/accounts/status/",
        {"text": "Lunch", "clear_after": "custom", "until": "2099-01-02T13:30", "tz": "America/New_York"},
    )
    alice.refresh_from_db()
    assert alice.status_expires_at.isoformat() == "2099-01-02T18:30:00+00:00"
    response = client.post(
        "/accounts/awareness/",
        {"invisible": ["0", "1"], "share_read_state": "0", "next": "https://evil.example/"},
        HTTP_ACCEPT="text/html",
    )
    assert response["Location"] == "/accounts/profile/"  # never off the site
    alice.refresh_from_db()
    assert alice.invisible and not alice.share_read_state
    answer = client.post("/accounts/status/", {"clear": "1"}, HTTP_ACCEPT="application/json").json()
    assert answer == {"me": {"invisible": True, "share_read_state": False, "status": None}}
    assert client.post("/accounts/awareness/", {"invisible": "yes"}).status_code == 400
    assert (
        client.post("/accounts/status/", {"text": "x", "clear_after": "custom", "until": "soon"}).status_code
        == 400
    )
    assert client.get("/accounts/status/").status_code == 405
    # A zone name that is a folder of zones ("America") is no zone: the server's is taken.
    assert (
        client.post("/accounts/status/", {"text": "", "clear_after": "today", "tz": "America"}).status_code
        == 302
    )
    client.logout()
    assert client.post("/accounts/status/", {"text": "x"}).status_code == 302  # to the log-in page
    alice.refresh_from_db()
    assert alice.status_text == ""


# --- Typing --------------------------------------------------------------------------------------


async def test_typing_reaches_the_other_members_until_it_stops(connect, room, alice, bob):
    watcher = await connect(alice)
    typer, typers_other_tab = await connect(bob), await connect(bob)
    await typer.send({"type": "typing.start", "room": room.id})
    started = await watcher.receive_type("typing.started")
    assert started == {
        "type": "typing.started",
        "room": room.id,
        "thread_root": None,
        "user": {"id": bob.id, "username": "bob", "display_name": "Bob"},
        "expires_in": 6,
    }
    await typer.send({"type": "typing.stop", "room": room.id})
    stopped = await watcher.receive_type("typing.stopped")
    assert stopped["user"]["id"] == bob.id and stopped["thread_root"] is None
    assert [
        f["type"] for f in await typers_other_tab.drain(quiet=0.3) if f["type"].startswith("typing")
    ] == []


async def test_typing_starts_are_throttled_per_room_whatever_comes_between(connect, room, alice, bob):
    watcher = await connect(alice)
    typer = await connect(bob)
    for _ in range(5):
        await typer.send({"type": "typing.start", "room": room.id})
    # Neither a thread of the room nor starts and stops in turn buy another start.
    for root in range(1, 11):
        await typer.send({"type": "typing.start", "room": room.id, "thread_root": root})
        await typer.send({"type": "typing.stop", "room": room.id, "thread_root": root})
    await typer.send({"type": "typing.stop", "room": room.id})
    await typer.send({"type": "typing.start", "room": room.id})
    frames = [f for f in await watcher.drain(quiet=0.3) if f["type"].startswith("typing.")]
    assert [(f["type"], f["thread_root"]) for f in frames] == [
        ("typing.started", None),
        ("typing.stopped", None),
    ]
    await asyncio.sleep(0.5)
    await typer.send({"type": "typing.start", "room": room.id, "thread_root": 3})
    assert [f["thread_root"] for f in await frames_of(watcher, "typing.started")] == [3]


async def test_an_invisible_users_typing_is_not_relayed(connect, room, alice, bob):
    await database_sync_to_async(set_awareness_settings)(user=bob, invisible=True)
    watcher = await connect(alice)
    typer = await connect(bob)
    await typer.send({"type": "typing.start", "room": room.id})
    assert await frames_of(watcher, "typing.started") == []


async def test_sending_or_leaving_stops_the_typing_others_see(connect, room, alice, bob):
    watcher = await connect(alice)
    typer = await connect(bob)
    await typer.send({"type": "typing.start", "room": room.id})
    await watcher.receive_type("typing.started")
    await typer.post(room.id, "done", "c1")
    # The message itself ends it (clients drop the typer on it); no typing frame more, also not
    # for the client's own stop right after the message.
    await typer.send({"type": "typing.stop", "room": room.id})
    after = await watcher.drain(quiet=0.3)
    assert [f["type"] for f in after if f["type"] != "presence.changed"] == ["message.new"]
    await asyncio.sleep(0.5)  # the throttle
    await typer.send({"type": "typing.start", "room": room.id, "thread_root": 1})
    await watcher.receive_type("typing.started")
    await typer.close()
    assert (await watcher.receive_type("typing.stopped"))["thread_root"] == 1


async def test_typing_is_not_relayed_in_rooms_over_the_size_bound(settings, connect, room, alice, bob):
    settings.PARLEY = {**settings.PARLEY, "TYPING_MAX_MEMBERS": 2}  # the room has 3
    watcher = await connect(alice)
    typer = await connect(bob)
    await typer.send({"type": "typing.start", "room": room.id})
    assert await frames_of(watcher, "typing.started") == []


async def test_typing_in_a_room_one_is_not_in_is_refused_as_any_frame_about_it(connect, room, alice, dave):
    private = await database_sync_to_async(create_room)(creator=alice, name="staff", is_private=True)
    tab = await connect(dave)
    await tab.send({"type": "typing.start", "room": room.id})
    assert (await tab.receive_type("error"))["code"] == "not_member"
    await tab.send({"type": "typing.start", "room": private.id})
    assert (await tab.receive_type("error"))["code"] == "not_found"
    await tab.send({"type": "typing.stop", "room": "x"})
    assert (await tab.receive_type("error"))["code"] == "bad_request"


# --- Read receipts -------------------------------------------------------------------------------


async def test_a_members_read_pointer_reaches_the_room_live_and_after_a_reconnect(connect, room, alice, bob):
    author = await connect(alice)
    for i in range(3):
        await author.post(room.id, f"m{i}", f"c{i}")
    reader = await connect(bob)
    await reader.send({"type": "room.read", "room": room.id, "seq": 2})
    changed = await author.receive_type("receipts.changed")
    assert changed == {
        "type": "receipts.changed",
        "room": room.id,
        "reads": [{"user": {"id": bob.id, "username": "bob", "display_name": "Bob"}, "seq": 2}],
    }
    await author.close()
    again = await connect(alice)
    await again.send({"type": "receipts.sync", "room": room.id})
    state = await again.receive_type("receipts.state")
    assert state["enabled"] and state["shared"]
    assert {r["user"]["username"]: r["seq"] for r in state["reads"]} == {"bob": 2, "carol": 0}


async def test_reads_in_quick_succession_go_out_as_one_frame_with_the_newest_pointer(
    connect, room, alice, bob
):
    author = await connect(alice)
    for i in range(5):
        await author.post(room.id, f"m{i}", f"c{i}")
    reader = await connect(bob)
    for seq in range(1, 6):
        await reader.send({"type": "room.read", "room": room.id, "seq": seq})
    frames = await frames_of(author, "receipts.changed", quiet=0.8)
    assert 1 <= len(frames) <= 2, frames
    assert frames[-1]["reads"][0]["seq"] == 5


async def test_answering_at_once_is_seen_by_the_author_live(connect, room, alice, bob):
    # Bob answers before his tab's room.read goes out. Found by a review: the send moved his
    # pointer over alice's message silently, so the room.read after it moved nothing and alice
    # never saw "Seen by Bob". Now the send moves it over his own messages only.
    author = await connect(alice)
    await author.post(room.id, "question?", "q1")
    replier = await connect(bob)
    await replier.post(room.id, "answer", "a1")
    assert await frames_of(author, "receipts.changed") == []  # sending is no sign of reading
    await replier.send({"type": "room.read", "room": room.id, "seq": 2})  # shown in his tab
    reads = (await author.receive_type("receipts.changed"))["reads"]
    assert [(r["user"]["username"], r["seq"]) for r in reads] == [("bob", 2)]


async def test_a_read_that_moves_no_pointer_tells_no_one(connect, room, alice, bob):
    author = await connect(alice)
    await author.post(room.id, "m", "c1")
    reader = await connect(bob)
    await reader.send({"type": "room.read", "room": room.id, "seq": 1})
    await author.receive_type("receipts.changed")
    await asyncio.sleep(0.4)  # past the coalescing interval
    for _ in range(3):
        await reader.send({"type": "room.read", "room": room.id, "seq": 1})
        await reader.receive_type("room.read")
    assert await frames_of(author, "receipts.changed") == []


async def test_a_pointer_that_moves_while_the_rooms_frame_is_going_out_goes_in_the_next(
    connect, room, alice, bob, monkeypatch
):
    from awareness import receipts

    author = await connect(alice)
    for i in range(3):
        await author.post(room.id, f"m{i}", f"c{i}")
    reader = await connect(bob)
    real_send = receipts.outlet.send_ephemeral_to_room

    async def slow_send(*args, **kwargs):
        await asyncio.sleep(0.3)  # a slow channel layer
        await real_send(*args, **kwargs)

    monkeypatch.setattr(receipts.outlet, "send_ephemeral_to_room", slow_send)
    await reader.send({"type": "room.read", "room": room.id, "seq": 1})
    await asyncio.sleep(0.1)
    await reader.send({"type": "room.read", "room": room.id, "seq": 2})  # waits for the interval
    await asyncio.sleep(0.35)  # that frame is on its way (slowly) …
    await reader.send({"type": "room.read", "room": room.id, "seq": 3})  # … when this one moves
    seqs = [f["reads"][0]["seq"] for f in await frames_of(author, "receipts.changed", quiet=1.5)]
    assert seqs[-1] == 3, seqs


async def test_who_does_not_share_their_read_state_neither_shows_it_nor_sees_others(
    connect, room, alice, bob
):
    await database_sync_to_async(set_awareness_settings)(user=bob, share_read_state=False)
    author = await connect(alice)
    await author.post(room.id, "m", "c1")
    private_reader = await connect(bob)
    await private_reader.send({"type": "room.read", "room": room.id, "seq": 1})
    assert await frames_of(author, "receipts.changed") == []
    await author.send({"type": "receipts.sync", "room": room.id})
    assert "bob" not in {
        r["user"]["username"] for r in (await author.receive_type("receipts.state"))["reads"]
    }
    # And bob sees no one's: not live, not asked.
    await author.send({"type": "room.read", "room": room.id, "seq": 1})
    assert await frames_of(private_reader, "receipts.changed") == []
    await private_reader.send({"type": "receipts.sync", "room": room.id})
    state = await private_reader.receive_type("receipts.state")
    assert state["shared"] is False and state["reads"] == []
    # Turned back on, from any tab: both ways again, live.
    await database_sync_to_async(set_awareness_settings)(user=bob, share_read_state=True)
    await asyncio.sleep(0.1)
    await author.post(room.id, "m2", "c2")
    await private_reader.send({"type": "room.read", "room": room.id, "seq": 2})
    assert (await author.receive_type("receipts.changed"))["reads"][0]["seq"] == 2


async def test_no_receipts_in_rooms_over_the_size_bound(settings, connect, room, alice, bob):
    settings.PARLEY = {**settings.PARLEY, "RECEIPTS_MAX_MEMBERS": 2}
    author = await connect(alice)
    await author.post(room.id, "m", "c1")
    reader = await connect(bob)
    await reader.send({"type": "room.read", "room": room.id, "seq": 1})
    assert await frames_of(author, "receipts.changed") == []
    await author.send({"type": "receipts.sync", "room": room.id})
    assert await author.receive_type("receipts.state") == {
        "type": "receipts.state",
        "room": room.id,
        "enabled": False,
        "shared": True,
        "reads": [],
    }


async def test_receipts_of_a_room_one_cannot_see_are_refused(connect, alice, bob, dave):
    private = await database_sync_to_async(create_room)(creator=alice, name="staff", is_private=True)
    public = await database_sync_to_async(create_room)(creator=alice, name="open")
    await database_sync_to_async(join_room)(user=bob, room=public)
    tab = await connect(dave)
    await tab.send({"type": "receipts.sync", "room": private.id})
    assert (await tab.receive_type("error"))["code"] == "not_found"
    await tab.send({"type": "receipts.sync", "room": public.id})
    assert (await tab.receive_type("error"))["code"] == "not_member"
