"""`/search/`: the results page (works without JavaScript, its URL is shareable) and, asked for
JSON, what the header's search box shows as one types."""

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from messaging import selectors as rooms
from messaging.errors import BadRequest
from messaging.views import answers_errors, query_position

from .query import MAX_QUERY_CHARS
from .selectors import ORDERS, Hit, SearchResults, search_messages


def wants_json(request) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get("Accept", "")


def message_url(hit: Hit) -> str:
    """The message in context: its room's page around it, or a reply only in its thread on its
    thread's page (which the script opens beside the room)."""
    message = hit.message
    if message.thread_root_id and not message.in_room:
        return reverse("thread", args=[message.room.slug, message.thread_root.seq]) + f"#m{message.seq}"
    return reverse("room", args=[message.room.slug]) + f"?around={message.seq}#m{message.seq}"


def hit_payload(hit: Hit) -> dict:
    message = hit.message
    author = message.author
    return {
        "id": message.pk,
        "room": {"slug": message.room.slug, "name": message.room.name, "is_private": message.room.is_private},
        "seq": message.seq,
        "author": {"username": author.username, "display_name": author.shown_name} if author else None,
        "created_at": message.created_at.isoformat(),
        "url": message_url(hit),
        "snippet": [[text, marked] for text, marked in hit.snippet],
        "thread_root_seq": message.thread_root.seq if message.thread_root_id else None,
        "in_room": message.in_room,
        "is_pinned": message.pinned_at is not None,
    }


def next_url(results: SearchResults) -> str | None:
    return reverse("search") + "?" + urlencode(results.next) if results.next else None


@login_required
@require_GET
def search(request):
    """The results page, or (asked for JSON) the results as the header's box shows them; a
    malformed request is answered 400 in the same kind (a shared URL gets the 400 page)."""
    if wants_json(request):
        return _json_errors(_search)(request)
    return _page_errors(_search)(request)


_json_errors = answers_errors(json=True)
_page_errors = answers_errors()


def _search(request):
    text = request.GET.get("q", "")
    if any("\x00" in request.GET.get(name, "") for name in ("q", "room", "tz")):
        raise BadRequest("The search contains a NUL character.")  # PostgreSQL's text cannot hold one
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"A search can be at most {MAX_QUERY_CHARS} characters long.")
    order = request.GET.get("order", "newest")
    if order not in ORDERS:
        raise BadRequest("order is newest or relevance.")
    room_slug = request.GET.get("room") or None
    results = search_messages(
        user=request.user,
        text=text,
        order=order,
        room_slug=room_slug,
        before=query_position(request, "before"),
        page=query_position(request, "page") or 1,
        zone=request.GET.get("tz") or None,
        limit=8 if request.GET.get("preview") == "1" else 20,
        similar=request.GET.get("similar") == "1",
    )
    if wants_json(request):
        return JsonResponse(
            {
                "query": text,
                "order": results.order,
                "results": [hit_payload(hit) for hit in results.hits],
                "more": results.more,
                "next": next_url(results),
                "problems": [problem.payload() for problem in results.problems],
                "notes": [note.payload() for note in results.notes],
                "fuzzy": results.fuzzy,
                "url": reverse("search") + "?" + urlencode({"q": text}),
            }
        )
    return render(
        request,
        "search/results.html",
        {
            "q": text,
            "results": results,
            "hits": [(hit, message_url(hit)) for hit in results.hits],
            "next_url": next_url(results),
            "order": results.order,
            "room_slug": room_slug or "",
            "searchable_rooms": rooms.readable_rooms(request.user).order_by("name").only("slug", "name"),
            "my_rooms": rooms.rooms_for(request.user),
        },
    )
