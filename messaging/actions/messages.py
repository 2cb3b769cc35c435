"""Sending a message: the body's rules, the gap-free seq, mentions, idempotent resends."""

import functools
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction

from notifications.models import PendingNotification
from notifications.notifier import hand_off, notifier

from ..errors import BadRequest, TooLarge
from ..mentions import parse_mentions
from ..models import ChatMessage, ChatRoom, Membership
from ..realtime import outlet
from ..selectors import messages_with_state, write_refusal
from ..serializers import message_new_frame, message_payload, stored_message_payload

logger = logging.getLogger(__name__)
User = get_user_model()

MAX_CLIENT_ID_CHARS = 64

# Format characters (zero-width space and joiner, direction marks), unassigned code points and
# lone surrogates: a body made only of these looks empty.
INVISIBLE_CATEGORIES = {"Cf", "Cn", "Cs"}

# Unicode's control characters (category Cc) but tab and line feed.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class PostedMessage:
    message: ChatMessage
    # Usernames of the room members the message mentions (never the author).
    mentions: list[str]
    mentioned_user_ids: list[int]
    # False when the same author already sent this client_id: nothing new was stored.
    created: bool

    @functools.cached_property
    def frame(self) -> str:
        """Its `message.new` frame, serialised once for every recipient (for a resend: the
        message as it now is, edits and reactions included)."""
        if not self.created:
            return message_new_frame(stored_message_payload(self.message))
        return message_new_frame(message_payload(self.message, self.mentions))


def shows(char: str) -> bool:
    return not char.isspace() and unicodedata.category(char) not in INVISIBLE_CATEGORIES


def clean_body(body: str) -> str:
    """What a message may contain, the same on every database: text with line breaks and tabs,
    not control characters (NUL and the like), and at least one character that shows."""
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip()
    if CONTROL_CHARACTERS.search(body):
        raise BadRequest("The message contains control characters.")
    if not any(shows(char) for char in body):
        raise BadRequest("The message is empty.")
    limit = settings.PARLEY["MAX_BODY_CHARS"]
    if len(body) > limit:
        raise TooLarge(f"The message is longer than {limit:,} characters.")
    return body


def clean_client_id(client_id: str) -> str:
    if not 1 <= len(client_id) <= MAX_CLIENT_ID_CHARS:
        raise BadRequest(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters.")
    return client_id


def send_message(*, author, room_id: int, body: str, client_id: str) -> PostedMessage:
    """The whole of sending a message: store it (`post_message`), then hand it to every
    member's open sockets on every process, then notify the mentioned, who are never waited
    for. For synchronous callers (views, commands, tests); the socket uses `send_message_async`.
    """
    posted = post_message(author=author, room_id=room_id, body=body, client_id=client_id)
    if posted.created:
        outlet.send_to_room_sync(room_id, posted.message.change, posted.message.seq, posted.frame)
    if posted.mentioned_user_ids:
        try:
            hand_off([posted.message.id])
        except Exception:
            # Pending in the database: a server's notifier takes it up on its next scan.
            logger.exception("Notifying the mentions of message %s failed", posted.message.id)
    return posted


async def send_message_async(
    *, author, room_id: int, body: str, client_id: str, hop: Callable | None = None
) -> PostedMessage:
    """`send_message` for async callers: the database part in one hop (`hop(fn)` runs `fn` on
    the database thread; the socket's also re-checks its session there), then every member
    socket of the room, this process's straight from its hub, then the notifier."""
    store = functools.partial(post_message, author=author, room_id=room_id, body=body, client_id=client_id)
    posted = await (hop or database_hop)(store)
    if posted.created:
        await outlet.send_to_room(room_id, posted.message.change, posted.message.seq, posted.frame)
    if posted.mentioned_user_ids:
        notifier().wake([posted.message.id])
    return posted


async def database_hop(work: Callable):
    return await database_sync_to_async(work)()


def post_message(*, author, room_id: int, body: str, client_id: str) -> PostedMessage:
    """Store a message as the room's next `seq`, with its mentions resolved to members.

    One transaction: bump the room's `last_seq` (the row lock orders concurrent senders, so seq
    is gap-free), insert the message, link the mentioned members. Broadcasting is the caller's
    next step, after commit; notifications come after that.
    """
    body = clean_body(body)
    client_id = clean_client_id(client_id)
    try:
        with transaction.atomic():
            seq, change = _take_next_seq(author=author, room_id=room_id)
            message = ChatMessage.objects.create(
                room_id=room_id, author=author, seq=seq, change=change, body=body, client_id=client_id
            )
            # Writing in a room is having read it: one's own message is never unread.
            Membership.objects.filter(room_id=room_id, user=author).update(last_read_seq=seq)
            mentioned = _link_mentions(message)
    except IntegrityError as error:
        # The same author resent a client_id: answer with what was stored the first time.
        original = _message_by_client_id(author=author, client_id=client_id)
        if original is None:
            raise
        if original.room_id != room_id:
            raise BadRequest("This client_id was already used for a message in another room.") from error
        usernames = sorted(u.username for u in original.mentioned_users.all())
        ids = [u.id for u in original.mentioned_users.all()]
        return PostedMessage(original, usernames, ids, created=False)
    return PostedMessage(
        message,
        mentions=sorted(u.username for u in mentioned),
        mentioned_user_ids=[u.id for u in mentioned],
        created=True,
    )


def _take_next_seq(*, author, room_id: int) -> tuple[int, int]:
    """Bump and return the room's last_seq and last_change (a new message is a change of the
    room too), if the author may post there: one round trip.

    The UPDATE takes the room's row lock until commit (PostgreSQL) or runs under SQLite's
    write lock (IMMEDIATE transactions), so senders to one room are serialised here.
    """
    room_table = ChatRoom._meta.db_table
    membership_table = Membership._meta.db_table
    user_table = User._meta.db_table
    with connection.cursor() as cursor:
        # A deactivated account posts nothing, even through a socket opened before.
        cursor.execute(
            f"UPDATE {room_table} SET last_seq = last_seq + 1, last_change = last_change + 1 "  # noqa: S608
            f"WHERE id = %s AND archived_at IS NULL AND EXISTS ("
            f"SELECT 1 FROM {membership_table} WHERE room_id = %s AND user_id = %s) "
            f"AND EXISTS (SELECT 1 FROM {user_table} WHERE id = %s AND is_active) "
            f"RETURNING last_seq, last_change",
            [room_id, room_id, author.pk, author.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise write_refusal(user=author, room_id=room_id)
    return row[0], row[1]


def _link_mentions(message: ChatMessage) -> list:
    names = parse_mentions(message.body)
    if not names:
        return []
    # A failure here costs the message its mentions, never the message itself.
    try:
        with transaction.atomic():
            users = list(
                User.objects.filter(
                    folded_username__in=names,
                    memberships__room_id=message.room_id,
                    is_active=True,
                )
                .exclude(pk=message.author_id)
                .only("id", "username")
            )
            if users:
                link = ChatMessage.mentioned_users.through
                link.objects.bulk_create([link(chatmessage_id=message.id, user_id=user.id) for user in users])
                # What the notification step will do, committed with the message itself.
                PendingNotification.objects.create(message_id=message.id)
    except Exception:
        logger.exception("Resolving mentions failed for message %s; delivering it without", message.id)
        return []
    return users


def _message_by_client_id(*, author, client_id: str) -> ChatMessage | None:
    return messages_with_state().filter(author=author, client_id=client_id).first()


# --- Rooms and membership ------------------------------------------------------------------
