"""Read state: which messages of each room a member has seen, for unread counts."""

import pytest
from django.urls import reverse

from messaging import selectors
from messaging.actions.memberships import mark_room_read, move_read_pointer
from messaging.actions.messages import post_message
from messaging.actions.rooms import create_room, join_room
from messaging.errors import NotFound, NotMember
from messaging.models import Membership


def post(room, author, n):
    for i in range(n):
        post_message(author=author, room_id=room.id, body=f"m{i}", client_id=f"{author.id}-{room.id}-{i}")


@pytest.mark.django_db
def test_unread_counts_per_room(room, alice, bob):
    other = create_room(creator=alice, name="random")
    join_room(user=bob, room=other)
    post(room, alice, 5)
    post(other, alice, 2)
    assert {r.name: r.unread for r in selectors.rooms_for(bob)} == {"general": 5, "random": 2}
    # One's own messages are never unread.
    assert {r.name: r.unread for r in selectors.rooms_for(alice)} == {"general": 0, "random": 0}


@pytest.mark.django_db
def test_read_pointer_only_moves_forward_and_not_past_the_end(room, alice, bob):
    post(room, alice, 5)
    assert mark_room_read(user=bob, room_id=room.id, seq=3) == 3
    assert mark_room_read(user=bob, room_id=room.id, seq=1) == 3
    assert mark_room_read(user=bob, room_id=room.id, seq=999) == 5
    assert Membership.objects.get(user=bob, room=room).last_read_seq == 5


@pytest.mark.django_db
def test_marking_a_room_one_is_not_in(room, alice, dave):
    with pytest.raises(NotMember):
        mark_room_read(user=dave, room_id=room.id, seq=1)
    private = create_room(creator=alice, name="staff", is_private=True)
    with pytest.raises(NotFound):
        mark_room_read(user=dave, room_id=private.id, seq=1)


@pytest.mark.django_db(transaction=True)
async def test_opening_a_room_reads_nothing_until_the_client_says_what_it_has_shown(
    client, connect, room, alice, bob
):
    from channels.db import database_sync_to_async

    def page(url, **params):
        return client.get(url, params).content.decode()

    await database_sync_to_async(post)(room, alice, 4)
    await database_sync_to_async(client.force_login)(bob)
    assert 'aria-label="4 unread"' in await database_sync_to_async(page)(reverse("home"))
    await database_sync_to_async(page)(reverse("room", args=[room.slug]))
    await database_sync_to_async(page)(reverse("room", args=[room.slug]), around=1)
    assert (
        await Membership.objects.filter(user=bob, room=room).values_list("last_read_seq", flat=True).aget()
        == 0
    )
    assert 'aria-label="4 unread"' in await database_sync_to_async(page)(reverse("home"))
    tab = await connect(bob)
    await tab.send({"type": "room.read", "room": room.id, "seq": 3})
    assert (await tab.receive_type("room.read"))["seq"] == 3
    assert 'aria-label="1 unread"' in await database_sync_to_async(page)(reverse("home"))


@pytest.mark.django_db(transaction=True)
async def test_room_read_frame_reaches_every_tab_of_the_reader(connect, room, alice, bob):
    a = await connect(alice)
    for i in range(3):
        await a.post(room.id, f"m{i}", f"c{i}")
    first_tab, second_tab = await connect(bob), await connect(bob)
    await first_tab.send({"type": "room.read", "room": room.id, "seq": 2})
    expected = {"type": "room.read", "room": room.id, "seq": 2, "unread": 1}
    assert await first_tab.receive_type("room.read") == expected
    assert await second_tab.receive_type("room.read") == expected
    await a.assert_nothing_more()


@pytest.mark.django_db(transaction=True)
async def test_marking_read_outside_the_socket_reaches_every_tab(connect, room, alice, bob):
    from channels.db import database_sync_to_async

    await database_sync_to_async(post)(room, alice, 3)
    tab = await connect(bob)
    await database_sync_to_async(mark_room_read)(user=bob, room_id=room.id, seq=3)
    expected = {"type": "room.read", "room": room.id, "seq": 3, "unread": 0}
    assert await tab.receive_type("room.read") == expected


@pytest.mark.django_db(transaction=True)
async def test_reading_notifications_updates_every_tabs_badge(connect, room, alice, bob):
    from channels.db import database_sync_to_async

    from notifications import actions as notification_actions

    a, b = await connect(alice), await connect(bob)
    for i in range(2):
        await a.post(room.id, f"@bob look {i}", f"look-{i}")
        await b.receive_type("notification.new")
    ids = [n["id"] async for n in bob.notifications.values("id")]
    await database_sync_to_async(notification_actions.mark_read)(recipient=bob, notification_ids=ids[:1])
    assert await b.receive_type("notification.read") == {
        "type": "notification.read",
        "ids": ids[:1],
        "unread": 1,
    }
    await database_sync_to_async(notification_actions.mark_read)(recipient=bob)
    assert (await b.receive_type("notification.read"))["unread"] == 0


@pytest.mark.django_db
def test_reading_to_the_end_is_two_queries_and_says_nothing_is_left(
    room, alice, bob, django_assert_num_queries
):
    post(room, alice, 3)
    with django_assert_num_queries(2):
        assert move_read_pointer(user=bob, room_id=room.id, seq=2) == (2, True, False)
    with django_assert_num_queries(2):
        assert move_read_pointer(user=bob, room_id=room.id, seq=3) == (3, True, True)
    with django_assert_num_queries(2):
        assert move_read_pointer(user=bob, room_id=room.id, seq=3) == (3, False, True)


@pytest.mark.django_db(transaction=True)
async def test_reads_arriving_together_are_committed_together_and_each_answered_for_itself(
    connect, room, alice, bob, carol, dave, monkeypatch
):
    from messaging.actions import memberships

    batches: list[int] = []
    real = memberships.move_read_pointers

    def counted(requests):
        batches.append(len(requests))
        return real(requests)

    monkeypatch.setattr(memberships, "move_read_pointers", counted)
    a = await connect(alice)
    for i in range(3):
        await a.post(room.id, f"m{i}", f"c{i}")
    readers = [await connect(user) for user in (bob, carol, bob, carol)] + [await connect(dave)]
    for i, reader in enumerate(readers):
        await reader.send({"type": "room.read", "room": room.id, "seq": 1 + i % 3})
    answers = [await r.receive_type("error" if r.user == dave else "room.read") for r in readers]
    assert answers[-1]["code"] == "not_member"  # a refusal costs only its own read
    # In order, each as its own: bob 1 then 3, carol 2 then 1 (kept at 2: never back).
    assert [(f["seq"], f["unread"]) for f in answers[:4]] == [(1, 2), (2, 1), (3, 0), (2, 1)]
    stored = {
        m.user_id: m.last_read_seq async for m in Membership.objects.filter(room=room, user__in=[bob, carol])
    }
    assert stored == {bob.id: 3, carol.id: 2}
    assert sum(batches) == 5 and len(batches) < 5, batches  # fewer commits than reads


@pytest.mark.django_db(transaction=True)
async def test_a_database_failure_fails_every_read_of_its_batch_and_the_sockets_stay(
    connect, room, bob, monkeypatch
):
    from django.db import OperationalError

    from messaging.actions import memberships

    def failing(requests):
        raise OperationalError("the database went away")

    tab = await connect(bob)
    monkeypatch.setattr(memberships, "move_read_pointers", failing)
    await tab.send({"type": "room.read", "room": room.id, "seq": 1})
    error = await tab.receive_type("error")
    assert error["code"] == "server_error" and error["frame"] == "room.read"
    monkeypatch.undo()
    await tab.send({"type": "room.read", "room": room.id, "seq": 0})
    assert (await tab.receive_type("room.read"))["seq"] == 0
