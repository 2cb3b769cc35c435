"""Room pages: the list, one room with its history, its settings, and membership actions; the
JSON the room's script reads (history, earlier versions, pins, the emoji catalogue)."""

import functools
import hashlib
import json as json_module
import re
import uuid
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import condition, require_GET, require_POST

from awareness.selectors import my_awareness, receipts_enabled, typing_enabled
from awareness.serializers import status_payload

from . import selectors
from .actions.changes import delete_message, edit_message
from .actions.direct import start_direct
from .actions.memberships import add_member, remove_member
from .actions.messages import clean_body, send_message
from .actions.rooms import create_room, join_room, leave_room, update_room_policy
from .actions.threads import follow_thread
from .emoji import emoji_catalogue
from .errors import (
    BadRequest,
    MessageDeleted,
    NoSuchMessage,
    NotFound,
    ParleyError,
    PermissionDenied,
    ThreadDepth,
)
from .forms import AddMemberForm, RoomForm, RoomPolicyForm
from .models import ChatMessage
from .serializers import author_payload, dumps, room_payload, stored_message_payload, thread_payload

# The protocol's bound on ids and positions (docs/protocol.md): what a JavaScript number holds exactly.
MAX_POSITION = 2**53
ASCII_DIGITS = re.compile(r"[0-9]{1,16}")


def query_position(request, name: str, *, required: bool = False) -> int | None:
    """`?name=N` as a position from 1 to 2^53; None when absent (or empty) and not required.

    Strict on purpose: `str.isdigit()` takes "²", which `int()` then refuses, and `int()` takes
    " 7", "+7", "7_0" and "٧". Anything but one value of ASCII digits in range is BadRequest.
    """
    return query_position_of(request.GET, name, required=required)


def query_position_of(query, name: str, *, required: bool = False) -> int | None:
    """As `query_position`, in any QueryDict (a form's POST too)."""
    values = query.getlist(name)
    if not required and values in ([], [""]):
        return None
    if len(values) == 1 and ASCII_DIGITS.fullmatch(values[0]) and 1 <= int(values[0]) <= MAX_POSITION:
        return int(values[0])
    raise BadRequest(f"{name} must be one whole number from 1 to {MAX_POSITION}.")


# The HTTP status of each protocol error code, for pages and JSON alike.
HTTP_STATUS = {
    "bad_request": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_member": 403,
    "not_found": 404,
    "no_such_message": 404,
    "too_late": 403,
    "message_deleted": 409,
    "reaction_limit": 409,
    "thread_depth": 400,
    "no_such_user": 400,
    "user_inactive": 400,
    "too_many_people": 400,
    "too_large": 413,
    "rate_limited": 429,
    "server_error": 500,
}


def json_object(request) -> dict:
    """The request's JSON body, which must be an object (`bad_request` otherwise): what the
    script-facing endpoints of every app read."""
    try:
        fields = json_module.loads(request.body or b"{}")
    except ValueError:
        raise BadRequest("The body is not JSON.") from None
    if not isinstance(fields, dict):
        raise BadRequest("The body must be a JSON object.")
    return fields


def answers_errors(*, json: bool = False):
    """Map the protocol's errors to HTTP in one place: a page (400.html, 404.html …) or, for
    the endpoints the script reads, the JSON error body `{"code", "detail"}`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except ParleyError as error:
                status = HTTP_STATUS.get(error.code, 500)
                if json:
                    body = {"code": error.code, "detail": error.detail, **error.extra()}
                    return JsonResponse(body, status=status)
                if status == 404:
                    raise Http404(error.detail) from None
                template = "403.html" if status == 403 else "400.html" if status < 500 else "500.html"
                return render(request, template, {"detail": error.detail}, status=status)

        return wrapped

    return decorate


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
        room = create_room(creator=request.user, **form.cleaned_data)
        return redirect("room", slug=room.slug)
    return render(request, "messaging/room_create.html", {"form": form})


def effective_policy(room) -> dict:
    """The room's rules for changing messages as they apply now: its own, else the site's."""
    site = settings.PARLEY
    edit, delete = room.edit_window_minutes, room.delete_window_minutes
    return {
        "edit_window_minutes": site["EDIT_WINDOW_MINUTES"] if edit is None else edit,
        "delete_window_minutes": site["DELETE_WINDOW_MINUTES"] if delete is None else delete,
        "history_visible_to": room.history_visible_to or site["HISTORY_VISIBLE_TO"],
        "pins_by": room.pins_by,
    }


@login_required
@answers_errors()
def room_detail(request, slug):
    room, membership = selectors.access_room(user=request.user, slug=slug)
    # A direct conversation is named by its other people, for each of them.
    title = selectors.room_title(room, user=request.user)
    page_size = settings.PARLEY["HISTORY_PAGE_SIZE"]
    # `?around=SEQ` (an opened notification) renders the page of history around that message;
    # the client then syncs everything after it, as after any reconnect.
    around = query_position(request, "around")
    if around is not None:
        reply = ChatMessage.objects.filter(room=room, seq=around, in_room=False).select_related("thread_root")
        reply = reply.first()
        if reply is not None:
            # A reply only in its thread is read in its thread.
            return redirect(_thread_url(room, reply.thread_root.seq) + f"#m{around}")
    before_seq = around + page_size // 2 if around is not None else None
    history = selectors.room_history(room, before_seq=before_seq, limit=page_size)
    members = list(selectors.room_members(room))
    policy = effective_policy(room)
    can_manage = membership is not None and membership.can_manage
    can_see_versions = selectors.can_see_versions(room, membership)
    # Rendering never writes: the client says what it has shown (`room.read`), so a page opened at
    # an old message (`?around=`), prefetched or left in a background tab reads nothing.
    return render(
        request,
        "messaging/room.html",
        {
            "room": room,
            "title": title,
            "membership": membership,
            "history": history,
            "has_older": bool(history) and history[0].seq > 1,
            "members": members,
            "pinned_messages": selectors.pinned_messages(room),
            "can_manage": can_manage,
            "can_see_versions": can_see_versions,
            "edit_window_minutes": policy["edit_window_minutes"],
            "delete_window_minutes": policy["delete_window_minutes"],
            "pins_by": policy["pins_by"],
            "my_rooms": selectors.rooms_for(request.user),
            "add_member_form": AddMemberForm(),
            # The composer's client_id when it is posted without JavaScript: fresh per render, so a
            # double submit of one form stores one message (the script picks its own per message).
            "composer_client_id": uuid.uuid4(),
            "room_config": {
                **room_payload(room),
                "name": title,
                "kind": room.kind,
                "member": membership is not None,
                "muted_until": (
                    membership.muted_until.isoformat()
                    if membership is not None and membership.muted_until is not None
                    else None
                ),
                "first_seq": history[0].seq if history else room.last_seq + 1,
                "history_url": reverse("room_history", args=[room.slug]),
                "pins_url": reverse("room_pins", args=[room.slug]),
                # `{seq}` stands for the message's seq.
                "versions_url": reverse("message_versions", args=[room.slug, 0]).replace("/0/", "/{seq}/"),
                # `{root}` stands for the thread root's seq.
                "threads_url": _thread_url(room, 0).replace("/0/", "/{root}/"),
                "replies_url": reverse("thread_replies", args=[room.slug, 0]).replace("/0/", "/{root}/"),
                "follow_url": reverse("thread_follow", args=[room.slug, 0]).replace("/0/", "/{root}/"),
                "emoji_url": emoji_url(),
                "settings_url": reverse("room_settings", args=[room.slug]) if can_manage else None,
                "can_manage": can_manage,
                "can_see_versions": can_see_versions,
                "edit_window_minutes": policy["edit_window_minutes"],
                "delete_window_minutes": policy["delete_window_minutes"],
                "pins_by": policy["pins_by"],
                "me": request.user.username,
                "members": [
                    {
                        "id": m.user_id,
                        "username": m.user.username,
                        "display_name": m.user.shown_name,
                        "status": status_payload(m.user),
                    }
                    for m in members
                ],
                # Awareness (awareness/): what this room shows, and the user's own choices.
                "typing": typing_enabled(len(members)),
                "receipts": receipts_enabled(len(members)),
                "presence": settings.PARLEY["PRESENCE"],
                "awareness": my_awareness(request.user),
            },
        },
    )


@login_required
@answers_errors()
def room_settings(request, slug):
    """The room's rules for changing messages, for its owner and admins (403 for its members)."""
    room, _ = selectors.access_room(user=request.user, slug=slug, manager=True)
    form = RoomPolicyForm.for_room(room, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        update_room_policy(actor=request.user, room=room, **form.cleaned_data)
        messages.success(request, "Room settings saved.")
        return redirect("room_settings", slug=room.slug)
    return render(request, "messaging/room_settings.html", {"room": room, "form": form})


@login_required
@require_GET
@answers_errors(json=True)
def room_history(request, slug):
    """Older messages for the page's "load earlier" button, as JSON."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    before_seq = query_position(request, "before_seq", required=True)
    history = selectors.room_history(room, before_seq=before_seq, limit=settings.PARLEY["HISTORY_PAGE_SIZE"])
    return JsonResponse({"messages": [stored_message_payload(m) for m in history]})


@login_required
@require_GET
@answers_errors(json=True)
def message_versions(request, slug, seq):
    """Every version of one message, oldest first, for the "(edited)" marker's history view."""
    room, membership = selectors.access_room(user=request.user, slug=slug)
    if seq > MAX_POSITION:
        raise NoSuchMessage()
    versions = selectors.message_versions(room=room, membership=membership, seq=seq)
    return JsonResponse(
        {
            "seq": seq,
            "versions": [
                {
                    "body": version["body"],
                    "written_at": version["written_at"].isoformat(),
                    "replaced_at": version["replaced_at"].isoformat() if version["replaced_at"] else None,
                }
                for version in versions
            ],
        }
    )


@login_required
@require_GET
@answers_errors(json=True)
def room_pins(request, slug):
    """The room's pinned messages as they now are, the most recently pinned first."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    return JsonResponse({"messages": [stored_message_payload(m) for m in selectors.pinned_messages(room)]})


@functools.cache
def _emoji_body() -> tuple[bytes, str]:
    """The catalogue serialised once per process, and its version (a hash of it): it changes only
    when the `emoji` package does."""
    body = dumps(emoji_catalogue()).encode()
    return body, hashlib.sha256(body).hexdigest()[:16]


def emoji_url() -> str:
    """The catalogue's address with its version: a browser keeps it until the version changes."""
    return reverse("emoji") + f"?v={_emoji_body()[1]}"


@login_required
@require_GET
@gzip_page
@condition(etag_func=lambda request: _emoji_body()[1])
def emoji_json(request):
    """The reaction picker's catalogue: every emoji with its name and aliases."""
    body, version = _emoji_body()
    response = HttpResponse(body, content_type="application/json")
    # Private: it is behind the log-in. Under its versioned address it never changes, so the
    # browser keeps it for a year; without the version it revalidates by its ETag.
    if request.GET.get("v") == version:
        patch_cache_control(response, private=True, max_age=365 * 24 * 3600, immutable=True)
    else:
        patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
@require_POST
@answers_errors()
def message_send(request, slug):
    """The composer posted without JavaScript: the same action as the socket's, then back (PRG)."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    body = request.POST.get("body", "")
    # A reply (the thread page's form) goes back to its thread.
    thread_root = query_position_of(request.POST, "thread_root")
    also_in_room = form_flag(request.POST, "also_in_room", default=False)
    back = _thread_url(room, thread_root) if thread_root is not None else reverse("room", args=[room.slug])
    try:
        posted = send_message(
            author=request.user,
            room_id=room.id,
            body=body,
            client_id=request.POST.get("client_id", ""),
            thread_root=thread_root,
            also_in_room=also_in_room,
        )
    except NotFound:
        raise  # the room is gone (or was never visible): the 404 page, not a message
    except (NoSuchMessage, ThreadDepth) as error:
        # No thread to go back to: the room says why.
        messages.error(request, f"Your reply was not sent: {error.detail}")
        return redirect("room", slug=room.slug)
    except ParleyError as error:
        messages.error(request, f"Your message was not sent: {error.detail}")
        return redirect(back)
    if not posted.created and posted.message.body != clean_body(body):
        # The client_id of a page already sent from (the Back button): this text was not stored.
        messages.error(request, "Your message was not sent: that page was out of date. Please send it again.")
        return redirect(back)
    if posted.refusal is not None:
        messages.warning(request, posted.refusal.detail)
    return redirect(back + f"#m{posted.message.seq}")


def form_flag(data, name: str, *, default: bool | None) -> bool | None:
    """A form's yes/no field: "1" or "0" (a checkbox posts "1" or nothing); else BadRequest."""
    value = data.get(name)
    if value is None:
        return default
    if value not in ("0", "1"):
        raise BadRequest(f"{name} must be 1 or 0.")
    return value == "1"


def _thread_url(room, root_seq: int) -> str:
    return reverse("thread", args=[room.slug, root_seq])


@login_required
@answers_errors()
def thread_detail(request, slug, root_seq):
    """One thread on a page of its own (it works without JavaScript): the root, its replies,
    a reply form and the reader's follow state. Like the room's page, it reads nothing."""
    room, membership = selectors.access_room(user=request.user, slug=slug)
    root = selectors.thread_root(room=room, seq=_position(root_seq))
    limit = settings.PARLEY["THREAD_PAGE_SIZE"]
    before_seq = query_position(request, "before_seq")
    replies = selectors.thread_replies(root, before_seq=before_seq, limit=limit + 1)
    has_older = len(replies) > limit
    replies = replies[-limit:]
    standing = selectors.thread_standing(user=request.user, root=root)
    return render(
        request,
        "messaging/thread.html",
        {
            "room": room,
            "title": selectors.room_title(room, user=request.user),
            "membership": membership,
            "root": root,
            "replies": replies,
            "has_older": has_older,
            "thread": thread_payload(standing, root),
            "my_rooms": selectors.rooms_for(request.user),
            "composer_client_id": uuid.uuid4(),
        },
    )


@login_required
@require_GET
@answers_errors(json=True)
def thread_replies(request, slug, root_seq):
    """The thread for the panel's script: its root, its replies (the newest page, or those
    before `before_seq`), oldest first, and the reader's standing in it."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    root = selectors.thread_root(room=room, seq=_position(root_seq))
    before_seq = query_position(request, "before_seq")
    limit = settings.PARLEY["THREAD_PAGE_SIZE"]
    replies = selectors.thread_replies(root, before_seq=before_seq, limit=limit + 1)
    has_more = len(replies) > limit
    replies = replies[-limit:]
    standing = selectors.thread_standing(user=request.user, root=root)
    return JsonResponse(
        {
            "root": stored_message_payload(root),
            "replies": [stored_message_payload(m) for m in replies],
            "has_older": has_more,
            "thread": thread_payload(standing, root),
        }
    )


@login_required
@require_POST
@answers_errors()
def thread_follow(request, slug, root_seq):
    """Follow, unfollow, mute or unmute a thread from its page: the same action as the
    socket's `thread.follow`, then back to the thread."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    root_seq = _position(root_seq)
    following = form_flag(request.POST, "following", default=True)
    muted = form_flag(request.POST, "muted", default=None)
    try:
        follow_thread(user=request.user, room_id=room.id, root_seq=root_seq, following=following, muted=muted)
    except NotFound:
        raise
    except ParleyError as error:
        messages.error(request, error.detail)
    return redirect(_thread_url(room, root_seq))


@login_required
@answers_errors(json=True)
def threads_view(request):
    """The threads the reader follows, newest activity first, with unread replies counted: a
    page, or `?format=json` for the script."""
    follows = selectors.followed_threads(request.user)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "threads": [
                    {
                        **thread_payload(follow, follow.root),
                        "root_message": stored_message_payload(follow.root),
                        "room_slug": follow.room.slug,
                        "room_name": follow.room.name,
                        "url": _thread_url(follow.room, follow.root.seq),
                    }
                    for follow in follows
                ]
            }
        )
    return render(
        request,
        "messaging/threads.html",
        {"follows": follows, "my_rooms": selectors.rooms_for(request.user)},
    )


def _position(value: int) -> int:
    if not 1 <= value <= MAX_POSITION:
        raise NoSuchMessage()
    return value


def _changeable_message(request, slug, seq):
    """The room and one of its messages, for the pages that change it without JavaScript."""
    room, membership = selectors.access_room(user=request.user, slug=slug)
    message = ChatMessage.objects.filter(room=room, seq=seq).first() if seq <= MAX_POSITION else None
    if message is None:
        raise NoSuchMessage()
    if message.is_deleted:
        raise MessageDeleted()
    return room, membership, message


@login_required
@answers_errors()
def message_edit(request, slug, seq):
    """Editing without JavaScript: a form with the message's text (GET), then the same action as
    the socket's `message.edit` (POST) and back to the message."""
    room, _, message = _changeable_message(request, slug, seq)
    if message.author_id != request.user.pk:
        raise PermissionDenied("You can only edit your own messages.")
    body, error = message.body, None
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            edit_message(
                user=request.user,
                room_id=room.id,
                seq=seq,
                body=body,
                client_id=request.POST.get("client_id", ""),
            )
        except NotFound:
            raise
        except ParleyError as refused:
            error = refused.detail
        else:
            return redirect(reverse("room", args=[room.slug]) + f"#m{seq}")
    return render(
        request,
        "messaging/message_change.html",
        # A fresh client_id per form: a double submit is one edit.
        {
            "room": room,
            "message": message,
            "editing": True,
            "body": body,
            "error": error,
            "client_id": uuid.uuid4(),
        },
        status=200 if error is None else 400,
    )


@login_required
@answers_errors()
def message_delete(request, slug, seq):
    """Deleting without JavaScript: a confirmation (GET), then the same action as the socket's
    `message.delete` (POST) and back to where the message was."""
    room, membership, message = _changeable_message(request, slug, seq)
    if message.author_id != request.user.pk and not (membership is not None and membership.can_manage):
        raise PermissionDenied("Only the room's owner and admins can delete other people's messages.")
    if request.method == "POST":
        try:
            delete_message(user=request.user, room_id=room.id, seq=seq)
        except NotFound:
            raise
        except ParleyError as refused:
            messages.error(request, f"The message was not deleted: {refused.detail}")
        else:
            messages.success(request, "Message deleted.")
        return redirect(reverse("room", args=[room.slug]) + f"#m{seq}")
    return render(
        request, "messaging/message_change.html", {"room": room, "message": message, "editing": False}
    )


def _act(request, slug, action, success: str):
    """Run a membership action on a visible room and come back with a message either way."""
    room, _ = selectors.access_room(user=request.user, slug=slug)
    try:
        action(room)
    except NotFound:
        raise  # the room is gone (or was never visible): the 404 page, not a message
    except ParleyError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, success)
    return room


@login_required
@require_POST
@answers_errors()
def room_join(request, slug):
    room = _act(request, slug, lambda room: join_room(user=request.user, room=room), "Joined.")
    return redirect("room", slug=room.slug)


@login_required
@require_POST
@answers_errors()
def room_leave(request, slug):
    _act(request, slug, lambda room: leave_room(user=request.user, room=room), "You left the room.")
    return redirect("home")


@login_required
@require_POST
@answers_errors()
def member_add(request, slug):
    form = AddMemberForm(request.POST)
    username = form.data.get("username", "")
    room = _act(
        request,
        slug,
        lambda room: add_member(actor=request.user, room=room, username=username),
        f"Added {username}.",
    )
    return redirect("room", slug=room.slug)


@login_required
@require_POST
@answers_errors()
def member_remove(request, slug, user_id):
    user = get_object_or_404(get_user_model(), pk=user_id)
    room = _act(
        request,
        slug,
        lambda room: remove_member(actor=request.user, room=room, user=user),
        f"Removed {user.username}.",
    )
    return redirect("room", slug=room.slug)


def wants_json(request) -> bool:
    return (
        "application/json" in request.headers.get("Accept", "")
        or request.headers.get("X-Requested-With") == "XMLHttpRequest"
    )


@login_required
@answers_errors()
def direct_new(request):
    """ "New message": pick the people (a page that works without JavaScript; direct.js filters
    the list as one types)."""
    chosen = [name for name in request.GET.getlist("username") if name]
    return render(
        request,
        "messaging/direct_new.html",
        {
            "people": selectors.people_to_message(request.user),
            "chosen": {name.casefold() for name in chosen},
            "max_people": settings.PARLEY["DM_MAX_PEOPLE"],
            "my_rooms": selectors.rooms_for(request.user),
        },
    )


@login_required
@require_POST
def direct_start(request):
    """Start (or open) the direct conversation with the people posted (`username`, once per
    person): the conversation's page, or for the script `{"room", "url", "created"}`."""
    usernames = request.POST.getlist("username")
    try:
        started = start_direct(starter=request.user, usernames=usernames)
    except ParleyError as error:
        if wants_json(request):
            body = {"code": error.code, "detail": error.detail, **error.extra()}
            return JsonResponse(body, status=HTTP_STATUS.get(error.code, 500))
        messages.error(request, error.detail)
        query = urlencode([("username", name) for name in usernames if name])
        return redirect(reverse("direct_new") + (f"?{query}" if query else ""))
    room = started.room
    url = reverse("room", args=[room.slug])
    if not wants_json(request):
        return redirect(url)
    people = selectors.direct_people(user_id=request.user.pk, room_ids=[room.pk])[room.pk]
    return JsonResponse(
        {
            "room": {
                **room_payload(room),
                "name": ", ".join(person.shown_name for person in people),
                "kind": room.kind,
                "people": [author_payload(person) for person in people],
            },
            "url": url,
            "created": started.created,
        }
    )
