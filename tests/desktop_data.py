"""Data the desktop-notification browser tests (tests/test_browser_desktop.py) write to a live
server's database, and frames they send to its sockets, each in a process of its own
(``server.call("tests.desktop_data:NAME", ...)``, as tests/server_data.py explains)."""

from __future__ import annotations


def _users():
    from django.contrib.auth import get_user_model

    return get_user_model().objects


def _user(username: str):
    return _users().get(username=username)


def create_direct(usernames: list[str]) -> dict:
    """The direct conversation of these people (the one they have, e.g. the demo's, or a new
    one), started as a person starts it: {"id", "slug"}."""
    from messaging.actions.direct import start_direct

    starter, *others = [_user(username) for username in usernames]
    room = start_direct(starter=starter, usernames=[person.username for person in others]).room
    return {"id": room.id, "slug": room.slug}


def set_room_prefs(username: str, slug: str, notify_level: str, muted_minutes: int | None = None) -> None:
    """A member's level for a room, and a mute for that many minutes from now (None: none)."""
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import Membership

    muted_until = None if muted_minutes is None else timezone.now() + timedelta(minutes=muted_minutes)
    updated = Membership.objects.filter(user__username=username, room__slug=slug).update(
        notify_level=notify_level, muted_until=muted_until
    )
    assert updated == 1, (username, slug)


def set_user_prefs(username: str, dnd_minutes: int | None = None, sound: bool = False) -> None:
    """Do not disturb for that many minutes from now (None: off), and the sound."""
    from datetime import timedelta

    from django.utils import timezone

    dnd_until = None if dnd_minutes is None else timezone.now() + timedelta(minutes=dnd_minutes)
    _users().filter(username=username).update(dnd_until=dnd_until, notification_sound=sound)


def send_frame(username: str, frame: dict) -> None:
    """A frame to the user's open sockets, through the one outlet, as the settings' actions send
    theirs (relayed through the database: this process shares no channel layer with the server)."""
    from messaging.realtime import outlet, relay
    from messaging.serializers import dumps

    relay.write_to_database()
    outlet.send_to_user_sync(_user(username).pk, dumps(frame))


def render_desktop_settings(username: str) -> str:
    """The settings page's desktop section as the user's page renders it."""
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    request = RequestFactory().get("/notifications/settings/")
    request.user = _user(username)
    return render_to_string("notifications/desktop_settings.html", {"user": request.user}, request=request)


def delete_message(username: str, slug: str, seq: int) -> None:
    """The author deletes a message, through the complete action (its frames relayed)."""
    from messaging.actions.changes import delete_message as delete
    from messaging.models import ChatRoom
    from messaging.realtime import relay

    relay.write_to_database()
    delete(user=_user(username), room_id=ChatRoom.objects.get(slug=slug).id, seq=seq)
