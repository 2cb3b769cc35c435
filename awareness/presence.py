"""Presence: this process's sockets, folded per user into the shared store, announced to peers.

Each socket is "away" when it opens and "active" while its client says the person is there
(`presence.set`), until PRESENCE_IDLE_SECONDS pass without a fresh word. Per user, this
process's sockets fold into one entry in the store (active if any is); the store unions the
processes. When what others see changes, the change goes to the people who share a room with
the user (`outlet.send_to_peers`), at most once per user per PRESENCE_COALESCE_SECONDS: a tab
flapping between focused and hidden costs its peers one frame per interval, the latest state.

The tracker renews the process's liveness every third of PRESENCE_TTL_SECONDS, demotes idle
sockets, reaps dead processes (announcing their users), and writes "last active" times to the
database once per PRESENCE_PERSIST_SECONDS. None of it may hold up a message: store and
database failures are logged and retried by the next step; clients heal on their next sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from messaging.realtime import outlet

from . import actions, selectors
from .serializers import presence_changed_frame, presence_payload
from .store import ACTIVE, AWAY, STATES, PresenceStore, Shown

logger = logging.getLogger(__name__)

PRESENCE_KIND = "presence"


@dataclass
class SocketPresence:
    state: str = AWAY
    active_at: float | None = None  # when the client last said the person is there


class PresenceTracker:
    def __init__(
        self, store: PresenceStore, *, process: str | None = None, clock: Callable[[], float] = time.time
    ):
        limits = settings.PARLEY
        self.store = store
        self.process = process or uuid.uuid4().hex
        self.clock = clock
        self.idle_seconds = limits["PRESENCE_IDLE_SECONDS"]
        self.coalesce_seconds = limits["PRESENCE_COALESCE_SECONDS"]
        self.ttl = limits["PRESENCE_TTL_SECONDS"]
        self.persist_seconds = limits["PRESENCE_PERSIST_SECONDS"]
        self.sockets: dict[object, SocketPresence] = {}
        self.users: dict[int, set] = {}
        # When each user with sockets here was last active on one of them (while visible).
        self.last_active: dict[int, float] = {}
        # Users whose entry the store must hear again, written by one writer in turn: a user's
        # writes never overtake each other, and no socket ever waits for the store.
        self.dirty: dict[int, None] = {}
        # Users whose shown state changed, waiting for their coalescing interval.
        self.pending: set[int] = set()
        self.sent_at: dict[int, float] = {}
        # Last-active times not yet in the database: user id → epoch seconds.
        self.unpersisted: dict[int, float] = {}
        # When each user was last here, invisible or not: never shown to anyone, it keeps
        # missed-message emails from going to a person reading Parley (notifications/digest.py).
        self.unpersisted_present: dict[int, float] = {}
        # Users whose last write failed (a store timeout): the next beat puts them again.
        self.failed: set[int] = set()
        self._writing: asyncio.Task | None = None
        self._flushing: asyncio.Task | None = None
        self._beating: asyncio.Task | None = None
        self._persisted_at = 0.0

    # --- sockets: never waiting for the store ----------------------------------------------------

    async def attach(self, consumer) -> None:
        self.sockets[consumer] = SocketPresence()
        self.users.setdefault(consumer.user.id, set()).add(consumer)
        self.start()
        self.mark(consumer.user.id)

    async def detach(self, consumer) -> None:
        if self.sockets.pop(consumer, None) is None:
            return
        user_id = consumer.user.id
        sockets = self.users.get(user_id)
        if sockets is not None:
            sockets.discard(consumer)
            if not sockets:
                del self.users[user_id]
        self.mark(user_id)

    async def set_state(self, consumer, state: str) -> None:
        presence = self.sockets.get(consumer)
        if presence is None or state not in STATES:
            return
        now = self.clock()
        user_id = consumer.user.id
        before = self._fold(user_id, now)
        presence.state = state
        if state == ACTIVE:
            presence.active_at = now
            self.unpersisted_present[user_id] = now
            if not consumer.user.invisible:
                self.last_active[user_id] = now
                self.unpersisted[user_id] = now
        # The store hears of a change of state only: a refresh of "active" (once a minute per
        # tab) changes nothing others see; the last-active time goes with the next change, and
        # to the database once a minute.
        if self._fold(user_id, now) != before:
            self.mark(user_id)

    async def refresh_user(self, user_id: int) -> None:
        """Put the user again (invisibility changed)."""
        self.mark(user_id)

    def _fold(self, user_id: int, now: float) -> str | None:
        """This process's entry for the user: active if a socket is active and not idle, away if
        any socket is here, None if none."""
        state = None
        for consumer in self.users.get(user_id, ()):
            presence = self.sockets[consumer]
            fresh = presence.active_at is not None and now - presence.active_at < self.idle_seconds
            if presence.state == ACTIVE and fresh:
                return ACTIVE
            state = AWAY
        return state

    def mark(self, user_id: int) -> None:
        self.dirty[user_id] = None
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self.dirty:
            user_id = next(iter(self.dirty))
            del self.dirty[user_id]
            try:
                await self.put(user_id)
            except Exception:
                # Put again at the next beat (and by any change before it); messages never wait.
                logger.exception("Putting user %s's presence failed; again at the next beat", user_id)
                self.failed.add(user_id)

    async def put(self, user_id: int) -> None:
        """Write the user's entry as it is now (the writer's turn: one user at a time)."""
        now = self.clock()
        state = self._fold(user_id, now)
        sockets = self.users.get(user_id, ())
        # With no socket here, this process does not know; it leaves invisibility as it is.
        invisible = any(consumer.user.invisible for consumer in sockets) if sockets else None
        last = None if invisible else self.last_active.get(user_id)
        shown = await self.store.put(self.process, user_id, state, last, invisible, now, self.ttl)
        if not sockets:
            self.last_active.pop(user_id, None)
        if shown is not None:
            self.announce(user_id)

    # --- announcing ------------------------------------------------------------------------------

    def announce(self, user_id: int) -> None:
        """Tell the user's peers what they now see: now, or when the user's interval is over."""
        self.pending.add(user_id)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            now = loop.time()
            due = [
                u for u in self.pending if now - self.sent_at.get(u, float("-inf")) >= self.coalesce_seconds
            ]
            if due:
                self.pending.difference_update(due)
                for user_id in due:
                    self.sent_at[user_id] = now
                try:
                    await self._send(due)
                except Exception:
                    logger.exception("Announcing the presence of %s users failed", len(due))
                continue
            wake = min(self.sent_at[u] for u in self.pending) + self.coalesce_seconds
            await asyncio.sleep(max(0.0, wake - now))
        # Forget intervals that are over, so the map holds only users heard from recently.
        now = loop.time()
        for user_id in [u for u, at in self.sent_at.items() if now - at >= self.coalesce_seconds]:
            del self.sent_at[user_id]

    async def _send(self, user_ids: list[int]) -> None:
        """Each user's presence as the store has it now (not as it was when queued: another
        process may have changed it meanwhile), to the members of the user's rooms as the
        database has them now. The store's version lets every hub drop an older state that
        arrives after a newer one."""
        shown = await self.store.read(user_ids, self.clock(), self.ttl)
        users, rooms = await database_sync_to_async(selectors.users_and_rooms)(
            user_ids, without_rooms=user_ids
        )
        for user_id in user_ids:
            user = users.get(user_id)
            if user is None:
                continue
            current = shown.get(user_id)
            frame = presence_changed_frame(presence_payload(user, current))
            await outlet.send_to_peers(
                user_id,
                rooms.get(user_id, []),
                frame,
                kind=PRESENCE_KIND,
                version=current.version if current is not None else None,
            )

    # --- reading ---------------------------------------------------------------------------------

    async def read(self, user_ids: list[int]) -> dict[int, Shown]:
        try:
            return await self.store.read(user_ids, self.clock(), self.ttl)
        except Exception:
            logger.exception("Reading presence failed")
            return {}

    # --- the periodic step -----------------------------------------------------------------------

    def start(self) -> None:
        if self._beating is None or self._beating.done():
            self._beating = asyncio.ensure_future(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:
                logger.exception("The presence beat failed; trying again")
            await asyncio.sleep(self.beat_seconds)

    @property
    def beat_seconds(self) -> float:
        # Demoting idle sockets needs no finer step than this either.
        return max(0.05, min(self.ttl / 3, self.idle_seconds / 3))

    async def beat(self) -> None:
        """Renew, reap, demote idle sockets, persist last-active times."""
        now = self.clock()
        renewed, reaped = await self.store.beat(self.process, now, self.ttl)
        if not renewed:
            # This process was taken for dead (a stall or a store outage longer than the TTL),
            # or it is new: put every user with sockets here (again).
            for user_id in list(self.users):
                self.mark(user_id)
        failed, self.failed = self.failed, set()
        for user_id in failed:
            self.mark(user_id)
        for shown in reaped:
            self.announce(shown.user_id)
        for user_id in list(self.users):
            sockets = self.users[user_id]
            if self._fold(user_id, now) == AWAY and any(self.sockets[c].state == ACTIVE for c in sockets):
                # Gone idle: the sockets are away now, until their clients say otherwise.
                for consumer in sockets:
                    self.sockets[consumer].state = AWAY
                self.mark(user_id)
        if self.unpersisted_present and now - self._persisted_at >= self.persist_seconds:
            times, self.unpersisted = self.unpersisted, {}
            present, self.unpersisted_present = self.unpersisted_present, {}
            self._persisted_at = now
            try:
                await database_sync_to_async(actions.record_last_active)(times, present)
            except Exception:
                logger.exception("Storing the last-active times of %s users failed", len(present))
                for user_id, at in times.items():
                    self.unpersisted.setdefault(user_id, at)
                for user_id, at in present.items():
                    self.unpersisted_present.setdefault(user_id, at)

    async def close(self) -> None:
        for task in (self._beating, self._flushing, self._writing):
            if task is not None:
                task.cancel()
        await self.store.close()
