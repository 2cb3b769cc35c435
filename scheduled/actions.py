"""Scheduling a message, changing or cancelling it while it waits, and sending it at its time.

Sending is `messaging.actions.messages.send_message`'s path split at the commit: the message
is stored (`post_message`, client_id `scheduled-<id>`) in the transaction that marks the row
sent, and once that has committed it goes to every member's sockets and its notifications run
(`deliver_posted`, the rest of `send_message`). A run that dies before the commit leaves the
row pending, to be sent by the next sweep; one that dies after it finds the row sent and stores
nothing (the missed publish the clients' sync recovers, the missed notifications are pending
rows the notifier takes up).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from messaging.actions.messages import clean_body, deliver_posted, post_message
from messaging.errors import BadRequest, MessageDeleted, ParleyError, Unauthenticated
from messaging.models import ChatRoom
from messaging.selectors import access_room, thread_root

from .errors import AlreadySent, NoSuchScheduled, NotPending, SendAtInPast, SendAtTooFar, TooManyScheduled
from .models import ScheduledMessage

logger = logging.getLogger(__name__)
User = get_user_model()

# Due rows claimed per query of the sweep; it goes on until none is left.
SWEEP_BATCH = 100

# The detail a failed row shows its author, where the error's own is written for a live request.
FAILURE_DETAILS = {
    "unauthenticated": "Your account was deactivated.",
    "not_found": "The room is gone, or you can no longer see it.",
    "not_member": "You are no longer a member of this room.",
}


def max_pending() -> int:
    return settings.PARLEY["SCHEDULED_MAX_PENDING"]


def max_days_ahead() -> int:
    return settings.PARLEY["SCHEDULED_MAX_DAYS_AHEAD"]


# Sent and cancelled ones are deleted this many days after (the page shows a week of those sent);
# failed ones stay until their author dismisses or reschedules them.
RETENTION_DAYS = 30


def schedule_message(
    *,
    author,
    room_id: int,
    body: str,
    send_at: datetime,
    thread_root: int | None = None,
    also_in_room: bool = False,
    now: datetime | None = None,
) -> ScheduledMessage:
    """Keep a message to send in the room (or as a reply in the thread of the message at seq
    `thread_root`) at `send_at`: the body by the rules of any message, the author able to write
    there now, the time in the future and at most SCHEDULED_MAX_DAYS_AHEAD away, and at most
    SCHEDULED_MAX_PENDING waiting per person."""
    now = now or timezone.now()
    body = clean_body(body)
    _check_send_at(send_at, now=now)
    if also_in_room and thread_root is None:
        raise BadRequest("“also_in_room” is for replies: give the thread's “thread_root”.")
    with transaction.atomic():
        room = check_can_write(author=author, room_id=room_id)
        if thread_root is not None:
            _check_thread_root(room=room, seq=thread_root)
        # The person's row orders their concurrent schedulings, so the limit holds on PostgreSQL
        # too (SQLite's IMMEDIATE transactions are serialised anyway).
        User.objects.select_for_update().filter(pk=author.pk).exists()
        limit = max_pending()
        waiting = ScheduledMessage.objects.filter(author=author, state=ScheduledMessage.State.PENDING)
        if waiting.count() >= limit:
            raise TooManyScheduled(limit)
        return ScheduledMessage.objects.create(
            author=author,
            room=room,
            body=body,
            send_at=send_at,
            thread_root_seq=thread_root,
            also_in_room=also_in_room,
            created_at=now,
            updated_at=now,
        )


def edit_scheduled_message(
    *,
    author,
    scheduled_id: int,
    body: str | None = None,
    send_at: datetime | None = None,
    now: datetime | None = None,
) -> ScheduledMessage:
    """Change the text or the time (or both) of a message that has not been sent yet. A failed
    one given a new time is scheduled again, if its author may still write in its room."""
    now = now or timezone.now()
    if body is not None:
        body = clean_body(body)
    if send_at is not None:
        _check_send_at(send_at, now=now)
    with transaction.atomic():
        scheduled = _own_for_update(author=author, scheduled_id=scheduled_id)
        if scheduled.state == ScheduledMessage.State.FAILED:
            if send_at is None:
                raise BadRequest("Choose a new time to send this message again.")
            check_can_write(author=author, room_id=scheduled.room_id)
            scheduled.state = ScheduledMessage.State.PENDING
            scheduled.failure_code = scheduled.failure_detail = ""
            scheduled.finished_at = None
        _check_pending(scheduled)
        if body is not None:
            scheduled.body = body
        if send_at is not None:
            scheduled.send_at = send_at
        scheduled.updated_at = now
        scheduled.save()
    return scheduled


def cancel_scheduled_message(*, author, scheduled_id: int, now: datetime | None = None) -> ScheduledMessage:
    """Cancel a message that has not been sent (or dismiss a failed one). Cancelling one that is
    already cancelled changes nothing; one that was sent is `already_sent`."""
    now = now or timezone.now()
    with transaction.atomic():
        scheduled = _own_for_update(author=author, scheduled_id=scheduled_id)
        if scheduled.state == ScheduledMessage.State.CANCELLED:
            return scheduled
        if scheduled.state == ScheduledMessage.State.SENT:
            raise AlreadySent()
        scheduled.state = ScheduledMessage.State.CANCELLED
        scheduled.failure_code = scheduled.failure_detail = ""
        scheduled.finished_at = scheduled.updated_at = now
        scheduled.save()
    return scheduled


def send_due_messages(now: datetime | None = None) -> int:
    """The sweep (jobs.sweeps): send every pending message due by `now`, each in its own
    transaction; how many were sent. Safe to run in two workers at once and to run again."""
    now = now or timezone.now()
    sent = 0
    tried: set[int] = set()
    while True:
        due = list(
            ScheduledMessage.objects.filter(state=ScheduledMessage.State.PENDING, send_at__lte=now)
            .exclude(pk__in=tried)
            .order_by("send_at", "id")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if not due:
            return sent
        for scheduled_id in due:
            tried.add(scheduled_id)
            try:
                if send_scheduled_message(scheduled_id=scheduled_id, now=now):
                    sent += 1
            except Exception:
                # Not a refusal (those mark the row failed): the database, most likely. The row is
                # still pending, and the next sweep tries it again.
                logger.exception(
                    "Scheduled message %s failed to send; the next sweep tries again", scheduled_id
                )


def send_scheduled_message(*, scheduled_id: int, now: datetime) -> bool:
    """Send one due message: True if this call sent it, False if it was not due or pending any
    more (another worker took it, its author changed or cancelled it) or was refused (then it
    is marked failed, with the refusal's code and detail, for its author to see)."""
    with transaction.atomic():
        # Another worker's claim is skipped, not waited for (PostgreSQL; SQLite's write
        # transaction is exclusive); the state is re-checked under the lock either way.
        scheduled = (
            ScheduledMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=scheduled_id, state=ScheduledMessage.State.PENDING, send_at__lte=now)
            .first()
        )
        if scheduled is None:
            return False
        try:
            posted = post_message(
                author=scheduled.author,
                room_id=scheduled.room_id,
                body=scheduled.body,
                client_id=scheduled.client_id,
                thread_root=scheduled.thread_root_seq,
                also_in_room=scheduled.also_in_room,
            )
        except ParleyError as refused:
            scheduled.state = ScheduledMessage.State.FAILED
            scheduled.failure_code = refused.code
            scheduled.failure_detail = FAILURE_DETAILS.get(refused.code, refused.detail)[:300]
            scheduled.finished_at = scheduled.updated_at = now
            scheduled.save()
            logger.info("Scheduled message %s was refused: %s", scheduled_id, refused.code)
            return False
        scheduled.state = ScheduledMessage.State.SENT
        scheduled.sent_message = posted.message
        scheduled.finished_at = scheduled.updated_at = now
        scheduled.save()
        # Fault injection point (tests): a worker killed here has stored nothing; killed after
        # the commit below, before `deliver_posted`, it has stored the message and its mark.
        transaction.on_commit(lambda: deliver_posted(posted))
    return True


def prune_finished(now: datetime) -> int:
    """Housekeeping (hourly): sent and cancelled scheduled messages finished more than
    RETENTION_DAYS ago (a sent one's message stays, of course)."""
    done = [ScheduledMessage.State.SENT, ScheduledMessage.State.CANCELLED]
    cutoff = now - timedelta(days=RETENTION_DAYS)
    return ScheduledMessage.objects.filter(state__in=done, finished_at__lt=cutoff).delete()[0]


def check_can_write(*, author, room_id: int) -> ChatRoom:
    """The room, if the author may write there now (what `post_message` will check again at
    the time): an active account, a member, the room not archived."""
    if not User.objects.filter(pk=author.pk, is_active=True).exists():
        raise Unauthenticated()
    room, _ = access_room(user=author, room_id=room_id, member=True)
    if room.is_archived:
        raise BadRequest("This room is archived; it takes no new messages.")
    return room


def _check_thread_root(*, room: ChatRoom, seq: int) -> None:
    root = thread_root(room=room, seq=seq)
    if root.is_deleted:
        raise MessageDeleted("This message was deleted; its thread takes no new replies.")


def _check_send_at(send_at: datetime, *, now: datetime) -> None:
    if timezone.is_naive(send_at):
        raise BadRequest("send_at needs its time zone.")
    if send_at <= now:
        raise SendAtInPast()
    days = max_days_ahead()
    if send_at > now + timedelta(days=days):
        raise SendAtTooFar(days)


def _own_for_update(*, author, scheduled_id: int) -> ScheduledMessage:
    scheduled = ScheduledMessage.objects.select_for_update().filter(pk=scheduled_id, author=author).first()
    if scheduled is None:
        raise NoSuchScheduled()
    return scheduled


def _check_pending(scheduled: ScheduledMessage) -> None:
    if scheduled.state == ScheduledMessage.State.SENT:
        raise AlreadySent()
    if scheduled.state != ScheduledMessage.State.PENDING:
        raise NotPending()
