"""Every write to notifications."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from messaging.models import ChatMessage
from messaging.realtime import outlet

from .models import Notification, PendingNotification
from .selectors import unread_count
from .serializers import notification_new_frame, notification_read_frame

# Pending messages handled in one go; the rest wait for the next round.
PENDING_BATCH = 100


def make_pending_notifications(*, message_ids: Iterable[int] | None = None) -> list[tuple[int, str]]:
    """Make the notifications of pending messages (these ones, or the oldest pending), each
    message in its own transaction that also deletes its pending row; returns the
    `notification.new` frames to send, as (recipient id, frame).

    Safe to run twice and in several processes at once: a message whose pending row another
    run already took is skipped, and recipients already notified are left out.
    """
    pending = PendingNotification.objects.order_by("created_at")
    if message_ids is not None:
        pending = pending.filter(message_id__in=list(message_ids))
    frames: list[tuple[int, str]] = []
    for message_id in list(pending.values_list("message_id", flat=True)[:PENDING_BATCH]):
        with transaction.atomic():
            if not PendingNotification.objects.filter(message_id=message_id).delete()[0]:
                continue  # another run took it
            message = (
                ChatMessage.objects.select_related("author")
                .prefetch_related("mentioned_users")
                .get(pk=message_id)
            )
            mentioned = list(message.mentioned_users.all())
            mentions = sorted(user.username for user in mentioned)
            created = notify_mentions(
                message=message, recipient_ids=[u.id for u in mentioned], may_exist=True
            )
        frames += [(n.recipient_id, notification_new_frame(n, mentions)) for n in created]
    return frames


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
            frame = notification_read_frame(ids, unread_count(recipient))
            outlet.send_to_user_on_commit(recipient.id, frame)
    return marked
