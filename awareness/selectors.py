"""The reads of awareness: who may see whom, rooms' sizes, read pointers."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count

from messaging.models import Membership
from messaging.selectors import access_room
from messaging.serializers import author_payload

from .serializers import read_payload, status_payload

User = get_user_model()

# Users one `presence.sync` may ask about: a room's members fit; a scan of everyone does not.
MAX_PRESENCE_USERS = 500


def visible_users(viewer, user_ids: list[int]) -> dict:
    """Of `user_ids`, the users the viewer may see the presence of: the viewer, and everyone who
    shares a room with the viewer (the same rule as being listed among a room's members)."""
    shared = Membership.objects.filter(
        user_id__in=user_ids, room__in=Membership.objects.filter(user=viewer).values("room_id")
    ).values("user_id")
    users = User.objects.filter(pk__in=shared) | User.objects.filter(pk=viewer.pk, pk__in=user_ids)
    return {user.id: user for user in users.filter(is_active=True).distinct()}


def users_and_rooms(user_ids: list[int], *, without_rooms: list[int]) -> tuple[dict, dict[int, list[int]]]:
    """The users, and for those in `without_rooms` their room ids (whom to tell about them)."""
    users = {user.id: user for user in User.objects.filter(pk__in=user_ids)}
    rooms: dict[int, list[int]] = {}
    if without_rooms:
        for user_id, room_id in Membership.objects.filter(user_id__in=without_rooms).values_list(
            "user_id", "room_id"
        ):
            rooms.setdefault(user_id, []).append(room_id)
    return users, rooms


def member_counts(room_ids: list[int]) -> dict[int, int]:
    rows = Membership.objects.filter(room_id__in=room_ids).values("room_id").annotate(n=Count("id"))
    return {row["room_id"]: row["n"] for row in rows}


def receipts_enabled(member_count: int) -> bool:
    return settings.PARLEY["READ_RECEIPTS"] and member_count <= settings.PARLEY["RECEIPTS_MAX_MEMBERS"]


def typing_enabled(member_count: int) -> bool:
    return settings.PARLEY["TYPING"] and member_count <= settings.PARLEY["TYPING_MAX_MEMBERS"]


def my_awareness(user) -> dict:
    """The user's own choices, for their pages: invisible, sharing read state, the status."""
    return {
        "invisible": user.invisible,
        "share_read_state": user.share_read_state,
        "status": status_payload(user),
    }


def room_reads(*, viewer, room_id: int) -> tuple[bool, bool, list[dict]]:
    """(enabled, shared, reads) for the room: every other member who shares a read state, with
    the seq they have read up to. Empty unless receipts are on in the room and the viewer shares
    too (reciprocity). Raises the room's refusal for a non-member."""
    access_room(user=viewer, room_id=room_id, member=True)
    memberships = Membership.objects.filter(room_id=room_id)
    # Counted first: a big room's members are never loaded for nothing.
    enabled = receipts_enabled(memberships.count())
    shared = viewer.share_read_state
    if not (enabled and shared):
        return enabled, shared, []
    rows = list(memberships.select_related("user"))
    reads = [
        read_payload(author_payload(m.user), m.last_read_seq)
        for m in rows
        if m.user_id != viewer.id and m.user.share_read_state and m.user.is_active
    ]
    return enabled, shared, reads
