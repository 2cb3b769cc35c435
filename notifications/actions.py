"""Every write to notifications."""

import contextlib
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from messaging.actions.threads import follow_for_reply
from messaging.models import ChatMessage, Membership, ThreadFollow
from messaging.realtime import outlet
from messaging.serializers import message_payload

from . import audience
from .models import Notification, PendingNotification
from .selectors import unread_count, unread_counts
from .serializers import (
    bulk_notification_frame,
    notification_new_frame,
    notification_read_frame,
    reply_notification_frame,
)

# Pending messages handled in one go; the rest wait for the next round.
PENDING_BATCH = 100


def make_pending_notifications(
    *,
    message_ids: Iterable[int] | None = None,
    presence: audience.PresenceReader | None = None,
    now: datetime | None = None,
) -> list[tuple[int, str]]:
    """Make the notifications of pending messages (these ones, or the oldest pending), each
    message in a transaction (or savepoint) of its own that also deletes its pending row;
    returns the `notification.new` frames to send, as (recipient id, frame). `presence` says
    who is here for @here (None: the database's `present_at`); `now` decides mutes and DND.

    Safe to run twice and in several processes at once: a message whose pending row another
    run already took is skipped, and recipients already notified are left out.
    """
    pending = PendingNotification.objects.order_by("created_at")
    if message_ids is not None:
        pending = pending.filter(message_id__in=list(message_ids))
    frames: list[tuple[int, str]] = []
    # On SQLite every write transaction takes the database's one write lock, which the senders
    # then wait for (sleeping in SQLite's busy handler): a few messages share one (each in a
    # savepoint), so the lock changes hands less often, yet is never held long. On PostgreSQL
    # each message has a transaction of its own: its row locks hold up nobody's send.
    ids = list(pending.values_list("message_id", flat=True)[:PENDING_BATCH])
    shared = SQLITE_MESSAGES_PER_TRANSACTION if connection.vendor == "sqlite" else 1
    for start in range(0, len(ids), shared):
        with transaction.atomic() if shared > 1 else contextlib.nullcontext():
            for message_id in ids[start : start + shared]:
                frames += _make_one(message_id, presence, now or timezone.now())
    return frames


# Pending messages that share one write transaction on SQLite.
SQLITE_MESSAGES_PER_TRANSACTION = 16


def _make_one(
    message_id: int, presence: audience.PresenceReader | None, now: datetime
) -> list[tuple[int, str]]:
    """The notifications of one pending message, in a transaction (or savepoint) of its own."""
    frames: list[tuple[int, str]] = []
    with transaction.atomic():
        pending_row = PendingNotification.objects.filter(message_id=message_id)
        new_reply = bool(pending_row.values_list("new_reply", flat=True).first())
        if not pending_row.delete()[0]:
            return []  # another run took it
        message = (
            ChatMessage.objects.select_related("author", "room")
            .annotate(thread_root_seq=F("thread_root__seq"))
            .prefetch_related("mentioned_users")
            .get(pk=message_id)
        )
        mentioned = list(message.mentioned_users.all())
        mentions = sorted(user.username for user in mentioned)
        created = notify_mentions(message=message, recipient_ids=[u.id for u in mentioned], may_exist=True)
        quiet = {user.id for user in mentioned if user.in_dnd(now)}
        frames += [
            (n.recipient_id, notification_new_frame(n, mentions, alert=n.recipient_id not in quiet))
            for n in created
        ]
        reached: set[int] = set()  # told by a direct or group notification already
        if message.deleted_at is None and (message.room.is_direct or message.group_mention):
            kind = Notification.Kind.DIRECT if message.room.is_direct else Notification.Kind.GROUP
            made = notify_everyone(message=message, kind=kind, mentions=mentions, presence=presence, now=now)
            frames += made
            reached = {recipient_id for recipient_id, _ in made}
        if message.thread_root_id is not None and message.deleted_at is None:
            # The members a reply mentions follow its thread, also when an edit mentions them.
            mentioned_ids = [u.id for u in mentioned]
            frames += follow_for_reply(reply=message, mentioned_ids=mentioned_ids, new_reply=new_reply)
            if new_reply:
                # Every write below to the thread's unread reply notifications on rows locked
                # here at once, in id order, as a reply's delete locks them: no deadlock.
                lock_reply_notifications(root_id=message.thread_root_id)
                frames += read_replied_thread(reply=message)
                skip = [*mentioned_ids, *reached]
                frames += notify_followers(reply=message, mentions=mentions, skip=skip, now=now)
    return frames


def notify_everyone(
    *,
    message: ChatMessage,
    kind: str,
    mentions: list[str],
    presence: audience.PresenceReader | None,
    now: datetime,
) -> list[tuple[int, str]]:
    """A group mention's (or a direct conversation's) notifications: made in one INSERT … SELECT
    whatever the room's size (notifications/audience.py says whom they reach); the frames are
    built from one payload of the message. Returns them, as (recipient id, frame)."""
    made = audience.insert_notifications(message=message, kind=kind, presence=presence, now=now)
    if not made:
        return []
    quiet = audience.in_dnd(room_id=message.room_id, now=now)
    payload = message_payload(message, mentions)
    return [
        (
            recipient_id,
            bulk_notification_frame(
                notification_id=notification_id,
                kind=kind,
                room_id=message.room_id,
                actor=message.author.username,
                created_at=message.created_at,
                message=payload,
                alert=recipient_id not in quiet,
            ),
        )
        for notification_id, recipient_id in made
    ]


def notify_followers(
    *, reply: ChatMessage, mentions: list[str], skip: Iterable[int], now: datetime | None = None
) -> list[tuple[int, str]]:
    """Tell the thread's followers of a new reply: not its author, not those who muted it or
    have read past it, not those it mentions (a mention notifies them already), only members
    of the room. One unread notification per follower and thread: a follower who has one gets
    it brought up to date (this reply, one more in its count), the others a new one. Returns
    the `notification.new` frames, as (recipient id, frame).

    A handful of queries whatever the number of followers; the reply's payload is built once
    for all of their frames.
    """
    followers = set(
        ThreadFollow.objects.filter(
            root_id=reply.thread_root_id,
            following=True,
            muted=False,
            # Read already (the thread open in a tab answers a reply before this step runs).
            last_read_seq__lt=reply.seq,
            user__memberships__room_id=reply.room_id,
            # A room set to "nothing" sends no notification at all, not even a reply's.
            user__memberships__notify_level__in=[Membership.NotifyLevel.ALL, Membership.NotifyLevel.MENTIONS],
            user__is_active=True,
        )
        .exclude(user_id=reply.author_id)
        .values_list("user_id", flat=True)
    ) - set(skip)
    if not followers:
        return []
    unread = Notification.objects.filter(
        kind=Notification.Kind.REPLY, thread_root_id=reply.thread_root_id, read_at__isnull=True
    )
    bring_up_to_date = dict(
        actor=reply.author, message=reply, count=F("count") + 1, created_at=reply.created_at, emailed_at=None
    )
    updated = set(unread.filter(recipient_id__in=followers).values_list("recipient_id", flat=True))
    if updated:
        unread.filter(recipient_id__in=updated).update(**bring_up_to_date)
    fresh = followers - updated
    made = Notification.objects.filter(message=reply, kind=Notification.Kind.REPLY)
    if fresh:
        Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=recipient_id,
                    kind=Notification.Kind.REPLY,
                    actor=reply.author,
                    room_id=reply.room_id,
                    message=reply,
                    thread_root_id=reply.thread_root_id,
                    created_at=reply.created_at,
                )
                for recipient_id in sorted(fresh)
            ],
            ignore_conflicts=True,
        )
        # Made meanwhile by another process's step for another reply: brought up to date instead.
        lost = fresh - set(made.filter(recipient_id__in=fresh).values_list("recipient_id", flat=True))
        if lost:
            unread.filter(recipient_id__in=lost).update(**bring_up_to_date)
            fresh -= lost
    unread_by_recipient = unread_counts(followers)
    message = message_payload(reply, mentions)
    quiet = audience.in_dnd(room_id=reply.room_id, now=now or timezone.now())
    return [
        (
            recipient_id,
            reply_notification_frame(
                notification_id=notification_id,
                room_id=reply.room_id,
                actor=reply.author.username,
                created_at=created_at,
                message=message,
                count=count,
                updated=recipient_id not in fresh,
                unread=unread_by_recipient.get(recipient_id, 0),
                alert=recipient_id not in quiet,
            ),
        )
        for notification_id, recipient_id, count, created_at in made.values_list(
            "id", "recipient_id", "count", "created_at"
        )
    ]


def notify_mentions(
    *, message: ChatMessage, recipient_ids: Iterable[int], may_exist: bool = False
) -> list[Notification]:
    """Create one mention notification per recipient, in one insert; returns the created ones.
    A recipient whose level for the room is "nothing" gets none (a mute does not stop a mention).

    With `may_exist` (a resent message), recipients already notified of it are left out, so
    running the step twice notifies nobody twice.
    """
    recipient_ids = set(recipient_ids)
    if recipient_ids:
        recipient_ids -= set(
            Membership.objects.filter(
                room_id=message.room_id,
                user_id__in=recipient_ids,
                notify_level=Membership.NotifyLevel.NOTHING,
            ).values_list("user_id", flat=True)
        )
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


def recount_reply_notifications(*, root_id: int) -> tuple[dict[int, list[int]], list[tuple[int, str]]]:
    """A reply of the thread was deleted: each unread reply notification of the thread now
    stands for the replies its recipient has not read that are left. It is brought up to date
    (the newest of them, how many) or, when none is left, removed. For the delete's own
    transaction; returns the removed notifications' ids by recipient and the `notification.new`
    frames (updated) of the others, as (recipient id, frame)."""
    removed: dict[int, list[int]] = {}
    frames: list[tuple[int, str]] = []
    unread_notifications = Notification.objects.filter(
        kind=Notification.Kind.REPLY, thread_root_id=root_id, read_at__isnull=True
    ).select_related("recipient", "thread_root")
    lock_reply_notifications(root_id=root_id)
    for notification in unread_notifications.order_by("id"):
        read = (
            ThreadFollow.objects.filter(user_id=notification.recipient_id, root_id=root_id)
            .values_list("last_read_seq", flat=True)
            .first()
            or 0
        )
        left = (
            ChatMessage.objects.filter(thread_root_id=root_id, deleted_at__isnull=True, seq__gt=read)
            .exclude(author_id=notification.recipient_id)
            .order_by("-seq")
        )
        newest = left.select_related("author").prefetch_related("mentioned_users").first()
        if newest is None:
            removed.setdefault(notification.recipient_id, []).append(notification.id)
            notification.delete()
            continue
        count = left.count()
        if (notification.message_id, notification.count) == (newest.id, count):
            continue
        notification.message, notification.actor, notification.count = newest, newest.author, count
        notification.save(update_fields=["message", "actor", "count"])
        mentions = sorted(user.username for user in newest.mentioned_users.all())
        frame = notification_new_frame(
            notification, mentions, updated=True, unread=unread_count(notification.recipient)
        )
        frames.append((notification.recipient_id, frame))
    return removed, frames


def lock_reply_notifications(*, root_id: int) -> None:
    """Lock the thread's unread reply notifications, all at once in id order, until commit.
    The notification step of a reply and a reply's delete both rewrite several of them; locked
    the same way first, one waits for the other instead of each holding what the other needs."""
    list(
        Notification.objects.filter(
            kind=Notification.Kind.REPLY, thread_root_id=root_id, read_at__isnull=True
        )
        .select_for_update()
        .order_by("id")
        .values_list("id", flat=True)
    )


def read_replied_thread(*, reply: ChatMessage) -> list[tuple[int, str]]:
    """Replying is having read the thread: the replier's unread notifications of it are read.
    Returns their `notification.read` frame, as (recipient id, frame)."""
    ids = list(
        Notification.objects.filter(
            recipient_id=reply.author_id,
            kind=Notification.Kind.REPLY,
            thread_root_id=reply.thread_root_id,
            read_at__isnull=True,
        ).values_list("pk", flat=True)
    )
    if not ids:
        return []
    Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
    return [(reply.author_id, notification_read_frame(ids, unread_count(reply.author)))]
