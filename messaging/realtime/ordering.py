"""Per socket and room: forward message frames in seq order, each once.

Two senders' messages commit in seq order but their broadcasts race, and a broadcast can be
dropped by the channel layer. A socket therefore holds a frame that arrives ahead of a gap
until the missing one comes, or fetches what is missing from the database when it does not.
What the database does not have below the room's end is a hole (a message removed by hand):
it counts as delivered, so a hole never freezes a room.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class RoomStream:
    def __init__(self, delivered: int):
        # Every message up to this seq has been sent to the client (or predates the socket).
        self.delivered = delivered
        self.held: dict[int, str] = {}

    @property
    def has_gap(self) -> bool:
        return bool(self.held)

    @property
    def missing_up_to(self) -> int:
        """The highest held seq: everything before it must be fetched to close the gap."""
        return max(self.held, default=self.delivered)

    def offer(self, seq: int, frame: str) -> list[str]:
        """The frames to send now, in order: none when held or already sent."""
        if seq <= self.delivered or seq in self.held:
            return []
        if seq > self.delivered + 1:
            self.held[seq] = frame
            return []
        self.delivered = seq
        return [frame, *self._release()]

    def advance(self, seq: int) -> list[str]:
        """Messages up to `seq` went to the client another way (a sync): skip them here."""
        if seq > self.delivered:
            self.delivered = seq
            for held_seq in [s for s in self.held if s <= seq]:
                del self.held[held_seq]
        return self._release()

    def fill(self, found: list[tuple[int, str]], *, up_to: int) -> list[str]:
        """The frames to send now, given every stored message in (delivered, up_to], in order.

        `found` is what the database has in that range; a seq it lacks is a hole and is
        passed over, so the frames held behind it go out.
        """
        frames: list[str] = []
        for seq, frame in found:
            frames += self.advance(seq - 1)
            frames += self.offer(seq, frame)
        frames += self.advance(up_to)
        return frames

    def _release(self) -> list[str]:
        frames = []
        while (frame := self.held.pop(self.delivered + 1, None)) is not None:
            frames.append(frame)
            self.delivered += 1
        return frames


# How long a frame waits for a missing predecessor before the socket fetches it itself.
GAP_WAIT_SECONDS = 0.5

# (room_id, after_seq, up_to_seq, limit) → the stored messages in that range as (seq, frame),
# in order, or None when the socket's user is no longer a member of the room.
Fetch = Callable[[int, int, int, int], Awaitable[list[tuple[int, str]] | None]]


class RoomStreams:
    """One socket's rooms: a stream each, and the gap fills that run for them.

    `push(frame, size)` queues a frame for the client; `fetch` reads what the channel layer did
    not bring in time; `lost(room_id)` is awaited when the database says the room is no longer
    the socket's.
    """

    def __init__(self, *, push: Callable[[str, int | None], None], fetch: Fetch, lost, batch: int):
        self.push = push
        self.fetch = fetch
        self.lost = lost
        self.batch = batch
        self.streams: dict[int, RoomStream] = {}
        self.fills: dict[int, asyncio.Task] = {}

    def __contains__(self, room_id: int) -> bool:
        return room_id in self.streams

    def __iter__(self):
        return iter(list(self.streams))

    def __len__(self) -> int:
        return len(self.streams)

    def delivered(self, room_id: int) -> int | None:
        """How far the room's messages have gone out on this socket (None: not followed)."""
        stream = self.streams.get(room_id)
        return stream.delivered if stream is not None else None

    def add(self, room_id: int, delivered: int) -> tuple[RoomStream, bool]:
        """The room's stream, and whether it is new (delivered so far: `delivered`)."""
        stream = self.streams.get(room_id)
        if stream is not None:
            return stream, False
        stream = self.streams[room_id] = RoomStream(delivered)
        return stream, True

    def drop(self, room_id: int) -> None:
        self.streams.pop(room_id, None)
        task = self.fills.pop(room_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def close(self) -> None:
        for task in self.fills.values():
            task.cancel()
        self.fills.clear()

    def forward(self, room_id: int, seq: int, frame: str, size: int | None = None) -> None:
        """A room's message frame, from the hub or the sender: queued in seq order, once."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        for text in stream.offer(seq, frame):
            self.push(text, size if text is frame else None)
        if stream.has_gap and room_id not in self.fills:
            self.fills[room_id] = asyncio.create_task(self._fill(room_id))

    async def _fill(self, room_id: int) -> None:
        """Fetch from the database what the channel layer did not bring in time."""
        try:
            await asyncio.sleep(GAP_WAIT_SECONDS * (1 + random.random()))
            while (stream := self.streams.get(room_id)) is not None and stream.has_gap:
                up_to = stream.missing_up_to
                found = await self.fetch(room_id, stream.delivered, up_to, self.batch)
                if found is None:
                    await self.lost(room_id)
                    return
                # A full batch covers the range only up to its last message.
                covered = found[-1][0] if len(found) == self.batch else up_to
                for text in stream.fill(found, up_to=covered):
                    self.push(text, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Filling a gap in room %s failed; the client's sync covers it", room_id)
        finally:
            if self.fills.get(room_id) is asyncio.current_task():
                del self.fills[room_id]
