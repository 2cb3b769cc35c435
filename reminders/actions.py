"""Every write to reminders: setting one, cancelling one, and delivering those that are due."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from messaging.errors import BadRequest, MessageDeleted
from messaging.models import ChatMessage
from messaging.realtime import outlet
from notifications.models import Notification
from notifications.selectors import unread_count
from notifications.serializers import notification_new_frame

from . import selectors
from .errors import AlreadyDelivered, InThePast, NoSuchReminder, ReminderLimit, TooFarAhead
from .models import Reminder

logger = logging.getLogger(__name__)

User = get_user_model()

# Due reminders claimed in one transaction: on SQLite every write transaction holds the
# database's one write lock, which senders of messages then wait for, so a batch stays short.
DELIVERY_BATCH = 50


def max_pending() -> int:
    return settings.PARLEY["REMINDERS_MAX_PENDING"]


def max_days_ahead() -> int:
    return settings.PARLEY["REMINDERS_MAX_DAYS_AHEAD"]


def retention_days() -> int:
    return settings.PARLEY["REMINDERS_RETENTION_DAYS"]


def set_reminder(
    *, user, room_id: int, seq: int, remind_at: datetime, now: datetime | None = None
) -> Reminder:
    """Remind the user of the message `seq` of room `room_id` at `remind_at`.

    Refused with `bad_request` (a time without its offset), `in_the_past`, `too_far_ahead`
    (more than REMINDERS_MAX_DAYS_AHEAD days), `not_found` (no such message, or one the user
    may not read: the same answer), `not_member`, `message_deleted`, `reminder_limit` (already
    REMINDERS_MAX_PENDING pending). Setting the same reminder again (same message and time)
    returns the one already set.
    """
    now = now or timezone.now()
    if timezone.is_naive(remind_at):
        raise BadRequest("remind_at needs its time zone offset.")
    if remind_at <= now:
        raise InThePast()
    days = max_days_ahead()
    if remind_at > now + timedelta(days=days):
        raise TooFarAhead(days)
    message = selectors.message_to_remind(user=user, room_id=room_id, seq=seq)
    if message.deleted_at is not None:
        raise MessageDeleted()
    with transaction.atomic():
        # The user's reminders are set one at a time (their row locked on PostgreSQL; SQLite's
        # write transaction is exclusive anyway), so two at once cannot both pass the limit.
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
        pending = Reminder.objects.filter(user=user, state=Reminder.State.PENDING)
        same = pending.filter(message=message, remind_at=remind_at).first()
        if same is not None:
            return same
        limit = max_pending()
        if pending.count() >= limit:
            raise ReminderLimit(limit)
        reminder = Reminder.objects.create(user=user, message=message, remind_at=remind_at, created_at=now)
    reminder.message = message
    return reminder


def cancel_reminder(*, user, reminder_id: int) -> None:
    """Cancel one of the user's pending reminders: it is deleted. Someone else's or an unknown
    one is `not_found`; one delivered (or dropped) meanwhile is `already_delivered`."""
    with transaction.atomic():
        mine = Reminder.objects.filter(pk=reminder_id, user=user)
        if mine.filter(state=Reminder.State.PENDING).delete()[0]:
            return
        if mine.exists():
            raise AlreadyDelivered()
        raise NoSuchReminder()


def deliver_due_reminders(now: datetime) -> int:
    """Deliver every reminder due by `now`; returns how many were done (delivered or dropped).

    The sweep (jobs.sweeps) calls it every JOBS_SWEEP_SECONDS in the worker. Exactly once: each
    reminder's notification and its `delivered` mark commit in one transaction, and a reminder
    is claimed inside that transaction (PostgreSQL: its row locked, skipping rows another run
    holds; SQLite: the write transaction is exclusive) and its state checked again there, so two
    runs at once, or a run again after a crash, deliver nothing twice. The `notification.new`
    frame goes to the user's sockets after the commit.
    """
    done = 0
    while True:
        batch = _deliver_batch(now)
        if batch == 0:
            return done
        done += batch


def _deliver_batch(now: datetime) -> int:
    with transaction.atomic():
        due = Reminder.objects.filter(state=Reminder.State.PENDING, remind_at__lte=now).order_by(
            "remind_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:DELIVERY_BATCH])
        if not ids:
            return 0
        reminders = (
            Reminder.objects.filter(pk__in=ids, state=Reminder.State.PENDING)
            .select_related("message", "message__author", "message__pinned_by", "message__thread_root")
            .prefetch_related("message__mentioned_users")
            .order_by("remind_at", "id")
        )
        done = 0
        for reminder in reminders:
            _deliver_one(reminder, now)
            done += 1
        return done


def _deliver_one(reminder: Reminder, now: datetime) -> None:
    message = reminder.message
    if not selectors.may_read(user_id=reminder.user_id, message=message):
        # Left the room, or the message was deleted: nothing about it reaches the user.
        Reminder.objects.filter(pk=reminder.pk).update(state=Reminder.State.DROPPED, done_at=now)
        return
    notification, updated = _remind(user_id=reminder.user_id, message=message, now=now)
    Reminder.objects.filter(pk=reminder.pk).update(state=Reminder.State.DELIVERED, done_at=now)
    mentions = sorted(user.username for user in message.mentioned_users.all())
    frame = notification_new_frame(
        notification, mentions, updated=updated, unread=unread_count(reminder.user_id)
    )
    outlet.send_to_user_on_commit(reminder.user_id, frame)


def _remind(*, user_id: int, message: ChatMessage, now: datetime) -> tuple[Notification, bool]:
    """The user's reminder notification of the message, new, or (one per user and message, as
    for every kind) the one they had brought up to date: unread again, as of now. Returns it and
    whether it was there already (a client replaces it rather than adding it)."""
    mine = Notification.objects.filter(recipient_id=user_id, message=message, kind=Notification.Kind.REMINDER)
    notification = mine.select_for_update().first()
    if notification is None:
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    recipient_id=user_id,
                    kind=Notification.Kind.REMINDER,
                    actor=message.author,
                    room_id=message.room_id,
                    message=message,
                    created_at=now,
                )
            notification.message = message
            return notification, False
        except IntegrityError:
            # Made meanwhile by another run, for another reminder on this message.
            notification = mine.select_for_update().get()
    notification.read_at = None
    notification.created_at = now
    notification.actor = message.author
    notification.save(update_fields=["read_at", "created_at", "actor"])
    notification.message = message
    return notification, True


def prune_done_reminders(now: datetime) -> int:
    """Housekeeping (hourly): reminders delivered or dropped more than REMINDERS_RETENTION_DAYS
    ago are deleted (the page shows a week of them; their notifications are kept on their own)."""
    cutoff = now - timedelta(days=retention_days())
    return Reminder.objects.exclude(state=Reminder.State.PENDING).filter(done_at__lt=cutoff).delete()[0]
