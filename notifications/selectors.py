"""Reads of a user's notifications."""

from collections.abc import Iterable

from django.db.models import Count, F, QuerySet

from .models import Notification


def visible_notifications(user) -> QuerySet[Notification]:
    """The user's notifications from rooms they are still in: a member removed from a private
    room no longer sees what was said there, not even in a notification."""
    return Notification.objects.filter(recipient=user, room__memberships__user=user)


def unread_count(user) -> int:
    return visible_notifications(user).filter(read_at__isnull=True).count()


def unread_counts(user_ids: Iterable[int]) -> dict[int, int]:
    """`unread_count` of several users in one query (a user without any is left out)."""
    rows = (
        Notification.objects.filter(
            recipient_id__in=list(user_ids),
            read_at__isnull=True,
            room__memberships__user_id=F("recipient_id"),
        )
        .values("recipient_id")
        .annotate(count=Count("id"))
        .values_list("recipient_id", "count")
    )
    return dict(rows)


def recent_notifications(user, *, limit: int = 100) -> QuerySet[Notification]:
    return (
        visible_notifications(user)
        .select_related("actor", "room", "message", "message__author")
        .order_by("-created_at", "-id")[:limit]
    )
