"""Reads of reminders, and the message a reminder may be set on (the one access rule)."""

from datetime import datetime, timedelta

from django.db.models import QuerySet

from messaging.errors import NotFound
from messaging.models import ChatMessage, Membership
from messaging.selectors import access_room

from .errors import NoSuchMessage
from .models import Reminder

# How far back the reminders page shows the ones already delivered.
RECENT_DELIVERED = timedelta(days=7)


def message_to_remind(*, user, room_id: int, seq: int) -> ChatMessage:
    """The message a reminder is set on: one the user reads as a member of its room.

    A room the user may not see and a message that is not there are the same `not_found`
    (`access_room`'s rule). A reader of a public room who is not a member is refused
    `not_member`: notifications are shown only for the rooms one is in
    (notifications.selectors.visible_notifications), so the reminder could never be seen.
    """
    try:
        room, _ = access_room(user=user, room_id=room_id, member=True)
    except NotFound:
        raise NoSuchMessage() from None
    message = ChatMessage.objects.filter(room=room, seq=seq).first()
    if message is None:
        raise NoSuchMessage()
    return message


def may_read(*, user_id: int, message: ChatMessage) -> bool:
    """Whether a due reminder may still show its message: not deleted, and the user still in
    its room (left or removed: nothing of it is shown, as for notifications)."""
    if message.deleted_at is not None:
        return False
    return Membership.objects.filter(user_id=user_id, room_id=message.room_id).exists()


def _shown(user) -> QuerySet[Reminder]:
    """The user's reminders on messages of rooms they are still in: a reminder in a room they
    left says nothing about it (it is dropped when due)."""
    return (
        Reminder.objects.filter(user=user, message__room__memberships__user=user)
        .select_related("message", "message__room", "message__author")
        .order_by("remind_at", "id")
    )


def pending_reminders(user) -> list[Reminder]:
    return list(_shown(user).filter(state=Reminder.State.PENDING))


def recently_delivered(user, *, now: datetime, limit: int = 50) -> list[Reminder]:
    return list(
        _shown(user)
        .filter(state=Reminder.State.DELIVERED, done_at__gte=now - RECENT_DELIVERED)
        .order_by("-done_at", "-id")[:limit]
    )


def pending_count(user) -> int:
    """Every pending reminder of the user, shown or not: what the limit counts."""
    return Reminder.objects.filter(user=user, state=Reminder.State.PENDING).count()
