"""Reads of a user's notifications."""

from django.db.models import QuerySet

from .models import Notification


def visible_notifications(user) -> QuerySet[Notification]:
    """The user's notifications from rooms they are still in: a member removed from a private
    room no longer sees what was said there, not even in a notification."""
    return Notification.objects.filter(recipient=user, room__memberships__user=user)


def unread_count(user) -> int:
    return visible_notifications(user).filter(read_at__isnull=True).count()


def recent_notifications(user, *, limit: int = 100) -> QuerySet[Notification]:
    return (
        visible_notifications(user)
        .select_related("actor", "room", "message", "message__author")
        .order_by("-created_at", "-id")[:limit]
    )
