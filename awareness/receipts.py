"""Read receipts: members' read pointers (`Membership.last_read_seq`), live to the room.

Only in rooms of at most RECEIPTS_MAX_MEMBERS, and only between users who share their read
state (a user who does not share neither shows theirs nor sees others'). A pointer that moves
joins the room's next frame: at most one per room per RECEIPTS_COALESCE_SECONDS from this
process, carrying each reader's absolute position, so a lost frame is healed by the next one
and by `receipts.sync`.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from messaging.realtime import outlet
from messaging.serializers import author_payload

from .rooms import RoomSizes
from .serializers import read_payload, receipts_changed_frame

logger = logging.getLogger(__name__)

RECEIPTS_KIND = "receipts"


class ReceiptBatcher:
    def __init__(self, sizes: RoomSizes):
        self.sizes = sizes
        # room id → user id → (user payload, seq): pointers waiting for the room's next frame.
        self.pending: dict[int, dict[int, tuple[dict, int]]] = {}
        self.sent_at: dict[int, float] = {}
        self.waiting: dict[int, asyncio.Task] = {}

    async def read_moved(self, room_id: int, user, seq: int) -> None:
        limits = settings.PARLEY
        if not limits["READ_RECEIPTS"] or not user.share_read_state:
            return
        reads = self.pending.setdefault(room_id, {})
        known = reads.get(user.id)
        if known is None or seq > known[1]:
            reads[user.id] = (author_payload(user), seq)
        if room_id in self.waiting:
            return  # goes with the frame already waiting for its interval
        loop = asyncio.get_running_loop()
        wait = self.sent_at.get(room_id, float("-inf")) + limits["RECEIPTS_COALESCE_SECONDS"] - loop.time()
        # Always in a task of its own, never awaited here: a caller on the database thread (a
        # send's commit) must not wait for the room's size, which needs that thread.
        self.waiting[room_id] = asyncio.ensure_future(self._send_later(room_id, max(0.0, wait)))

    async def _send_later(self, room_id: int, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
        finally:
            # Before the send: a pointer that moves while it is under way waits for the next
            # frame, which it schedules itself, instead of for a frame already gone.
            self.waiting.pop(room_id, None)
        await self._send(room_id)

    async def _send(self, room_id: int) -> None:
        reads = self.pending.pop(room_id, None)
        if not reads:
            return
        self.sent_at[room_id] = asyncio.get_running_loop().time()
        try:
            if await self.sizes.size(room_id) > settings.PARLEY["RECEIPTS_MAX_MEMBERS"]:
                return
            frame = receipts_changed_frame(room_id, [read_payload(user, seq) for user, seq in reads.values()])
            await outlet.send_ephemeral_to_room(room_id, frame, kind=RECEIPTS_KIND)
        except Exception:
            logger.exception("Sending the read receipts of room %s failed", room_id)
