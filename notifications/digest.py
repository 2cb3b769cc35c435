"""Missed-message emails: what a user was notified of and has not seen, in one email.

A notification is missed when it is still unread, its recipient has not read past its message
(the room's or the thread's read pointer) and is still in the room, and the message is not
deleted. Once the oldest missed notification of a user is `missed_email_minutes` old (0: at
once), the sweep sends one email with every missed notification of that user, grouped by
conversation, and marks them emailed in the same transaction as the email's record, so a re-run
sends nothing twice. Nothing goes to an unverified address, to a user who turned the emails
off, or to one present in Parley right now (a focused tab, `present_at`), or in do-not-disturb
(`dnd_until`): for them it waits (until DND ends), and what they read meanwhile is never sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection, transaction
from django.db.models import Exists, Min, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.email import queue_email
from messaging.models import ChatMessage, Membership, ThreadFollow

from .models import Notification

User = get_user_model()

# What a missed-message email is made of (reminders are the user's own and stay in Parley):
# mentions, @room/@here, direct messages and followed-thread replies.
EMAILED_KINDS = (
    Notification.Kind.MENTION,
    Notification.Kind.GROUP,
    Notification.Kind.DIRECT,
    Notification.Kind.REPLY,
)
MAX_CONVERSATIONS = 20
MAX_MESSAGES_PER_CONVERSATION = 5
MAX_EXCERPT_CHARS = 600
USERS_PER_SWEEP = 100
STALE_HOURS = 12
UNSUBSCRIBE_SALT = "parley.missed-email.unsubscribe"


@dataclass
class Conversation:
    """One room's mentions, or one thread's replies, in the email."""

    title: str
    room_name: str
    url: str
    messages: list[ChatMessage] = field(default_factory=list)
    more: int = 0


def site_url(path: str) -> str:
    return settings.PARLEY["SITE_URL"].rstrip("/") + path


def message_url(message: ChatMessage) -> str:
    """The message in context (as search links it): its room around it, or its thread."""
    room = message.room
    if message.thread_root_id and not message.in_room:
        return site_url(reverse("thread", args=[room.slug, message.thread_root.seq]) + f"#m{message.seq}")
    return site_url(reverse("room", args=[room.slug]) + f"?around={message.seq}#m{message.seq}")


def unsubscribe_token(user) -> str:
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


def user_of_unsubscribe_token(token: str):
    """The user a token was made for, or None (tampered, another site's key). Never expires:
    the links in old emails keep working, as RFC 8058 asks."""
    try:
        user_id = int(signing.loads(token, salt=UNSUBSCRIBE_SALT)["u"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return User.objects.filter(pk=user_id).first()


def unsubscribe(*, user) -> bool:
    """No more missed-message emails (the profile turns them on again); whether it changed."""
    return bool(
        User.objects.filter(pk=user.pk).exclude(missed_email_minutes=None).update(missed_email_minutes=None)
    )


def missed(now: datetime) -> QuerySet[Notification]:
    """Every missed notification not emailed yet, of users who get the emails and are not in
    do-not-disturb now (theirs wait for its end: nothing is lost, nothing interrupts)."""
    seen_in_room = Membership.objects.filter(
        room_id=OuterRef("room_id"),
        user_id=OuterRef("recipient_id"),
        last_read_seq__gte=OuterRef("message__seq"),
    )
    seen_in_thread = ThreadFollow.objects.filter(
        root_id=OuterRef("message__thread_root_id"),
        user_id=OuterRef("recipient_id"),
        last_read_seq__gte=OuterRef("message__seq"),
    )
    member = Membership.objects.filter(room_id=OuterRef("room_id"), user_id=OuterRef("recipient_id"))
    return (
        Notification.objects.filter(
            kind__in=EMAILED_KINDS,
            read_at__isnull=True,
            emailed_at__isnull=True,
            message__deleted_at__isnull=True,
            recipient__is_active=True,
            recipient__missed_email_minutes__isnull=False,
            recipient__email_verified_at__isnull=False,
        )
        .exclude(recipient__email="")
        .exclude(recipient__dnd_until__gt=now)
        .filter(Exists(member))
        # A message in the room's timeline is seen once the room's pointer passed it; a reply
        # only in its thread, once the thread's did.
        .exclude(Q(message__in_room=True) & Exists(seen_in_room))
        .exclude(Q(message__thread_root__isnull=False) & Exists(seen_in_thread))
    )


def present_seconds() -> float:
    """How long after its last sign a person counts as in Parley: as long as presence shows them
    active (PRESENCE_IDLE_SECONDS), plus the interval at which that reaches the database."""
    limits = settings.PARLEY
    return limits["PRESENCE_IDLE_SECONDS"] + limits["PRESENCE_PERSIST_SECONDS"]


def due_users(now: datetime) -> list[int]:
    """Users whose oldest missed notification has waited their `missed_email_minutes`, and who
    are not in Parley right now: one row per user with missed notifications."""
    present_since = now - timedelta(seconds=present_seconds())
    rows = (
        missed(now)
        .exclude(recipient__present_at__gte=present_since)
        .values("recipient_id")
        .annotate(oldest=Min("created_at"))
        .values_list("recipient_id", "oldest", "recipient__missed_email_minutes")
        .order_by("oldest")
    )
    due = [user_id for user_id, oldest, minutes in rows if oldest <= now - timedelta(minutes=minutes)]
    return due[:USERS_PER_SWEEP]


def send_missed_emails(now: datetime) -> int:
    """The sweep's part: one email to each user who is due one. Returns how many were queued."""
    return sum(_email_user(user_id, now) for user_id in due_users(now))


def _email_user(user_id: int, now: datetime) -> bool:
    with transaction.atomic():
        found = missed(now).filter(recipient_id=user_id)
        if connection.features.has_select_for_update_skip_locked:
            # Two sweeps at once: the second finds this user's rows taken and leaves them.
            found = found.select_for_update(skip_locked=True, of=("self",))
        notifications = list(
            found.select_related(
                "recipient", "actor", "room", "message__author", "message__thread_root"
            ).order_by("created_at", "id")
        )
        if not notifications:
            return False
        user = notifications[0].recipient
        conversations = conversations_of(notifications)
        Notification.objects.filter(pk__in=[n.pk for n in notifications]).update(emailed_at=now)
        # Which notifications, as of which message: a reply notification brought up to date by
        # a newer reply is another email.
        ids = ",".join(f"{n.pk}:{n.message_id}" for n in notifications)
        key = f"missed:{user.pk}:{hashlib.sha256(ids.encode()).hexdigest()[:32]}"
        # Unsent after STALE_HOURS (an SMTP server down that long), it would be old news.
        expires_at = now + timedelta(hours=STALE_HOURS)
        queue_email(
            key=key, to=user.email, expires_at=expires_at, **render(user, conversations, len(notifications))
        )
    return True


def conversations_of(notifications: Iterable[Notification]) -> list[Conversation]:
    """Grouped by room (mentions) or thread (replies), in the order they came."""
    by_key: dict[tuple, Conversation] = {}
    for notification in notifications:
        message = notification.message
        room = notification.room
        if notification.kind == Notification.Kind.REPLY:
            root = message.thread_root
            key = ("thread", root.pk)
            title = f"Thread in #{room.slug}: “{_excerpt(root.body, 60)}”"
            url = site_url(reverse("thread", args=[room.slug, root.seq]) + f"#m{message.seq}")
            replies = _thread_replies(root, upto=message.seq, count=notification.count)
            room_name = f"#{room.slug}"
        elif room.is_direct:
            key = ("room", room.pk)
            room_name = (
                by_key[key].room_name
                if key in by_key
                else _other_participants(room, notification.recipient_id)
            )
            title = f"Direct message with {room_name}"
            url = message_url(message)
            replies = [message]
        else:
            key = ("room", room.pk)
            title = f"#{room.slug}" if not room.is_private else f"#{room.slug} (private)"
            room_name = f"#{room.slug}"
            url = message_url(message)
            replies = [message]
        conversation = by_key.setdefault(key, Conversation(title=title, room_name=room_name, url=url))
        for reply in replies:
            reply.excerpt = _excerpt(reply.body, MAX_EXCERPT_CHARS)
            reply.url = message_url(reply)
        conversation.messages += replies
        if notification.kind == Notification.Kind.REPLY:
            conversation.more = max(notification.count - len(replies), 0)
    for conversation in by_key.values():
        if len(conversation.messages) > MAX_MESSAGES_PER_CONVERSATION:
            conversation.more += len(conversation.messages) - MAX_MESSAGES_PER_CONVERSATION
            conversation.messages = conversation.messages[-MAX_MESSAGES_PER_CONVERSATION:]
    return list(by_key.values())


def _other_participants(room, recipient_id: int) -> str:
    """A direct conversation as its recipient knows it: the others' names, sorted."""
    names = sorted(
        person.shown_name
        for person in User.objects.filter(memberships__room=room)
        .exclude(pk=recipient_id)
        .only("username", "display_name")
    )
    return ", ".join(names) or "yourself"


def _thread_replies(root: ChatMessage, *, upto: int, count: int) -> list[ChatMessage]:
    replies = (
        ChatMessage.objects.filter(thread_root=root, seq__lte=upto, deleted_at__isnull=True)
        .select_related("author", "room", "thread_root")
        .order_by("-seq")[: min(count, MAX_MESSAGES_PER_CONVERSATION)]
    )
    return list(reversed(replies))


def _excerpt(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(user, conversations: list[Conversation], count: int) -> dict:
    """The email's subject, plain text, HTML and headers."""
    shown, hidden = conversations[:MAX_CONVERSATIONS], max(len(conversations) - MAX_CONVERSATIONS, 0)
    rooms = list(dict.fromkeys(c.room_name for c in conversations))
    names = ", ".join(rooms[:3]) + (f" and {len(rooms) - 3} more" if len(rooms) > 3 else "")
    subject = f"{count} missed message{'s' if count != 1 else ''} in Parley: {names}"
    token = unsubscribe_token(user)
    unsubscribe_url = site_url(reverse("missed_email_unsubscribe", args=[token]))
    context = {
        "user": user,
        "conversations": shown,
        "hidden": hidden,
        "count": count,
        "unsubscribe_url": unsubscribe_url,
        "settings_url": site_url(reverse("profile")),
        "site_url": settings.PARLEY["SITE_URL"],
    }
    return {
        "subject": subject,
        "text": render_to_string("notifications/email/missed.txt", context),
        "html": render_to_string("notifications/email/missed.html", context),
        "headers": {
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    }
