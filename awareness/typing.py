"""Typing: "Bob is typing…", never stored, at most one start per user per conversation per
TYPING_THROTTLE_SECONDS, only in rooms of at most TYPING_MAX_MEMBERS, and never from an
invisible user.

A conversation is a room's timeline (thread root None) or one thread; the throttle counts per
room, so a user typing in a room and one of its threads at once is relayed one start per
interval. Starts that come too soon
are dropped without an answer (the client's next one, within its own 3 s, gets through); each
start tells the others how long to show it (`expires_in`), so a lost stop heals by itself. A
socket that closes stops what it was typing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from messaging.realtime import outlet

from .rooms import RoomSizes
from .serializers import typing_frame

TYPING_KIND = "typing"

Conversation = tuple[int, int | None]  # (room id, thread root seq or None)


class TypingRelay:
    def __init__(self, sizes: RoomSizes, clock: Callable[[], float] = time.monotonic):
        self.sizes = sizes
        self.clock = clock
        # (user id, room id) → when the user's last start in the room went out.
        self.started_at: dict[tuple[int, int], float] = {}

    async def start(self, consumer, conversation: Conversation) -> bool:
        """Tell the others; False when dropped (too soon, room too big, typing off)."""
        limits = settings.PARLEY
        if not limits["TYPING"] or consumer.user.invisible:
            return False  # an invisible user's typing would say they are here
        room_id, root = conversation
        # One start per user per room per throttle, whichever of its conversations, and kept
        # across stops: starts and stops in turn, or a start per made-up thread, gain nothing.
        key = (consumer.user.id, room_id)
        now = self.clock()
        last = self.started_at.get(key)
        if last is not None and now - last < limits["TYPING_THROTTLE_SECONDS"]:
            return False
        if await self.sizes.size(room_id) > limits["TYPING_MAX_MEMBERS"]:
            return False
        self.started_at[key] = now
        consumer.typing_in.add(conversation)
        frame = typing_frame(
            room_id, root, consumer.user, started=True, expires_in=limits["TYPING_EXPIRES_SECONDS"]
        )
        await outlet.send_ephemeral_to_room(room_id, frame, kind=TYPING_KIND, skip_user=consumer.user.id)
        self._forget_old(now)
        return True

    async def stop(self, consumer, conversation: Conversation) -> None:
        """The typer stopped (sent, emptied the box, left): the others stop showing it."""
        if conversation not in consumer.typing_in:
            return
        consumer.typing_in.discard(conversation)
        room_id, root = conversation
        frame = typing_frame(room_id, root, consumer.user, started=False, expires_in=0)
        await outlet.send_ephemeral_to_room(room_id, frame, kind=TYPING_KIND, skip_user=consumer.user.id)

    def sent(self, consumer, conversation: Conversation) -> None:
        """The typer sent a message there: the others drop the typer on that message itself
        (a frame per member per message would double what a busy room costs), so nothing goes
        out; a `typing.stop` the client sends after it finds nothing to stop."""
        consumer.typing_in.discard(conversation)

    async def stop_all(self, consumer) -> None:
        for conversation in list(consumer.typing_in):
            await self.stop(consumer, conversation)

    def _forget_old(self, now: float) -> None:
        # Keeps the map to the conversations typed in lately; bounded by the people typing.
        if len(self.started_at) > 1000:
            keep = settings.PARLEY["TYPING_EXPIRES_SECONDS"]
            for key in [k for k, at in self.started_at.items() if now - at > keep]:
                del self.started_at[key]
