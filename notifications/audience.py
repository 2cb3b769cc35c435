"""Who a message notifies: @room and @here (may its author use them here, whom they reach), the
participants of a direct conversation, and how many people a body would notify in all.

The rules, in one place for the send, the notification step and the composer's count:
- `@room` reaches every member; `@here` the members with a socket open now, on any process (the
  presence store; invisible people count as offline). Both leave out the author, deactivated
  accounts, members whose level for the room is "nothing", muted members, and the members the
  message names (they get a "mention", one notification each).
- Who may use them is the room's `group_mentions_by`; empty: everyone while the room has at most
  GROUP_MENTION_MEMBERS members, only its owner and admins past that. In a direct conversation
  they are pointless (everyone is notified anyway) and refused.
- A message in a direct conversation notifies each other participant ("direct") unless their
  level for it is "nothing"; one it names gets the "mention" instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Q

from messaging.mentions import parse_mentions
from messaging.models import ChatMessage, ChatRoom, Membership

from .models import Notification

logger = logging.getLogger(__name__)
User = get_user_model()

ROOM = "room"
HERE = "here"
# The names that are group mentions, never a person's (accounts/forms.py reserves them).
GROUP_NAMES = (ROOM, HERE)

FORBIDDEN = "group_mention_forbidden"
IN_DIRECT = "group_mention_in_direct"

# Reads the presence store: of these user ids, the ones with a socket open now (None: no store
# to ask, the caller falls back to `present_at`).
PresenceReader = Callable[[list[int]], set[int]]


def group_mention_of(names: list[str]) -> str:
    """The group mention among a body's mentioned names: @room wins over @here (it reaches all)."""
    if ROOM in names:
        return ROOM
    if HERE in names:
        return HERE
    return ""


def people_names(names: list[str]) -> list[str]:
    return [name for name in names if name not in GROUP_NAMES]


@dataclass(frozen=True)
class Refusal:
    """A group mention delivered as plain text, and why: what its author is answered."""

    mention: str
    code: str
    detail: str

    def answer(self, message: ChatMessage) -> dict:
        """The `mention.refused` object (a socket frame's fields, and the HTTP send's answer)."""
        return {
            "room": message.room_id,
            "message": message.id,
            "seq": message.seq,
            "client_id": message.client_id,
            "mention": self.mention,
            "code": self.code,
            "detail": self.detail,
        }


def decide_group_mention(*, author_id: int, room_id: int, mention: str) -> Refusal | None:
    """May the author use `mention` in the room? None: yes. One query (the room's kind and rule,
    the author's role, the member count), asked only of a body that has a group mention."""
    room_table, membership_table = ChatRoom._meta.db_table, Membership._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.kind, r.group_mentions_by, "  # noqa: S608 - table names only
            f"(SELECT role FROM {membership_table} WHERE room_id = r.id AND user_id = %s), "
            f"(SELECT COUNT(*) FROM {membership_table} WHERE room_id = r.id) "
            f"FROM {room_table} r WHERE r.id = %s",
            [author_id, room_id],
        )
        row = cursor.fetchone()
    if row is None:
        return Refusal(mention, FORBIDDEN, "This room takes no group mentions.")
    kind, rule, role, members = row
    return refusal_of(mention=mention, kind=kind, rule=rule, role=role or "", members=members)


def direct_refusal(mention: str) -> Refusal:
    return Refusal(
        mention,
        IN_DIRECT,
        f"@{mention} does nothing in a direct conversation: everyone in it is notified of "
        "every message. It was sent as plain text.",
    )


def refusal_of(*, mention: str, kind: str, rule: str, role: str, members: int) -> Refusal | None:
    """The rule itself: the room's kind and `group_mentions_by`, the author's role, its size."""
    if kind == ChatRoom.Kind.DIRECT:
        return direct_refusal(mention)
    manager = role in (Membership.Role.OWNER, Membership.Role.ADMIN)
    limit = settings.PARLEY["GROUP_MENTION_MEMBERS"]
    if rule == ChatRoom.Audience.MEMBERS or manager:
        return None
    if rule == ChatRoom.Audience.MANAGERS:
        return Refusal(
            mention,
            FORBIDDEN,
            f"In this room only the owner and admins can notify everyone with @{mention}. "
            "It was sent as plain text.",
        )
    if members <= limit:
        return None
    return Refusal(
        mention,
        FORBIDDEN,
        f"This room has more than {limit} members: only its owner and admins can notify everyone "
        f"with @{mention}. It was sent as plain text.",
    )


# --- Whom a group mention or a direct message reaches -------------------------------------------


def present_seconds() -> float:
    """How long after its last sign a person counts as in Parley when only the database can say
    (`present_at`): the presence idle window, plus the interval at which it reaches the database."""
    limits = settings.PARLEY
    return limits["PRESENCE_IDLE_SECONDS"] + limits["PRESENCE_PERSIST_SECONDS"]


def present_members(
    *, room_id: int, exclude: int, presence: PresenceReader | None, now: datetime
) -> tuple[str, list]:
    """The SQL condition (on the membership `m` and user `u` of a member) of being here now, and
    its parameters: the presence store's answer when there is one to ask, else `present_at`
    within the idle window (a worker has no presence tracker; invisible people are left out)."""
    if presence is not None:
        members = list(
            Membership.objects.filter(room_id=room_id, user__is_active=True)
            .exclude(user_id=exclude)
            .values_list("user_id", flat=True)
        )
        try:
            here = sorted(presence(members)) if members else []
        except Exception:
            logger.exception("Reading presence for @here in room %s failed; using the database's", room_id)
        else:
            if not here:
                return "1 = 0", []
            return f"m.user_id IN ({', '.join(['%s'] * len(here))})", here
    since = now - timedelta(seconds=present_seconds())
    return "u.present_at >= %s AND NOT u.invisible", [connection.ops.adapt_datetimefield_value(since)]


def audience_sql(
    *,
    message: ChatMessage,
    kind: str,
    group_mention: str,
    presence: PresenceReader | None,
    now: datetime,
    select: str,
) -> tuple[str, list]:
    """The SELECT of the members a message's `kind` ("group" or "direct") notification reaches,
    as `select` columns over membership `m` and user `u`, and its parameters."""
    membership_table, user_table = Membership._meta.db_table, User._meta.db_table
    mentioned_table = ChatMessage.mentioned_users.through._meta.db_table
    where = [
        "m.room_id = %s",
        "u.is_active",
        "m.user_id <> %s",
        "m.notify_level <> %s",
        f"m.user_id NOT IN (SELECT user_id FROM {mentioned_table} WHERE chatmessage_id = %s)",  # noqa: S608
    ]
    params: list = [message.room_id, message.author_id, Membership.NotifyLevel.NOTHING, message.id]
    if kind == Notification.Kind.GROUP:
        # A muted room hears no @room or @here (a DM message still notifies while muted).
        where.append("(m.muted_until IS NULL OR m.muted_until <= %s)")
        params.append(connection.ops.adapt_datetimefield_value(now))
        if group_mention == HERE:
            condition, extra = present_members(
                room_id=message.room_id, exclude=message.author_id, presence=presence, now=now
            )
            where.append(condition)
            params += extra
    sql = (
        f"SELECT {select} FROM {membership_table} m JOIN {user_table} u ON u.id = m.user_id "  # noqa: S608
        f"WHERE {' AND '.join(where)}"
    )
    return sql, params


def insert_notifications(
    *, message: ChatMessage, kind: str, presence: PresenceReader | None, now: datetime
) -> list[tuple[int, int]]:
    """The message's `kind` notifications for everyone it reaches, in ONE statement whatever the
    room's size (INSERT … SELECT, on SQLite and PostgreSQL alike); a recipient who has it already
    (a retried step) is skipped by the unique index. Returns the new ones as (id, recipient id)."""
    notification_table = Notification._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    select, params = audience_sql(
        message=message,
        kind=kind,
        group_mention=message.group_mention,
        presence=presence,
        now=now,
        select="m.user_id, %s, %s, %s, %s, %s, 1",
    )
    sql = (
        f"INSERT INTO {notification_table} "
        f"(recipient_id, kind, actor_id, room_id, message_id, created_at, count) {select} "
        f"ON CONFLICT DO NOTHING RETURNING id, recipient_id"
    )
    head = [kind, message.author_id, message.room_id, message.id, adapt(message.created_at)]
    with connection.cursor() as cursor:
        cursor.execute(sql, head + params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def in_dnd(*, room_id: int, now: datetime) -> set[int]:
    """The room's members in do-not-disturb now (their notification.new frames do not alert)."""
    return set(
        User.objects.filter(memberships__room_id=room_id, dnd_until__gt=now).values_list("id", flat=True)
    )


# --- The composer's count -------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyCount:
    count: int
    group_mention: str
    refusal: Refusal | None

    def answer(self) -> dict:
        warn = self.count > settings.PARLEY["NOTIFY_WARNING_PEOPLE"]
        answer = {
            "count": self.count,
            "group_mention": self.group_mention,
            "allowed": self.refusal is None,
            "warn": warn,
        }
        if self.refusal is not None:
            answer["code"], answer["detail"] = self.refusal.code, self.refusal.detail
        return answer


def notify_count(
    *, author, room: ChatRoom, body: str, now: datetime, presence: PresenceReader | None = None
) -> NotifyCount:
    """How many people sending `body` to the room would notify, exactly as the notification step
    would: the members it names, plus @room/@here's audience when its author may use it (or a
    direct conversation's other participants), each person once."""
    names = parse_mentions(body)
    mention = group_mention_of(names)
    reached = (
        Membership.objects.filter(room=room, user__is_active=True)
        .exclude(user_id=author.pk)
        .exclude(notify_level=Membership.NotifyLevel.NOTHING)
    )
    named = people_names(names)
    # A mention by name notifies through a mute; never at level "nothing".
    people = (
        set(reached.filter(user__folded_username__in=named).values_list("user_id", flat=True))
        if named
        else set()
    )
    refusal = decide_group_mention(author_id=author.pk, room_id=room.id, mention=mention) if mention else None
    if room.is_direct:
        people |= set(reached.values_list("user_id", flat=True))
    elif mention and refusal is None:
        reached = reached.filter(Q(muted_until__isnull=True) | Q(muted_until__lte=now))
        ids = set(reached.values_list("user_id", flat=True))
        if mention == HERE:
            ids &= here_now(ids=ids, presence=presence, now=now)
        people |= ids
    return NotifyCount(count=len(people), group_mention=mention, refusal=refusal)


def here_now(*, ids: set[int], presence: PresenceReader | None, now: datetime) -> set[int]:
    if presence is not None:
        try:
            return set(presence(sorted(ids)))
        except Exception:
            logger.exception("Reading presence for a count failed; using the database's")
    since = now - timedelta(seconds=present_seconds())
    return set(
        User.objects.filter(pk__in=ids, present_at__gte=since, invisible=False).values_list("id", flat=True)
    )


# --- Reading the presence store from a thread ------------------------------------------------------

# How long a thread waits for the store (its own timeout is shorter).
PRESENCE_WAIT_SECONDS = 3.0


def loop_presence_reader(loop: asyncio.AbstractEventLoop) -> PresenceReader | None:
    """For work running in a thread beside `loop` (the notifier's, a view's): a reader that asks
    the loop's presence store (Redis: every process's sockets), or None when presence is off."""
    if not settings.PARLEY["PRESENCE"]:
        return None
    from awareness.realtime import _loops
    from awareness.store import OFFLINE

    parts = _loops.get(loop)
    if parts is None:
        return None
    tracker = parts.presence

    def read(user_ids: list[int]) -> set[int]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:  # on a loop's own thread it would wait for itself
            raise RuntimeError("the presence reader is for threads beside the loop")
        future = asyncio.run_coroutine_threadsafe(
            tracker.store.read(user_ids, tracker.clock(), tracker.ttl), loop
        )
        shown = future.result(timeout=PRESENCE_WAIT_SECONDS)
        return {user_id for user_id, state in shown.items() if state.state != OFFLINE}

    return read


def server_presence_reader() -> PresenceReader | None:
    """For a synchronous view: the presence reader of this process's running server loop, if any."""
    from awareness.realtime import _loops

    for loop in list(_loops):
        if loop.is_running() and not loop.is_closed():
            return loop_presence_reader(loop)
    return None
