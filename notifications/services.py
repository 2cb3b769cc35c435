"""Every write to notifications."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from messaging.events import send_frame_to_user
from messaging.models import ChatMessage
from messaging.serializers import NOTIFICATION_READ, dumps

from .models import Notification
from .selectors import unread_count


def notify_mentions(
    *, message: ChatMessage, recipient_ids: Iterable[int], may_exist: bool = False
) -> list[Notification]:
    """Create one mention notification per recipient, in one insert; returns the created ones.

    With `may_exist` (a resent message), recipients already notified of it are left out, so
    running the step twice notifies nobody twice.
    """
    recipient_ids = set(recipient_ids)
    if may_exist:
        recipient_ids -= set(
            Notification.objects.filter(
                message=message, kind=Notification.Kind.MENTION, recipient_id__in=recipient_ids
            ).values_list("recipient_id", flat=True)
        )
    notifications = [
        Notification(
            recipient_id=recipient_id,
            kind=Notification.Kind.MENTION,
            actor=message.author,
            room_id=message.room_id,
            message=message,
            created_at=message.created_at,
        )
        for recipient_id in sorted(recipient_ids)
    ]
    with transaction.atomic():
        created = Notification.objects.bulk_create(notifications)
    return created


def mark_read(*, recipient, notification_ids: Iterable[int] | None = None) -> int:
    """Mark the recipient's notifications read (all unread ones when no ids are given).

    The recipient's open tabs get a `notification.read` frame with the new unread count.
    """
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=list(notification_ids))
    with transaction.atomic():
        ids = list(unread.values_list("pk", flat=True))
        marked = Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
        if marked:
            frame = dumps({"type": NOTIFICATION_READ, "ids": ids, "unread": unread_count(recipient)})
            transaction.on_commit(lambda: send_frame_to_user(recipient.id, frame))
    return marked
