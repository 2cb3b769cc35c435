"""The writes of awareness: a user's status, invisibility and read-state sharing, and the
last-active times the presence tracker keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from messaging import emoji
from messaging.errors import BadRequest
from messaging.realtime import outlet

from . import selectors
from .serializers import user_status_frame

User = get_user_model()

SETTINGS_EVENT = "awareness.settings"
STATUS_KIND = "status"


def set_status(
    *, user, text: str, emoji_text: str = "", expires_at: datetime | None = None, now=None
) -> None:
    """Set (or with empty text and emoji, clear) the user's status; everyone who sees the user
    hears of it. Refuses a status longer than STATUS_MAX_CHARS, something that is not one emoji,
    and an expiry in the past."""
    now = now or timezone.now()
    text = " ".join(text.split())
    emoji_text = emoji_text.strip()
    if len(text) > settings.PARLEY["STATUS_MAX_CHARS"]:
        raise BadRequest(f"A status is at most {settings.PARLEY['STATUS_MAX_CHARS']} characters.")
    if emoji_text:
        normal = emoji.normalize(emoji_text)
        if normal is None:
            raise BadRequest("A status emoji is one emoji.")
        emoji_text = normal
    if expires_at is not None and expires_at <= now:
        raise BadRequest("That time has passed already.")
    if not (text or emoji_text):
        expires_at = None
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(
            status_text=text, status_emoji=emoji_text, status_expires_at=expires_at
        )
        user.status_text, user.status_emoji, user.status_expires_at = text, emoji_text, expires_at
        _announce_settings(user)
        outlet.send_to_peers_on_commit(
            user.id,
            lambda: _room_ids(user.id),
            lambda: user_status_frame(user, now),
            kind=STATUS_KIND,
        )


def set_awareness_settings(
    *, user, invisible: bool | None = None, share_read_state: bool | None = None
) -> None:
    """Appear offline to everyone (or not); share one's read state (and see others') or not.
    Every socket of the user takes it at once, on every process."""
    changes = {}
    if invisible is not None:
        changes["invisible"] = invisible
    if share_read_state is not None:
        changes["share_read_state"] = share_read_state
    if not changes:
        return
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(**changes)
        for field, value in changes.items():
            setattr(user, field, value)
        _announce_settings(user)


def record_last_active(times: dict[int, float], present: dict[int, float] | None = None) -> None:
    """When each user was last active (epoch seconds), never moved back: as others see it
    (`times`: users visible then) and as only Parley itself reads it (`present`: everyone, for
    missed-message emails). At most once a minute per user per process."""
    for field, moments in (("last_active_at", times), ("present_at", times if present is None else present)):
        for user_id, at in moments.items():
            when = datetime.fromtimestamp(at, tz=UTC)
            User.objects.filter(pk=user_id).exclude(**{f"{field}__gte": when}).update(**{field: when})


def status_expiry(
    choice: str, *, until: datetime | None = None, now: datetime | None = None, zone: tzinfo | None = None
) -> datetime | None:
    """The expiry a "clear after" choice means: never, 30m, 1h, 4h, today, week (the end of the
    person's day or Sunday, in their `zone`, else the server's), custom."""
    now = now or timezone.now()
    local = timezone.localtime(now, zone)
    if choice == "never":
        return None
    if choice in DURATIONS:
        return now + DURATIONS[choice]
    if choice == "today":
        return local.replace(hour=23, minute=59, second=59, microsecond=0)
    if choice == "week":
        end = local + timedelta(days=6 - local.weekday())
        return end.replace(hour=23, minute=59, second=59, microsecond=0)
    if choice == "custom":
        if until is None:
            raise BadRequest("Choose when the status ends.")
        return until
    raise BadRequest("Unknown choice for when the status ends.")


DURATIONS = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1), "4h": timedelta(hours=4)}


def _announce_settings(user) -> None:
    fields = {
        "invisible": user.invisible,
        "share_read_state": user.share_read_state,
        "status_text": user.status_text,
        "status_emoji": user.status_emoji,
        "status_expires_at": user.status_expires_at.isoformat() if user.status_expires_at else None,
    }
    outlet.signal_user_on_commit(user.id, SETTINGS_EVENT, lambda: fields)


def _room_ids(user_id: int) -> list[int]:
    return selectors.users_and_rooms([user_id], without_rooms=[user_id])[1].get(user_id, [])
