"""This event loop's awareness parts: the presence tracker, the typing relay, the receipt
batcher and the room sizes they share. One set per loop, as the room hub: a server runs one
loop; tests run many in one process."""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings

from messaging.realtime import outlet

from .presence import PresenceTracker
from .receipts import ReceiptBatcher
from .rooms import RoomSizes
from .store import MemoryPresenceStore, PresenceStore, RedisPresenceStore
from .typing import TypingRelay

logger = logging.getLogger(__name__)


@dataclass
class Awareness:
    sizes: RoomSizes
    presence: PresenceTracker
    typing: TypingRelay
    receipts: ReceiptBatcher


def presence_store() -> PresenceStore:
    """Redis when the deployment has it (the store every process shares), else in memory."""
    if settings.REDIS_URL:
        return RedisPresenceStore(settings.REDIS_URL)
    return MemoryPresenceStore()


_loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Awareness] = weakref.WeakKeyDictionary()


def awareness() -> Awareness:
    loop = asyncio.get_running_loop()
    parts = _loops.get(loop)
    if parts is None:
        sizes = RoomSizes()
        parts = _loops[loop] = Awareness(
            sizes=sizes,
            presence=PresenceTracker(presence_store()),
            typing=TypingRelay(sizes),
            receipts=ReceiptBatcher(sizes),
        )
    return parts


def publish_read_on_commit(room_id: int, user, seq: int) -> None:
    """After commit, a member's read pointer to the room's receipts (from synchronous code)."""
    outlet.on_commit(lambda: _publish_read_sync(room_id, user, seq))


def _publish_read_sync(room_id: int, user, seq: int) -> None:
    async def publish():
        await awareness().receipts.read_moved(room_id, user, seq)

    try:
        async_to_sync(outlet.in_loop_context)(publish())
    except Exception:
        logger.exception("Could not hand room %s's read receipt to its sockets", room_id)
