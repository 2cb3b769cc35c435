"""What every signed-in page tells its scripts about notifications: the header badges' numbers,
and the person's notification preferences (for desktop notifications, static/js/desktop.js)."""

from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone

from messaging.models import Membership
from messaging.selectors import unread_thread_count

from .selectors import unread_count


def unread_notifications(request):
    """The header badges' numbers on every page: unread notifications, and followed threads with
    unread replies."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notification_count": unread_count(user), "unread_thread_count": unread_thread_count(user)}


def notify_prefs(request):
    """`notify_prefs`, rendered by base.html as the `notify-prefs` json_script: what decides, in
    the browser, whether a message pops up (absent for anonymous pages)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # A callable, which the template calls when it renders the value: a template that does not
    # show it (a fragment, an email) costs no query.
    return {"notify_prefs": lambda: notify_prefs_of(user=user)}


def _iso(moment: datetime | None, now: datetime) -> str | None:
    # An expired mute or DND is no mute: the page never has to compare a past time.
    return moment.isoformat() if moment is not None and moment > now else None


def notify_prefs_of(*, user, now: datetime | None = None) -> dict[str, Any]:
    """The user's desktop, sound and do-not-disturb choices, and every room they are in with its
    level, mute, kind, name and address (the popup's title and its click's target): two queries,
    one when the user has no direct conversation."""
    now = now or timezone.now()
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("room")
        .only("notify_level", "muted_until", "room__id", "room__name", "room__slug", "room__kind")
    )
    direct_ids = [m.room_id for m in memberships if m.room.is_direct]
    others: dict[int, list[str]] = {}
    if direct_ids:
        rows = (
            Membership.objects.filter(room_id__in=direct_ids)
            .exclude(user=user)
            .values_list("room_id", "user__display_name", "user__username")
        )
        for room_id, display_name, username in rows:
            others.setdefault(room_id, []).append(display_name or username)
    rooms = {}
    for membership in memberships:
        room = membership.room
        # A direct conversation is called by its other participants, as the sidebar calls it.
        name = ", ".join(sorted(others.get(room.id, []), key=str.casefold)) if room.is_direct else room.name
        rooms[str(room.id)] = {
            "notify_level": membership.notify_level,
            "muted_until": _iso(membership.muted_until, now),
            "direct": room.is_direct,
            "name": name or room.name,
            "url": reverse("room", args=[room.slug]),
        }
    return {
        "dnd_until": _iso(user.dnd_until, now),
        "desktop_notifications": user.desktop_notifications,
        "notification_sound": user.notification_sound,
        "rooms": rooms,
    }
