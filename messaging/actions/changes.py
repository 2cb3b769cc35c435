"""Changing a message after it was sent: edit, delete, react, pin.

Every change takes the room's next `change` position in the transaction that makes it, under
the same row lock that orders new messages, so a room's changes are gap-free and ordered; the
changed message's full current state then goes to every member socket as `message.updated`.
A change that changes nothing (a resent edit, a reaction already there) takes no position and
is answered with the message as it is.
"""

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from notifications import audience
from notifications.actions import lock_reply_notifications, recount_reply_notifications
from notifications.models import Notification, PendingNotification
from notifications.notifier import hand_off, notifier
from notifications.selectors import unread_count
from notifications.serializers import notification_removed_frame

from .. import emoji
from ..errors import (
    BadRequest,
    MessageDeleted,
    NoSuchMessage,
    NotFound,
    PermissionDenied,
    ReactionLimit,
    TooLate,
)
from ..mentions import parse_mentions
from ..models import ChatMessage, ChatRoom, Membership, MessageRevision, Reaction
from ..realtime import outlet
from ..selectors import message_with_state, messages_with_state, write_refusal
from ..serializers import author_payload, message_updated_frame, stored_message_payload
from .messages import SHOWN_REPLIERS, clean_body, clean_client_id, database_hop

logger = logging.getLogger(__name__)
User = get_user_model()


@dataclass
class ChangedMessage:
    message: ChatMessage
    # False: the message already was as asked (nothing stored, no position taken).
    changed: bool
    # Members the change newly mentions: notified after commit.
    newly_mentioned: bool = False
    # Notifications the change removed, by recipient: (their ids, the recipient's unread count).
    removed_notifications: dict[int, tuple[list[int], int]] = field(default_factory=dict)
    # A deleted reply's root, its thread summary without the reply, at the next position.
    root: ChatMessage | None = None
    # Frames for single users (reply notifications brought up to date), as (user id, frame).
    user_frames: list[tuple[int, str]] = field(default_factory=list)

    @functools.cached_property
    def payload(self) -> dict:
        return stored_message_payload(self.message)

    @functools.cached_property
    def frame(self) -> str:
        """Its `message.updated` frame, serialised once for every recipient."""
        return message_updated_frame(self.payload)

    @functools.cached_property
    def room_frames(self) -> list[tuple[int, int, str]]:
        """What goes to the room's sockets, in change order, as (change, seq, frame)."""
        frames = [(self.message.change, self.message.seq, self.frame)]
        if self.root is not None:
            root_frame = message_updated_frame(stored_message_payload(self.root))
            frames.append((self.root.change, self.root.seq, root_frame))
        return frames


class _Unchanged(Exception):
    """Raised inside the transaction to give back the position a no-op took."""


@dataclass
class _Context:
    """What a change is checked against: its position, the user's role, the room's policy."""

    position: int
    role: str
    edit_window_minutes: int | None
    delete_window_minutes: int | None
    pins_by: str

    @property
    def is_manager(self) -> bool:
        return self.role in (Membership.Role.OWNER, Membership.Role.ADMIN)


# --- The changes ----------------------------------------------------------------------------


def store_edit(*, user, room_id: int, seq: int, body: str, client_id: str) -> ChangedMessage:
    body = clean_body(body)
    client_id = clean_client_id(client_id)

    def edit(message: ChatMessage, context: _Context) -> bool:
        if message.author_id != user.pk:
            raise PermissionDenied("You can only edit your own messages.")
        _refuse_deleted(message)
        if MessageRevision.objects.filter(message=message, edit_client_id=client_id).exists():
            return False  # a resent edit
        _within_window(message, context.edit_window_minutes, "EDIT_WINDOW_MINUTES", "edited")
        if message.body == body:
            return False
        now = timezone.now()
        MessageRevision.objects.create(
            message=message,
            body=message.body,
            written_at=message.edited_at or message.created_at,
            replaced_at=now,
            edit_client_id=client_id,
        )
        message.body = body
        message.edited_at = now
        # The honoured @room/@here stays while the body still says it. An edit never notifies a
        # room: a group mention's notifications are the send's (its permission decided then).
        if message.group_mention and message.group_mention not in parse_mentions(body):
            message.group_mention = ""
        return True

    return _change(user=user, room_id=room_id, seq=seq, apply=edit, after=_relink_mentions)


def store_delete(*, user, room_id: int, seq: int, as_site_admin: bool = False) -> ChangedMessage:
    """Delete a message (see `_store_delete`), once more if PostgreSQL chose this transaction
    to end a deadlock: a reply's delete rewrites its thread's notifications, which a
    notification step of another reply may be rewriting at the same moment."""
    for attempt in range(DEADLOCK_ATTEMPTS):
        try:
            return _store_delete(user=user, room_id=room_id, seq=seq, as_site_admin=as_site_admin)
        except OperationalError as error:
            inside_another = connection.in_atomic_block  # the caller's transaction is lost anyway
            if not _is_deadlock(error) or inside_another or attempt == DEADLOCK_ATTEMPTS - 1:
                raise
            logger.warning("Deleting message %s of room %s met a deadlock; trying again", seq, room_id)
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
    raise AssertionError("unreachable")


# Tries of a delete that PostgreSQL ended to break a deadlock.
DEADLOCK_ATTEMPTS = 3


def _is_deadlock(error: OperationalError) -> bool:
    # PostgreSQL's deadlock_detected and serialization_failure.
    return getattr(error.__cause__, "sqlstate", None) in ("40P01", "40001")


def _store_delete(*, user, room_id: int, seq: int, as_site_admin: bool) -> ChangedMessage:
    removed: dict[int, list[int]] = {}
    roots: list[int] = []
    root_after: list[ChatMessage] = []
    user_frames: list[tuple[int, str]] = []

    def delete(message: ChatMessage, context: _Context) -> bool:
        if message.is_deleted:
            return False
        if not (as_site_admin or context.is_manager):
            if message.author_id != user.pk:
                raise PermissionDenied("Only the room's owner and admins can delete other people's messages.")
            _within_window(message, context.delete_window_minutes, "DELETE_WINDOW_MINUTES", "deleted")
        # First the pending notification step, whose row lock a running step holds: this waits
        # for that step to end before touching what it writes (notifications), never the
        # other way round, so the two cannot deadlock.
        PendingNotification.objects.filter(message=message).delete()
        if message.thread_root_id is not None:
            # Likewise the thread's reply notifications (recounted below), before any message
            # row is rewritten: a notification step locks them first and then reads messages.
            lock_reply_notifications(root_id=message.thread_root_id)
        # Erased, not hidden: the body, every earlier version, reactions, mentions, and the
        # notifications that quoted it (but an unread reply notification, which stands for
        # more replies of its thread: it is recounted below).
        quoting = Notification.objects.filter(message=message).exclude(
            kind=Notification.Kind.REPLY, read_at__isnull=True
        )
        for recipient_id, notification_id in quoting.values_list("recipient_id", "id"):
            removed.setdefault(recipient_id, []).append(notification_id)
        quoting.delete()
        MessageRevision.objects.filter(message=message).delete()
        Reaction.objects.filter(message=message).delete()
        message.mentioned_users.clear()
        message.body = ""
        message.edited_at = None
        message.deleted_at = timezone.now()
        message.deleted_by = user
        message.pinned_at = None
        message.pinned_by = None
        if message.thread_root_id is not None:
            roots.append(message.thread_root_id)
        return True

    def recount_thread(message: ChatMessage) -> bool:
        if roots:
            _recount_thread(room_id=room_id, root_id=roots[0])
            # Under the room's lock: the root as of its new position.
            root_after.append(messages_with_state().get(pk=roots[0]))
            gone, frames = recount_reply_notifications(root_id=roots[0])
            for recipient_id, ids in gone.items():
                removed.setdefault(recipient_id, []).extend(ids)
            user_frames.extend(frames)
        return False

    changed = _change(
        user=user, room_id=room_id, seq=seq, apply=delete, after=recount_thread, as_site_admin=as_site_admin
    )
    if changed.changed and root_after:
        changed.root = root_after[0]
        changed.user_frames = user_frames
    if changed.changed:
        recipients = User.objects.in_bulk(list(removed))
        changed.removed_notifications = {
            user_id: (ids, unread_count(recipients[user_id])) for user_id, ids in removed.items()
        }
    return changed


def store_reaction(*, user, room_id: int, seq: int, emoji_text: str, add: bool) -> ChangedMessage:
    normalized = emoji.normalize(emoji_text)
    if normalized is None:
        raise BadRequest("A reaction is one emoji.")

    def react(message: ChatMessage, context: _Context) -> bool:
        _refuse_deleted(message)
        mine = Reaction.objects.filter(message=message, user=user, emoji=normalized)
        if not add:
            return mine.delete()[0] > 0
        if mine.exists():
            return False
        limits = settings.PARLEY
        on_message = set(Reaction.objects.filter(message=message).values_list("emoji", flat=True))
        if normalized not in on_message and len(on_message) >= limits["MAX_REACTIONS_PER_MESSAGE"]:
            raise ReactionLimit(
                f"A message takes at most {limits['MAX_REACTIONS_PER_MESSAGE']} different emoji."
            )
        if Reaction.objects.filter(message=message, user=user).count() >= limits["MAX_REACTIONS_PER_USER"]:
            raise ReactionLimit(
                f"You can add at most {limits['MAX_REACTIONS_PER_USER']} reactions to one message."
            )
        Reaction.objects.create(message=message, user=user, emoji=normalized)
        return True

    return _change(user=user, room_id=room_id, seq=seq, apply=react)


def store_pin(*, user, room_id: int, seq: int, pinned: bool) -> ChangedMessage:
    def pin(message: ChatMessage, context: _Context) -> bool:
        _refuse_deleted(message)
        if context.pins_by == ChatRoom.Audience.MANAGERS and not context.is_manager:
            raise PermissionDenied("In this room only the owner and admins pin messages.")
        if (message.pinned_at is not None) == pinned:
            return False
        message.pinned_at = timezone.now() if pinned else None
        message.pinned_by = user if pinned else None
        return True

    return _change(user=user, room_id=room_id, seq=seq, apply=pin)


# --- For every caller: views, the admin, commands and tests; the socket awaits the async ones --


def edit_message(*, user, room_id: int, seq: int, body: str, client_id: str) -> ChangedMessage:
    return publish(store_edit(user=user, room_id=room_id, seq=seq, body=body, client_id=client_id))


def delete_message(*, user, room_id: int, seq: int, as_site_admin: bool = False) -> ChangedMessage:
    return publish(store_delete(user=user, room_id=room_id, seq=seq, as_site_admin=as_site_admin))


def add_reaction(*, user, room_id: int, seq: int, emoji: str) -> ChangedMessage:
    return publish(store_reaction(user=user, room_id=room_id, seq=seq, emoji_text=emoji, add=True))


def remove_reaction(*, user, room_id: int, seq: int, emoji: str) -> ChangedMessage:
    return publish(store_reaction(user=user, room_id=room_id, seq=seq, emoji_text=emoji, add=False))


def set_pinned(*, user, room_id: int, seq: int, pinned: bool) -> ChangedMessage:
    return publish(store_pin(user=user, room_id=room_id, seq=seq, pinned=pinned))


def publish(changed: ChangedMessage) -> ChangedMessage:
    """From synchronous code: the new state to every member socket, then the rest, once the
    change is committed (at once outside a transaction; inside one, such as an admin page's,
    after it commits, so no member hears of a change that is then rolled back)."""
    message = changed.message
    if changed.changed:
        for change, seq, frame in changed.room_frames:
            outlet.send_to_room_on_commit(message.room_id, change, seq, frame)
        for user_id, (ids, unread) in changed.removed_notifications.items():
            outlet.send_to_user_on_commit(user_id, notification_removed_frame(ids, unread))
        for user_id, frame in changed.user_frames:
            outlet.send_to_user_on_commit(user_id, frame)
    if changed.newly_mentioned:
        outlet.on_commit(lambda: _hand_off_mentions(message.id))
    return changed


def _hand_off_mentions(message_id: int) -> None:
    try:
        hand_off([message_id])
    except Exception:
        # Pending in the database: a server's notifier takes it up on its next scan.
        logger.exception("Notifying the mentions of edited message %s failed", message_id)


async def apply_change_async(
    store: Callable[[], ChangedMessage], *, hop: Callable | None = None
) -> ChangedMessage:
    """A `store_*` call (bound with functools.partial) in one database hop, then published:
    this process's sockets straight from its hub, the others through the layer."""
    changed = await (hop or database_hop)(store)
    if changed.changed:
        message = changed.message
        for change, seq, frame in changed.room_frames:
            await outlet.send_to_room(message.room_id, change, seq, frame)
        for user_id, (ids, unread) in changed.removed_notifications.items():
            await outlet.send_to_user(user_id, notification_removed_frame(ids, unread))
        for user_id, frame in changed.user_frames:
            await outlet.send_to_user(user_id, frame)
    if changed.newly_mentioned:
        notifier().wake([changed.message.id])
    return changed


# --- How a change is stored -----------------------------------------------------------------


def _change(
    *,
    user,
    room_id: int,
    seq: int,
    apply: Callable[[ChatMessage, _Context], bool],
    after: Callable[[ChatMessage], bool] | None = None,
    as_site_admin: bool = False,
) -> ChangedMessage:
    """Take the room's next position, apply the change to the message, store both; or, when
    `apply` says nothing changed, give the position back and answer the message as it is."""
    newly_mentioned = False
    try:
        with transaction.atomic():
            context = _take_next_change(user=user, room_id=room_id, as_site_admin=as_site_admin)
            message = ChatMessage.objects.filter(room_id=room_id, seq=seq).first()
            if message is None:
                raise NoSuchMessage()
            if not apply(message, context):
                raise _Unchanged()
            message.change = context.position
            message.save()
            if after is not None:
                newly_mentioned = after(message)
            # Read under the room's lock: the state at exactly this position, not a later one.
            changed = ChangedMessage(
                message_with_state(room_id=room_id, seq=seq), changed=True, newly_mentioned=newly_mentioned
            )
    except _Unchanged:
        return ChangedMessage(message_with_state(room_id=room_id, seq=seq), changed=False)
    return changed


def _take_next_change(*, user, room_id: int, as_site_admin: bool) -> _Context:
    """Bump the room's last_change if the user may change things there, and read the room's
    policy and the user's role with it: one round trip.

    The UPDATE holds the room's row lock until commit, as a new message's does, so the room's
    changes and messages are serialised together and their positions have no gaps.
    """
    room_table = ChatRoom._meta.db_table
    membership_table = Membership._meta.db_table
    user_table = User._meta.db_table
    role = f"(SELECT role FROM {membership_table} WHERE room_id = {room_table}.id AND user_id = %s)"  # noqa: S608
    # A site admin deleting from the Django admin need not be a member.
    member_rule = "" if as_site_admin else f"AND {role} IS NOT NULL "
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {room_table} SET last_change = last_change + 1 "  # noqa: S608 - table names only
            f"WHERE id = %s AND archived_at IS NULL {member_rule}"
            f"AND EXISTS (SELECT 1 FROM {user_table} WHERE id = %s AND is_active) "
            f"RETURNING last_change, {role}, edit_window_minutes, delete_window_minutes, pins_by",
            [room_id, *([] if as_site_admin else [user.pk]), user.pk, user.pk],
        )
        row = cursor.fetchone()
    if row is None:
        # Access first, as for a new message: an archived private room is a missing room to
        # anyone outside it.
        refusal = write_refusal(user=user, room_id=room_id) if not as_site_admin else None
        if refusal is None or isinstance(refusal, BadRequest):
            if ChatRoom.objects.filter(pk=room_id, archived_at__isnull=False).exists():
                raise BadRequest("This room is archived; its messages no longer change.")
            raise refusal or NotFound()
        raise refusal
    position, role_name, edit_window, delete_window, pins_by = row
    return _Context(
        position=position,
        role=role_name or "",
        edit_window_minutes=edit_window,
        delete_window_minutes=delete_window,
        pins_by=pins_by,
    )


def _recount_thread(*, room_id: int, root_id: int) -> None:
    """A reply of the root's thread was deleted: the root's summary from the replies left, at
    the room's next change position (under the lock the delete holds, after the delete's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ChatRoom._meta.db_table} SET last_change = last_change + 1 "  # noqa: S608
            f"WHERE id = %s RETURNING last_change",
            [room_id],
        )
        (position,) = cursor.fetchone()
    replies = ChatMessage.objects.filter(thread_root_id=root_id, deleted_at__isnull=True)
    newest = list(replies.select_related("author").order_by("-seq")[:50])
    repliers: list[dict] = []
    for reply in newest:
        if all(shown["id"] != reply.author_id for shown in repliers) and len(repliers) < SHOWN_REPLIERS:
            repliers.append(author_payload(reply.author))
    ChatMessage.objects.filter(pk=root_id).update(
        change=position,
        reply_count=replies.count(),
        last_reply_at=newest[0].created_at if newest else None,
        last_repliers=repliers,
    )


def _refuse_deleted(message: ChatMessage) -> None:
    if message.is_deleted:
        raise MessageDeleted()


def _within_window(message: ChatMessage, room_minutes: int | None, setting: str, done: str) -> None:
    minutes = settings.PARLEY[setting] if room_minutes is None else room_minutes
    if minutes and timezone.now() - message.created_at > timedelta(minutes=minutes):
        raise TooLate(f"Messages can be {done} for {minutes} minutes after they are sent.")


def _relink_mentions(message: ChatMessage) -> bool:
    """The edited body's mentions replace the old ones; whoever it newly mentions and was never
    notified of this message gets a notification (once: the notification is unique)."""
    names = audience.people_names(parse_mentions(message.body))
    members = (
        list(
            User.objects.filter(
                folded_username__in=names, memberships__room_id=message.room_id, is_active=True
            )
            .exclude(pk=message.author_id)
            .only("id")
        )
        if names
        else []
    )
    before = set(message.mentioned_users.values_list("id", flat=True))
    message.mentioned_users.set(members)
    notified = set(Notification.objects.filter(message=message).values_list("recipient_id", flat=True))
    fresh = {member.id for member in members} - before - notified
    if fresh:
        PendingNotification.objects.get_or_create(message_id=message.id)
    return bool(fresh)
