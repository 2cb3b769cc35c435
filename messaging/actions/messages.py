"""Sending a message: the body's rules, the gap-free seq, mentions, idempotent resends."""

import functools
import logging
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DataError, IntegrityError, connection, transaction

from notifications import audience
from notifications.models import PendingNotification
from notifications.notifier import hand_off, notifier

from ..errors import (
    BadRequest,
    MessageDeleted,
    NoSuchMessage,
    ParleyError,
    ThreadDepth,
    TooLarge,
    Unauthenticated,
)
from ..mentions import parse_mentions
from ..models import ChatMessage, ChatRoom, Membership
from ..realtime import outlet, standing
from ..realtime.standing import SocketIdentity
from ..selectors import messages_with_state, write_refusal
from ..serializers import (
    author_payload,
    mention_refused_frame,
    message_new_frame,
    message_payload,
    message_updated_frame,
    stored_message_payload,
)
from .group_commit import PerLoop

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
    # A reply's root as the reply left it (a new change of the room, after the reply's), on
    # the last reply to it in the batch; published after the reply.
    root: ChatMessage | None = None
    # A group mention its author may not use here (sent as plain text): what they are told.
    refusal: audience.Refusal | None = None
    # Sent in a direct conversation: every other participant is notified.
    direct: bool = False

    @functools.cached_property
    def refused_frame(self) -> str | None:
        """The `mention.refused` answer to the sender, when a group mention was refused."""
        return mention_refused_frame(self.refusal.answer(self.message)) if self.refusal else None

    @functools.cached_property
    def frame(self) -> str:
        """Its `message.new` frame, serialised once for every recipient (for a resend: the
        message as it now is, edits and reactions included)."""
        if not self.created:
            return message_new_frame(stored_message_payload(self.message))
        return message_new_frame(message_payload(self.message, self.mentions))

    @functools.cached_property
    def root_frame(self) -> str | None:
        """The root's `message.updated` (its thread's new summary), when this reply changed it."""
        return message_updated_frame(stored_message_payload(self.root)) if self.root is not None else None

    async def publish(self) -> None:
        """The stored reply, then its root, to every member socket, in the room's change order."""
        message = self.message
        await outlet.send_to_room(message.room_id, message.change, message.seq, self.frame)
        if self.root is not None:
            await outlet.send_to_room(self.root.room_id, self.root.change, self.root.seq, self.root_frame)

    def publish_sync(self) -> None:
        message = self.message
        outlet.send_to_room_sync(message.room_id, message.change, message.seq, self.frame)
        if self.root is not None:
            outlet.send_to_room_sync(self.root.room_id, self.root.change, self.root.seq, self.root_frame)

    @property
    def notifies(self) -> bool:
        """Whether the notification step has work: mentions, @room or @here, a direct
        conversation's participants, or a thread's followers."""
        message = self.message
        return (
            bool(self.mentioned_user_ids)
            or message.thread_root_id is not None
            or bool(message.group_mention)
            or self.direct
        )


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
    # Control and format characters (NUL, line breaks, direction marks): PostgreSQL refuses NUL
    # in text, and the same client_id must mean the same on every database.
    if any(unicodedata.category(char)[0] == "C" for char in client_id):
        raise BadRequest("client_id must not contain control or format characters.")
    return client_id


def send_message(
    *,
    author,
    room_id: int,
    body: str,
    client_id: str,
    thread_root: int | None = None,
    also_in_room: bool = False,
) -> PostedMessage:
    """The whole of sending a message (or a reply in the thread of the message at seq
    `thread_root`): store it (`post_message`), then hand it to every member's open sockets on
    every process, then notify the mentioned and the thread's followers, who are never waited
    for. For synchronous callers (views, commands, tests); the socket uses `send_message_async`.
    """
    posted = post_message(
        author=author,
        room_id=room_id,
        body=body,
        client_id=client_id,
        thread_root=thread_root,
        also_in_room=also_in_room,
    )
    deliver_posted(posted)
    return posted


# Issue 15 (scheduled/): send_message's steps after the write, on their own so that a caller
# that stores the message in a transaction of its own (a scheduled message and its sent mark)
# runs the same publish and notification path once that transaction has committed.
def deliver_posted(posted: PostedMessage) -> None:
    """After commit: a new message to every member's open sockets, then its notifications."""
    if posted.created:
        posted.publish_sync()
    if posted.notifies:
        try:
            hand_off([posted.message.id])
        except Exception:
            # Pending in the database: a server's notifier takes it up on its next scan.
            logger.exception("Notifying the mentions of message %s failed", posted.message.id)


async def send_message_async(
    *,
    author,
    room_id: int,
    body: str,
    client_id: str,
    recheck: SocketIdentity | None = None,
    thread_root: int | None = None,
    also_in_room: bool = False,
) -> PostedMessage:
    """`send_message` for async callers: stored through this process's `send_queue()`, which
    writes the sends that arrive together in one transaction (`recheck`: the sending socket's
    identity, when its session is due a re-check before it writes), then every member socket
    of the room, this process's straight from its hub, then the notifier."""
    posted = await send_queue().submit(
        SendRequest(author, room_id, body, client_id, recheck, thread_root, also_in_room)
    )
    if posted.created:
        await posted.publish()
    if posted.notifies:
        notifier().wake([posted.message.id])
    return posted


async def database_hop(work: Callable):
    return await database_sync_to_async(work)()


@dataclass(frozen=True)
class SendRequest:
    """One message to store, as `post_messages` takes it in a batch."""

    author: Any
    room_id: int
    body: str
    client_id: str
    # The sending socket's identity when its session is due a re-check before the write.
    recheck: SocketIdentity | None = None
    # A reply: the seq of the thread's root in the same room; shown in the room's timeline too
    # when `also_in_room`.
    thread_root: int | None = None
    also_in_room: bool = False


def post_message(
    *,
    author,
    room_id: int,
    body: str,
    client_id: str,
    thread_root: int | None = None,
    also_in_room: bool = False,
) -> PostedMessage:
    """Store a message as the room's next `seq`, with its mentions resolved to members (a
    batch of one; see `post_messages`). Broadcasting is the caller's next step, after commit;
    notifications come after that."""
    request = SendRequest(author, room_id, body, client_id, None, thread_root, also_in_room)
    outcome = post_messages([request])[0]
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def post_messages(requests: Sequence[SendRequest]) -> list[PostedMessage | Exception]:
    """Store several messages in one transaction (group commit), each as its room's next
    `seq` in the order given; the outcome of each, in the same order, is what it stored or
    why it was refused. A refusal (a bad body, a session that ended, not a member, a reply to
    a message that cannot have one) costs only its own request.

    One transaction: the authors' right to write, one `UPDATE` per room that takes as many
    positions as the room has messages here, and one change position more per thread root
    they reply to (the row lock orders concurrent writers, so seq stays gap-free; rooms are
    locked in id order, so two batches cannot deadlock), one `INSERT` of every message, the
    roots' thread summaries, the authors' read pointers, the mentions. A database failure
    fails the whole batch and stores nothing. A resent client_id (its unique index refuses
    the batch) sends the batch again one message at a time: the resend is answered with what
    was stored the first time, the others are stored once.
    """
    outcomes: list[PostedMessage | Exception | None] = [None] * len(requests)
    ready: list[tuple[int, SendRequest]] = []
    for index, request in enumerate(requests):
        try:
            body, client_id = clean_body(request.body), clean_client_id(request.client_id)
            if request.also_in_room and request.thread_root is None:
                raise BadRequest("“also_in_room” is for replies: give the thread's “thread_root”.")
        except ParleyError as error:
            outcomes[index] = error
        else:
            ready.append((index, replace(request, body=body, client_id=client_id)))
    ended = standing.invalid_identities(request.recheck for _, request in ready if request.recheck)
    for index, request in ready:
        if request.recheck in ended:
            outcomes[index] = Unauthenticated()
    ready = [(index, request) for index, request in ready if outcomes[index] is None]
    if not ready:
        return outcomes
    try:
        with transaction.atomic():
            _store(ready, outcomes)
    except _RefusedReplies as refused:
        # Found under the room's lock, so the positions taken were given back with the
        # transaction: the refused ones are answered, the rest are stored without them.
        for index, error in refused.errors.items():
            outcomes[index] = error
        rest = [(index, request) for index, request in ready if index not in refused.errors]
        for (index, _), outcome in zip(rest, post_messages([request for _, request in rest]), strict=True):
            outcomes[index] = outcome
    except (IntegrityError, DataError) as error:
        # One row refused for what it holds: a resent client_id, or a value the checks above let
        # through. Alone, each costs only its own send.
        if len(ready) > 1:
            for index, request in ready:
                outcomes[index] = post_messages([replace(request, recheck=None)])[0]
        elif isinstance(error, IntegrityError):
            index, request = ready[0]
            outcomes[index] = _answer_resend(request, error)
        else:
            outcomes[ready[0][0]] = error
    return outcomes


class _RefusedReplies(Exception):
    """Replies whose root cannot take them, by request index: rolls the batch back."""

    def __init__(self, errors: dict[int, Exception]):
        self.errors = errors
        super().__init__(errors)


# The repliers a root's summary names.
SHOWN_REPLIERS = 3


def _store(ready: list[tuple[int, SendRequest]], outcomes: list) -> None:
    by_room: dict[int, list[tuple[int, SendRequest]]] = {}
    for index, request in ready:
        by_room.setdefault(request.room_id, []).append((index, request))
    stored: list[tuple[int, ChatMessage]] = []
    changed_roots: dict[int, ChatMessage] = {}  # root id → root, summary updated
    last_reply_of: dict[int, int] = {}  # root id → index of the batch's last reply to it
    direct_rooms: set[int] = set()
    refusals: dict[int, audience.Refusal] = {}  # request index → its refused group mention
    names_of: dict[int, list[str]] = {}
    for room_id in sorted(by_room):
        entries, roots, kind = _take_positions(room_id, by_room[room_id], outcomes)
        if kind == ChatRoom.Kind.DIRECT:
            direct_rooms.add(room_id)
        for index, request, seq, change in entries:
            names = names_of[index] = parse_mentions(request.body)
            group_mention = audience.group_mention_of(names)
            if group_mention:
                # Decided in the write, by one query only for a body that has one.
                refusal = (
                    audience.direct_refusal(group_mention)
                    if kind == ChatRoom.Kind.DIRECT
                    else audience.decide_group_mention(
                        author_id=request.author.pk, room_id=room_id, mention=group_mention
                    )
                )
                if refusal is not None:
                    refusals[index] = refusal
                    group_mention = ""
            root = roots[request.thread_root] if request.thread_root is not None else None
            message = ChatMessage(
                room_id=room_id,
                author=request.author,
                seq=seq,
                change=change,
                body=request.body,
                client_id=request.client_id,
                thread_root=root,
                in_room=root is None or request.also_in_room,
                group_mention=group_mention,
            )
            message.thread_root_seq = root.seq if root is not None else None
            stored.append((index, message))
            if root is not None:
                _add_reply(root, message)
                changed_roots[root.id] = root
                last_reply_of[root.id] = index
    if not stored:
        return
    ChatMessage.objects.bulk_create([message for _, message in stored])
    for root in changed_roots.values():
        # Mostly one root per batch: a plain UPDATE, cheaper to build than bulk_update's CASE.
        ChatMessage.objects.filter(pk=root.pk).update(
            change=root.change,
            reply_count=root.reply_count,
            last_reply_at=root.last_reply_at,
            last_reply_seq=root.last_reply_seq,
            last_repliers=root.last_repliers,
        )
    _mark_read([message for _, message in stored if message.in_room])
    root_of = {index: changed_roots[root_id] for root_id, index in last_reply_of.items()}
    to_notify: list[PendingNotification] = []
    for index, message in stored:
        mentioned = _link_mentions(message, names_of[index])
        posted = PostedMessage(
            message,
            mentions=sorted(u.username for u in mentioned),
            mentioned_user_ids=[u.id for u in mentioned],
            created=True,
            root=root_of.get(index),
            refusal=refusals.get(index),
            direct=message.room_id in direct_rooms,
        )
        if posted.notifies:
            # What the notification step will do, committed with the message itself (a reply:
            # its thread's followers are the step's to find).
            to_notify.append(
                PendingNotification(message_id=message.id, new_reply=message.thread_root_id is not None)
            )
        outcomes[index] = posted
    PendingNotification.objects.bulk_create(to_notify)


def _add_reply(root: ChatMessage, reply: ChatMessage) -> None:
    """The root's thread summary with one reply more."""
    root.reply_count += 1
    root.last_reply_at = reply.created_at
    root.last_reply_seq = reply.seq
    replier = author_payload(reply.author)
    others = [shown for shown in root.last_repliers if shown.get("id") != replier["id"]]
    root.last_repliers = [replier, *others][:SHOWN_REPLIERS]


def _take_positions(
    room_id: int, entries: list[tuple[int, SendRequest]], outcomes: list
) -> tuple[list, dict[int, ChatMessage], str]:
    """The room's next seqs and change positions for the entries whose authors may write
    there, in order, and the roots their replies answer, by seq, each with its own new change
    position after the messages'; the others' outcomes are why not. One round trip when all
    may and nobody replies. Also the room's kind (a direct conversation notifies its people)."""
    authors = {request.author.pk for _, request in entries}
    positions = _take_next_seqs(room_id, len(entries), _root_seqs(entries), authors)
    if positions is None:
        # Someone here may not write (or the room is archived): find out who, take the rest.
        allowed = _writable_authors(room_id, authors)
        for index, request in entries:
            if request.author.pk not in allowed:
                outcomes[index] = write_refusal(user=request.author, room_id=room_id)
        entries = [(index, request) for index, request in entries if request.author.pk in allowed]
        positions = _take_next_seqs(room_id, len(entries), _root_seqs(entries), allowed) if entries else None
        if positions is None:  # changed in between
            for index, request in entries:
                outcomes[index] = write_refusal(user=request.author, room_id=room_id)
            return [], {}, ChatRoom.Kind.ROOM
    first_seq, first_change, kind = positions
    roots = _roots_under_lock(room_id, entries)
    for offset, root_seq in enumerate(sorted(roots)):
        roots[root_seq].change = first_change + len(entries) + offset
    placed = [
        (index, request, first_seq + offset, first_change + offset)
        for offset, (index, request) in enumerate(entries)
    ]
    return placed, roots, kind


def _root_seqs(entries: list[tuple[int, SendRequest]]) -> set[int]:
    return {request.thread_root for _, request in entries if request.thread_root is not None}


def _roots_under_lock(room_id: int, entries: list[tuple[int, SendRequest]]) -> dict[int, ChatMessage]:
    """The roots the entries reply to, read under the room's lock (so no delete can come in
    between); a reply its root cannot take rolls the batch back with why."""
    wanted = _root_seqs(entries)
    if not wanted:
        return {}
    roots = {root.seq: root for root in messages_with_state().filter(room_id=room_id, seq__in=wanted)}
    refused: dict[int, Exception] = {}
    for index, request in entries:
        if request.thread_root is None:
            continue
        root = roots.get(request.thread_root)
        if root is None:
            refused[index] = NoSuchMessage("There is no message to reply to at that seq in this room.")
        elif root.thread_root_id is not None:
            refused[index] = ThreadDepth()
        elif root.is_deleted:
            refused[index] = MessageDeleted("This message was deleted; its thread takes no new replies.")
    if refused:
        raise _RefusedReplies(refused)
    return roots


def _take_next_seqs(
    room_id: int, count: int, roots: set[int], authors: set[int]
) -> tuple[int, int, str] | None:
    """Take the room's next `count` seqs and `count` change positions (a new message is a
    change of the room too), plus one change position per thread root in `roots` (a reply
    changes its root), if every one of `authors` may write there: the first of each
    and the room's kind, or None. One round trip.

    May write: a member, with an active account (a deactivated one posts nothing, even through
    a socket opened before), in a room not archived. The UPDATE takes the room's row lock
    until commit (PostgreSQL) or runs under SQLite's write lock (IMMEDIATE transactions), so
    writers to one room are serialised here.
    """
    room_table = ChatRoom._meta.db_table
    membership_table = Membership._meta.db_table
    user_table = User._meta.db_table
    marks = ", ".join(["%s"] * len(authors))
    changes = count + len(roots)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {room_table} SET last_seq = last_seq + %s, last_change = last_change + %s "  # noqa: S608
            f"WHERE id = %s AND archived_at IS NULL AND ("
            f"SELECT COUNT(*) FROM {membership_table} m JOIN {user_table} u ON u.id = m.user_id "
            f"WHERE m.room_id = %s AND u.is_active AND m.user_id IN ({marks})) = %s "
            f"RETURNING last_seq, last_change, kind",
            [count, changes, room_id, room_id, *sorted(authors), len(authors)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] - count + 1, row[1] - changes + 1, row[2]


def _writable_authors(room_id: int, authors: set[int]) -> set[int]:
    return set(
        Membership.objects.filter(
            room_id=room_id, user_id__in=authors, room__archived_at__isnull=True, user__is_active=True
        ).values_list("user_id", flat=True)
    )


def _mark_read(messages: list[ChatMessage]) -> None:
    """Writing in a room is having read it, up to one's message, when nothing of others' was
    left unread below it: a message sent from a hidden tab, or from the outbox after a
    reconnect, says nothing about what its author has seen, and the `room.read` that follows
    once it is shown must still move the pointer (and so be others' "Seen by"). Such a move
    passes only the author's own messages: no read receipt in it. (A reply only in its thread
    is not the room's: it moves the author's place in the thread, in the notification step.)"""
    newest: dict[tuple[int, int], ChatMessage] = {}
    for message in messages:
        key = (message.room_id, message.author_id)
        if key not in newest or message.seq > newest[key].seq:
            newest[key] = message
    if not newest:
        return
    memberships, messages_table = Membership._meta.db_table, ChatMessage._meta.db_table
    # Only over one's own messages: no message of someone else's in the timeline between the
    # pointer and this one.
    sql = (
        f"UPDATE {memberships} SET last_read_seq = %s "  # noqa: S608
        f"WHERE room_id = %s AND user_id = %s AND last_read_seq < %s AND NOT EXISTS ("
        f"SELECT 1 FROM {messages_table} m WHERE m.room_id = %s AND m.in_room "
        f"AND m.seq > {memberships}.last_read_seq AND m.seq < %s AND m.author_id <> %s)"
    )
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                (m.seq, room_id, user_id, m.seq, room_id, m.seq, user_id)
                for (room_id, user_id), m in newest.items()
            ],
        )


def _answer_resend(request: SendRequest, error: IntegrityError) -> PostedMessage | Exception:
    """The same author resent a client_id: answer with what was stored the first time."""
    original = _message_by_client_id(author=request.author, client_id=request.client_id)
    if original is None:
        return error
    if original.room_id != request.room_id:
        return BadRequest("This client_id was already used for a message in another room.")
    usernames = sorted(u.username for u in original.mentioned_users.all())
    ids = [u.id for u in original.mentioned_users.all()]
    return PostedMessage(original, usernames, ids, created=False)


# Sends stored together at most; more wait for the next transaction.
MAX_BATCH = 64


# This process's group commit of sends (messaging/actions/group_commit.py): one transaction,
# one INSERT, one UPDATE per room for the sends that arrive together.
send_queue = PerLoop(sys.modules[__name__], "post_messages", max_batch=MAX_BATCH)


def _link_mentions(message: ChatMessage, names: list[str]) -> list:
    """The members the body names (never @room or @here: those are nobody's name), linked."""
    names = audience.people_names(names)
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
    except Exception:
        logger.exception("Resolving mentions failed for message %s; delivering it without", message.id)
        return []
    return users


def _message_by_client_id(*, author, client_id: str) -> ChatMessage | None:
    return messages_with_state().filter(author=author, client_id=client_id).first()


# --- Rooms and membership ------------------------------------------------------------------
