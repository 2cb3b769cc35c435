"""What a person has scheduled: the list page's sections and a room's indicator."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from messaging.models import ChatRoom

from .models import ScheduledMessage

# The list shows the sent ones of the last days, at most this many.
RECENT_DAYS = 7
RECENT_LIMIT = 20


@dataclass(frozen=True)
class ScheduledList:
    pending: list[ScheduledMessage]
    failed: list[ScheduledMessage]
    sent: list[ScheduledMessage]


def scheduled_messages(*, user, room_id: int | None = None, now: datetime | None = None) -> ScheduledList:
    """The person's pending messages (soonest first), the failed ones not dismissed, and the
    recently sent (newest first); only those of one room with `room_id`."""
    now = now or timezone.now()
    mine = _mine(user, room_id)
    state = ScheduledMessage.State
    return ScheduledList(
        pending=list(mine.filter(state=state.PENDING).order_by("send_at", "id")),
        failed=list(mine.filter(state=state.FAILED).order_by("-finished_at", "-id")),
        sent=list(
            mine.filter(state=state.SENT, finished_at__gte=now - timedelta(days=RECENT_DAYS)).order_by(
                "-finished_at", "-id"
            )[:RECENT_LIMIT]
        ),
    )


def room_indicator(*, user, room_id: int) -> dict[str, int]:
    """How many of the person's messages wait to be sent in the room, and how many failed."""
    state = ScheduledMessage.State
    return ScheduledMessage.objects.filter(author=user, room_id=room_id).aggregate(
        pending=Count("pk", filter=Q(state=state.PENDING)), failed=Count("pk", filter=Q(state=state.FAILED))
    )


def writable_rooms(*, user) -> QuerySet[ChatRoom]:
    """The rooms the person may schedule a message in now: a member's, not archived."""
    return ChatRoom.objects.filter(memberships__user=user, archived_at__isnull=True).order_by("name")


def _mine(user, room_id: int | None) -> QuerySet[ScheduledMessage]:
    mine = ScheduledMessage.objects.filter(author=user).select_related("room", "sent_message")
    return mine.filter(room_id=room_id) if room_id is not None else mine
