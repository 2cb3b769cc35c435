"""@room and @here: who may use them, whom they notify (in one INSERT … SELECT), the refusal the
sender hears, the composer's count, and @here across two server processes."""

import asyncio
import json
import os
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.actions.messages import post_message, send_message
from messaging.actions.rooms import create_room, join_room
from messaging.models import ChatMessage, ChatRoom, Membership
from notifications import actions as notification_actions
from notifications import audience
from notifications.models import Notification, PendingNotification
from notifications.notifier import notifier

from .group_data import direct_conversation, room_of

User = get_user_model()
NOTIFICATIONS = Notification._meta.db_table


def kinds_of(message: ChatMessage) -> dict[str, str]:
    """recipient username → notification kind, for one message."""
    return dict(
        Notification.objects.filter(message=message).values_list("recipient__username", "kind").order_by("id")
    )


@pytest.mark.django_db
def test_at_room_notifies_every_member_but_the_author_once_and_the_named_by_name(room, alice, bob, carol):
    posted = send_message(author=alice, room_id=room.id, body="@room lunch is here, @bob too", client_id="r1")
    assert posted.message.group_mention == "room"
    assert posted.refusal is None
    assert kinds_of(posted.message) == {"bob": "mention", "carol": "group"}


@pytest.mark.django_db
def test_at_here_and_at_room_together_count_as_at_room(room, alice, bob, carol):
    posted = send_message(author=alice, room_id=room.id, body="@here and @room", client_id="r1")
    assert posted.message.group_mention == "room"
    assert kinds_of(posted.message) == {"bob": "group", "carol": "group"}


@pytest.mark.django_db
def test_group_mention_leaves_out_inactive_nothing_level_and_muted_members(
    room, alice, bob, carol, make_user
):
    erin, frank = make_user("erin"), make_user("frank")
    join_room(user=erin, room=room)
    join_room(user=frank, room=room)
    User.objects.filter(pk=erin.pk).update(is_active=False)
    Membership.objects.filter(user=bob, room=room).update(notify_level=Membership.NotifyLevel.NOTHING)
    Membership.objects.filter(user=carol, room=room).update(muted_until=timezone.now() + timedelta(hours=1))
    posted = send_message(author=alice, room_id=room.id, body="@room", client_id="r1")
    assert kinds_of(posted.message) == {"frank": "group"}


@pytest.mark.django_db
@pytest.mark.parametrize("size", [60, 400])
def test_group_notifications_are_one_insert_select_whatever_the_room_size(size, alice, make_user):
    room = room_of(alice, [f"member{i}" for i in range(size - 1)])
    Membership.objects.filter(room=room, user=alice).update(role=Membership.Role.OWNER)
    posted = post_message(author=alice, room_id=room.id, body="@room release at noon", client_id="r1")
    with CaptureQueriesContext(connection) as queries:
        frames = notification_actions.make_pending_notifications(message_ids=[posted.message.id])
    inserts = [
        q["sql"] for q in queries if q["sql"].replace('"', "").startswith(f"INSERT INTO {NOTIFICATIONS}")
    ]
    assert len(inserts) == 1 and "SELECT" in inserts[0], inserts
    assert Notification.objects.filter(message=posted.message, kind="group").count() == size - 1
    assert len(frames) == size - 1
    # The step's statements do not grow with the room either.
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(statements) <= 10, [sql[:80] for sql in statements]


@pytest.mark.django_db
def test_running_the_step_twice_notifies_nobody_twice(room, alice):
    posted = post_message(author=alice, room_id=room.id, body="@room", client_id="r1")
    notification_actions.make_pending_notifications(message_ids=[posted.message.id])
    PendingNotification.objects.create(message=posted.message)
    assert notification_actions.make_pending_notifications(message_ids=[posted.message.id]) == []
    assert Notification.objects.filter(message=posted.message).count() == 2


@pytest.mark.django_db
def test_big_rooms_take_group_mentions_from_managers_only_by_default(room, alice, bob, settings):
    settings.PARLEY = {**settings.PARLEY, "GROUP_MENTION_MEMBERS": 2}  # the room has 3
    refused = send_message(author=bob, room_id=room.id, body="@room hi", client_id="b1")
    assert refused.message.group_mention == ""
    assert refused.refusal.code == "group_mention_forbidden"
    assert "more than 2 members" in refused.refusal.detail
    assert refused.message.body == "@room hi"  # delivered, as plain text
    assert kinds_of(refused.message) == {}
    honoured = send_message(author=alice, room_id=room.id, body="@room hi", client_id="a1")
    assert honoured.message.group_mention == "room"
    assert len(kinds_of(honoured.message)) == 2


@pytest.mark.django_db
def test_small_rooms_take_group_mentions_from_everyone(room, bob):
    posted = send_message(author=bob, room_id=room.id, body="@here hi", client_id="b1")
    assert posted.refusal is None and posted.message.group_mention == "here"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rule", "members", "bob_may"),
    [("members", 1, True), ("managers", 100, False)],
)
def test_the_room_setting_decides_who_may(room, alice, bob, settings, rule, members, bob_may):
    settings.PARLEY = {**settings.PARLEY, "GROUP_MENTION_MEMBERS": members}
    ChatRoom.objects.filter(pk=room.id).update(group_mentions_by=rule)
    posted = send_message(author=bob, room_id=room.id, body="@room hi", client_id="b1")
    assert (posted.message.group_mention == "room") is bob_may
    assert (
        send_message(author=alice, room_id=room.id, body="@room", client_id="a1").message.group_mention
        == "room"
    )


@pytest.mark.django_db
def test_the_permission_costs_one_query_and_only_for_a_body_that_has_a_group_mention(room, alice):
    with CaptureQueriesContext(connection) as plain:
        post_message(author=alice, room_id=room.id, body="hello", client_id="p1")
    with CaptureQueriesContext(connection) as grouped:
        post_message(author=alice, room_id=room.id, body="@room hello", client_id="p2")
    asks = [q for q in grouped if "group_mentions_by" in q["sql"]]
    assert len(asks) == 1
    assert not [q for q in plain if "group_mentions_by" in q["sql"]]
    # The decision, and the pending notification step it makes: two statements.
    assert len(grouped) == len(plain) + 2


@pytest.mark.django_db
def test_group_mentions_are_refused_in_direct_conversations_and_every_message_notifies(alice, bob, carol):
    dm = direct_conversation(alice, bob, carol)
    posted = send_message(author=alice, room_id=dm.id, body="@room hello both", client_id="d1")
    assert posted.message.group_mention == ""
    assert posted.refusal.code == "group_mention_in_direct"
    assert kinds_of(posted.message) == {"bob": "direct", "carol": "direct"}
    named = send_message(author=alice, room_id=dm.id, body="@carol this one is yours", client_id="d2")
    assert kinds_of(named.message) == {"carol": "mention", "bob": "direct"}


@pytest.mark.django_db
def test_reserved_names_are_nobodys_mention(room, alice, make_user):
    legacy = make_user("here")  # made before the names were reserved
    join_room(user=legacy, room=room)
    posted = send_message(author=alice, room_id=room.id, body="@here", client_id="h1")
    assert posted.mentions == []
    assert kinds_of(posted.message).get("here") != "mention"


@pytest.mark.django_db
def test_at_here_without_a_presence_tracker_reaches_those_present_at_recently(
    room, alice, bob, carol, settings
):
    now = timezone.now()
    User.objects.filter(pk=bob.pk).update(present_at=now - timedelta(seconds=30))
    User.objects.filter(pk=carol.pk).update(present_at=now - timedelta(days=1))
    posted = send_message(author=alice, room_id=room.id, body="@here standup", client_id="h1")
    assert kinds_of(posted.message) == {"bob": "group"}
    # An invisible person counts as offline.
    User.objects.filter(pk=bob.pk).update(invisible=True)
    again = send_message(author=alice, room_id=room.id, body="@here again", client_id="h2")
    assert kinds_of(again.message) == {}


# --- Over the socket ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_refused_group_mention_is_delivered_and_its_sender_told(connect, room, alice, bob, carol):
    await ChatRoom.objects.filter(pk=room.id).aupdate(group_mentions_by=ChatRoom.Audience.MANAGERS)
    b, c = await connect(bob), await connect(carol)
    echo = await b.post(room.id, "@room is anyone around?", "b1")
    assert echo["group_mention"] == ""
    refused = await b.receive_type("mention.refused")
    assert refused == {
        "type": "mention.refused",
        "room": room.id,
        "message": echo["id"],
        "seq": echo["seq"],
        "client_id": "b1",
        "mention": "room",
        "code": "group_mention_forbidden",
        "detail": "In this room only the owner and admins can notify everyone with @room. "
        "It was sent as plain text.",
    }
    delivered = (await c.receive_type("message.new"))["message"]
    assert delivered["body"] == "@room is anyone around?"
    await asyncio.wait_for(notifier().wait_idle(), timeout=5)
    await c.assert_nothing_more()


@pytest.mark.django_db(transaction=True)
async def test_at_here_reaches_the_members_with_a_socket_open_now(
    connect, room, alice, bob, carol, dave, settings
):
    settings.PARLEY = {**settings.PARLEY, "PRESENCE": True}
    await database_sync_to_async(join_room)(user=dave, room=room)
    await User.objects.filter(pk=dave.pk).aupdate(invisible=True)
    dave.invisible = True
    a, b = await connect(alice), await connect(bob)
    d = await connect(dave)
    await asyncio.sleep(0.2)  # the tracker's writer puts the sockets into the store
    echo = await a.post(room.id, "@here who is around?", "a1")
    assert echo["group_mention"] == "here"
    frame = await b.receive_type("notification.new")
    assert frame["notification"]["kind"] == "group"
    assert frame["alert"] is True
    assert frame["notification"]["message"]["group_mention"] == "here"
    await asyncio.wait_for(notifier().wait_idle(), timeout=5)
    message = await ChatMessage.objects.aget(pk=echo["id"])
    made = await database_sync_to_async(kinds_of)(message)
    assert made == {"bob": "group"}  # not carol (no socket), not dave (invisible)
    del d


@pytest.mark.django_db(transaction=True)
async def test_delivery_never_waits_for_or_depends_on_group_notifications(
    connect, room, alice, bob, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("the notifications table is locked")

    monkeypatch.setattr(audience, "insert_notifications", broken)
    a, b = await connect(alice), await connect(bob)
    await a.post(room.id, "@room still delivered", "a1")
    delivered = (await b.receive_type("message.new"))["message"]
    assert delivered["body"] == "@room still delivered"
    assert delivered["group_mention"] == "room"


# --- The composer's count ----------------------------------------------------------------------


def count(client, room_id: int, body: str) -> dict:
    response = client.post(
        "/notifications/notify-count/",
        data=json.dumps({"room": room_id, "body": body}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_notify_count_is_the_exact_number_the_step_makes(client, alice, make_user, settings):
    room = room_of(alice, [f"member{i}" for i in range(41)])
    member = User.objects.get(username="member0")
    Membership.objects.filter(room=room, user__username="member1").update(notify_level="nothing")
    Membership.objects.filter(room=room, user__username="member2").update(
        muted_until=timezone.now() + timedelta(minutes=5)
    )
    client.force_login(member)
    assert count(client, room.id, "@room ship it") == {
        "count": 39,
        "group_mention": "room",
        "allowed": True,
        "warn": True,
    }
    # A muted member named by name still counts; a "nothing" one never does.
    assert count(client, room.id, "@member2 @member1 @member3 hi")["count"] == 2
    assert count(client, room.id, "plain") == {
        "count": 0,
        "group_mention": "",
        "allowed": True,
        "warn": False,
    }
    posted = send_message(author=member, room_id=room.id, body="@room ship it", client_id="m1")
    assert Notification.objects.filter(message=posted.message).count() == 39


@pytest.mark.django_db
def test_notify_count_says_when_a_group_mention_will_be_plain_text(client, room, bob, settings):
    ChatRoom.objects.filter(pk=room.id).update(group_mentions_by="managers")
    client.force_login(bob)
    answer = count(client, room.id, "@room @carol")
    assert answer["count"] == 1 and answer["allowed"] is False
    assert answer["code"] == "group_mention_forbidden"
    assert "plain text" in answer["detail"]


@pytest.mark.django_db
def test_notify_count_in_a_direct_conversation_counts_its_people(client, alice, bob, carol):
    dm = direct_conversation(alice, bob, carol)
    client.force_login(alice)
    answer = count(client, dm.id, "@here hello")
    assert answer["count"] == 2 and answer["allowed"] is False
    assert answer["code"] == "group_mention_in_direct"


@pytest.mark.django_db
def test_notify_count_of_a_room_one_cannot_see_is_not_found(client, alice, dave):
    secret = create_room(creator=alice, name="secret", is_private=True)
    client.force_login(dave)
    response = client.post(
        "/notifications/notify-count/",
        data=json.dumps({"room": secret.id, "body": "@room"}),
        content_type="application/json",
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    bad = client.post("/notifications/notify-count/", data="[1]", content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"


@pytest.mark.django_db
def test_the_usernames_room_and_here_cannot_be_taken(client):
    for name in ("room", "HERE"):
        response = client.post(
            "/accounts/signup/",
            {"username": name, "password1": "a-long-passphrase-1", "password2": "a-long-passphrase-1"},
        )
        assert response.status_code == 200
        assert "reserved" in response.content.decode()
        assert not User.objects.filter(username__iexact=name).exists()


# --- Across two server processes (PostgreSQL + Redis) ------------------------------------------


@pytest.mark.servers
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs in the PostgreSQL + Redis pass of `make test`",
)
def test_at_here_reaches_sockets_on_both_processes(tmp_path_factory):
    from .test_cluster import Cluster, connect

    cluster = Cluster(tmp_path_factory.mktemp("cluster-here"), "pubsub")
    try:
        asyncio.run(_here_across(cluster, connect))
    finally:
        cluster.close()


async def _here_across(cluster, connect) -> None:
    await asyncio.to_thread(cluster.a.call, "tests.group_data:make_users", usernames=["erin", "frank"])
    room = await asyncio.to_thread(cluster.new_room, ["alice", "bob", "carol", "erin", "frank"])
    # alice (the author) and frank on A; bob and carol (invisible) on B; erin nowhere.
    await asyncio.to_thread(
        cluster.a.call, "tests.server_data:set_invisible", username="carol", invisible=True
    )
    alice = await connect("alice", cluster.a, [room])
    frank = await connect("frank", cluster.a, [room])
    bob = await connect("bob", cluster.b, [room])
    carol = await connect("carol", cluster.b, [room])
    try:
        await asyncio.sleep(1.0)  # each process's tracker puts its sockets into Redis
        await alice.send_message(room, "@here standup in 5", "here-1")
        deadline = asyncio.get_running_loop().time() + 15
        while True:
            made = await asyncio.to_thread(cluster.a.call, "tests.group_data:notified", room=room)
            if len(made) >= 2 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # nobody else comes late
        made = await asyncio.to_thread(cluster.a.call, "tests.group_data:notified", room=room)
        assert made == {"bob": "group", "frank": "group"}
        for client in (bob, frank):
            news = [f for f in client.others if f["type"] == "notification.new"]
            assert [f["notification"]["kind"] for f in news] == ["group"], client.name
    finally:
        for client in (alice, frank, bob, carol):
            await client.close()


@pytest.mark.django_db
def test_the_owner_chooses_who_may_use_group_mentions_on_the_settings_page(client, room, alice, bob):
    client.force_login(alice)
    url = f"/rooms/{room.slug}/settings/"
    page = client.get(url).content.decode()
    assert "Who can notify everyone with @room and @here" in page
    assert "Everyone while the room has up to 50 members, then the owner and admins" in page
    response = client.post(url, {"pins_by": "members", "group_mentions_by": "managers"})
    assert response.status_code == 302
    room.refresh_from_db()
    assert room.group_mentions_by == "managers"
    assert send_message(author=bob, room_id=room.id, body="@room", client_id="b1").refusal is not None
    client.post(url, {"pins_by": "members", "group_mentions_by": ""})
    room.refresh_from_db()
    assert room.group_mentions_by == ""


@pytest.mark.django_db
def test_the_form_send_without_javascript_says_why_a_group_mention_was_plain_text(client, room, bob, carol):
    ChatRoom.objects.filter(pk=room.id).update(group_mentions_by="managers")
    client.force_login(bob)
    response = client.post(
        f"/rooms/{room.slug}/messages/", {"body": "@room standup", "client_id": "form-1"}, follow=True
    )
    assert response.status_code == 200
    assert "only the owner and admins can notify everyone with @room" in response.content.decode()
    message = ChatMessage.objects.get(client_id="form-1")
    assert message.body == "@room standup" and message.group_mention == ""
    assert not Notification.objects.filter(message=message).exists()
