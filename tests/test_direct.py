"""Direct conversations (messaging/actions/direct.py): one per set of people, reused when
started again; group ones up to DM_MAX_PEOPLE; adding someone is a new conversation; named by
the other people in the sidebar, with unread counts; private like a private room everywhere
(not_found for everyone else, over pages and the socket); members that never change; reading
one reads its direct notifications."""

import re
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from messaging.actions.changes import edit_message
from messaging.actions.direct import direct_key, start_direct
from messaging.actions.memberships import (
    add_member,
    add_membership,
    end_membership,
    mark_room_read,
    remove_member,
)
from messaging.actions.messages import post_message
from messaging.actions.rooms import join_room, leave_room, update_room_policy
from messaging.errors import BadRequest, NoSuchUser, NotFound, PermissionDenied, TooManyPeople, UserInactive
from messaging.models import MUTED_FOREVER, ChatRoom, Membership
from messaging.selectors import rooms_for
from notifications.models import Notification
from tests.frame_schema import check_frame

pytestmark = pytest.mark.django_db


def post(room, author, body, client_id):
    return post_message(author=author, room_id=room.id, body=body, client_id=client_id).message


def direct_notification(recipient, message):
    """A DM's notification as the notification step makes it (the GROUP branch's step)."""
    return Notification.objects.create(
        recipient=recipient,
        kind=Notification.Kind.DIRECT,
        actor=message.author,
        room_id=message.room_id,
        message=message,
        created_at=message.created_at,
    )


# --- starting one ------------------------------------------------------------------------------


def test_a_pair_has_one_conversation_whoever_starts_it_and_however_they_spell_the_name(alice, bob):
    first = start_direct(starter=alice, usernames=["bob"])
    again = start_direct(starter=alice, usernames=[" BOB "])
    theirs = start_direct(starter=bob, usernames=["alice"])
    assert first.created and not again.created and not theirs.created
    assert first.room.pk == again.room.pk == theirs.room.pk
    room = ChatRoom.objects.get(pk=first.room.pk)
    assert room.is_direct and room.is_private
    assert room.direct_key == direct_key([alice.pk, bob.pk]) == "-".join(map(str, sorted([alice.pk, bob.pk])))
    assert set(Membership.objects.filter(room=room).values_list("user_id", "role")) == {
        (alice.pk, "member"),
        (bob.pk, "member"),
    }
    # The link says nothing of who is in it.
    assert re.fullmatch(r"dm-[0-9a-f]{16}", room.slug)
    assert ChatRoom.objects.filter(kind="direct").count() == 1


def test_a_group_conversation_holds_up_to_the_limit_the_starter_included(settings, alice, make_user):
    settings.PARLEY = {**settings.PARLEY, "DM_MAX_PEOPLE": 4}
    others = [make_user(f"p{i}") for i in range(4)]
    group = start_direct(starter=alice, usernames=[u.username for u in others[:3]])
    assert group.created and Membership.objects.filter(room=group.room).count() == 4
    # The starter's own name counts once.
    assert start_direct(starter=alice, usernames=["alice", "p0", "p1", "p2"]).room.pk == group.room.pk
    with pytest.raises(TooManyPeople) as refused:
        start_direct(starter=alice, usernames=[u.username for u in others])
    assert refused.value.code == "too_many_people" and "at most 4 people" in refused.value.detail
    with pytest.raises(TooManyPeople):  # refused before any query, however many names
        start_direct(starter=alice, usernames=[f"n{i}" for i in range(1000)])
    assert ChatRoom.objects.filter(kind="direct").count() == 1


def test_unknown_deactivated_and_nobody_else_are_refused_with_their_codes(alice, bob, carol):
    carol.is_active = False
    carol.save()
    with pytest.raises(NoSuchUser) as unknown:
        start_direct(starter=alice, usernames=["bob", "nobody"])
    assert unknown.value.code == "no_such_user" and "nobody" in unknown.value.detail
    with pytest.raises(UserInactive) as inactive:
        start_direct(starter=alice, usernames=["carol"])
    assert inactive.value.code == "user_inactive"
    for names in ([], [" "], ["alice"]):
        with pytest.raises(BadRequest):
            start_direct(starter=alice, usernames=names)
    assert not ChatRoom.objects.filter(kind="direct").exists()


def test_adding_someone_is_a_new_conversation_and_the_history_stays_with_the_old_one(alice, bob, carol):
    pair = start_direct(starter=alice, usernames=["bob"]).room
    post(pair, alice, "just us", "a1")
    trio = start_direct(starter=bob, usernames=["alice", "carol"])
    assert trio.created and trio.room.pk != pair.pk
    assert list(trio.room.messages.values_list("body", flat=True)) == []
    assert list(pair.messages.values_list("body", flat=True)) == ["just us"]
    assert not Membership.objects.filter(room=pair, user=carol).exists()


# --- members never change ----------------------------------------------------------------------


def test_every_membership_change_of_a_conversation_is_refused_with_the_reason(alice, bob, carol, dave):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    refusals = [
        lambda: add_member(actor=alice, room=dm, username="carol"),
        lambda: remove_member(actor=alice, room=dm, user=bob),
        lambda: leave_room(user=bob, room=dm),
        lambda: join_room(user=alice, room=dm),
        lambda: update_room_policy(actor=alice, room=dm, pins_by="managers"),
        lambda: add_membership(user=carol, room=dm, role="member"),
        lambda: end_membership(membership=Membership.objects.select_related("room").get(room=dm, user=bob)),
    ]
    for refused in refusals:
        with pytest.raises(PermissionDenied) as error:
            refused()
        assert error.value.code == "forbidden"
        assert "direct conversation" in error.value.detail
    # Someone outside it learns nothing, not even that it exists.
    with pytest.raises(NotFound):
        join_room(user=dave, room=dm)
    with pytest.raises(NotFound):
        add_member(actor=dave, room=dm, username="carol")
    assert set(Membership.objects.filter(room=dm).values_list("user__username", flat=True)) == {
        "alice",
        "bob",
    }


def test_the_pages_refuse_membership_changes_and_show_no_management(client, alice, bob):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    client.force_login(alice)
    page = client.get(f"/rooms/{dm.slug}/").content.decode()
    assert "Leave room" not in page and "Add member" not in page and "Remove" not in page
    assert "<title>Bob · Parley</title>" in page
    assert 'aria-label="Message Bob"' in page  # a 1:1 with each of the people
    response = client.post(f"/rooms/{dm.slug}/leave/", follow=True)
    assert "A direct conversation cannot be left." in response.content.decode()
    client.post(f"/rooms/{dm.slug}/members/", {"username": "carol"})
    assert client.get(f"/rooms/{dm.slug}/settings/").status_code == 403
    assert Membership.objects.filter(room=dm).count() == 2


def test_the_admin_shows_a_conversations_people_but_changes_none(alice, bob):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "root-pass-123")
    browser = Client()
    browser.force_login(admin)
    membership = Membership.objects.get(room=dm, user=bob)
    add = browser.post(
        reverse("admin:messaging_membership_add"),
        {
            "user": admin.id,
            "room": dm.id,
            "role": "member",
            "joined_at_0": "2026-11-25",
            "joined_at_1": "10:00",
        },
    )
    assert add.status_code == 200 and "never change" in add.content.decode()
    assert (
        browser.post(
            reverse("admin:messaging_membership_delete", args=[membership.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    page = browser.get(reverse("admin:messaging_chatroom_change", args=[dm.pk])).content.decode()
    assert 'name="memberships-0-user"' not in page
    assert Membership.objects.filter(room=dm).count() == 2


# --- privacy -----------------------------------------------------------------------------------


def test_someone_outside_gets_not_found_from_every_page(client, alice, bob, dave):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    post(dm, alice, "secret", "s1")
    edit_message(user=alice, room_id=dm.id, seq=1, body="secret, edited", client_id="e1")
    client.force_login(dave)
    base = f"/rooms/{dm.slug}"
    for url in (f"{base}/", f"{base}/threads/1/", f"{base}/messages/1/edit/", f"{base}/messages/1/delete/"):
        assert client.get(url).status_code == 404, url
    for url in (
        f"{base}/history/?before_seq=5",
        f"{base}/pins/",
        f"{base}/messages/1/versions/",
        f"{base}/threads/1/replies/",
    ):
        response = client.get(url)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), url
    assert client.post(f"{base}/messages/", {"body": "hi", "client_id": "x"}).status_code == 404
    assert client.post(f"{base}/join/").status_code == 404
    assert "search-result-room" not in client.get("/search/?q=secret").content.decode()
    assert dm.messages.count() == 1
    client.force_login(bob)  # what search finds for its people
    assert "search-result-room" in client.get("/search/?q=secret").content.decode()


def test_the_participants_read_history_versions_and_pins_as_in_any_room(client, alice, bob):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    post(dm, alice, "first", "f1")
    post(dm, bob, "second", "f2")
    edit_message(user=alice, room_id=dm.id, seq=1, body="first, edited", client_id="e1")
    client.force_login(bob)
    history = client.get(f"/rooms/{dm.slug}/history/?before_seq=3").json()["messages"]
    assert [m["body"] for m in history] == ["first, edited", "second"]
    versions = client.get(f"/rooms/{dm.slug}/messages/1/versions/").json()["versions"]
    assert [v["body"] for v in versions] == ["first", "first, edited"]
    assert client.get(f"/rooms/{dm.slug}/pins/").json() == {"messages": []}


@pytest.mark.django_db(transaction=True)
async def test_over_the_socket_a_conversation_is_like_a_private_room(connect, alice, bob, dave):
    start = database_sync_to_async(start_direct)
    dm = (await start(starter=alice, usernames=["bob"])).room
    a, b, d = await connect(alice), await connect(bob), await connect(dave)
    sent = await a.post(dm.id, "hello bob", "h1")
    assert (await b.receive_type("message.new"))["message"]["body"] == "hello bob"
    edited = await a.change(
        {"type": "message.edit", "room": dm.id, "seq": sent["seq"], "body": "hi bob", "client_id": "e1"}
    )
    assert edited["message"]["body"] == "hi bob"
    await b.send({"type": "sync", "room": dm.id, "after_seq": 0})
    synced = (await b.receive_type("message.new"))["message"]
    assert (synced["seq"], synced["body"]) == (1, "hi bob")
    assert (await b.receive_type("sync.done"))["last_seq"] == 1
    # Dave never hears of it, and whatever he tries is a room that does not exist.
    for frame in (
        {"type": "sync", "room": dm.id, "after_seq": 0},
        {"type": "message.send", "room": dm.id, "body": "let me in", "client_id": "d1"},
        {"type": "message.edit", "room": dm.id, "seq": 1, "body": "mine now", "client_id": "d2"},
        {"type": "reaction.add", "room": dm.id, "seq": 1, "emoji": "👍"},
        {"type": "room.read", "room": dm.id, "seq": 1},
    ):
        await d.send(frame)
        error = await d.receive_type("error")
        assert error["code"] == "not_found", frame
    frames = await d.drain()
    assert not any(f["type"] in ("message.new", "message.updated") for f in frames)
    assert await database_sync_to_async(dm.messages.count)() == 1


@pytest.mark.django_db(transaction=True)
async def test_a_new_conversation_joins_the_open_sockets_of_its_people_named_for_each(connect, alice, bob):
    a, b = await connect(alice), await connect(bob)
    dm = (await database_sync_to_async(start_direct)(starter=alice, usernames=["bob"])).room
    to_bob = (await b.receive_type("room.joined"))["room"]
    to_alice = (await a.receive_type("room.joined"))["room"]
    assert (to_bob["id"], to_bob["kind"], to_bob["name"], to_bob["is_private"]) == (
        dm.id,
        "direct",
        "Alice",
        True,
    )
    assert (to_alice["kind"], to_alice["name"]) == ("direct", "Bob")
    check_frame({"type": "room.joined", "room": to_bob})
    # Joined live: the first message reaches Bob's open socket.
    await a.post(dm.id, "are you there?", "q1")
    assert (await b.receive_type("message.new"))["message"]["body"] == "are you there?"
    # … and notifies him, as every message of a conversation does (the step done before teardown).
    assert (await b.receive_type("notification.new"))["notification"]["kind"] == "direct"


# --- the sidebar -------------------------------------------------------------------------------


def test_the_sidebar_lists_conversations_by_the_other_peoples_names_with_unread_counts(
    client, alice, bob, carol, make_user
):
    zed = make_user("zed", display_name="Zed")
    pair = start_direct(starter=alice, usernames=["bob"]).room
    trio = start_direct(starter=carol, usernames=["alice", "zed"]).room
    post(pair, bob, "one", "b1")
    post(pair, bob, "two", "b2")
    post(trio, zed, "three", "z1")
    listed = rooms_for(alice)
    assert [(r.title, r.unread) for r in listed.directs] == [("Bob", 2), ("Carol, Zed", 1)]
    assert listed.rooms == []
    assert [r.title for r in rooms_for(bob).directs] == ["Alice"]
    client.force_login(alice)
    page = client.get("/").content.decode()
    section = page[page.index('id="direct-title"') :]
    assert section.index(">Bob<") < section.index(">Carol, Zed<")
    assert f'data-room-id="{pair.id}"' in section and 'data-direct="true"' in section
    assert 'aria-label="2 unread">2</span>' in section
    # A conversation is not a room card on the rooms page.
    assert "room-card-link" not in page.split("Public rooms to join")[0]


def test_a_muted_room_shows_no_count_and_a_timed_mute_ends_by_itself(client, room, alice, bob):
    post(room, alice, "news", "n1")
    now = timezone.now()
    Membership.objects.filter(room=room, user=bob).update(muted_until=now + timezone.timedelta(hours=1))
    (listed,) = rooms_for(bob, now=now).rooms
    assert listed.muted and listed.unread == 1
    (later,) = rooms_for(bob, now=now + timezone.timedelta(hours=2)).rooms
    assert not later.muted
    client.force_login(bob)
    page = client.get("/").content.decode()
    link = page[page.index(f'data-room-id="{room.id}"') :].split("</a>")[0]
    assert "muted-room" in link and "has-unread" not in link and "data-muted-until=" in link
    assert 'aria-label="1 unread">1</span>' in link and "hidden" in link.split('class="unread-count"')[1]
    Membership.objects.filter(room=room, user=bob).update(muted_until=MUTED_FOREVER)
    assert rooms_for(bob, now=now + timezone.timedelta(days=3650)).rooms[0].muted


# --- reading ----------------------------------------------------------------------------------


def test_reading_a_conversation_reads_its_direct_notifications_up_to_there(alice, bob, room):
    dm = start_direct(starter=alice, usernames=["bob"]).room
    notes = [direct_notification(bob, post(dm, alice, f"m{i}", f"m{i}")) for i in range(3)]
    mention = Notification.objects.create(
        recipient=bob, kind="mention", actor=alice, room=room, message=post(room, alice, "@bob", "r1")
    )
    mark_room_read(user=bob, room_id=dm.id, seq=2)
    read = set(Notification.objects.filter(read_at__isnull=False).values_list("pk", flat=True))
    assert read == {notes[0].pk, notes[1].pk}
    mark_room_read(user=bob, room_id=dm.id, seq=3)
    assert not Notification.objects.filter(read_at__isnull=True).exclude(pk=mention.pk).exists()
    assert Notification.objects.get(pk=mention.pk).read_at is None  # a room's read reads no mention


@pytest.mark.django_db(transaction=True)
async def test_the_socket_read_pointer_reads_them_and_every_tab_hears_the_count(connect, alice, bob):
    dm = (await database_sync_to_async(start_direct)(starter=alice, usernames=["bob"])).room
    made = []
    for i in range(2):
        message = await database_sync_to_async(post)(dm, alice, f"m{i}", f"m{i}")
        made.append(await database_sync_to_async(direct_notification)(bob, message))
    tab1, tab2 = await connect(bob), await connect(bob)
    await tab1.send({"type": "room.read", "room": dm.id, "seq": 2})
    answer = await tab1.receive_type("room.read")
    assert (answer["seq"], answer["unread"]) == (2, 0)
    for tab in (tab1, tab2):
        frame = await tab.receive_type("notification.read")
        assert (sorted(frame["ids"]), frame["unread"]) == (sorted(n.pk for n in made), 0)
    # Read again: nothing more to say.
    await tab1.send({"type": "room.read", "room": dm.id, "seq": 2})
    await tab1.receive_type("room.read")
    assert not any(f["type"] == "notification.read" for f in await tab1.drain(quiet=0.2))


# --- the HTTP endpoints ------------------------------------------------------------------------


def test_starting_over_http_answers_the_script_with_json_and_the_form_with_the_page(
    client, alice, bob, carol
):
    client.force_login(alice)
    answer = client.post("/direct/", {"username": ["bob", "carol"]}, headers={"Accept": "application/json"})
    body = answer.json()
    room = ChatRoom.objects.get(kind="direct")
    assert answer.status_code == 200
    assert body == {
        "room": {
            "id": room.id,
            "name": "Bob, Carol",
            "slug": room.slug,
            "is_private": True,
            "last_seq": 0,
            "last_change": 0,
            "kind": "direct",
            "people": [
                {"id": bob.id, "username": "bob", "display_name": "Bob"},
                {"id": carol.id, "username": "carol", "display_name": "Carol"},
            ],
        },
        "url": f"/rooms/{room.slug}/",
        "created": True,
    }
    again = client.post("/direct/", {"username": ["carol", "bob"]}, headers={"Accept": "application/json"})
    assert again.json()["created"] is False and again.json()["room"]["id"] == room.id
    # Without JavaScript: the conversation's page.
    assert client.post("/direct/", {"username": "bob"}).url.startswith("/rooms/dm-")


def test_refusals_over_http_carry_their_code(client, settings, alice, bob):
    settings.PARLEY = {**settings.PARLEY, "DM_MAX_PEOPLE": 2}
    client.force_login(alice)
    as_json = {"Accept": "application/json"}
    for names, code in (
        (["nobody"], "no_such_user"),
        (["alice", "x"], "no_such_user"),  # the starter's own name counts once
        ([], "bad_request"),
    ):
        response = client.post("/direct/", {"username": names}, headers=as_json)
        assert (response.status_code, response.json()["code"]) == (400, code), names
    get_user_model().objects.create_user("zoe", password="x-long-password")
    response = client.post("/direct/", {"username": ["bob", "zoe"]}, headers=as_json)
    assert response.json() == {
        "code": "too_many_people",
        "detail": "A direct conversation has at most 2 people, you included.",
    }
    bob.is_active = False
    bob.save()
    assert client.post("/direct/", {"username": "bob"}, headers=as_json).json()["code"] == "user_inactive"
    # The form comes back with the people ticked and the reason.
    page = client.post("/direct/", {"username": "nobody"}, follow=True).content.decode()
    assert "There is no user called “nobody”." in page
    assert client.get("/direct/").status_code == 405
    assert not ChatRoom.objects.filter(kind="direct").exists()


def test_the_new_message_page_lists_everyone_else_who_is_active(client, alice, bob, carol):
    carol.is_active = False
    carol.save()
    client.force_login(alice)
    page = client.get("/direct/new/?username=bob").content.decode()
    assert 'value="bob" checked' in page
    assert 'value="carol"' not in page and 'value="alice"' not in page
    assert "New message" in page and 'action="/direct/"' in page


def test_the_demo_has_one_conversation_of_alice_and_bob_however_often_it_is_seeded():
    call_command("seed_demo", stdout=StringIO())
    out = StringIO()
    call_command("seed_demo", stdout=out)
    (dm,) = ChatRoom.objects.filter(kind="direct")
    assert set(dm.memberships.values_list("user__username", flat=True)) == {"alice", "bob"}
    assert f"/rooms/{dm.slug}/" in out.getvalue() and not dm.messages.exists()
