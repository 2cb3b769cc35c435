"""The one JSON shape of each thing the protocol sends, built in one place."""

from typing import Any

import orjson

from .models import ChatMessage, ChatRoom

# Protocol frame types, server → client.
MESSAGE_NEW = "message.new"
MESSAGE_UPDATED = "message.updated"
SYNC_DONE = "sync.done"
NOTIFICATION_NEW = "notification.new"
NOTIFICATION_READ = "notification.read"
NOTIFICATION_REMOVED = "notification.removed"
ROOM_JOINED = "room.joined"
ROOM_LEFT = "room.left"
ROOM_READ = "room.read"
ERROR = "error"
PONG = "pong"
HELLO = "hello"


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


PONG_TEXT = dumps({"type": PONG})


def author_payload(user) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "display_name": user.shown_name}


def message_payload(message: ChatMessage, mentions: list[str], reactions=()) -> dict[str, Any]:
    """A message as it now is. `message.author` (and `pinned_by`, if pinned) must be loaded;
    `mentions` are the mentioned members' usernames; `reactions` its Reaction rows with their
    users, oldest first (a new message has none)."""
    if message.deleted_at is not None:
        return {
            "id": message.id,
            "room": message.room_id,
            "seq": message.seq,
            "change": message.change,
            "author": author_payload(message.author),
            "body": "",
            "created_at": message.created_at.isoformat(),
            "client_id": message.client_id,
            "mentions": [],
            "edited_at": None,
            "deleted": True,
            "reactions": [],
            "pinned": None,
        }
    return {
        "id": message.id,
        "room": message.room_id,
        "seq": message.seq,
        "change": message.change,
        "author": author_payload(message.author),
        "body": message.body,
        "created_at": message.created_at.isoformat(),
        "client_id": message.client_id,
        "mentions": mentions,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": False,
        "reactions": reaction_groups(reactions),
        "pinned": (
            {"by": message.pinned_by.username, "at": message.pinned_at.isoformat()}
            if message.pinned_at is not None
            else None
        ),
    }


def reaction_groups(reactions) -> list[dict[str, Any]]:
    """Reactions grouped by emoji, in the order each emoji was first used."""
    groups: dict[str, list[str]] = {}
    for reaction in reactions:
        groups.setdefault(reaction.emoji, []).append(reaction.user.username)
    return [{"emoji": emoji, "count": len(users), "users": users} for emoji, users in groups.items()]


def stored_message_payload(message: ChatMessage) -> dict[str, Any]:
    """For messages read back with `mentioned_users` and `reactions__user` prefetched."""
    return message_payload(
        message, sorted(u.username for u in message.mentioned_users.all()), message.reactions.all()
    )


def room_payload(room: ChatRoom) -> dict[str, Any]:
    return {
        "id": room.id,
        "name": room.name,
        "slug": room.slug,
        "is_private": room.is_private,
        "last_seq": room.last_seq,
        "last_change": room.last_change,
    }


def message_new_frame(payload: dict[str, Any]) -> str:
    return dumps({"type": MESSAGE_NEW, "message": payload})


def message_updated_frame(payload: dict[str, Any]) -> str:
    return dumps({"type": MESSAGE_UPDATED, "message": payload})


def room_joined_frame(room: dict[str, Any]) -> str:
    return dumps({"type": ROOM_JOINED, "room": room})


def room_left_frame(room: dict[str, Any]) -> str:
    """`room` carries at least its id (a socket that finds itself out of a room knows no more)."""
    return dumps({"type": ROOM_LEFT, "room": room})


def room_read_frame(room_id: int, seq: int) -> str:
    return dumps({"type": ROOM_READ, "room": room_id, "seq": seq})


def hello_frame(user_id: int, room_ids: list[int]) -> str:
    return dumps({"type": HELLO, "user": user_id, "rooms": sorted(room_ids)})


def sync_done_frame(room_id: int, last_seq: int | None, last_change: int | None, *, has_more: bool) -> str:
    return dumps(
        {
            "type": SYNC_DONE,
            "room": room_id,
            "last_seq": last_seq,
            "last_change": last_change,
            "has_more": has_more,
        }
    )


def pong_frame() -> str:
    return PONG_TEXT


def error_frame(code: str, detail: str, **extra: Any) -> str:
    return dumps({"type": ERROR, "code": code, "detail": detail, **extra})
