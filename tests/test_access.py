"""The one access rule (`selectors.access_room`) that pages, the socket and the actions share."""

import pytest

from messaging.actions.memberships import add_member, mark_room_read
from messaging.actions.rooms import create_room, join_room
from messaging.errors import NotFound, NotMember, PermissionDenied
from messaging.selectors import access_room

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(alice):
    return create_room(creator=alice, name="staff", is_private=True)


def test_a_private_room_of_others_is_exactly_a_room_that_does_not_exist(private, dave):
    with pytest.raises(NotFound) as by_id:
        access_room(user=dave, room_id=private.id)
    with pytest.raises(NotFound) as by_slug:
        access_room(user=dave, slug="staff")
    with pytest.raises(NotFound) as missing:
        access_room(user=dave, room_id=999_999)
    assert by_id.value.detail == by_slug.value.detail == missing.value.detail


def test_a_public_room_is_readable_by_anyone_and_writable_by_members(room, bob, dave):
    assert access_room(user=dave, slug=room.slug) == (room, None)
    with pytest.raises(NotMember):
        access_room(user=dave, room_id=room.id, member=True)
    found, membership = access_room(user=bob, room_id=room.id, member=True)
    assert found == room and membership.user == bob


def test_managing_needs_the_owner_or_an_admin(room, alice, bob, dave):
    assert access_room(user=alice, room_id=room.id, manager=True)[1].role == "owner"
    with pytest.raises(PermissionDenied):
        access_room(user=bob, room_id=room.id, manager=True)
    with pytest.raises(NotMember):
        access_room(user=dave, room_id=room.id, manager=True)


def test_actions_answer_with_the_same_rule(private, room, bob, dave):
    with pytest.raises(NotFound):
        join_room(user=dave, room=private)
    with pytest.raises(NotFound):
        add_member(actor=dave, room=private, username="bob")
    with pytest.raises(PermissionDenied):
        add_member(actor=bob, room=room, username="dave")
    with pytest.raises(NotFound):
        mark_room_read(user=dave, room_id=private.id, seq=1)


def test_pages_map_the_rule_to_http_in_one_place(client, private, room, dave):
    client.force_login(dave)
    assert client.get(f"/rooms/{private.slug}/").status_code == 404
    assert client.get(f"/rooms/{private.slug}/history/?before_seq=5").json() == {
        "code": "not_found",
        "detail": "No such room.",
    }
    assert client.get(f"/rooms/{room.slug}/").status_code == 200


def test_the_change_endpoints_answer_with_the_same_rule(client, private, room, alice, bob, dave):
    from messaging.actions.changes import edit_message
    from messaging.actions.messages import post_message
    from messaging.actions.rooms import update_room_policy

    for target in (room, private):
        post_message(author=alice, room_id=target.id, body="hello", client_id=f"c{target.id}")
        edit_message(user=alice, room_id=target.id, seq=1, body="hello!", client_id=f"e{target.id}")

    def answers(slug):
        return (
            client.get(f"/rooms/{slug}/messages/1/versions/").status_code,
            client.get(f"/rooms/{slug}/pins/").status_code,
            client.get(f"/rooms/{slug}/settings/").status_code,
        )

    client.force_login(dave)  # in neither room
    assert answers(private.slug) == answers("no-such-room") == (404, 404, 404)
    assert client.get(f"/rooms/{private.slug}/pins/").json() == client.get("/rooms/no-such-room/pins/").json()
    assert answers(room.slug) == (200, 200, 403)  # a public room is readable, not manageable
    client.force_login(bob)  # a plain member
    assert answers(room.slug) == (200, 200, 403)
    update_room_policy(actor=alice, room=room, history_visible_to="managers")
    assert answers(room.slug) == (403, 200, 403)
    client.force_login(alice)  # the owner
    assert answers(room.slug) == answers(private.slug) == (200, 200, 200)
