"""Every write to notifications."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from messaging.models import ChatMessage

from .models import Notification


def notify_mentions(*, message: ChatMessage, recipient_ids: Iterable[int]) -> list[Notification]:
    """Create one mention notification per recipient, in one insert."""
    notifications = [
        Notification(
            recipient_id=recipient_id,
            kind=Notification.Kind.MENTION,
            actor=message.author,
            room_id=message.room_id,
            message=message,
            created_at=message.created_at,
        )
        for recipient_id in recipient_ids
    ]
    with transaction.atomic():
        created = Notification.objects.bulk_create(notifications)
    return created


def mark_read(*, recipient, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the recipient's notifications read (all unread ones when no ids are given)."""
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    return unread.update(read_at=timezone.now())
