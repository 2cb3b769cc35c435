"""The scheduled-messages page (it works without JavaScript: forms) and the JSON its script and
the composer's "Send later" read: schedule, edit, cancel."""

import functools
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from messaging import selectors as messaging_selectors
from messaging.errors import BadRequest, ParleyError
from messaging.views import HTTP_STATUS as MESSAGING_STATUS
from messaging.views import form_flag, query_position_of

from . import selectors
from .actions import cancel_scheduled_message, edit_scheduled_message, schedule_message
from .errors import HTTP_STATUS
from .models import ScheduledMessage


def wants_json(request) -> bool:
    """The page's script and the composer ask for JSON; a plain form post gets a page."""
    return "application/json" in request.headers.get("Accept", "")


def answers(*, prefix: str = ""):
    """A refusal as `{"code", "detail", ...}` with its HTTP status for the script, or as a
    message on the page the form came from (`next`)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except ParleyError as error:
                if wants_json(request):
                    status = HTTP_STATUS.get(error.code) or MESSAGING_STATUS.get(error.code, 500)
                    body = {"code": error.code, "detail": error.detail, **error.extra()}
                    return JsonResponse(body, status=status)
                messages.error(request, prefix + error.detail)
                return redirect(_back(request))

        return wrapped

    return decorate


@login_required
@require_GET
def scheduled_list(request):
    """Pending (editable, cancellable), failed and recently sent; `?room=<slug>` for one room;
    `?format=json` for the script."""
    room = None
    slug = request.GET.get("room")
    if slug:
        try:
            room, _ = messaging_selectors.access_room(user=request.user, slug=slug)
        except ParleyError:
            room = None  # a room the person cannot see shows nothing of it: the whole list
    listed = selectors.scheduled_messages(user=request.user, room_id=room.id if room else None)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "pending": [scheduled_payload(s) for s in listed.pending],
                "failed": [scheduled_payload(s) for s in listed.failed],
                "sent": [scheduled_payload(s) for s in listed.sent],
            }
        )
    return render(
        request,
        "scheduled/list.html",
        {
            "listed": listed,
            "room": room,
            # Where the page's own form may schedule (without JavaScript, the way to schedule).
            "writable_rooms": selectors.writable_rooms(user=request.user),
        },
    )


@login_required
@require_POST
@answers(prefix="Not scheduled: ")
def create(request):
    """Schedule: `room` (slug), `body`, `send_at` (ISO 8601; without an offset it is read in
    `tz`, an IANA zone name, else UTC), `thread_root` and `also_in_room` for a reply."""
    slug = request.POST.get("room", "")
    room, _ = messaging_selectors.access_room(user=request.user, slug=slug, member=True)
    scheduled = schedule_message(
        author=request.user,
        room_id=room.id,
        body=request.POST.get("body", ""),
        send_at=parse_send_at(request.POST),
        thread_root=query_position_of(request.POST, "thread_root"),
        also_in_room=bool(form_flag(request.POST, "also_in_room", default=False)),
    )
    if wants_json(request):
        return scheduled_answer(scheduled)
    messages.success(request, f"Scheduled for {_when(scheduled, request.POST)}. See Scheduled messages.")
    return redirect(_back(request))


@login_required
@require_POST
@answers()
def edit(request, scheduled_id: int):
    """New text (`body`) or time (`send_at`, `tz`) or both, for one not sent yet."""
    body = request.POST.get("body")
    send_at = parse_send_at(request.POST) if request.POST.get("send_at") else None
    if body is None and send_at is None:
        raise BadRequest("Give a new body or a new send_at.")
    scheduled = edit_scheduled_message(
        author=request.user, scheduled_id=scheduled_id, body=body, send_at=send_at
    )
    if wants_json(request):
        return scheduled_answer(scheduled)
    messages.success(request, f"Saved: it will be sent {_when(scheduled, request.POST)}.")
    return redirect(_back(request))


@login_required
@require_POST
@answers()
def cancel(request, scheduled_id: int):
    scheduled = cancel_scheduled_message(author=request.user, scheduled_id=scheduled_id)
    if wants_json(request):
        return scheduled_answer(scheduled)
    messages.success(request, "Scheduled message cancelled.")
    return redirect(_back(request))


def parse_send_at(data) -> datetime:
    value = data.get("send_at", "").strip()
    parsed = parse_datetime(value) if value else None
    if parsed is None:
        raise BadRequest("send_at must be a date and time, such as 2026-12-03T09:00.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, _zone(data.get("tz", "")))
    return parsed


def scheduled_payload(scheduled: ScheduledMessage) -> dict:
    room = scheduled.room
    sent = scheduled.sent_message
    return {
        "id": scheduled.pk,
        "room": {"id": room.pk, "slug": room.slug, "name": room.name, "is_private": room.is_private},
        "body": scheduled.body,
        "send_at": scheduled.send_at.isoformat(),
        "thread_root": scheduled.thread_root_seq,
        "also_in_room": scheduled.also_in_room,
        "state": scheduled.state,
        "failure": {"code": scheduled.failure_code, "detail": scheduled.failure_detail}
        if scheduled.state == ScheduledMessage.State.FAILED
        else None,
        "sent_message": {"id": sent.pk, "seq": sent.seq, "url": sent_url(scheduled)} if sent else None,
        "created_at": scheduled.created_at.isoformat(),
        "updated_at": scheduled.updated_at.isoformat(),
        "edit_url": reverse("scheduled_edit", args=[scheduled.pk]),
        "cancel_url": reverse("scheduled_cancel", args=[scheduled.pk]),
    }


def sent_url(scheduled: ScheduledMessage) -> str:
    seq = scheduled.sent_message.seq
    return reverse("room", args=[scheduled.room.slug]) + f"?around={seq}#m{seq}"


def scheduled_answer(scheduled: ScheduledMessage) -> JsonResponse:
    """The row as it now is, and its room's counts for the room's indicator."""
    counts = selectors.room_indicator(user=scheduled.author, room_id=scheduled.room_id)
    return JsonResponse({"scheduled": scheduled_payload(scheduled), "room_counts": counts})


def _zone(name: str):
    try:
        return ZoneInfo(name) if name else timezone.get_default_timezone()
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest("tz must be a time zone name, such as Europe/Paris.") from None


def _when(scheduled: ScheduledMessage, data) -> str:
    """The time in the zone the form gave (the script's), else the site's, which it names."""
    name = data.get("tz", "")
    shown = timezone.localtime(scheduled.send_at, _zone(name))
    return shown.strftime("%a %d %b %H:%M") + ("" if name else f" {shown.tzname()}")


def _back(request) -> str:
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return back
    return reverse("scheduled")
