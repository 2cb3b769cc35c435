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
THREAD_FOLLOWED = "thread.followed"
THREAD_READ = "thread.read"
THREADS_STATE = "threads.state"
ERROR = "error"
# A group mention its author may not use there: the message went out as plain text.
MENTION_REFUSED = "mention.refused"
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
            "group_mention": "",
            "edited_at": None,
            "deleted": True,
            "reactions": [],
            "pinned": None,
            # A deleted root keeps its thread readable.
            **thread_fields(message),
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
        # The honoured @room or @here ("" for none, or for one sent as plain text).
        "group_mention": message.group_mention,
        "edited_at": message.edited_at.isoformat() if message.edited_at else None,
        "deleted": False,
        "reactions": reaction_groups(reactions),
        "pinned": (
            {"by": message.pinned_by.username, "at": message.pinned_at.isoformat()}
            if message.pinned_at is not None
            else None
        ),
        **thread_fields(message),
    }


def thread_fields(message: ChatMessage) -> dict[str, Any]:
    """Where the message stands in threads: the root it replies to (by seq), whether the room's
    timeline shows it, and, for a root with replies, its thread's summary."""
    root_seq = getattr(message, "thread_root_seq", None)
    if root_seq is None and message.thread_root_id is not None:
        root_seq = message.thread_root.seq
    return {
        "thread_root": root_seq,
        "in_room": message.in_room,
        "thread": (
            {
                "reply_count": message.reply_count,
                "last_reply_at": message.last_reply_at.isoformat() if message.last_reply_at else None,
                "repliers": message.last_repliers,
            }
            if message.reply_count
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


def room_read_frame(room_id: int, seq: int, unread: int) -> str:
    return dumps({"type": ROOM_READ, "room": room_id, "seq": seq, "unread": unread})


def thread_payload(follow, root: ChatMessage) -> dict[str, Any]:
    """A user's standing in a thread: `follow` is their ThreadFollow row with `unread`
    annotated (see selectors), or None when they never had one."""
    following = follow is not None and follow.following
    return {
        "room": root.room_id,
        "root": root.seq,
        "following": following,
        "muted": follow is not None and follow.muted,
        "last_read_seq": follow.last_read_seq if follow is not None else 0,
        "unread": follow.unread if following else 0,
        "reply_count": root.reply_count,
        "last_reply_at": root.last_reply_at.isoformat() if root.last_reply_at else None,
        # The newest reply's seq (deleted or not), 0 when none: a reply frame above it is news.
        "last_reply_seq": root.last_reply_seq or 0,
    }


def thread_followed_frame(thread: dict[str, Any]) -> str:
    return dumps({"type": THREAD_FOLLOWED, "thread": thread})


def thread_read_frame(thread: dict[str, Any]) -> str:
    return dumps({"type": THREAD_READ, "thread": thread})


def threads_state_frame(threads: list[dict[str, Any]]) -> str:
    return dumps({"type": THREADS_STATE, "threads": threads})


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


def mention_refused_frame(answer: dict[str, Any]) -> str:
    """To the sender only: `answer` is notifications.audience.Refusal.answer's object."""
    return dumps({"type": MENTION_REFUSED, **answer})


def error_frame(code: str, detail: str, **extra: Any) -> str:
    return dumps({"type": ERROR, "code": code, "detail": detail, **extra})
