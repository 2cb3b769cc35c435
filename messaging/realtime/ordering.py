"""Per socket and room: forward a room's changes in their order, each once.

Every change of a room (a new message, an edit, a delete, a reaction, a pin) has a gap-free
position, `change`. Two senders' changes commit in order but their broadcasts race, and a
broadcast can be dropped by the channel layer. A socket therefore holds a frame that arrives
ahead of a gap until the missing one comes, or fetches what is missing from the database when
it does not. The database keeps each message at its latest change only, so a position it lacks
below the room's end was superseded (or its message removed by hand): it counts as delivered,
and a hole never freezes a room.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


class RoomStream:
    __slots__ = ("delivered", "held", "known_end", "seq")

    def __init__(self, delivered: int, seq: int = 0):
        # Every change up to this position has been sent to the client (or predates the socket).
        self.delivered = delivered
        # The newest message (seq) the client has had from this socket or had before it opened:
        # a stored message beyond it goes out as new, one within it as updated.
        self.seq = seq
        self.held: dict[int, tuple[int, str]] = {}
        # A room end read from the database: changes up to it exist, whether or not any frame
        # for them arrived.
        self.known_end = delivered

    @property
    def has_gap(self) -> bool:
        return bool(self.held) or self.known_end > self.delivered

    @property
    def missing_up_to(self) -> int:
        """The highest position known to exist: everything up to it must be fetched."""
        return max(max(self.held, default=self.delivered), self.known_end)

    def offer(self, change: int, seq: int, frame: str) -> list[str]:
        """The frames to send now, in order: none when held or already sent."""
        if change <= self.delivered or change in self.held:
            return []
        if change > self.delivered + 1:
            self.held[change] = (seq, frame)
            return []
        self._sent(change, seq)
        return [frame, *self._release()]

    def advance(self, change: int, seq: int = 0) -> list[str]:
        """Changes up to `change` (and messages up to `seq`) went to the client another way
        (a sync): skip them here."""
        self.seq = max(self.seq, seq)
        if change > self.delivered:
            self.delivered = change
            for held_change in [c for c in self.held if c <= change]:
                del self.held[held_change]
        return self._release()

    def fill(self, found: list[tuple[int, int, dict]], *, up_to: int, render: "Render") -> list[str]:
        """The frames to send now, given every stored message whose latest change lies in
        (delivered, up_to], in order, as (change, seq, payload).

        A position the database lacks was superseded or is a hole and is passed over, so the
        frames held behind it go out.
        """
        frames: list[str] = []
        for change, seq, payload in found:
            frames += self.advance(change - 1)
            frames += self.offer(change, seq, render(payload, seq > self.seq))
        frames += self.advance(up_to)
        return frames

    def _sent(self, change: int, seq: int) -> None:
        self.delivered = change
        self.seq = max(self.seq, seq)

    def _release(self) -> list[str]:
        frames = []
        while (held := self.held.pop(self.delivered + 1, None)) is not None:
            seq, frame = held
            self._sent(self.delivered + 1, seq)
            frames.append(frame)
        return frames


# `render(payload, is_new)`: a stored message's frame, `message.new` or `message.updated`.
Render = Callable[[dict, bool], str]


# How long a frame waits for a missing predecessor before the socket fetches it itself.
GAP_WAIT_SECONDS = 0.5

# (room_id, after_change, up_to_change, limit) → the stored messages whose latest change lies in
# that range, as (change, seq, payload) in order, or None when the socket's user is no longer a
# member of the room.
Fetch = Callable[[int, int, int, int], Awaitable[list[tuple[int, int, dict]] | None]]


class RoomStreams:
    """One socket's rooms: a stream each, and the gap fills that run for them.

    `push(frame, size)` queues a frame for the client; `fetch` reads what the channel layer did
    not bring in time; `lost(room_id)` is awaited when the database says the room is no longer
    the socket's.
    """

    def __init__(
        self, *, push: Callable[[str, int | None], None], fetch: Fetch, render: Render, lost, batch: int
    ):
        self.push = push
        self.fetch = fetch
        self.render = render
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

    def positions(self, room_id: int) -> tuple[int, int] | None:
        """How far the room's changes and messages have gone out on this socket (None: the
        socket does not follow the room)."""
        stream = self.streams.get(room_id)
        return (stream.delivered, stream.seq) if stream is not None else None

    def add(self, room_id: int, delivered: int, seq: int) -> tuple[RoomStream, bool]:
        """The room's stream, and whether it is new (delivered so far: changes up to
        `delivered`, messages up to `seq`)."""
        stream = self.streams.get(room_id)
        if stream is not None:
            return stream, False
        stream = self.streams[room_id] = RoomStream(delivered, seq)
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

    def catch_up(self, room_id: int, room_end: int) -> None:
        """The room's newest change is `room_end`: fetch what this socket has not sent of it."""
        stream = self.streams.get(room_id)
        if stream is None or room_end <= stream.delivered:
            return
        stream.known_end = max(stream.known_end, room_end)
        if room_id not in self.fills:
            self.fills[room_id] = asyncio.create_task(self._fill(room_id))

    def forward(self, room_id: int, change: int, seq: int, frame: str, size: int | None = None) -> None:
        """A room's change frame, from the hub or the sender: queued in change order, once."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        if change == stream.delivered + 1 and not stream.held:
            # The common case, once per recipient of every message: the next change, nothing
            # held behind a gap. As `offer` would, without its lists.
            stream.delivered = change
            if seq > stream.seq:
                stream.seq = seq
            self.push(frame, size)
            if stream.known_end > change and room_id not in self.fills:
                self.fills[room_id] = asyncio.create_task(self._fill(room_id))
            return
        for text in stream.offer(change, seq, frame):
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
                for text in stream.fill(found, up_to=covered, render=self.render):
                    self.push(text, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Filling a gap in room %s failed; the client's sync covers it", room_id)
        finally:
            if self.fills.get(room_id) is asyncio.current_task():
                del self.fills[room_id]
