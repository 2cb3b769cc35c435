"""The pages' parts of notification control: the header's do-not-disturb indicator, and whether
a room's mute lasts now (a timed mute has ended by itself once its time has passed)."""

from datetime import datetime

from django import template
from django.utils import timezone

from messaging.models import MUTED_FOREVER

from .. import preferences

register = template.Library()


@register.inclusion_tag("notifications/dnd_indicator.html", takes_context=True)
def dnd_indicator(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "dnd_until": preferences.active_dnd(user),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def active_mute(membership):
    """The end of the membership's mute if it lasts now, else None."""
    return preferences.active_mute(membership)


@register.filter
def is_forever(until) -> bool:
    return until == MUTED_FOREVER


@register.filter
def is_future(until) -> bool:
    """Whether a mute's end (a room list's `muted_until`) is still ahead: the room is muted now."""
    return isinstance(until, datetime) and until > timezone.now()
