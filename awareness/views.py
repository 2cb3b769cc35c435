"""The forms of awareness: a user's status and privacy choices (from the profile page; they
work without JavaScript, and answer JSON to a script that asks for it)."""

from datetime import datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from messaging.errors import BadRequest
from messaging.views import answers_errors, form_flag

from . import actions
from .selectors import my_awareness


@login_required
@require_POST
@answers_errors()
def status(request):
    data = request.POST
    if data.get("clear") == "1":
        actions.set_status(user=request.user, text="")
    else:
        zone = _zone(data.get("tz", ""))
        until = _local_datetime(data.get("until", ""), data.get("tz_offset", ""), zone)
        expires_at = actions.status_expiry(data.get("clear_after", "never"), until=until, zone=zone)
        actions.set_status(
            user=request.user,
            text=data.get("text", ""),
            emoji_text=data.get("emoji", ""),
            expires_at=expires_at,
        )
    return _answer(request)


@login_required
@require_POST
@answers_errors()
def privacy(request):
    data = request.POST
    actions.set_awareness_settings(
        user=request.user,
        invisible=form_flag(data, "invisible", default=None),
        share_read_state=form_flag(data, "share_read_state", default=None),
    )
    return _answer(request)


def _answer(request):
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse({"me": my_awareness(request.user)})
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = "profile"
    return redirect(target)


def _zone(name: str) -> tzinfo | None:
    """The browser's time zone when its script said it (`tz`, an IANA name); unknown ones are
    ignored (the server's zone then), as the form works without it."""
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder: IsADirectoryError
        return None


def _local_datetime(text: str, offset: str, zone: tzinfo | None) -> datetime | None:
    """A datetime-local field's value ("2026-12-02T15:00"), in the browser's zone when the
    script said it (`tz`, else `tz_offset`: minutes behind UTC, as getTimezoneOffset()), else
    in the server's."""
    if not text:
        return None
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest("That is not a date and time.") from None
    if naive.tzinfo is not None:
        return naive
    if zone is not None:
        return naive.replace(tzinfo=zone)
    if offset:
        try:
            minutes = int(offset)
        except ValueError:
            raise BadRequest("tz_offset must be whole minutes.") from None
        if not -24 * 60 < minutes < 24 * 60:
            raise BadRequest("tz_offset must be under a day.")
        return naive.replace(tzinfo=dt_timezone(-timedelta(minutes=minutes)))
    return timezone.make_aware(naive)
