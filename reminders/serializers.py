"""The JSON shape of a reminder, for the script of the pages."""

from typing import Any

from django.urls import reverse

from .models import Reminder

SNIPPET_CHARS = 120


def message_url(reminder: Reminder) -> str:
    """Where the message opens in context, as a notification opens it."""
    message = reminder.message
    return reverse("room", args=[message.room.slug]) + f"?around={message.seq}#m{message.seq}"


def reminder_payload(reminder: Reminder) -> dict[str, Any]:
    """`reminder.message` with its room must be loaded."""
    message = reminder.message
    return {
        "id": reminder.id,
        "remind_at": reminder.remind_at.isoformat(),
        "created_at": reminder.created_at.isoformat(),
        "state": reminder.state,
        "done_at": reminder.done_at.isoformat() if reminder.done_at else None,
        "message": {
            "room": message.room_id,
            "room_name": message.room.name,
            "seq": message.seq,
            "url": message_url(reminder),
        },
    }
