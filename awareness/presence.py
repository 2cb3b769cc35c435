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
        # Announcements waiting for their user's coalescing interval: user id → (shown, rooms).
        self.pending: dict[int, tuple[Shown, list[int] | None]] = {}
        self.sent_at: dict[int, float] = {}
        # Last-active times not yet in the database: user id → epoch seconds.
        self.unpersisted: dict[int, float] = {}
        self._flushing: asyncio.Task | None = None
        self._beating: asyncio.Task | None = None
        self._persisted_at = 0.0

    # --- sockets ---------------------------------------------------------------------------------

    async def attach(self, consumer) -> None:
        self.sockets[consumer] = SocketPresence()
        self.users.setdefault(consumer.user.id, set()).add(consumer)
        self.start()
        await self.put(consumer.user.id)

    async def detach(self, consumer) -> None:
        if self.sockets.pop(consumer, None) is None:
            return
        user_id = consumer.user.id
        sockets = self.users.get(user_id)
        if sockets is not None:
            sockets.discard(consumer)
            if not sockets:
                del self.users[user_id]
        await self.put(user_id, rooms=list(consumer.streams))

    async def set_state(self, consumer, state: str) -> None:
        presence = self.sockets.get(consumer)
        if presence is None or state not in STATES:
            return
        now = self.clock()
        before = self._fold(consumer.user.id, now)
        presence.state = state
        if state == ACTIVE:
            presence.active_at = now
            if not consumer.user.invisible:
                self.unpersisted[consumer.user.id] = now
        after = self._fold(consumer.user.id, now)
        # The store hears of a change, and of activity at most once per coalescing interval (for
        # "last active" in other processes' reads); every refresh would be a write per minute
        # per tab for nothing.
        if after != before:
            await self.put(consumer.user.id)

    async def refresh_user(self, user_id: int) -> None:
        """Fold and put the user again (invisibility changed)."""
        await self.put(user_id)

    def _fold(self, user_id: int, now: float) -> tuple[str | None, float | None]:
        """This process's entry for the user: active if a socket is active and not idle."""
        state, last = None, None
        for consumer in self.users.get(user_id, ()):
            presence = self.sockets[consumer]
            fresh = presence.active_at is not None and now - presence.active_at < self.idle_seconds
            if presence.state == ACTIVE and fresh:
                state = ACTIVE
            elif state is None:
                state = AWAY
            if presence.active_at is not None and (last is None or presence.active_at > last):
                last = presence.active_at
        return state, last

    async def put(self, user_id: int, *, rooms: list[int] | None = None) -> None:
        now = self.clock()
        state, last = self._fold(user_id, now)
        sockets = self.users.get(user_id, ())
        invisible = any(consumer.user.invisible for consumer in sockets)
        if sockets:
            rooms = sorted({room_id for consumer in sockets for room_id in consumer.streams})
        try:
            shown = await self.store.put(
                self.process, user_id, state, None if invisible else last, invisible, now, self.ttl
            )
        except Exception:
            logger.exception("Putting user %s's presence failed", user_id)
            return
        if shown is not None:
            self.announce(shown, rooms)

    # --- announcing ------------------------------------------------------------------------------

    def announce(self, shown: Shown, rooms: list[int] | None) -> None:
        """Queue `shown` for its peers; sent now, or when the user's interval is over."""
        self.pending[shown.user_id] = (shown, rooms)
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
                batch = {user_id: self.pending.pop(user_id) for user_id in due}
                for user_id in due:
                    self.sent_at[user_id] = now
                try:
                    await self._send(batch)
                except Exception:
                    logger.exception("Announcing the presence of %s users failed", len(batch))
                continue
            wake = min(self.sent_at[u] for u in self.pending) + self.coalesce_seconds
            await asyncio.sleep(max(0.0, wake - now))
        # Forget intervals that are over, so the map holds only users heard from recently.
        now = loop.time()
        for user_id in [u for u, at in self.sent_at.items() if now - at >= self.coalesce_seconds]:
            del self.sent_at[user_id]

    async def _send(self, batch: dict[int, tuple[Shown, list[int] | None]]) -> None:
        """Each user's presence frame to its peers; who they are and their status in one read."""
        users, known_rooms = await database_sync_to_async(selectors.users_and_rooms)(
            list(batch), without_rooms=[u for u, (_, rooms) in batch.items() if rooms is None]
        )
        for user_id, (shown, rooms) in batch.items():
            user = users.get(user_id)
            if user is None:
                continue
            frame = presence_changed_frame(presence_payload(user, shown))
            await outlet.send_to_peers(
                user_id,
                rooms if rooms is not None else known_rooms.get(user_id, []),
                frame,
                kind=PRESENCE_KIND,
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
        for shown in await self.store.beat(self.process, now, self.ttl):
            self.announce(shown, None)  # a dead process's user: rooms from the database
        for user_id in list(self.users):
            state, _ = self._fold(user_id, now)
            if state == AWAY and any(self.sockets[c].state == ACTIVE for c in self.users.get(user_id, ())):
                # Gone idle: the sockets are away now, until their clients say otherwise.
                for consumer in self.users[user_id]:
                    self.sockets[consumer].state = AWAY
                await self.put(user_id)
        if self.unpersisted and now - self._persisted_at >= self.persist_seconds:
            times, self.unpersisted = self.unpersisted, {}
            self._persisted_at = now
            try:
                await database_sync_to_async(actions.record_last_active)(times)
            except Exception:
                logger.exception("Storing the last-active times of %s users failed", len(times))
                for user_id, at in times.items():
                    self.unpersisted.setdefault(user_id, at)

    async def close(self) -> None:
        for task in (self._beating, self._flushing):
            if task is not None:
                task.cancel()
        await self.store.close()
