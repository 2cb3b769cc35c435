"""The notifications page: list, open one (marking it read), mark all read; the composer's count
of the people a message would notify."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from messaging.errors import BadRequest
from messaging.selectors import access_room
from messaging.views import answers_errors, json_object

from . import actions, audience, digest, selectors


@login_required
def notification_list(request):
    return render(
        request,
        "notifications/list.html",
        {"notifications": selectors.recent_notifications(request.user)},
    )


@login_required
@require_POST
def notification_open(request, pk):
    notification = get_object_or_404(
        selectors.visible_notifications(request.user).select_related("room", "message__thread_root"), pk=pk
    )
    actions.mark_read(recipient=request.user, notification_ids=[notification.pk])
    seq = notification.message.seq
    root = notification.message.thread_root
    if root is not None:
        # A reply opens in its thread (beside the room, with JavaScript).
        return redirect(reverse("thread", args=[notification.room.slug, root.seq]) + f"#m{seq}")
    return redirect(reverse("room", args=[notification.room.slug]) + f"?around={seq}#m{seq}")


@login_required
@require_POST
def notification_read_all(request):
    actions.mark_read(recipient=request.user)
    return redirect("notifications")


# The link in a missed-message email's footer and List-Unsubscribe header. The signed token is
# the credential, so no log-in and no CSRF token: a mail client's one-click unsubscribe (RFC
# 8058) POSTs it bare. A GET only asks, since mail scanners open links.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def missed_email_unsubscribe(request, token):
    user = digest.user_of_unsubscribe_token(token)
    if user is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    done = False
    if request.method == "POST":
        digest.unsubscribe(user=user)
        done = True
    return render(request, "notifications/unsubscribe.html", {"done": done, "email": user.email})


@login_required
@require_POST
@answers_errors(json=True)
def notify_count(request):
    """`{"room": 12, "body": "…"}` (JSON, or a form) → how many people sending it would notify,
    the server's exact number, for the composer's "This will notify 42 people"."""
    data = json_object(request) if request.content_type == "application/json" else request.POST
    room_id, body = data.get("room"), data.get("body")
    if isinstance(room_id, str) and room_id.isdigit():
        room_id = int(room_id)
    if not isinstance(room_id, int) or isinstance(room_id, bool) or room_id < 1 or not isinstance(body, str):
        raise BadRequest("Give the room's id (“room”) and the message's text (“body”).")
    room, _ = access_room(user=request.user, room_id=room_id, member=True)
    counted = audience.notify_count(
        author=request.user,
        room=room,
        body=body,
        now=timezone.now(),
        presence=audience.server_presence_reader(),
    )
    return JsonResponse(counted.answer())
