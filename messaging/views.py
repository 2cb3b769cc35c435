"""Room pages: the list, one room with its history, and membership actions."""

import re
import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .errors import BadRequest, NotFound, ParleyError
from .forms import AddMemberForm, RoomForm
from .serializers import room_payload, stored_message_payload

# The protocol's bound on ids and positions (docs/protocol.md): what a JavaScript number holds exactly.
MAX_POSITION = 2**53
ASCII_DIGITS = re.compile(r"[0-9]{1,16}")


def query_position(request, name: str, *, required: bool = False) -> int | None:
    """`?name=N` as a position from 1 to 2^53; None when absent (or empty) and not required.

    Strict on purpose: `str.isdigit()` takes "²", which `int()` then refuses, and `int()` takes
    " 7", "+7", "7_0" and "٧". Anything but one value of ASCII digits in range is BadRequest.
    """
    values = request.GET.getlist(name)
    if not required and values in ([], [""]):
        return None
    if len(values) == 1 and ASCII_DIGITS.fullmatch(values[0]) and 1 <= int(values[0]) <= MAX_POSITION:
        return int(values[0])
    raise BadRequest(f"{name} must be one whole number from 1 to {MAX_POSITION}.")


def bad_request_page(request, error: BadRequest):
    return render(request, "400.html", {"detail": error.detail}, status=400)


def bad_request_json(error: BadRequest) -> JsonResponse:
    return JsonResponse({"code": error.code, "detail": error.detail}, status=400)


@login_required
def home(request):
    return render(
        request,
        "messaging/home.html",
        {
            "my_rooms": selectors.rooms_for(request.user),
            "joinable_rooms": selectors.joinable_rooms(request.user),
        },
    )


@login_required
def room_create(request):
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = services.create_room(creator=request.user, **form.cleaned_data)
        return redirect("room", slug=room.slug)
    return render(request, "messaging/room_create.html", {"form": form})


@login_required
def room_detail(request, slug):
    room, membership = selectors.visible_room(request.user, slug)
    page_size = settings.PARLEY["HISTORY_PAGE_SIZE"]
    # `?around=SEQ` (an opened notification) renders the page of history around that message;
    # the client then syncs everything after it, as after any reconnect.
    try:
        around = query_position(request, "around")
    except BadRequest as error:
        return bad_request_page(request, error)
    before_seq = around + page_size // 2 if around is not None else None
    history = selectors.room_history(room, before_seq=before_seq, limit=page_size)
    members = list(selectors.room_members(room))
    # Rendering never writes: the client says what it has shown (`room.read`), so a page opened at
    # an old message (`?around=`), prefetched or left in a background tab reads nothing.
    return render(
        request,
        "messaging/room.html",
        {
            "room": room,
            "membership": membership,
            "history": history,
            "has_older": bool(history) and history[0].seq > 1,
            "members": members,
            "my_rooms": selectors.rooms_for(request.user),
            "add_member_form": AddMemberForm(),
            # The composer's client_id when it is posted without JavaScript: fresh per render, so a
            # double submit of one form stores one message (the script picks its own per message).
            "composer_client_id": uuid.uuid4(),
            "room_config": {
                **room_payload(room),
                "member": membership is not None,
                "first_seq": history[0].seq if history else room.last_seq + 1,
                "history_url": reverse("room_history", args=[room.slug]),
                "me": request.user.username,
                "members": [
                    {"username": m.user.username, "display_name": m.user.shown_name} for m in members
                ],
            },
        },
    )


@login_required
@require_GET
def room_history(request, slug):
    """Older messages for the page's "load earlier" button, as JSON."""
    room, _ = selectors.visible_room(request.user, slug)
    try:
        before_seq = query_position(request, "before_seq", required=True)
    except BadRequest as error:
        return bad_request_json(error)
    history = selectors.room_history(room, before_seq=before_seq, limit=settings.PARLEY["HISTORY_PAGE_SIZE"])
    return JsonResponse({"messages": [stored_message_payload(m) for m in history]})


@login_required
@require_POST
def message_send(request, slug):
    """The composer posted without JavaScript: the same action as the socket's, then back (PRG)."""
    room, _ = selectors.visible_room(request.user, slug)
    body = request.POST.get("body", "")
    try:
        posted = services.send_message(
            author=request.user, room_id=room.id, body=body, client_id=request.POST.get("client_id", "")
        )
    except NotFound:
        raise Http404("No such room.") from None
    except ParleyError as error:
        messages.error(request, f"Your message was not sent: {error.detail}")
        return redirect("room", slug=room.slug)
    if not posted.created and posted.message.body != services.clean_body(body):
        # The client_id of a page already sent from (the Back button): this text was not stored.
        messages.error(request, "Your message was not sent: that page was out of date. Please send it again.")
        return redirect("room", slug=room.slug)
    return redirect(reverse("room", args=[room.slug]) + f"#m{posted.message.seq}")


def _act(request, slug, action, success: str):
    """Run a membership action on a visible room and come back with a message either way."""
    room, _ = selectors.visible_room(request.user, slug)
    try:
        action(room)
    except NotFound:
        raise Http404("No such room.") from None
    except ParleyError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success)
    return room


@login_required
@require_POST
def room_join(request, slug):
    room = _act(request, slug, lambda room: services.join_room(user=request.user, room=room), "Joined.")
    return redirect("room", slug=room.slug)


@login_required
@require_POST
def room_leave(request, slug):
    _act(request, slug, lambda room: services.leave_room(user=request.user, room=room), "You left the room.")
    return redirect("home")


@login_required
@require_POST
def member_add(request, slug):
    form = AddMemberForm(request.POST)
    username = form.data.get("username", "")
    room = _act(
        request,
        slug,
        lambda room: services.add_member(actor=request.user, room=room, username=username),
        f"Added {username}.",
    )
    return redirect("room", slug=room.slug)


@login_required
@require_POST
def member_remove(request, slug, user_id):
    user = get_object_or_404(get_user_model(), pk=user_id)
    room = _act(
        request,
        slug,
        lambda room: services.remove_member(actor=request.user, room=room, user=user),
        f"Removed {user.username}.",
    )
    return redirect("room", slug=room.slug)
