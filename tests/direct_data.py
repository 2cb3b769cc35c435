"""Data for tests/test_browser_direct.py, written in a live server's database in a process of
its own (`server.call("tests.direct_data:NAME", ...)`, as tests/server_data.py)."""

from __future__ import annotations


def send_room_settings(
    username: str, room: int, muted_until: str | None, notify_level: str = "mentions"
) -> None:
    """A member's mute and level for a room, stored, and the `room.settings` frame to their open
    tabs as the preferences action sends it (this process shares no channel layer with the
    server: through the database, as the worker does)."""
    from datetime import datetime

    from django.contrib.auth import get_user_model

    from messaging.models import Membership
    from messaging.realtime import outlet, relay
    from messaging.serializers import dumps

    user = get_user_model().objects.get(username=username)
    until = datetime.fromisoformat(muted_until) if muted_until else None
    Membership.objects.filter(user=user, room_id=room).update(muted_until=until, notify_level=notify_level)
    relay.write_to_database()
    frame = {"type": "room.settings", "room": room, "notify_level": notify_level, "muted_until": muted_until}
    outlet.send_to_user_sync(user.id, dumps(frame))
