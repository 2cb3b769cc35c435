"""Per socket and room: forward message frames in seq order, each once.

Two senders' messages commit in seq order but their broadcasts race, and a broadcast can be
dropped by the channel layer. A socket therefore holds a frame that arrives ahead of a gap
until the missing one comes, or fetches what is missing from the database when it does not.
What the database does not have below the room's end is a hole (a message removed by hand):
it counts as delivered, so a hole never freezes a room.
"""


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
