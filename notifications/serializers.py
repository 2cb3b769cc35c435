"""The JSON shape of a notification, for the socket and the pages' script."""

from typing import Any

from messaging.serializers import (
    NOTIFICATION_NEW,
    NOTIFICATION_READ,
    NOTIFICATION_REMOVED,
    dumps,
    message_payload,
)

from .models import Notification


def notification_payload(notification: Notification, mentions: list[str]) -> dict[str, Any]:
    """`notification.message` (with its author) must be loaded; `mentions` as in message.new."""
    message = notification.message
    return {
        "id": notification.id,
        "kind": notification.kind,
        "room": notification.room_id,
        "actor": notification.actor.username if notification.actor else None,
        "created_at": notification.created_at.isoformat(),
        "read": notification.is_read,
        "message": message_payload(message, mentions),
    }


def notification_new_frame(notification: Notification, mentions: list[str]) -> str:
    return dumps({"type": NOTIFICATION_NEW, "notification": notification_payload(notification, mentions)})


def notification_read_frame(ids: list[int], unread: int) -> str:
    return dumps({"type": NOTIFICATION_READ, "ids": ids, "unread": unread})


def notification_removed_frame(ids: list[int], unread: int) -> str:
    """Notifications that are gone (their message was deleted), and the unread count now."""
    return dumps({"type": NOTIFICATION_REMOVED, "ids": sorted(ids), "unread": unread})
