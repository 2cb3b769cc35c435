"""A person's notification control, kept on the server so every device follows: each room's
level and (timed) mute, do-not-disturb with its end, desktop notifications and their sound.

The writes are actions (validate → one transaction → after commit the `room.settings` or
`notify.settings` frame to every socket of the user → nothing secondary); the reads that pages and
scripts need are the selectors at the end. A mute or a DND ends by itself: what is stored is its
end, and every read compares it with `now`, so nothing has to run when the time comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from messaging.errors import BadRequest, NotMember, ParleyError
from messaging.models import MUTED_FOREVER, ChatRoom, Membership
from messaging.realtime import outlet
from messaging.selectors import access_room
from messaging.serializers import dumps

User = get_user_model()

ROOM_SETTINGS = "room.settings"
NOTIFY_SETTINGS = "notify.settings"

# A mute or DND ends at most this far ahead ("until I unmute" is MUTED_FOREVER, not a date).
MAX_DAYS_AHEAD = 365
# "Until tomorrow 9:00": the hour the working day starts, in the person's own time zone.
TOMORROW_AT = time(9, 0)

LEVELS = tuple(Membership.NotifyLevel.values)
# Presets of "how long", as the settings page and the room menu offer them; "tomorrow" is the
# next day's TOMORROW_AT in the browser's zone, "forever" until unmuted (mutes only).
DURATIONS = {
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "4h": timedelta(hours=4),
    "8h": timedelta(hours=8),
}
PRESETS = frozenset({"off", "tomorrow", "forever", *DURATIONS})


class InThePast(ParleyError):
    code = "in_the_past"
    default_detail = "That time has passed. Choose a time in the future."


class TooFarAhead(ParleyError):
    code = "too_far_ahead"

    def __init__(self, days: int = MAX_DAYS_AHEAD):
        self.days = days
        super().__init__(f"Choose an end at most {days} days ahead.")

    def extra(self) -> dict:
        return {"max_days": self.days}


# --- when a preset ends --------------------------------------------------------------------------


def preset_end(
    choice: str, *, now: datetime, zone: tzinfo | None = None, forever: bool = False
) -> datetime | None:
    """The end a preset means: a duration ("30m", "1h", "2h" …), "tomorrow" (9:00 the next day
    in `zone`, the browser's, else the server's), "forever" (MUTED_FOREVER, where `forever` is
    allowed), "off" (None: no mute, no DND). Anything else is `bad_request`."""
    if choice == "off":
        return None
    if choice in DURATIONS:
        return now + DURATIONS[choice]
    if choice == "tomorrow":
        local = timezone.localtime(now, zone or timezone.get_default_timezone())
        day = local.date() + timedelta(days=1)
        # Combined in the zone itself, so a summer-time change overnight is the zone's business.
        return datetime.combine(day, TOMORROW_AT, tzinfo=local.tzinfo)
    if choice == "forever" and forever:
        return MUTED_FOREVER
    allowed = ["off", *DURATIONS, "tomorrow", *(["forever"] if forever else [])]
    raise BadRequest(f"Unknown choice {choice[:40]!r}: one of {', '.join(allowed)}, or a time.")


def _check_end(until: datetime, now: datetime) -> None:
    if timezone.is_naive(until):
        raise BadRequest("The end time needs its time zone offset.")
    if until == MUTED_FOREVER:
        return
    if until <= now:
        raise InThePast()
    if until > now + timedelta(days=MAX_DAYS_AHEAD):
        raise TooFarAhead()


# --- a room's level and mute ---------------------------------------------------------------------


def set_notify_level(*, user, room_id: int, level: str) -> Membership:
    """The member's level for the room: "all" (every message pops up), "mentions" (the default)
    or "nothing" (no notification from the room at all). Refused: an unknown level
    (`bad_request`), a room the user may not see (`not_found`) or is not a member of
    (`not_member`)."""
    return set_room_preferences(user=user, room_id=room_id, level=level)


def mute_room(*, user, room_id: int, until: datetime, now: datetime | None = None) -> Membership:
    """Mute the room until `until` (MUTED_FOREVER: until unmuted). A timed mute ends by itself.
    Refused: an end in the past (`in_the_past`), more than MAX_DAYS_AHEAD ahead (`too_far_ahead`),
    one without its offset (`bad_request`), and a room as for set_notify_level."""
    return set_room_preferences(user=user, room_id=room_id, mute=until, now=now)


def unmute_room(*, user, room_id: int) -> Membership:
    """End the room's mute now (a room that was not muted stays so, and the frame still goes
    out: every device ends up showing the same)."""
    return set_room_preferences(user=user, room_id=room_id, unmute=True)


def set_room_preferences(
    *,
    user,
    room_id: int,
    level: str | None = None,
    mute: datetime | None = None,
    unmute: bool = False,
    now: datetime | None = None,
) -> Membership:
    """Level and mute (or unmute) in one write and one frame: what the room menu's form posts.
    Refusals as set_notify_level and mute_room; asking for no change is `bad_request`."""
    changes: dict = {}
    if level is not None:
        if level not in LEVELS:
            raise BadRequest(f"notify_level must be one of {', '.join(LEVELS)}.")
        changes["notify_level"] = level
    if mute is not None:
        _check_end(mute, now or timezone.now())
        changes["muted_until"] = mute
    elif unmute:
        changes["muted_until"] = None
    if not changes:
        raise BadRequest("Say what to change: notify_level, mute or both.")
    # The one access rule first (a private room one is not in is `not_found`, as if absent)…
    access_room(user=user, room_id=room_id, member=True)
    with transaction.atomic():
        # … and the membership in the write itself: one left meanwhile changes nothing.
        if not Membership.objects.filter(user=user, room_id=room_id).update(**changes):
            raise NotMember()
        membership = Membership.objects.select_related("room").get(user=user, room_id=room_id)
        _announce_room(user.id, room_id)
    return membership


def _announce_room(user_id: int, room_id: int) -> None:
    # Read after the commit: two devices changing the room at once both end on the last state.
    def send() -> None:
        membership = Membership.objects.filter(user_id=user_id, room_id=room_id).first()
        if membership is not None:
            outlet.send_to_user_sync(user_id, room_settings_frame(membership))

    outlet.on_commit(send)


def room_settings_payload(membership: Membership, now: datetime | None = None) -> dict:
    """The member's level and mute; `muted_until` is None once a timed mute has ended."""
    now = now or timezone.now()
    muted = membership.is_muted(now)
    return {
        "room": membership.room_id,
        "notify_level": membership.notify_level,
        "muted_until": membership.muted_until.isoformat() if muted else None,
    }


def room_settings_frame(membership: Membership) -> str:
    return dumps({"type": ROOM_SETTINGS, **room_settings_payload(membership)})


# --- do not disturb, desktop notifications ---------------------------------------------------------


def set_dnd(*, user, until: datetime, now: datetime | None = None) -> None:
    """Do not disturb until `until`: notifications are made as ever, nothing pops up or sounds,
    missed-message emails wait. Refused as a mute's end (`in_the_past`, `too_far_ahead`,
    `bad_request`); there is no "forever" DND."""
    if until == MUTED_FOREVER:
        raise BadRequest("Do not disturb needs an end.")
    _check_end(until, now or timezone.now())
    _update_user(user, dnd_until=until)


def clear_dnd(*, user) -> None:
    """End do-not-disturb now."""
    _update_user(user, dnd_until=None)


def set_desktop(*, user, desktop: bool | None = None, sound: bool | None = None) -> None:
    """Whether the person wants desktop notifications at all (each browser's permission is its
    own), and their sound; None leaves one as it is."""
    changes = {}
    if desktop is not None:
        changes["desktop_notifications"] = bool(desktop)
    if sound is not None:
        changes["notification_sound"] = bool(sound)
    if not changes:
        raise BadRequest("Say what to change: desktop_notifications, notification_sound or both.")
    _update_user(user, **changes)


def _update_user(user, **changes) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(**changes)
        for field, value in changes.items():
            setattr(user, field, value)
        user_id = user.pk

        def send() -> None:
            fresh = User.objects.filter(pk=user_id).first()
            if fresh is not None:
                outlet.send_to_user_sync(user_id, notify_settings_frame(fresh))

        outlet.on_commit(send)


def notify_settings_payload(user, now: datetime | None = None) -> dict:
    """The person's own preferences; `dnd_until` is None once DND has ended."""
    now = now or timezone.now()
    return {
        "dnd_until": user.dnd_until.isoformat() if user.in_dnd(now) else None,
        "desktop_notifications": user.desktop_notifications,
        "notification_sound": user.notification_sound,
    }


def notify_settings_frame(user) -> str:
    return dumps({"type": NOTIFY_SETTINGS, **notify_settings_payload(user)})


# --- reads ---------------------------------------------------------------------------------------


def active_mute(membership: Membership | None, now: datetime | None = None) -> datetime | None:
    """The end of the membership's mute if it is muted now, else None."""
    if membership is None:
        return None
    return membership.muted_until if membership.is_muted(now or timezone.now()) else None


def active_dnd(user, now: datetime | None = None) -> datetime | None:
    """The end of the user's DND if it lasts now, else None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.dnd_until if user.in_dnd(now or timezone.now()) else None


@dataclass(frozen=True)
class RoomPreference:
    """One row of the settings page: a room (or DM) of the user's, with their level and mute."""

    room: ChatRoom
    name: str
    notify_level: str
    muted_until: datetime | None  # None when not muted now
    forever: bool


def room_preferences(*, user, now: datetime | None = None) -> list[RoomPreference]:
    """Every room and direct conversation the user is in, rooms first then DMs (by kind: "room" >
    "direct"), by name, with
    their level and mute now. A DM is named by its other participants. Two queries."""
    now = now or timezone.now()
    memberships = list(
        Membership.objects.filter(user=user).select_related("room").order_by("-room__kind", "room__name")
    )
    direct_ids = [m.room_id for m in memberships if m.room.is_direct]
    others: dict[int, list[str]] = {room_id: [] for room_id in direct_ids}
    if direct_ids:
        rows = (
            Membership.objects.filter(room_id__in=direct_ids)
            .exclude(user=user)
            .select_related("user")
            .order_by("user__display_name", "user__username")
        )
        for row in rows:
            others[row.room_id].append(row.user.shown_name)
    rows = []
    for membership in memberships:
        room = membership.room
        name = (", ".join(others[room.id]) or room.name) if room.is_direct else room.name
        muted = active_mute(membership, now)
        rows.append(
            RoomPreference(
                room=room,
                name=name,
                notify_level=membership.notify_level,
                muted_until=muted,
                forever=muted == MUTED_FOREVER,
            )
        )
    return rows


def preferences_payload(*, user, now: datetime | None = None) -> dict:
    """Everything at once, as the settings page's JSON answers it: the person's own preferences
    and every room's (the shape of the frames)."""
    now = now or timezone.now()
    rooms = {
        str(row.room.id): {
            "notify_level": row.notify_level,
            "muted_until": row.muted_until.isoformat() if row.muted_until else None,
            "direct": row.room.is_direct,
        }
        for row in room_preferences(user=user, now=now)
    }
    return {**notify_settings_payload(user, now), "rooms": rooms}
