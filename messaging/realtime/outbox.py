"""One socket's way out: every frame to the client, in the order queued, each once, bounded.

A frame is handed to the ASGI server's `send` at once, within the step that queued it, when the
server takes it without waiting: uvicorn's does unless the transport's write buffer is above
its high-water mark, and its send then writes to the socket before returning. So a message is
handed to a room of 1,000 in one pass, with no task woken per recipient. A send that has to
wait (the client reads slowly) is finished by a writer task, and the frames queued meanwhile
follow it in order; the writer ends when it has caught up. Past `max_frames` queued frames or
`max_bytes` the client is too far behind: `too_slow` is called, once, and nothing more is sent.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine

logger = logging.getLogger(__name__)

# ASGI send: one message dict, awaited.
Send = Callable[[dict], Awaitable[None]]


class Outbox:
    __slots__ = (
        "bytes",
        "frames",
        "max_bytes",
        "max_frames",
        "open",
        "send",
        "stopped",
        "too_slow",
        "writer",
    )

    def __init__(self, *, send: Send, too_slow: Callable[[], None], max_frames: int, max_bytes: int):
        self.send = send
        self.too_slow = too_slow
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        # Frames waiting behind a send that had to wait (or for the socket to open), made only
        # then (an idle socket holds none), and their bytes plus the bytes of that send, counted
        # until the server has taken them.
        self.frames: deque[tuple[str, int]] | None = None
        self.bytes = 0
        # The task finishing a send that had to wait, then the frames behind it; None when
        # nothing is waiting.
        self.writer: asyncio.Task | None = None
        # Frames queue until the socket is accepted, then go out.
        self.open = False
        self.stopped = False

    def push(self, text: str, size: int) -> None:
        if self.stopped:
            return
        if self.open and self.writer is None:
            self._send_now(text, size)
            return
        frames = self.frames
        if frames is None:
            frames = self.frames = deque()
        if len(frames) >= self.max_frames or self.bytes + size > self.max_bytes:
            self.stop()
            self.too_slow()
            return
        self.bytes += size
        frames.append((text, size))

    def start(self) -> None:
        """The socket is accepted: what waited goes out, and from now on each frame at once."""
        self.open = True
        while self.frames and self.writer is None and not self.stopped:
            text, size = self.frames.popleft()
            self.bytes -= size
            self._send_now(text, size)
        if not self.frames:
            self.frames = None

    def stop(self) -> None:
        """Send nothing more (the socket is closing or gone)."""
        self.stopped = True
        self.frames = None
        writer, self.writer = self.writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    def _send_now(self, text: str, size: int) -> None:
        sending = self.send({"type": "websocket.send", "text": text})
        try:
            waiting = sending.send(None)
        except StopIteration:
            return
        except Exception:
            self._failed()
            return
        # The server must wait (its transport is full): a task finishes this send, and what is
        # pushed meanwhile queues behind it.
        self.bytes += size
        self.writer = asyncio.ensure_future(self._write(Resumed(sending, waiting), size))

    async def _write(self, first: "Resumed", size: int) -> None:
        try:
            await first
            self.bytes -= size
            while self.frames:
                text, size = self.frames.popleft()
                await self.send({"type": "websocket.send", "text": text})
                self.bytes -= size
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed()
        finally:
            if self.writer is asyncio.current_task():
                self.writer = None
            if not self.frames:
                self.frames = None

    def _failed(self) -> None:
        # The server refuses sends once the client is gone; its disconnect event follows.
        logger.debug("A send to a closed socket failed", exc_info=True)
        self.stop()


class Resumed:
    """Awaits the rest of a coroutine already run up to its first suspension (`waiting`, what it
    yielded there), as a task does after an eager start."""

    __slots__ = ("coroutine", "waiting")

    def __init__(self, coroutine: Coroutine, waiting):
        self.coroutine = coroutine
        self.waiting = waiting

    def __await__(self):
        coroutine, waiting = self.coroutine, self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as error:
                try:
                    waiting = coroutine.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting = coroutine.send(sent)
                except StopIteration as done:
                    return done.value
