"""The notification settings page and the endpoints its forms and the room menu post to: a
room's level and mute, do-not-disturb, desktop notifications. Each answers JSON to a script
(`Accept: application/json`, `X-Requested-With`, or a JSON body) and otherwise redirects back
with a message, so every form works without JavaScript."""

from datetime import datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from messaging.errors import BadRequest, ParleyError
from messaging.models import MUTED_FOREVER, Membership
from messaging.views import HTTP_STATUS, json_object

from . import preferences

# The HTTP status of the preferences' own codes; the others are messaging's (HTTP_STATUS).
PREFERENCE_STATUS = {"in_the_past": 400, "too_far_ahead": 400}
# The form fields a no-JavaScript post may carry (a JSON body carries the same names).
FIELDS = (
    "notify_level",
    "mute",
    "until",
    "at",
    "tz",
    "tz_offset",
    "desktop_notifications",
    "notification_sound",
)


def wants_json(request) -> bool:
    return (
        request.content_type == "application/json"
        or "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


@login_required
@require_GET
def settings_page(request):
    now = timezone.now()
    if wants_json(request):
        return JsonResponse(preferences.preferences_payload(user=request.user, now=now))
    return render(
        request,
        "notifications/settings.html",
        {
            "rooms": preferences.room_preferences(user=request.user, now=now),
            "dnd_until": preferences.active_dnd(request.user, now),
            "levels": Membership.NotifyLevel.choices,
        },
    )


@login_required
@require_POST
def room_settings(request, room_id: int):
    def change(fields: dict, now: datetime):
        zone = _zone(fields)
        mute, unmute = None, False
        if fields.get("mute") not in (None, ""):
            mute = _end(fields, "mute", now, zone, forever=True)
            unmute = mute is None
        level = fields.get("notify_level") or None
        if level is not None and not isinstance(level, str):
            raise BadRequest("notify_level must be a string.")
        membership = preferences.set_room_preferences(
            user=request.user, room_id=room_id, level=level, mute=mute, unmute=unmute, now=now
        )
        payload = preferences.room_settings_payload(membership, now)
        return payload, _room_said(membership.room.name, payload, fields)

    return _answer(request, change)


@login_required
@require_POST
def dnd_settings(request):
    def change(fields: dict, now: datetime):
        until = _end(fields, "until", now, _zone(fields), forever=False)
        if until is None:
            preferences.clear_dnd(user=request.user)
            said = "Do not disturb is off."
        else:
            preferences.set_dnd(user=request.user, until=until, now=now)
            said = f"Do not disturb until {_shown(until, fields)}."
        return preferences.notify_settings_payload(request.user, now), said

    return _answer(request, change)


@login_required
@require_POST
def desktop_settings(request):
    def change(fields: dict, now: datetime):
        preferences.set_desktop(
            user=request.user,
            desktop=_flag(fields.get("desktop_notifications"), "desktop_notifications"),
            sound=_flag(fields.get("notification_sound"), "notification_sound"),
        )
        return preferences.notify_settings_payload(request.user, now), "Desktop notification settings saved."

    return _answer(request, change)


def _answer(request, change):
    """Parse, change, answer: JSON (the new state, or `{"code", "detail"}` with its status) to a
    script; a redirect back with the outcome as a message otherwise."""
    as_json = wants_json(request)
    now = timezone.now()
    try:
        payload, said = change(_fields(request), now)
    except ParleyError as error:
        if as_json:
            status = PREFERENCE_STATUS.get(error.code) or HTTP_STATUS.get(error.code, 500)
            return JsonResponse({"code": error.code, "detail": error.detail, **error.extra()}, status=status)
        if error.code == "not_found":
            raise Http404(error.detail) from None
        if error.code == "not_member":
            return render(request, "403.html", {"detail": error.detail}, status=403)
        messages.error(request, f"Not saved: {error.detail}")
        return redirect(_back(request))
    if as_json:
        return JsonResponse(payload)
    messages.success(request, said)
    return redirect(_back(request))


def _fields(request) -> dict:
    if request.content_type == "application/json":
        return json_object(request)
    # A checkbox's hidden "0" comes before it: the last value posted wins.
    return {name: request.POST.getlist(name)[-1] for name in FIELDS if name in request.POST}


def _back(request) -> str:
    """Where a form's answer goes: its `next`, else the page it was posted from, if either is
    this site's; else the settings page."""
    for target in (request.POST.get("next", ""), request.headers.get("Referer", "")):
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return target
    return "notify_settings"


def _end(fields: dict, name: str, now: datetime, zone: tzinfo | None, *, forever: bool) -> datetime | None:
    """The end the field `name` says: a preset ("1h", "tomorrow", "off" …), "custom" (then the
    `at` field, a datetime-local value in the browser's zone), or a time in ISO 8601."""
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"Say until when: {name}.")
    if value == "custom":
        value = fields.get("at")
        if not isinstance(value, str) or not value:
            raise BadRequest("Choose the date and time it ends.")
    elif value in preferences.PRESETS:
        return preferences.preset_end(value, now=now, zone=zone, forever=forever)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        # Neither a time nor a preset: the preset's refusal names the ones there are.
        return preferences.preset_end(value, now=now, zone=zone, forever=forever)
    if timezone.is_naive(at):
        at = at.replace(tzinfo=zone or timezone.get_default_timezone())
    return at


def _zone(fields: dict) -> tzinfo | None:
    """The browser's time zone when its script said it: `tz` (an IANA name; an unknown one is
    ignored), else `tz_offset` (minutes behind UTC, as getTimezoneOffset() says it); else None
    (the server's zone then: the form works without the script)."""
    name = fields.get("tz")
    if isinstance(name, str) and 0 < len(name) <= 64:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder: IsADirectoryError
            pass
    offset = fields.get("tz_offset")
    if offset in (None, ""):
        return None
    try:
        minutes = int(offset)
    except (TypeError, ValueError):
        raise BadRequest("tz_offset must be whole minutes.") from None
    if not -24 * 60 < minutes < 24 * 60:
        raise BadRequest("tz_offset must be under a day.")
    return dt_timezone(-timedelta(minutes=minutes))


def _flag(value, name: str) -> bool | None:
    """A yes/no field: JSON true/false, or a form's "1"/"0" or "true"/"false"; missing is None (unchanged)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("1", "0", "true", "false"):
        return value in ("1", "true")
    raise BadRequest(f"{name} must be true or false (1 or 0).")


def _shown(at: datetime, fields: dict) -> str:
    """A time as the answer's message says it: in the browser's zone if it said one, else the
    server's, named."""
    zone = _zone(fields)
    local = timezone.localtime(at, zone or timezone.get_default_timezone())
    return local.strftime("%a %d %b %H:%M") + ("" if zone else f" {local.tzname()}")


def _room_said(name: str, payload: dict, fields: dict) -> str:
    level = dict(Membership.NotifyLevel.choices)[payload["notify_level"]]
    muted = payload["muted_until"]
    if muted is None:
        state = "not muted"
    elif datetime.fromisoformat(muted) == MUTED_FOREVER:
        state = "muted until you unmute it"
    else:
        state = f"muted until {_shown(datetime.fromisoformat(muted), fields)}"
    return f"{name}: notify for {level.lower()}; {state}."
