"""The frames of presence, status, typing and read receipts (docs/protocol.md, "Awareness")."""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from messaging.serializers import author_payload, dumps

from .store import OFFLINE, Shown

PRESENCE_CHANGED = "presence.changed"
PRESENCE_STATE = "presence.state"
USER_STATUS = "user.status"
TYPING_STARTED = "typing.started"
TYPING_STOPPED = "typing.stopped"
RECEIPTS_STATE = "receipts.state"
RECEIPTS_CHANGED = "receipts.changed"


def status_payload(user, now: datetime | None = None) -> dict[str, Any] | None:
    """The user's status while it lasts, else None (an expired one is no status)."""
    if not (user.status_text or user.status_emoji):
        return None
    expires_at = user.status_expires_at
    if expires_at is not None and expires_at <= (now or timezone.now()):
        return None
    return {
        "text": user.status_text,
        "emoji": user.status_emoji,
        "expires_at": expires_at.isoformat() if expires_at else None,
    }


def presence_payload(user, shown: Shown | None, *, now: datetime | None = None) -> dict[str, Any]:
    """What others see of `user`: the shown state from the store (None: never seen), when last
    active (the later of the store's and the database's), and the status."""
    stored = user.last_active_at
    if user.invisible or shown is None:
        # Invisible: offline, with the last-active time from before (the database's, which
        # stops moving while invisible), so that nothing sets an invisible user apart.
        state, last_active = OFFLINE, None
    else:
        state, last_active = shown.state, shown.last_active
    when = datetime.fromtimestamp(last_active, tz=UTC) if last_active is not None else None
    if stored is not None and (when is None or stored > when):
        when = stored
    last_active_at = when.isoformat() if when is not None else None
    return {
        "id": user.id,
        "state": state,
        "last_active_at": last_active_at,
        "status": status_payload(user, now),
    }


def presence_changed_frame(payload: dict[str, Any]) -> str:
    return dumps({"type": PRESENCE_CHANGED, "user": payload})


def presence_state_frame(payloads: list[dict[str, Any]], *, enabled: bool = True) -> str:
    return dumps({"type": PRESENCE_STATE, "enabled": enabled, "users": payloads})


def user_status_frame(user, now: datetime | None = None) -> str:
    return dumps({"type": USER_STATUS, "user": {"id": user.id, "status": status_payload(user, now)}})


def typing_frame(room_id: int, thread_root: int | None, user, *, started: bool, expires_in: int) -> str:
    frame = {
        "type": TYPING_STARTED if started else TYPING_STOPPED,
        "room": room_id,
        "thread_root": thread_root,
        "user": author_payload(user),
    }
    if started:
        frame["expires_in"] = expires_in
    return dumps(frame)


def read_payload(user: dict[str, Any], seq: int) -> dict[str, Any]:
    return {"user": user, "seq": seq}


def receipts_state_frame(room_id: int, reads: list[dict[str, Any]], *, shared: bool, enabled: bool) -> str:
    return dumps(
        {"type": RECEIPTS_STATE, "room": room_id, "enabled": enabled, "shared": shared, "reads": reads}
    )


def receipts_changed_frame(room_id: int, reads: list[dict[str, Any]]) -> str:
    return dumps({"type": RECEIPTS_CHANGED, "room": room_id, "reads": reads})
