"""Reads of a user's notifications."""

from django.db.models import QuerySet

from .models import Notification


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def recent_notifications(user, *, limit: int = 100) -> QuerySet[Notification]:
    return (
        Notification.objects.filter(recipient=user)
        .select_related("actor", "room", "message", "message__author")
        .order_by("-created_at", "-id")[:limit]
    )
