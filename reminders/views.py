"""The reminders page (pending and recently delivered, each pending one cancellable), setting a
reminder (a form without JavaScript, JSON for the message menu's script) and cancelling one."""

from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messaging.errors import BadRequest, ParleyError
from messaging.views import HTTP_STATUS, MAX_POSITION, json_object

from . import actions, selectors
from .serializers import reminder_payload

# The HTTP status of the reminders' own codes; the others are messaging's (HTTP_STATUS).
REMINDER_STATUS = {"in_the_past": 400, "too_far_ahead": 400, "reminder_limit": 409, "already_delivered": 409}

# What the form without JavaScript offers (the script offers the browser's own times too).
FORM_CHOICES = [(20, "In 20 minutes"), (60, "In 1 hour"), (180, "In 3 hours"), (24 * 60, "In 24 hours")]


def wants_json(request) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def json_error(error: ParleyError) -> JsonResponse:
    status = REMINDER_STATUS.get(error.code) or HTTP_STATUS.get(error.code, 500)
    return JsonResponse({"code": error.code, "detail": error.detail, **error.extra()}, status=status)


def _number(value, name: str) -> int:
    """A JSON number or a form's digits, from 1 to 2^53."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_POSITION:
        raise BadRequest(f"{name} must be one whole number from 1 to {MAX_POSITION}.")
    return value


def _remind_at(fields: dict, now: datetime) -> datetime:
    """`remind_at` (ISO 8601 with its offset: the script sends the browser's local time so) or
    `in_minutes` (the form's choices)."""
    if fields.get("in_minutes") not in (None, ""):
        # Past the furthest a reminder may be, any number is too far (and 2^53 minutes is past
        # the calendar's end): the action answers `too_far_ahead`.
        furthest = (settings.PARLEY["REMINDERS_MAX_DAYS_AHEAD"] + 1) * 24 * 60
        minutes = min(_number(fields["in_minutes"], "in_minutes"), furthest)
        return now + timedelta(minutes=minutes)
    value = fields.get("remind_at")
    if not isinstance(value, str) or not value:
        raise BadRequest("Say when: remind_at or in_minutes.")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest("remind_at must be a time in ISO 8601, with its offset.") from None


def _fields(request) -> dict:
    if request.content_type == "application/json":
        return json_object(request)
    return {name: request.POST.get(name) for name in ("room", "seq", "remind_at", "in_minutes")}


@login_required
@require_http_methods(["GET", "POST"])
def reminder_list(request):
    if request.method == "POST":
        return reminder_create(request)
    now = timezone.now()
    pending = selectors.pending_reminders(request.user)
    delivered = selectors.recently_delivered(request.user, now=now)
    if wants_json(request):
        return JsonResponse(
            {
                "pending": [reminder_payload(r) for r in pending],
                "delivered": [reminder_payload(r) for r in delivered],
            }
        )
    return render(request, "reminders/list.html", {"pending": pending, "delivered": delivered})


def reminder_create(request):
    as_json = wants_json(request)
    now = timezone.now()
    fields: dict = {}
    try:
        fields = _fields(request)
        room_id = _number(fields.get("room"), "room")
        seq = _number(fields.get("seq"), "seq")
        reminder = actions.set_reminder(
            user=request.user, room_id=room_id, seq=seq, remind_at=_remind_at(fields, now), now=now
        )
    except ParleyError as error:
        if as_json:
            return json_error(error)
        if error.code == "not_found":
            raise Http404(error.detail) from None
        messages.error(request, f"No reminder set: {error.detail}")
        query = {k: fields.get(k) for k in ("room", "seq") if isinstance(fields.get(k), str | int)}
        return redirect(reverse("reminder_new") + ("?" + urlencode(query) if len(query) == 2 else ""))
    if as_json:
        return JsonResponse({"reminder": reminder_payload(reminder)}, status=201)
    shown = timezone.localtime(reminder.remind_at).strftime("%Y-%m-%d %H:%M %Z")
    messages.success(request, f"Reminder set for {shown}.")
    return redirect("reminders")


@login_required
@require_GET
def reminder_new(request):
    """The form without JavaScript: which message, and when."""
    try:
        room_id = _number(request.GET.get("room"), "room")
        seq = _number(request.GET.get("seq"), "seq")
        message = selectors.message_to_remind(user=request.user, room_id=room_id, seq=seq)
    except BadRequest as error:
        return render(request, "400.html", {"detail": error.detail}, status=400)
    except ParleyError as error:
        if error.code == "not_found":
            raise Http404(error.detail) from None
        return render(request, "403.html", {"detail": error.detail}, status=403)
    return render(request, "reminders/new.html", {"message": message, "choices": FORM_CHOICES})


@login_required
@require_POST
def reminder_cancel(request, pk):
    try:
        actions.cancel_reminder(user=request.user, reminder_id=pk)
    except ParleyError as error:
        if wants_json(request):
            return json_error(error)
        if error.code == "not_found":
            raise Http404(error.detail) from None
        messages.error(request, f"Not cancelled: {error.detail}")
        return redirect("reminders")
    if wants_json(request):
        return JsonResponse({"cancelled": pk})
    messages.success(request, "Reminder cancelled.")
    return redirect("reminders")
