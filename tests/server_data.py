"""Data written to and read from a live server's database, in a process of its own.

Each function runs inside `python -m tests.harness call tests.server_data:NAME '{json}'` with the
server's environment (see tests/harness.py); a test calls it as
``server.call("tests.server_data:create_rooms", rooms={...})`` and gets the returned value back
(anything JSON can carry). Django is set up before a function runs; imports of the project's
modules stay inside the functions for that reason.
"""

from __future__ import annotations

DEMO_PASSWORD = "parley-demo"


def _users():
    from django.contrib.auth import get_user_model

    return get_user_model().objects


def room_id(slug: str) -> int:
    from messaging.models import ChatRoom

    return ChatRoom.objects.get(slug=slug).id


def create_rooms(rooms: dict[str, list[str]], extra_users: list[str] = ()) -> dict[str, int]:
    """Users (password ``parley-demo``), then rooms by name (the slug is the name) owned by their
    first member and joined by the others; {slug: id}."""
    from messaging.actions.rooms import create_room, join_room

    for username in extra_users:
        _users().create_user(username=username, password=DEMO_PASSWORD, display_name=username.title())
    made = {}
    for name, members in rooms.items():
        owner, *others = [_users().get(username=username) for username in members]
        room = create_room(creator=owner, name=name)
        assert room.slug == name, room.slug
        for user in others:
            join_room(user=user, room=room)
        made[room.slug] = room.id
    return made


def new_room(members: list[str], name: str) -> int:
    """A room named name, owned by the first member and joined by the others; its id."""
    from messaging.actions.rooms import create_room, join_room

    people = [_users().get(username=username) for username in members]
    room = create_room(creator=people[0], name=name)
    for person in people[1:]:
        join_room(user=person, room=room)
    return room.id


def post_message(author: str, room_slug: str, body: str, client_id: str) -> int:
    """A message stored as another server process of the cluster would store it; its seq."""
    from messaging.actions.messages import post_message

    posted = post_message(
        author=_users().get(username=author), room_id=room_id(room_slug), body=body, client_id=client_id
    )
    return posted.message.seq


def stored_seqs(room: int) -> list[int]:
    from messaging.models import ChatMessage

    return list(ChatMessage.objects.filter(room_id=room).order_by("seq").values_list("seq", flat=True))


def stored_messages(room: int) -> list[list]:
    """[seq, client_id] of every message of the room, in seq order."""
    from messaging.models import ChatMessage

    rows = ChatMessage.objects.filter(room_id=room).order_by("seq").values_list("seq", "client_id")
    return [list(row) for row in rows]


def seed_browser_ui_messages() -> None:
    """Messages that exist before tests/test_browser_ui.py opens its rooms. Three-day-old ones
    test the day separators (and nobody says "Yesterday" about them); history has more than one
    page."""
    from datetime import timedelta

    from django.utils import timezone

    from messaging.actions.messages import post_message
    from messaging.models import ChatMessage, ChatRoom

    alice, bob = _users().get(username="alice"), _users().get(username="bob")

    def post(room, author, body, at=None):
        posted = post_message(
            author=author,
            room_id=room.id,
            body=body,
            client_id=f"seed-{room.slug}-{room.last_seq}-{author.pk}",
        )
        if at is not None:
            ChatMessage.objects.filter(pk=posted.message.pk).update(created_at=at)
        room.refresh_from_db()

    grouping = ChatRoom.objects.get(slug="grouping")
    days_ago = timezone.now().replace(hour=12, minute=0) - timedelta(days=3)
    post(grouping, bob, "Three days ago, first", days_ago)
    post(grouping, bob, "Three days ago, two minutes later", days_ago + timedelta(minutes=2))

    contrast = ChatRoom.objects.get(slug="contrast")
    post(contrast, alice, "Morning @bob, the draft is at https://example.com/draft")
    post(contrast, bob, "Thanks! Reading it now.")
    post(contrast, alice, "No rush.")

    history = ChatRoom.objects.get(slug="history")
    for i in range(1, 61):
        post(history, alice if i % 2 else bob, f"history {i:02d}")


def demo_conversation() -> None:
    """scripts/screenshots.py: yesterday and this morning in #general, two other rooms with news,
    mentions of the viewer (bob)."""
    from datetime import timedelta

    from django.utils import timezone

    from messaging.actions.memberships import add_member
    from messaging.actions.messages import post_message
    from messaging.actions.rooms import create_room, join_room
    from messaging.models import ChatMessage, ChatRoom
    from notifications.actions import notify_mentions

    people = {}
    for username, name in [("alice", "Alice Chen"), ("bob", "Bob Okafor"), ("carol", "Carol Díaz")]:
        user = _users().get(username=username)
        user.display_name = name
        user.save(update_fields=["display_name"])
        people[username] = user
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    today = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)

    def say(room, author, body, at):
        posted = post_message(
            author=author, room_id=room.id, body=body, client_id=f"demo-{room.slug}-{room.last_seq}"
        )
        ChatMessage.objects.filter(pk=posted.message.pk).update(created_at=at)
        notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
        room.refresh_from_db()

    def minutes(day, hour, minute):
        return day.replace(hour=hour, minute=minute)

    general = ChatRoom.objects.get(slug="general")
    general.description = "Company-wide news and chatter"
    general.save(update_fields=["description"])
    design = create_room(creator=alice, name="design", description="Pixels, fonts and flows")
    release = create_room(creator=alice, name="release-planning", is_private=True)
    create_room(creator=carol, name="random", description="Cats, lunch, everything else")
    join_room(user=bob, room=design)
    add_member(actor=alice, room=release, username="bob")
    join_room(user=carol, room=design)

    say(
        general,
        carol,
        "Release notes for 2.3 are up: https://example.com/releases/2.3",
        minutes(yesterday, 16, 40),
    )
    say(general, alice, "Thanks Carol! I will read them tonight.", minutes(yesterday, 16, 42))
    say(general, alice, "Morning all!", minutes(today, 9, 12))
    say(general, alice, "Stand-up moved to 10:30 today, same room.", minutes(today, 9, 13))
    say(general, bob, "Works for me.", minutes(today, 9, 20))
    say(
        general,
        carol,
        "@bob can you review the onboarding copy before lunch? The draft is in the wiki.",
        minutes(today, 9, 31),
    )
    say(general, bob, "On it. @carol do you want comments inline or in the doc?", minutes(today, 9, 33))
    say(general, carol, "Inline, please.", minutes(today, 9, 34))
    say(
        general,
        alice,
        "Heads-up: deploy at 14:00, expect a short blip.\nPing me if anything looks off.",
        minutes(today, 9, 40),
    )
    say(design, carol, "New empty states are in Figma.", minutes(today, 8, 50))
    say(design, alice, "Love the illustrations.", minutes(today, 8, 55))
    say(design, carol, "Thanks! Feedback welcome until Friday.", minutes(today, 9, 2))
    say(release, alice, "@bob when can we cut 2.4?", minutes(today, 9, 45))


def stored_states(room: int) -> dict[str, dict]:
    """Every message of the room as it now is (the payload the protocol sends), by seq."""
    from messaging.selectors import messages_with_state
    from messaging.serializers import stored_message_payload

    return {str(m.seq): stored_message_payload(m) for m in messages_with_state().filter(room_id=room)}


def set_invisible(username: str, invisible: bool) -> None:
    """A user appears offline (or not), as the profile page would set it on any process."""
    from awareness.actions import set_awareness_settings

    set_awareness_settings(user=_users().get(username=username), invisible=invisible)


def user_id(username: str) -> int:
    return _users().get(username=username).id


def set_status(username: str, text: str, emoji: str = "") -> None:
    """A status, as the profile page would set it (the demo's screenshots)."""
    from awareness.actions import set_status as set_user_status

    set_user_status(user=_users().get(username=username), text=text, emoji_text=emoji)


def post_from_worker(author: str, room_slug: str, body: str, client_id: str) -> int:
    """Send a message as the task worker on the embedded default does: through the complete
    action, its frames relayed through the database (messaging/realtime/relay.py)."""
    from messaging.actions.messages import send_message
    from messaging.realtime import relay

    relay.write_to_database()
    return send_message(
        author=_users().get(username=author), room_id=room_id(room_slug), body=body, client_id=client_id
    ).message.seq


def demo_background_work() -> None:
    """scripts/screenshots.py: the viewer (bob) with a verified address, a reminder and a message
    scheduled in #general for tomorrow at 9:00 (UTC, the screenshots' zone)."""
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import ChatMessage
    from reminders.actions import set_reminder
    from scheduled.actions import schedule_message

    bob = _users().get(username="bob")
    bob.email, bob.email_verified_at = "bob@example.com", timezone.now()
    bob.save()
    general = room_id("general")
    tomorrow_9 = (timezone.now() + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    message = ChatMessage.objects.filter(room_id=general, deleted_at__isnull=True).order_by("-seq").first()
    set_reminder(user=bob, room_id=general, seq=message.seq, remind_at=tomorrow_9)
    schedule_message(
        author=bob,
        room_id=general,
        body="Morning all: the release notes are in the wiki, @carol please have a look",
        send_at=tomorrow_9,
    )
