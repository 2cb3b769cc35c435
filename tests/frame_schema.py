"""The shape of every protocol frame, in one table: the frames the server sends are checked
against it (tests/test_frames.py), and so are the examples in docs/protocol.md.

A shape is a dict of field → type; a field ending in `?` may be missing; no other field may be
there. A type is a Python type, a shape, a one-element list (a list of that), a tuple (any of
these), or ISO_TIME.
"""

from datetime import datetime

ISO_TIME = "iso time"

AUTHOR = {"id": int, "username": str, "display_name": str}
MESSAGE = {
    "id": int,
    "room": int,
    "seq": int,
    "author": AUTHOR,
    "body": str,
    "created_at": ISO_TIME,
    "client_id": str,
    "mentions": [str],
    # Issue 16: the honoured @room/@here, "" for none. Always sent; optional here only until
    # every example in docs/protocol.md shows it.
    "group_mention?": str,
    "change": int,
    "edited_at": (ISO_TIME, type(None)),
    "deleted": bool,
    "reactions": [{"emoji": str, "count": int, "users": [str]}],
    "pinned": ({"by": str, "at": ISO_TIME}, type(None)),
    "thread_root": (int, type(None)),
    "in_room": bool,
    "thread": (
        {"reply_count": int, "last_reply_at": (ISO_TIME, type(None)), "repliers": [AUTHOR]},
        type(None),
    ),
}
THREAD = {
    "room": int,
    "root": int,
    "following": bool,
    "muted": bool,
    "last_read_seq": int,
    "unread": int,
    "reply_count": int,
    "last_reply_at": (ISO_TIME, type(None)),
    "last_reply_seq": int,
}
# `kind` ("room" | "direct") in room.joined/room.left; a direct conversation's `name` is its other people.
ROOM = {
    "id": int,
    "name": str,
    "slug": str,
    "is_private": bool,
    "last_seq": int,
    "last_change": int,
    "kind?": str,
}
NOTIFICATION = {
    "id": int,
    "kind": str,
    "room": int,
    "actor": (str, type(None)),
    "created_at": ISO_TIME,
    "read": bool,
    "message": MESSAGE,
    "thread_root": (int, type(None)),
    "count": int,
}
STATUS = {"text": str, "emoji": str, "expires_at": (ISO_TIME, type(None))}
PRESENCE = {
    "id": int,
    "state": str,
    "last_active_at": (ISO_TIME, type(None)),
    "status": (STATUS, type(None)),
}
READ = {"user": AUTHOR, "seq": int}

SERVER_FRAMES = {
    "hello": {"user": int, "rooms": [int]},
    "message.new": {"message": MESSAGE},
    "message.updated": {"message": MESSAGE},
    # While `has_more`, only the order the sync followed has a position.
    "sync.done": {
        "room": int,
        "last_seq": (int, type(None)),
        "last_change": (int, type(None)),
        "has_more": bool,
    },
    # `alert`: false while the recipient is in do-not-disturb (nothing pops up or sounds).
    "notification.new": {"notification": NOTIFICATION, "updated": bool, "unread?": int, "alert?": bool},
    "notification.read": {"ids": [int], "unread": int},
    "notification.removed": {"ids": [int], "unread": int},
    "room.joined": {"room": ROOM},
    # A socket that finds itself out of a room (a refused frame, the audit) knows only its id.
    "room.left": {"room": (ROOM, {"id": int})},
    "room.read": {"room": int, "seq": int, "unread": int},
    "thread.followed": {"thread": THREAD},
    "thread.read": {"thread": THREAD},
    "threads.state": {"threads": [THREAD]},
    "presence.changed": {"user": PRESENCE},
    "presence.state": {"enabled": bool, "users": [PRESENCE]},
    "user.status": {"user": {"id": int, "status": (STATUS, type(None))}},
    "typing.started": {"room": int, "thread_root": (int, type(None)), "user": AUTHOR, "expires_in": int},
    "typing.stopped": {"room": int, "thread_root": (int, type(None)), "user": AUTHOR},
    "receipts.state": {"room": int, "enabled": bool, "shared": bool, "reads": [READ]},
    "receipts.changed": {"room": int, "reads": [READ]},
    # To the sender only: its @room/@here went out as plain text.
    "mention.refused": {
        "room": int,
        "message": int,
        "seq": int,
        "client_id": str,
        "mention": str,
        "code": str,
        "detail": str,
    },
    # To the user's own sockets: a change of their notification settings (notifications/preferences.py).
    "room.settings": {"room": int, "notify_level": str, "muted_until": (ISO_TIME, type(None))},
    "notify.settings": {
        "dnd_until": (ISO_TIME, type(None)),
        "desktop_notifications": bool,
        "notification_sound": bool,
    },
    "pong": {},
    "error": {
        "code": str,
        "detail": str,
        "client_id?": str,
        "retry_after?": (int, float),
        "room?": int,
        "seq?": int,
        "frame?": str,
    },
}

CLIENT_FRAMES = {
    "message.send": {"room": int, "body": str, "client_id": str, "thread_root?": int, "also_in_room?": bool},
    "message.edit": {"room": int, "seq": int, "body": str, "client_id": str},
    "message.delete": {"room": int, "seq": int},
    "reaction.add": {"room": int, "seq": int, "emoji": str},
    "reaction.remove": {"room": int, "seq": int, "emoji": str},
    "message.pin": {"room": int, "seq": int, "pinned": bool},
    "sync": {"room": int, "after_seq?": int, "after_change?": int},
    "room.read": {"room": int, "seq": int},
    "thread.read": {"room": int, "root": int, "seq": int},
    "thread.follow": {"room": int, "root": int, "following": bool, "muted?": bool},
    "threads.sync": {},
    "presence.set": {"state": str},
    "presence.sync": {"users": [int]},
    "typing.start": {"room": int, "thread_root?": int},
    "typing.stop": {"room": int, "thread_root?": int},
    "receipts.sync": {"room": int},
    "ping": {},
}

ERROR_CODES = {
    "bad_request",
    "unknown_type",
    "not_member",
    "not_found",
    "too_large",
    "rate_limited",
    "forbidden",
    "no_such_message",
    "message_deleted",
    "too_late",
    "reaction_limit",
    "thread_depth",
    "unauthenticated",
    "server_error",
}


# Why a group mention went out as plain text (`mention.refused`'s code).
MENTION_REFUSED_CODES = {"group_mention_forbidden", "group_mention_in_direct"}


def check_frame(frame: dict, table: dict = SERVER_FRAMES) -> None:
    """Raise AssertionError naming the first place where `frame` differs from its shape."""
    assert isinstance(frame, dict), f"a frame is an object, not {frame!r}"
    frame_type = frame.get("type")
    assert frame_type in table, f"unknown frame type {frame_type!r}"
    _check({k: v for k, v in frame.items() if k != "type"}, table[frame_type], frame_type)
    if frame_type == "error":
        assert frame["code"] in ERROR_CODES, f"unknown error code {frame['code']!r}"
    if frame_type == "mention.refused":
        assert frame["code"] in MENTION_REFUSED_CODES, f"unknown refusal code {frame['code']!r}"


def _check(value, kind, where: str) -> None:
    if isinstance(kind, tuple):
        failures = []
        for option in kind:
            try:
                _check(value, option, where)
                return
            except AssertionError as failure:
                failures.append(str(failure))
        raise AssertionError(" / ".join(failures))
    if kind == ISO_TIME:
        assert isinstance(value, str) and datetime.fromisoformat(value).tzinfo, f"{where}: not ISO time"
    elif isinstance(kind, list):
        assert isinstance(value, list), f"{where}: not a list"
        for i, item in enumerate(value):
            _check(item, kind[0], f"{where}[{i}]")
    elif isinstance(kind, dict):
        assert isinstance(value, dict), f"{where}: not an object"
        required = {k for k in kind if not k.endswith("?")}
        allowed = {k.rstrip("?") for k in kind}
        assert required <= value.keys(), f"{where}: missing {sorted(required - value.keys())}"
        assert value.keys() <= allowed, f"{where}: unexpected {sorted(value.keys() - allowed)}"
        for key, item in value.items():
            _check(item, kind[key] if key in kind else kind[key + "?"], f"{where}.{key}")
    elif kind is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: not a whole number"
    else:
        assert isinstance(value, kind), f"{where}: not {kind.__name__}"
