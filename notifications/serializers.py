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
    """`notification.message` (with its author) must be loaded, and `thread_root` for a reply
    notification; `mentions` as in message.new."""
    message = notification.message
    return {
        "id": notification.id,
        "kind": notification.kind,
        "room": notification.room_id,
        "actor": notification.actor.username if notification.actor else None,
        "created_at": notification.created_at.isoformat(),
        "read": notification.is_read,
        "message": message_payload(message, mentions),
        # For replies: the thread (its root's seq) and how many new replies this stands for.
        "thread_root": notification.thread_root.seq if notification.thread_root_id else None,
        "count": notification.count,
    }


def notification_new_frame(
    notification: Notification, mentions: list[str], *, updated: bool = False, unread: int | None = None
) -> str:
    """`updated`: the recipient has had this notification already (a reply notification
    brought up to date): a client replaces it and does not count it again. `unread`: the
    recipient's unread count now, when known."""
    frame: dict[str, Any] = {
        "type": NOTIFICATION_NEW,
        "notification": notification_payload(notification, mentions),
        "updated": updated,
    }
    if unread is not None:
        frame["unread"] = unread
    return dumps(frame)


def notification_read_frame(ids: list[int], unread: int) -> str:
    return dumps({"type": NOTIFICATION_READ, "ids": ids, "unread": unread})


def notification_removed_frame(ids: list[int], unread: int) -> str:
    """Notifications that are gone (their message was deleted), and the unread count now."""
    return dumps({"type": NOTIFICATION_REMOVED, "ids": sorted(ids), "unread": unread})
