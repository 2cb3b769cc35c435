"""The JSON shape of a notification, for the socket and the pages' script."""

from typing import Any

from django.utils import timezone

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
        # The thread its message is in (its root's seq), and for a reply notification how many
        # new replies it stands for.
        "thread_root": thread_root_of(message),
        "count": notification.count,
    }


def thread_root_of(message) -> int | None:
    seq = getattr(message, "thread_root_seq", None)
    if seq is None and message.thread_root_id is not None:
        seq = message.thread_root.seq
    return seq


def reply_notification_frame(
    *,
    notification_id: int,
    room_id: int,
    actor: str,
    created_at,
    message: dict[str, Any],
    count: int,
    updated: bool,
    unread: int,
    alert: bool = True,
) -> str:
    """A reply notification's `notification.new`, from the reply's payload built once for all
    of its followers (the same shape as `notification_new_frame`'s)."""
    return dumps(
        {
            "type": NOTIFICATION_NEW,
            "notification": {
                "id": notification_id,
                "kind": Notification.Kind.REPLY,
                "room": room_id,
                "actor": actor,
                "created_at": created_at.isoformat(),
                "read": False,
                "message": message,
                "thread_root": message["thread_root"],
                "count": count,
            },
            "updated": updated,
            "unread": unread,
            "alert": alert,
        }
    )


def bulk_notification_frame(
    *,
    notification_id: int,
    kind: str,
    room_id: int,
    actor: str,
    created_at,
    message: dict[str, Any],
    alert: bool,
) -> str:
    """A group or direct notification's `notification.new`, from the message's payload built once
    for all of its recipients (the same shape as `notification_new_frame`'s)."""
    return dumps(
        {
            "type": NOTIFICATION_NEW,
            "notification": {
                "id": notification_id,
                "kind": kind,
                "room": room_id,
                "actor": actor,
                "created_at": created_at.isoformat(),
                "read": False,
                "message": message,
                "thread_root": message["thread_root"],
                "count": 1,
            },
            "updated": False,
            "alert": alert,
        }
    )


def notification_new_frame(
    notification: Notification,
    mentions: list[str],
    *,
    updated: bool = False,
    unread: int | None = None,
    alert: bool | None = None,
) -> str:
    """`updated`: the recipient has had this notification already (a reply notification
    brought up to date): a client replaces it and does not count it again. `unread`: the
    recipient's unread count now, when known. `alert`: whether it may pop up or sound (false
    while the recipient is in do-not-disturb; None: looked up)."""
    if alert is None:
        alert = not notification.recipient.in_dnd(timezone.now())
    frame: dict[str, Any] = {
        "type": NOTIFICATION_NEW,
        "notification": notification_payload(notification, mentions),
        "updated": updated,
        "alert": alert,
    }
    if unread is not None:
        frame["unread"] = unread
    return dumps(frame)


def notification_read_frame(ids: list[int], unread: int) -> str:
    return dumps({"type": NOTIFICATION_READ, "ids": ids, "unread": unread})


def notification_removed_frame(ids: list[int], unread: int) -> str:
    """Notifications that are gone (their message was deleted), and the unread count now."""
    return dumps({"type": NOTIFICATION_REMOVED, "ids": sorted(ids), "unread": unread})
