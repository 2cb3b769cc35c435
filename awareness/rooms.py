"""How many members each room has, as this process last read it: what decides whether typing
and read receipts are shown there at all. A room's size changes rarely and matters only around
a threshold, so a minute-old count is good enough, and it costs no query per typing frame."""

from __future__ import annotations

import time
from collections.abc import Callable

from channels.db import database_sync_to_async

from . import selectors

SIZE_TTL_SECONDS = 60.0


class RoomSizes:
    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.sizes: dict[int, tuple[int, float]] = {}

    async def size(self, room_id: int) -> int:
        known = self.sizes.get(room_id)
        now = self.clock()
        if known is None or now - known[1] > SIZE_TTL_SECONDS:
            counts = await database_sync_to_async(selectors.member_counts)([room_id])
            known = self.sizes[room_id] = (counts.get(room_id, 0), now)
        return known[0]
