"""Threads over the socket and the pages: a reply reaches every member live and changes its
root in the room's change order, followers (and only they) are notified once per thread, a
thread's read state is its own, a member who was away catches up in one sync, and every
refusal has its code."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from messaging.actions.changes import delete_message
from messaging.actions.memberships import mark_room_read
from messaging.actions.messages import SendRequest, post_message, post_messages, send_message
from messaging.actions.rooms import create_room, join_room
from messaging.actions.threads import follow_thread, mark_thread_read
from messaging.models import ChatMessage, ChatRoom, ThreadFollow
from messaging.selectors import followed_threads, room_unread, rooms_for
from notifications.actions import make_pending_notifications
from notifications.models import Notification, PendingNotification
from notifications.notifier import notifier

pytestmark = pytest.mark.django_db(transaction=True)


def reply_frame(room, root: int, body: str, client_id: str, **extra) -> dict:
    return {
        "type": "message.send",
        "room": room.id,
        "body": body,
        "client_id": client_id,
        "thread_root": root,
        **extra,
    }


async def reply(client, room, root: int, body: str, client_id: str, **extra) -> dict:
    """Send a reply and return its echo."""
    await client.send(reply_frame(room, root, body, client_id, **extra))
    while True:
        message = (await client.receive_type("message.new"))["message"]
        if message["client_id"] == client_id:
            return message


async def positions(room) -> tuple[int, int]:
    fresh = await ChatRoom.objects.aget(pk=room.id)
    return fresh.last_seq, fresh.last_change


async def settle(timeout: float = 5) -> None:
    """Until the notification step has done everything pending. The sender's echo can reach
    it before the step is even woken (the hub hands it over while the layer's publish is
    awaited), so idle alone is not enough: nothing may be left pending either."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        await notifier().wait_idle()
        if not await PendingNotification.objects.aexists():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the notification step did not finish")


async def frames_until_quiet(client) -> list[dict]:
    return await client.drain(quiet=0.3)


# --- Replies and their roots, live and in order --------------------------------------------


async def test_a_reply_reaches_every_member_then_its_root_with_the_new_count(
    connect, room, alice, bob, carol
):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    root = await a.post(room.id, "Shall we ship on Friday?", "r1")
    for client in (b, c):
        await client.receive_messages(1)

    sent = await reply(b, room, root["seq"], "Yes, after the freeze", "t1")

    assert sent["thread_root"] == root["seq"] and sent["in_room"] is False
    assert (sent["seq"], sent["change"]) == (2, 2)
    for client in (a, c):
        got = await frames_until_quiet(client)
        kinds = [(f["type"], f["message"]["seq"], f["message"]["change"]) for f in got if "message" in f]
        # The reply, then its root at the next position.
        assert kinds[:2] == [("message.new", 2, 2), ("message.updated", 1, 3)], kinds
        summary = got[1]["message"]["thread"]
        assert summary["reply_count"] == 1
        assert [r["username"] for r in summary["repliers"]] == ["bob"]
        assert summary["last_reply_at"] == sent["created_at"]
    assert await positions(room) == (2, 3)


async def test_the_roots_summary_counts_replies_and_names_the_newest_repliers_first(
    connect, room, alice, bob, carol, dave
):
    await database_sync_to_async(join_room)(user=dave, room=room)
    a, b, c, d = await connect(alice), await connect(bob), await connect(carol), await connect(dave)
    root = await a.post(room.id, "Lunch?", "r1")
    await reply(b, room, root["seq"], "Pizza", "t1")
    await reply(c, room, root["seq"], "Sushi", "t2")
    await reply(b, room, root["seq"], "Pizza!", "t3")
    await reply(d, room, root["seq"], "Either", "t4")
    await reply(a, room, root["seq"], "Pizza it is", "t5")

    updates = [f["message"] for f in await frames_until_quiet(c) if f["type"] == "message.updated"]
    counts = [u["thread"]["reply_count"] for u in updates if u["seq"] == root["seq"]]
    assert counts[-1] == 5
    newest = updates[-1]["thread"]
    assert [r["username"] for r in newest["repliers"]] == ["alice", "dave", "bob"]
    stored = await ChatMessage.objects.aget(room=room, seq=root["seq"])
    assert stored.reply_count == 5


async def test_also_sent_to_the_room_a_reply_is_in_the_timeline_and_its_thread(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    root = await a.post(room.id, "Release notes draft", "r1")
    sent = await reply(b, room, root["seq"], "Looks good, shipping", "t1", also_in_room=True)
    assert sent["in_room"] is True and sent["thread_root"] == root["seq"]

    def timeline():
        from messaging.selectors import room_history

        return [m.seq for m in room_history(ChatRoom.objects.get(pk=room.id))]

    await reply(b, room, root["seq"], "only in the thread", "t2")
    assert await database_sync_to_async(timeline)() == [1, 2]


async def test_a_group_commit_of_replies_to_one_root_changes_the_root_once_after_them(
    room, alice, bob, carol
):
    root = await database_sync_to_async(send_message)(
        author=alice, room_id=room.id, body="root", client_id="r"
    )
    root_seq = root.message.seq
    requests = [
        SendRequest(bob, room.id, "one", "b1", None, root_seq),
        SendRequest(carol, room.id, "plain", "c1"),
        SendRequest(carol, room.id, "two", "c2", None, root_seq, True),
    ]
    outcomes = await database_sync_to_async(post_messages)(requests)

    assert [o.message.seq for o in outcomes] == [2, 3, 4]
    assert [o.message.change for o in outcomes] == [2, 3, 4]
    # The root takes the one position after the batch's messages, carried by its last reply.
    assert outcomes[0].root is None and outcomes[1].root is None
    assert outcomes[2].root.change == 5 and outcomes[2].root.reply_count == 2
    assert await positions(room) == (4, 5)
    stored = await ChatMessage.objects.aget(room=room, seq=root_seq)
    assert (stored.change, stored.reply_count) == (5, 2)


# --- Refusals -------------------------------------------------------------------------------


async def test_replies_that_cannot_be_are_refused_with_their_codes_and_store_nothing(
    connect, room, alice, bob
):
    other = await database_sync_to_async(create_room)(creator=alice, name="other")
    a = await connect(alice)
    root = await a.post(room.id, "root", "r1")
    first = await reply(a, room, root["seq"], "a reply", "t1")
    doomed = await a.post(room.id, "soon deleted", "r2")
    await database_sync_to_async(delete_message)(user=alice, room_id=room.id, seq=doomed["seq"])
    for _ in range(5):
        await database_sync_to_async(send_message)(
            author=alice, room_id=other.id, body="x", client_id=f"o{_}"
        )
    await a.drain()
    before = await positions(room)

    cases = [
        (reply_frame(room, first["seq"], "reply to a reply", "x1"), "thread_depth"),
        (reply_frame(room, doomed["seq"], "reply to a tombstone", "x2"), "message_deleted"),
        (reply_frame(room, 999, "no such root", "x3"), "no_such_message"),
        # Seq 5 exists in the other room only: a root is named by its own room's seq.
        (reply_frame(room, 5, "not this room's", "x4"), "no_such_message"),
        (reply_frame(room, root["seq"], "typed wrong", "x5") | {"thread_root": "1"}, "bad_request"),
        (reply_frame(room, root["seq"], "typed wrong", "x6") | {"also_in_room": "yes"}, "bad_request"),
        (
            {"type": "message.send", "room": room.id, "body": "b", "client_id": "x7", "also_in_room": True},
            "bad_request",
        ),
    ]
    for frame, code in cases:
        await a.send(frame)
        error = await a.receive_type("error")
        assert (error["code"], error["client_id"]) == (code, frame["client_id"]), frame
        assert error["detail"]
    assert await positions(room) == before
    assert not await ChatMessage.objects.filter(client_id__startswith="x").aexists()


async def test_a_batch_with_a_refused_reply_stores_the_others_without_a_gap(room, alice, bob):
    first = await database_sync_to_async(send_message)(author=alice, room_id=room.id, body="r", client_id="r")
    gone = await database_sync_to_async(send_message)(author=alice, room_id=room.id, body="g", client_id="g")
    await database_sync_to_async(delete_message)(user=alice, room_id=room.id, seq=gone.message.seq)
    before_seq, before_change = await positions(room)
    requests = [
        SendRequest(bob, room.id, "fine", "b1", None, first.message.seq),
        SendRequest(bob, room.id, "refused", "b2", None, gone.message.seq),
        SendRequest(bob, room.id, "plain", "b3"),
    ]
    outcomes = await database_sync_to_async(post_messages)(requests)

    assert type(outcomes[1]).__name__ == "MessageDeleted"
    assert [o.message.seq for o in (outcomes[0], outcomes[2])] == [before_seq + 1, before_seq + 2]
    assert await positions(room) == (before_seq + 2, before_change + 3)


# --- Deletes ------------------------------------------------------------------------------


async def test_deleting_a_reply_updates_its_roots_count_live_in_order(connect, room, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    root = await a.post(room.id, "root", "r1")
    await reply(b, room, root["seq"], "first", "t1")
    second = await reply(c, room, root["seq"], "second", "t2")
    await a.drain()

    await c.send({"type": "message.delete", "room": room.id, "seq": second["seq"]})
    updates = [f["message"] for f in await frames_until_quiet(a) if f["type"] == "message.updated"]
    assert [(u["seq"], u["deleted"]) for u in updates] == [(second["seq"], True), (root["seq"], False)]
    assert updates[1]["change"] == updates[0]["change"] + 1
    assert updates[1]["thread"]["reply_count"] == 1
    assert [r["username"] for r in updates[1]["thread"]["repliers"]] == ["bob"]


async def test_a_deleted_root_keeps_its_thread_readable(client, room, alice, bob):
    root = await database_sync_to_async(send_message)(author=alice, room_id=room.id, body="r", client_id="r")
    await database_sync_to_async(send_message)(
        author=bob, room_id=room.id, body="still here", client_id="t", thread_root=1
    )
    changed = await database_sync_to_async(delete_message)(user=alice, room_id=room.id, seq=root.message.seq)
    assert changed.payload["deleted"] is True
    assert changed.payload["thread"]["reply_count"] == 1

    await database_sync_to_async(client.force_login)(bob)
    page = await database_sync_to_async(client.get)(reverse("thread", args=[room.slug, 1]))
    assert page.status_code == 200
    assert "still here" in page.content.decode() and "Message deleted" in page.content.decode()
    data = (await database_sync_to_async(client.get)(reverse("thread_replies", args=[room.slug, 1]))).json()
    assert [r["body"] for r in data["replies"]] == ["still here"]


# --- Catching up ------------------------------------------------------------------------------


async def test_a_member_away_during_a_busy_thread_catches_up_exactly_once(connect, room, alice, bob, carol):
    a, b = await connect(alice), await connect(bob)
    root = await a.post(room.id, "root", "r1")
    c = await connect(carol)
    held_change = (await positions(room))[1]
    await c.close()  # carol goes away

    for i in range(6):
        await reply(b if i % 2 else a, room, root["seq"], f"reply {i}", f"t{i}", also_in_room=i == 5)
    await database_sync_to_async(delete_message)(user=bob, room_id=room.id, seq=3)

    back = await connect(carol)
    await back.send({"type": "sync", "room": room.id, "after_change": held_change})
    frames = []
    while True:
        frame = await back.receive()
        if frame["type"] == "sync.done":
            break
        frames.append(frame)
    messages = [f["message"] for f in frames if f["type"] == "message.updated"]
    seqs = [m["seq"] for m in messages]
    assert sorted(seqs) == list(range(1, 8)), seqs  # the root and each reply, each once
    by_seq = {m["seq"]: m for m in messages}
    assert by_seq[1]["thread"]["reply_count"] == 5
    assert by_seq[3]["deleted"] is True
    assert by_seq[7]["in_room"] is True and by_seq[6]["in_room"] is False
    assert frame["last_change"] == (await positions(room))[1]
    # Followed by what the threads look like for her: she does not follow this one.
    await back.send({"type": "threads.sync"})
    assert (await back.receive_type("threads.state"))["threads"] == []


# --- Following and notifications --------------------------------------------------------------


async def test_the_roots_author_the_repliers_and_the_mentioned_follow_and_hear_so(
    connect, room, alice, bob, carol, dave
):
    await database_sync_to_async(join_room)(user=dave, room=room)
    a, b, c, d = await connect(alice), await connect(bob), await connect(carol), await connect(dave)
    root = await a.post(room.id, "root", "r1")
    await reply(b, room, root["seq"], "what do you think @carol?", "t1")
    await settle()

    followed = {
        f.user.username
        for f in await database_sync_to_async(list)(
            ThreadFollow.objects.filter(following=True).select_related("user")
        )
    }
    assert followed == {"alice", "bob", "carol"}
    for client in (a, b, c):
        state = (await client.receive_type("thread.followed"))["thread"]
        assert (state["room"], state["root"], state["following"]) == (room.id, root["seq"], True)
    assert not [f for f in await d.drain(quiet=0.2) if f["type"].startswith("thread.")]


async def test_followers_alone_are_notified_once_per_thread_until_they_read_it(
    connect, room, alice, bob, carol, dave
):
    await database_sync_to_async(join_room)(user=dave, room=room)
    a, b, c, d = await connect(alice), await connect(bob), await connect(carol), await connect(dave)
    root = await a.post(room.id, "root", "r1")
    await reply(b, room, root["seq"], "one", "t1")
    await settle()
    first = await a.receive_type("notification.new")
    assert first["notification"]["kind"] == "reply" and first["updated"] is False
    assert first["notification"]["thread_root"] == root["seq"] and first["notification"]["count"] == 1
    assert first["unread"] == 1

    await reply(c, room, root["seq"], "two", "t2")
    await settle()
    second = await a.receive_type("notification.new")
    assert second["notification"]["id"] == first["notification"]["id"]
    assert second["updated"] is True and second["notification"]["count"] == 2
    assert second["notification"]["message"]["body"] == "two"
    assert second["unread"] == 1  # one notification for the thread, not one per reply
    # bob follows (he replied) and hears of carol's reply; dave and the repliers of their own do not.
    assert (await b.receive_type("notification.new"))["notification"]["message"]["body"] == "two"
    assert not [f for f in await d.drain(quiet=0.2) if f["type"] == "notification.new"]
    assert await Notification.objects.filter(recipient=dave).acount() == 0
    assert await Notification.objects.filter(recipient=carol).acount() == 0

    # Reading the thread reads its notification, in every tab.
    await a.send({"type": "thread.read", "room": room.id, "root": root["seq"], "seq": 3})
    answers = {f["type"]: f for f in await frames_until_quiet(a)}
    assert answers["notification.read"]["unread"] == 0
    assert answers["notification.read"]["ids"] == [first["notification"]["id"]]
    state = answers["thread.read"]["thread"]
    assert (state["last_read_seq"], state["unread"]) == (3, 0)
    # A reply after that is a new notification.
    await reply(b, room, root["seq"], "three", "t3")
    await settle()
    third = await a.receive_type("notification.new")
    assert third["notification"]["id"] != first["notification"]["id"] and third["updated"] is False


async def test_a_muted_thread_notifies_nobody_and_an_unfollow_sticks_against_mentions(
    connect, room, alice, bob, carol
):
    a, b = await connect(alice), await connect(bob)
    root = await a.post(room.id, "root", "r1")
    await reply(b, room, root["seq"], "one", "t1")
    await settle()
    await a.drain()

    await a.send(
        {"type": "thread.follow", "room": room.id, "root": root["seq"], "following": True, "muted": True}
    )
    state = (await a.receive_type("thread.followed"))["thread"]
    assert (state["following"], state["muted"]) == (True, True)
    await reply(b, room, root["seq"], "two", "t2")
    await settle()
    assert not [f for f in await a.drain(quiet=0.2) if f["type"] == "notification.new"]

    await a.send({"type": "thread.follow", "room": room.id, "root": root["seq"], "following": False})
    assert (await a.receive_type("thread.followed"))["thread"]["following"] is False
    await reply(b, room, root["seq"], "@alice three", "t3")
    await settle()
    kinds = [f["notification"]["kind"] for f in await a.drain(quiet=0.2) if f["type"] == "notification.new"]
    assert kinds == ["mention"]  # mentioned, but not following again
    assert not await ThreadFollow.objects.filter(user=alice, following=True).aexists()
    # Replying follows again.
    await reply(a, room, root["seq"], "back in", "t4")
    await settle()
    assert (await a.receive_type("thread.followed"))["thread"]["following"] is True


async def test_following_by_hand_starts_from_what_the_thread_holds(room, alice, bob, carol):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    for i in range(3):
        await send(author=bob, room_id=room.id, body=f"r{i}", client_id=f"t{i}", thread_root=1)
    state = await database_sync_to_async(follow_thread)(
        user=carol, room_id=room.id, root_seq=1, following=True
    )
    assert (state["following"], state["unread"], state["last_read_seq"]) == (True, 0, 4)
    await send(author=bob, room_id=room.id, body="new", client_id="t9", thread_root=1)
    threads = await database_sync_to_async(followed_threads)(carol)
    assert [(f.root.seq, f.unread) for f in threads] == [(1, 1)]


# --- Read state: the room's and each thread's --------------------------------------------------


async def test_thread_only_replies_never_count_in_the_rooms_unread(room, alice, bob):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await database_sync_to_async(mark_room_read)(user=bob, room_id=room.id, seq=1)
    for i in range(4):
        await send(author=alice, room_id=room.id, body=f"t{i}", client_id=f"t{i}", thread_root=1)
    await send(author=alice, room_id=room.id, body="also", client_id="a", thread_root=1, also_in_room=True)
    await send(author=alice, room_id=room.id, body="plain", client_id="p")

    unread = await database_sync_to_async(room_unread)(user=bob, room_id=room.id)
    listed = {r.id: r.unread for r in await database_sync_to_async(list)(rooms_for(bob))}
    assert unread == listed[room.id] == 2


async def test_reading_the_room_and_reading_a_thread_are_separate(connect, room, alice, bob):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await send(author=bob, room_id=room.id, body="bob follows", client_id="b", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    for i in range(3):
        await send(author=alice, room_id=room.id, body=f"t{i}", client_id=f"t{i}", thread_root=1)
    await send(author=alice, room_id=room.id, body="room news", client_id="n")
    await database_sync_to_async(make_pending_notifications)()
    last = (await positions(room))[0]

    await database_sync_to_async(mark_room_read)(user=bob, room_id=room.id, seq=last)
    [follow] = await database_sync_to_async(followed_threads)(bob)
    assert follow.unread == 3  # reading the room leaves the thread unread

    state = await database_sync_to_async(mark_thread_read)(user=bob, room_id=room.id, root_seq=1, seq=5)
    assert state["unread"] == 0
    before = await database_sync_to_async(room_unread)(user=bob, room_id=room.id)
    await send(author=alice, room_id=room.id, body="more room news", client_id="n2")
    assert await database_sync_to_async(room_unread)(user=bob, room_id=room.id) == before + 1
    await database_sync_to_async(mark_thread_read)(user=bob, room_id=room.id, root_seq=1, seq=999)
    assert await database_sync_to_async(room_unread)(user=bob, room_id=room.id) == before + 1


async def test_three_tabs_through_a_busy_room_and_thread_all_return_to_zero(connect, room, alice, bob):
    tabs = [await connect(bob) for _ in range(3)]
    a = await connect(alice)
    root = await a.post(room.id, "root", "r1")
    await reply(tabs[0], room, root["seq"], "bob is in", "b1")
    await asyncio.sleep(0)
    for i in range(12):
        if i % 3 == 0:
            await a.post(room.id, f"room {i}", f"m{i}")
        else:
            await reply(a, room, root["seq"], f"thread {i}", f"t{i}")
    await settle()
    last = (await positions(room))[0]
    for tab in tabs:
        await tab.drain()

    await tabs[1].send({"type": "room.read", "room": room.id, "seq": last})
    await tabs[2].send({"type": "thread.read", "room": room.id, "root": root["seq"], "seq": last})
    for tab in tabs:
        frames = await frames_until_quiet(tab)
        room_read = [f for f in frames if f["type"] == "room.read"]
        thread_read = [f["thread"] for f in frames if f["type"] == "thread.read"]
        notification_read = [f for f in frames if f["type"] == "notification.read"]
        assert room_read and room_read[-1]["unread"] == 0
        assert thread_read and thread_read[-1]["unread"] == 0
        assert notification_read and notification_read[-1]["unread"] == 0
    await tabs[0].send({"type": "threads.sync"})
    [state] = (await tabs[0].receive_type("threads.state"))["threads"]
    assert state["unread"] == 0
    assert await Notification.objects.filter(recipient=bob, read_at__isnull=True).acount() == 0
    assert await database_sync_to_async(room_unread)(user=bob, room_id=room.id) == 0


async def test_threads_sync_lists_followed_threads_newest_activity_first(connect, room, alice, bob):
    send = database_sync_to_async(send_message)
    for seq in (1, 2):
        await send(author=alice, room_id=room.id, body=f"root {seq}", client_id=f"r{seq}")
    await send(author=bob, room_id=room.id, body="on 1", client_id="b1", thread_root=1)
    await send(author=bob, room_id=room.id, body="on 2", client_id="b2", thread_root=2)
    await send(author=bob, room_id=room.id, body="on 1 again", client_id="b3", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    a = await connect(alice)
    await a.send({"type": "threads.sync"})
    threads = (await a.receive_type("threads.state"))["threads"]
    assert [(t["root"], t["unread"], t["reply_count"]) for t in threads] == [(1, 2, 2), (2, 1, 1)]


async def test_thread_frames_about_rooms_one_cannot_see_are_refused(connect, room, alice, bob, dave):
    private = await database_sync_to_async(create_room)(creator=alice, name="secret", is_private=True)
    await database_sync_to_async(send_message)(author=alice, room_id=private.id, body="s", client_id="s")
    d = await connect(dave)
    for frame in (
        {"type": "thread.read", "room": private.id, "root": 1, "seq": 1},
        {"type": "thread.follow", "room": private.id, "root": 1, "following": True},
        reply_frame(private, 1, "let me in", "x"),
    ):
        await d.send(frame)
        assert (await d.receive_type("error"))["code"] == "not_found"
    b = await connect(bob)
    await b.send({"type": "thread.follow", "room": room.id, "root": 1, "following": "yes"})
    assert (await b.receive_type("error"))["code"] == "bad_request"
    await b.send({"type": "thread.read", "room": room.id, "root": 1, "seq": 1})
    assert (await b.receive_type("error"))["code"] == "no_such_message"
    assert not await ThreadFollow.objects.aexists()


async def test_a_reply_notification_step_lost_in_a_crash_is_taken_up_again(room, alice, bob):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    # As if the process died after the commit: the reply's pending row is what is left.
    posted = await database_sync_to_async(post_message)(
        author=bob, room_id=room.id, body="reply", client_id="t", thread_root=1
    )
    assert await PendingNotification.objects.filter(message_id=posted.message.id).aexists()
    await database_sync_to_async(make_pending_notifications)()
    await database_sync_to_async(make_pending_notifications)()
    assert await Notification.objects.filter(recipient=alice, kind="reply").acount() == 1
    assert await ThreadFollow.objects.filter(following=True).acount() == 2


# --- Pages ----------------------------------------------------------------------------------


def test_the_thread_page_works_without_javascript(client, room, alice, bob):
    send_message(author=alice, room_id=room.id, body="root", client_id="r")
    client.force_login(bob)
    url = reverse("thread", args=[room.slug, 1])
    page = client.get(url)
    assert page.status_code == 200 and "No replies yet." in page.content.decode()

    answer = client.post(
        reverse("message_send", args=[room.slug]),
        {"body": "from a form", "client_id": "f1", "thread_root": "1", "also_in_room": "1"},
    )
    assert answer.status_code == 302 and answer["Location"] == url + "#m2"
    stored = ChatMessage.objects.get(room=room, seq=2)
    assert (stored.thread_root.seq, stored.in_room) == (1, True)
    client.post(
        reverse("message_send", args=[room.slug]), {"body": "quiet", "client_id": "f2", "thread_root": "1"}
    )
    assert ChatMessage.objects.get(room=room, seq=3).in_room is False
    page = client.get(url).content.decode()
    assert "from a form" in page and "quiet" in page

    client.post(reverse("thread_follow", args=[room.slug, 1]), {"following": "0"})
    assert ThreadFollow.objects.get(user=bob).following is False
    # A thread-only reply opened from a notification opens in its thread.
    around = client.get(reverse("room", args=[room.slug]) + "?around=3")
    assert around.status_code == 302 and around["Location"] == url + "#m3"
    assert client.get(reverse("room", args=[room.slug]) + "?around=2").status_code == 200


def test_thread_pages_follow_the_one_access_rule(client, alice, bob, dave):
    private = create_room(creator=alice, name="secret", is_private=True)
    send_message(author=alice, room_id=private.id, body="secret root", client_id="s")
    send_message(author=alice, room_id=private.id, body="secret reply", client_id="t", thread_root=1)
    client.force_login(dave)
    for name in ("thread", "thread_replies"):
        assert client.get(reverse(name, args=[private.slug, 1])).status_code == 404
    assert (
        client.post(reverse("thread_follow", args=[private.slug, 1]), {"following": "1"}).status_code == 404
    )
    assert "secret" not in client.get(reverse("threads") + "?format=json").content.decode()
    client.force_login(alice)
    assert client.get(reverse("thread", args=[private.slug, 2])).status_code == 400  # a reply is no root
    assert client.get(reverse("thread", args=[private.slug, 9])).status_code == 404


def test_the_threads_view_lists_followed_threads_with_unread_counts(client, room, alice, bob):
    send_message(author=alice, room_id=room.id, body="root", client_id="r")
    send_message(author=bob, room_id=room.id, body="reply", client_id="t", thread_root=1)
    make_pending_notifications()
    client.force_login(alice)
    data = client.get(reverse("threads") + "?format=json").json()
    [thread] = data["threads"]
    assert (thread["root"], thread["unread"], thread["room_slug"]) == (1, 1, room.slug)
    assert thread["root_message"]["body"] == "root"
    page = client.get(reverse("threads")).content.decode()
    assert 'aria-label="1 unread"' in page and reverse("thread", args=[room.slug, 1]) in page


async def test_an_edit_that_mentions_someone_in_a_reply_makes_them_follow_without_renotifying(
    room, alice, bob, carol
):
    from messaging.actions.changes import edit_message

    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await send(author=bob, room_id=room.id, body="a reply", client_id="t", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    [notification] = await database_sync_to_async(list)(Notification.objects.filter(recipient=alice))
    assert notification.count == 1

    await database_sync_to_async(edit_message)(
        user=bob, room_id=room.id, seq=2, body="a reply for @carol", client_id="e1"
    )
    await database_sync_to_async(make_pending_notifications)()

    assert await ThreadFollow.objects.filter(user=carol, following=True).aexists()
    assert await Notification.objects.filter(recipient=carol, kind="mention").acount() == 1
    fresh = await Notification.objects.aget(pk=notification.pk)
    assert fresh.count == 1  # the edit is not another reply for the followers
    assert await Notification.objects.filter(recipient=alice).acount() == 1


async def test_a_follower_who_read_the_reply_before_the_step_ran_is_not_notified(room, alice, bob):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await send(author=bob, room_id=room.id, body="one", client_id="t1", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    await database_sync_to_async(mark_thread_read)(user=alice, room_id=room.id, root_seq=1, seq=2)
    # Alice has the thread open: she reads reply 3 the moment it arrives, before its step runs.
    await database_sync_to_async(post_message)(
        author=bob, room_id=room.id, body="two", client_id="t2", thread_root=1
    )
    await database_sync_to_async(mark_thread_read)(user=alice, room_id=room.id, root_seq=1, seq=3)
    await database_sync_to_async(make_pending_notifications)()
    assert await Notification.objects.filter(recipient=alice, read_at__isnull=True).acount() == 0


async def test_deleting_replies_brings_each_followers_notification_down_to_what_is_left(
    connect, room, alice, bob, carol
):
    a = await connect(alice)
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await send(author=bob, room_id=room.id, body="important answer", client_id="t1", thread_root=1)
    await send(author=carol, room_id=room.id, body="oops", client_id="t2", thread_root=1)
    await settle()
    await database_sync_to_async(make_pending_notifications)()
    [note] = await database_sync_to_async(list)(
        Notification.objects.filter(recipient=alice, kind="reply").select_related("message")
    )
    assert (note.count, note.message.seq) == (2, 3)
    await a.drain()

    # The newest reply goes: the notification stands for bob's, which is left.
    await database_sync_to_async(delete_message)(user=carol, room_id=room.id, seq=3)
    frame = await a.receive_type("notification.new")
    assert frame["updated"] is True and frame["notification"]["id"] == note.id
    assert (frame["notification"]["count"], frame["notification"]["message"]["seq"]) == (1, 2)
    assert frame["unread"] == 1
    # The last unread reply goes: so does the notification.
    await database_sync_to_async(delete_message)(user=bob, room_id=room.id, seq=2)
    removed = await a.receive_type("notification.removed")
    assert removed["ids"] == [note.id] and removed["unread"] == 0
    assert not await Notification.objects.filter(recipient=alice).aexists()


async def test_a_member_who_left_follows_nothing_and_hears_nothing_of_the_rooms_threads(
    connect, alice, bob, carol
):
    from messaging.actions.memberships import add_member, remove_member

    private = await database_sync_to_async(create_room)(creator=alice, name="secret", is_private=True)
    for user in (bob, carol):
        await database_sync_to_async(add_member)(actor=alice, room=private, username=user.username)
    await database_sync_to_async(send_message)(author=carol, room_id=private.id, body="r", client_id="r")
    c = await connect(carol)
    await database_sync_to_async(remove_member)(actor=alice, room=private, user=carol)
    await c.receive_type("room.left")

    await database_sync_to_async(send_message)(
        author=bob, room_id=private.id, body="reply", client_id="t", thread_root=1
    )
    await settle()
    assert not [f for f in await c.drain(quiet=0.3) if f["type"] != "pong"]
    assert not await ThreadFollow.objects.filter(user=carol).aexists()


async def test_replying_reads_the_repliers_own_notification_of_the_thread(connect, room, alice, bob, carol):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    for i in range(3):
        await send(author=bob, room_id=room.id, body=f"b{i}", client_id=f"b{i}", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    assert await Notification.objects.filter(recipient=alice, read_at__isnull=True).acount() == 1

    a = await connect(alice)
    await reply(a, room, 1, "my answer", "a1")
    await settle()
    read = await a.receive_type("notification.read")
    assert read["unread"] == 0
    assert await Notification.objects.filter(recipient=alice, read_at__isnull=True).acount() == 0


async def test_reading_a_thread_reads_the_mentions_in_the_replies_read(room, alice, bob):
    send = database_sync_to_async(send_message)
    await send(author=alice, room_id=room.id, body="root", client_id="r")
    await send(author=bob, room_id=room.id, body="@alice look", client_id="b1", thread_root=1)
    await send(author=bob, room_id=room.id, body="@alice and this", client_id="b2", thread_root=1)
    await database_sync_to_async(make_pending_notifications)()
    assert (
        await Notification.objects.filter(recipient=alice, kind="mention", read_at__isnull=True).acount() == 2
    )

    await database_sync_to_async(mark_thread_read)(user=alice, room_id=room.id, root_seq=1, seq=2)
    unread = Notification.objects.filter(recipient=alice, read_at__isnull=True)
    assert [n.message.seq async for n in unread.select_related("message")] == [3]


def test_the_thread_forms_refuse_values_they_do_not_know(client, room, alice, bob):
    send_message(author=alice, room_id=room.id, body="root", client_id="r")
    send_message(author=alice, room_id=room.id, body="reply", client_id="t", thread_root=1)
    client.force_login(bob)
    follow = reverse("thread_follow", args=[room.slug, 1])
    for data in ({"following": "yes"}, {"muted": "true"}):
        assert client.post(follow, data).status_code == 400
    assert not ThreadFollow.objects.filter(user=bob).exists()
    send = reverse("message_send", args=[room.slug])
    answer = client.post(send, {"body": "x", "client_id": "f1", "thread_root": "1", "also_in_room": "on"})
    assert answer.status_code == 400
    # A reply to a reply has no thread page to go back to: back to the room, with why.
    answer = client.post(send, {"body": "x", "client_id": "f2", "thread_root": "2"}, follow=True)
    assert answer.redirect_chain[-1][0] == reverse("room", args=[room.slug])
    assert "threads are one level deep" in answer.content.decode()
    assert not ChatMessage.objects.filter(client_id__in=["f1", "f2"]).exists()


def test_a_reply_notification_opens_its_thread_and_the_header_counts_unread_threads(client, room, alice, bob):
    send_message(author=alice, room_id=room.id, body="root", client_id="r")
    send_message(
        author=bob, room_id=room.id, body="also here", client_id="t", thread_root=1, also_in_room=True
    )
    make_pending_notifications()
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    assert 'aria-label="1 threads with unread replies"' in page
    [note] = Notification.objects.filter(recipient=alice, kind="reply")
    opened = client.post(reverse("notification_open", args=[note.pk]))
    assert opened["Location"] == reverse("thread", args=[room.slug, 1]) + "#m2"


def test_thread_and_room_pages_do_not_query_per_reply(
    client, room, alice, bob, django_assert_max_num_queries
):
    send_message(author=alice, room_id=room.id, body="root", client_id="r")
    for i in range(30):
        send_message(
            author=bob,
            room_id=room.id,
            body=f"reply {i}",
            client_id=f"t{i}",
            thread_root=1,
            also_in_room=i % 2 == 0,
        )
    client.force_login(alice)
    # 15: with the page's notification preferences (#notify-prefs, one query).
    with django_assert_max_num_queries(15):
        assert client.get(reverse("room", args=[room.slug])).status_code == 200
    with django_assert_max_num_queries(15):
        assert client.get(reverse("thread", args=[room.slug, 1])).status_code == 200
