"""Data the browser-delivery tests write to and read from a live server's database.

Called as ``server.call("tests.browser_data:NAME", ...)`` (tests/harness.py runs each in a Django
process of its own with the server's environment). Messages written here are stored only, never
broadcast: the server's sockets learn of them the way they learn of anything they missed.
"""

from __future__ import annotations


def _room(slug: str):
    from messaging.models import ChatRoom

    return ChatRoom.objects.get(slug=slug)


def store_messages(author: str, room_slug: str, bodies: list[str]) -> list[int]:
    """Messages stored one after another, as another process of the cluster would; their seqs."""
    from django.contrib.auth import get_user_model

    from messaging.actions.messages import post_message

    user = get_user_model().objects.get(username=author)
    room = _room(room_slug)
    return [
        post_message(
            author=user, room_id=room.id, body=body, client_id=f"stored-{room.id}-{i}-{body}"[:64]
        ).message.seq
        for i, body in enumerate(bodies)
    ]


def make_hole(room_slug: str, seq: int) -> None:
    """The message at `seq` gone for good, as a hard delete left it before deletes were tombstones."""
    from messaging.models import ChatMessage

    deleted, _ = ChatMessage.objects.filter(room=_room(room_slug), seq=seq).delete()
    assert deleted, f"no message {seq} in {room_slug}"


def stored_bodies(room_slug: str) -> list[str]:
    """The room's message bodies in seq order."""
    from messaging.models import ChatMessage

    return list(
        ChatMessage.objects.filter(room=_room(room_slug)).order_by("seq").values_list("body", flat=True)
    )


def create_room(owner: str, name: str, private: bool) -> int:
    """A room with its owner as its only member (nobody else's socket hears of it); its id."""
    from django.contrib.auth import get_user_model

    from messaging.actions.rooms import create_room

    room = create_room(creator=get_user_model().objects.get(username=owner), name=name, is_private=private)
    return room.id


def read_pointer(username: str, room_slug: str) -> int:
    """How far the member has read the room, as the server stores it."""
    from messaging.models import Membership

    return Membership.objects.get(user__username=username, room=_room(room_slug)).last_read_seq


def set_room_policy(room_slug: str, **fields) -> None:
    """The room's policy fields (edit/delete windows, who sees versions, who pins), as its
    managers would set them on the settings page."""
    from messaging.models import ChatRoom

    updated = ChatRoom.objects.filter(slug=room_slug).update(**fields)
    assert updated == 1, f"no room {room_slug}"


def message_state(room_slug: str, seq: int) -> dict:
    """What the database holds for one message: body, deleted, edited, pinned, reactions."""
    from messaging.models import ChatMessage

    message = ChatMessage.objects.get(room=_room(room_slug), seq=seq)
    return {
        "body": message.body,
        "deleted": message.deleted_at is not None,
        "edited": message.edited_at is not None,
        "pinned_by": message.pinned_by.username if message.pinned_by_id else None,
        "revisions": message.revisions.count(),
        "reactions": sorted((r.emoji, r.user.username) for r in message.reactions.select_related("user")),
    }


def demo_changes() -> None:
    """scripts/screenshots.py, after tests.server_data:demo_conversation: in #general an edited
    message, reactions and a pinned message, as people would have made them."""
    from django.contrib.auth import get_user_model

    from messaging.actions.changes import add_reaction, edit_message, set_pinned
    from messaging.models import ChatMessage

    users = {u.username: u for u in get_user_model().objects.filter(username__in=["alice", "bob", "carol"])}
    room = _room("general")

    def seq_of(start: str) -> int:
        return ChatMessage.objects.get(room=room, body__startswith=start).seq

    standup = seq_of("Stand-up moved")
    edit_message(
        user=users["alice"],
        room_id=room.id,
        seq=standup,
        body="Stand-up moved to 10:45 today, same room.",
        client_id="demo-edit-standup",
    )
    for username, emoji in [("bob", "👍"), ("carol", "👍"), ("bob", "🎉")]:
        add_reaction(user=users[username], room_id=room.id, seq=standup, emoji=emoji)
    deploy = seq_of("Heads-up: deploy")
    add_reaction(user=users["carol"], room_id=room.id, seq=deploy, emoji="👀")
    set_pinned(user=users["alice"], room_id=room.id, seq=deploy, pinned=True)
