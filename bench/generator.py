"""The load generator's hot path: its clients, the cheap reading of a delivery, and the worker
processes that split a room's members between the generator cores.

- **Clients.** `picows` (a WebSocket client written in Cython: each frame is handed to a
  callback from the event loop's `data_received`, with no task wake-up and no queue per
  message) when the frames are plain; the `websockets` client when the members offer
  permessage-deflate (picows does not compress), or when asked for. Both are wrapped in a
  `Member` with `send(bytes)` and `abort()`, and both hand every text frame, as bytes, to
  `deliver(data, now)`.
- **Reading a delivery.** `parse_new` finds a `message.new` frame's room, seq, the body's step
  and due time and the client_id by string search, where parsing the whole ~400-byte frame as
  JSON would cost more than everything else the generator does for it. Only the exact shape both
  Parley and bench/baseline_server.py send (`{"type":"message.new","message":{"id":…,"room":…,
  "seq":…`) takes that path; any other frame is parsed as JSON, as before. A thread root's
  `message.updated` (the frame that follows each reply, with the root's new summary) is not a
  delivery: `is_update_of` recognises one of the room by its prefix, and the step counts it
  apart, unparsed.
- **Worker processes.** `python -m bench.generator` is one worker: it holds a share of a room's
  members (a `loadgen.Room` of its own, with `processes=1`) and answers its parent
  (loadgen.Room with `processes` > 1) over a pipe: connect, run a step's senders at the
  parent's t0 (time.monotonic_ns is one clock for every process on the machine), drain until
  the parent's deadline, hand back every latency sample and every count, give late
  deliveries more time, close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import struct
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

try:
    import picows
except ImportError:  # the websockets client still works
    picows = None

clock = time.monotonic_ns
BASE_DIR = Path(__file__).resolve().parent.parent
SOURCE_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 42)]


class Closed(Exception):
    """The member's connection is gone (either client)."""


# ---------------------------------------------------------------- reading a delivery

NEW_PREFIX = b'{"type":"message.new","message":{"id":'
_BODY = b'"body":"'
_CLIENT_ID = b'"client_id":"'


UPDATED_PREFIX = b'{"type":"message.updated","message":{"id":'

# Awareness frames (issue 13), counted by type and never parsed: every one starts with its type.
TYPE_PREFIX = b'{"type":"'
AWARENESS_KINDS = {
    kind.encode(): kind
    for kind in ("typing.started", "typing.stopped", "presence.changed", "receipts.changed", "room.read")
}


def awareness_kind(data: bytes) -> str | None:
    """The type of an awareness frame (typing, presence, receipts, the read pointer's answer),
    read from its first bytes; None for any other frame (errors included: those are parsed)."""
    if not data.startswith(TYPE_PREFIX):
        return None
    end = data.find(b'"', 9, 40)
    return AWARENESS_KINDS.get(data[9:end]) if end > 0 else None


AWARENESS_TYPES = frozenset(AWARENESS_KINDS.values())


def is_update_of(data: bytes, needle: bytes) -> bool:
    """Whether `data` is a `message.updated` frame of the room of `needle` (see room_needle), in
    the shape Parley sends: the room follows the id, within the frame's first bytes."""
    start = len(UPDATED_PREFIX)
    return data.startswith(UPDATED_PREFIX) and data.find(needle, start, start + 24 + len(needle)) > 0


def room_needle(room_id: int) -> bytes:
    """What follows the id in a `message.new` frame of this room, up to the seq."""
    return b',"room":%d,"seq":' % room_id


def parse_new(data: bytes, needle: bytes, own: bool) -> tuple[int, int, int, bytes] | None:
    """(seq, step, due, client_id) of a `message.new` frame of the room of `needle` (see
    room_needle) whose body is a generator's (`step|due|…`), found by string search; the
    client_id only if `own` (else b""). None for any frame not of exactly that shape, another
    room's included (the caller parses those as JSON). Inside a JSON string every `"` is
    escaped, so the keys searched for cannot be matched inside a value; int() of a slice that
    is not a JSON integer raises, and the frame goes to the JSON path."""
    if not data.startswith(NEW_PREFIX):
        return None
    at = data.find(needle, 38)
    if at < 0:
        return None
    try:
        at += len(needle)
        end = data.index(b",", at)
        body = data.index(_BODY, end) + 8
        bar1 = data.index(b"|", body)
        bar2 = data.index(b"|", bar1 + 1)
        client_id = b""
        if own:
            client_at = data.index(_CLIENT_ID, bar2) + 13
            client_id = data[client_at : data.index(b'"', client_at)]
        return int(data[at:end]), int(data[body:bar1]), int(data[bar1 + 1 : bar2]), client_id
    except ValueError:
        return None


# ---------------------------------------------------------------- clients


class WebsocketsMember:
    """A member on the `websockets` client: a reader task feeds `deliver`."""

    def __init__(self, socket: ClientConnection):
        self.socket = socket
        self.reader: asyncio.Task | None = None

    def start(self, deliver: Callable[[bytes, int], None], on_closed: Callable[[], None]) -> None:
        self.reader = asyncio.create_task(self._read(deliver, on_closed))

    async def _read(self, deliver, on_closed) -> None:
        recv = self.socket.recv
        try:
            while True:
                data = await recv(decode=False)
                deliver(data, clock())
        except ConnectionClosed:
            on_closed()

    async def send(self, data: bytes) -> None:
        try:
            await self.socket.send(data, text=True)
        except ConnectionClosed as error:
            raise Closed() from error

    async def stop(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
        self.abort()

    def abort(self) -> None:
        self.socket.transport.abort()


async def first_frame(socket: ClientConnection) -> bytes:
    """The first frame that is not an awareness frame. The server can write a presence frame
    about the user to a socket before its hello: the user's hub subscription is made before the
    rooms are read, so a change of the user's presence coalesced from a socket closed just
    before (announced up to PRESENCE_COALESCE_SECONDS later) reaches the new socket first."""
    while True:
        data = await socket.recv(decode=False)
        if awareness_kind(data) is None:
            return data


async def open_websockets(target, session: str | None, index: int, timeout: float) -> WebsocketsMember:
    socket = await connect(
        target.url,
        additional_headers={"Cookie": f"sessionid={session}"} if session else None,
        origin=target.origin,
        compression=target.compression,
        ping_interval=None,  # the server pings; the client answers
        open_timeout=timeout,
        close_timeout=2,
        max_size=2**20,
        local_addr=(SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)], 0),
    )
    try:
        hello = orjson.loads(await asyncio.wait_for(first_frame(socket), timeout))
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
    except BaseException:
        socket.transport.abort()
        raise
    return WebsocketsMember(socket)


if picows is not None:
    TEXT, CONTINUATION, CLOSE = picows.WSMsgType.TEXT, picows.WSMsgType.CONTINUATION, picows.WSMsgType.CLOSE

    class PicowsListener(picows.WSListener):
        """Frames straight from data_received: the first text frame is `hello`, every later one
        goes to `deliver`. Fragmented messages are put together; pings are answered by picows."""

        def __init__(self) -> None:
            super().__init__()
            self.hello: asyncio.Future = asyncio.get_running_loop().create_future()
            self.deliver: Callable[[bytes, int], None] | None = None
            self.on_closed: Callable[[], None] | None = None
            self.parts: list[bytes] | None = None
            self.aborted = False
            # Set while the transport's write buffer is over its high-water mark.
            self.writable: asyncio.Future | None = None

        def on_ws_frame(self, transport, frame) -> None:
            deliver = self.deliver
            if deliver is not None and frame.fin and self.parts is None and frame.msg_type == TEXT:
                deliver(frame.get_payload_as_bytes(), clock())  # every delivery comes this way
                return
            kind = frame.msg_type
            if kind == TEXT:
                if frame.fin:
                    data = frame.get_payload_as_bytes()
                else:
                    self.parts = [frame.get_payload_as_bytes()]
                    return
            elif kind == CONTINUATION and self.parts is not None:
                self.parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                data, self.parts = b"".join(self.parts), None
            elif kind == CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            else:
                return
            if deliver is not None:
                deliver(data, clock())
            elif not self.hello.done() and awareness_kind(data) is None:
                self.hello.set_result(data)  # (an awareness frame may come first: see first_frame)

        def pause_writing(self) -> None:
            if self.writable is None:
                self.writable = asyncio.get_running_loop().create_future()

        def resume_writing(self) -> None:
            writable, self.writable = self.writable, None
            if writable is not None and not writable.done():
                writable.set_result(None)

        def on_ws_disconnected(self, transport) -> None:
            self.resume_writing()
            if not self.hello.done():
                self.hello.set_exception(Closed("closed before hello"))
            if not self.aborted and self.on_closed is not None:
                self.on_closed()


class PicowsMember:
    def __init__(self, transport, listener):
        self.transport = transport
        self.listener = listener

    def start(self, deliver: Callable[[bytes, int], None], on_closed: Callable[[], None]) -> None:
        self.listener.deliver = deliver
        self.listener.on_closed = on_closed

    async def send(self, data: bytes) -> None:
        """Written at once; then, like the websockets client's send, waits while the write
        buffer is over its high-water mark (the server is not reading)."""
        if self.transport.is_disconnected:
            raise Closed()
        self.transport.send(TEXT, data)
        writable = self.listener.writable
        if writable is not None:
            await writable

    async def stop(self) -> None:
        self.abort()

    def abort(self) -> None:
        self.listener.aborted = True
        self.transport.underlying_transport.abort()


async def open_picows(target, session: str | None, index: int, timeout: float) -> PicowsMember:
    headers = {"Origin": target.origin}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    transport, listener = await picows.ws_connect(
        PicowsListener,
        target.url,
        extra_headers=headers,
        websocket_handshake_timeout=timeout,
        enable_auto_pong=True,
        max_frame_size=2**20,
        use_aiofastnet=False,  # the event loop's own transports (uvloop's)
        local_addr=(SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)], 0),
    )
    # The websockets client's high-water mark (its write_limit), so that a sender waits for a
    # server that does not read exactly as long with either client.
    transport.underlying_transport.set_write_buffer_limits(high=2**15)
    try:
        hello = orjson.loads(await asyncio.wait_for(listener.hello, timeout))
        if hello.get("type") != "hello":
            raise RuntimeError(f"expected hello, got {hello}")
    except BaseException:
        listener.aborted = True
        transport.underlying_transport.abort()
        raise
    return PicowsMember(transport, listener)


CLIENTS = {"websockets": open_websockets, "picows": open_picows}
OPEN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    WebSocketException,
    RuntimeError,
    Closed,
)
if picows is not None:
    OPEN_ERRORS += (picows.WSError,)


def choose_client(target, client: str | None) -> str:
    """picows for plain frames when it is installed; websockets for permessage-deflate."""
    if client is None:
        return "picows" if picows is not None and target.compression is None else "websockets"
    if client not in CLIENTS:
        raise ValueError(f"unknown client {client!r}: one of {', '.join(CLIENTS)}")
    if client == "picows" and (picows is None or target.compression is not None):
        raise ValueError("picows needs plain frames (no compression) and the picows package")
    return client


# ---------------------------------------------------------------- worker processes


@contextlib.contextmanager
def gc_paused():
    """No cyclic garbage collection during a step: every delivery allocates, and the collector's
    passes over the members' sets cost more than the step's garbage (there are no cycles in it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def write_message(fd: int, value) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(struct.pack("!I", len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


async def read_message(reader: asyncio.StreamReader):
    (size,) = struct.unpack("!I", await reader.readexactly(4))
    return pickle.loads(await reader.readexactly(size))


def export_step(step) -> dict:
    """What the parent merges: every sample and count of this worker's members in one step."""
    return {
        "latencies": array("q", step.latencies).tobytes(),
        "send_lags": array("q", step.send_lags).tobytes(),
        "delivered": step.delivered,
        "duplicates": step.duplicates,
        "out_of_order": step.out_of_order,
        "errors": dict(step.errors),
        "pending": dict(step.pending),
        "sent": step.sent,
        "send_failures": step.send_failures,
        "last_delivery_ns": step.last_delivery_ns,
        "replies": step.replies,
        "updates": list(step.updates),
        "other_frames": dict(step.other_frames),
        "typing_sent": step.typing_sent,
        "reads_sent": step.reads_sent,
        "presence_sent": step.presence_sent,
    }


def merge_into(step, parts: list[dict]) -> None:
    """Workers' exports into the parent's step: latencies as the union of the samples; each
    member's count of root updates, every worker's members one after the other."""
    updates: list[int] = []
    for part in parts:
        step.replies += part["replies"]
        updates.extend(part["updates"])
        step.other_frames.update(part["other_frames"])
        step.typing_sent += part.get("typing_sent", 0)
        step.reads_sent += part.get("reads_sent", 0)
        step.presence_sent += part.get("presence_sent", 0)
        step.latencies.extend(array("q", part["latencies"]))
        step.send_lags.extend(array("q", part["send_lags"]))
        step.delivered += part["delivered"]
        step.duplicates += part["duplicates"]
        step.out_of_order += part["out_of_order"]
        step.errors.update(part["errors"])
        step.pending.update(part["pending"])
        step.sent += part["sent"]
        step.send_failures += part["send_failures"]
        step.last_delivery_ns = max(step.last_delivery_ns, part["last_delivery_ns"])
    step.updates = updates


async def serve(reader: asyncio.StreamReader, out_fd: int) -> None:
    from bench import loadgen

    room: loadgen.Room | None = None
    step = None
    cpu0 = 0.0
    while True:
        command, args = await read_message(reader)
        if command == "connect":
            room = loadgen.Room(
                args["target"],
                args["room_id"],
                args["sessions"],
                senders=len(args["sender_ids"]),
                server_cpu=lambda: 0.0,
                services_cpu=lambda: 0.0,
                processes=1,
                client=args["client"],
                targets=args["targets"],
                awareness=args.get("awareness"),
            )
            room.token = args["token"]
            room.ordered = args["ordered"]
            room.member_ids = args["member_ids"]
            room.sender_ids = args["sender_ids"]
            room.total_senders = args["total_senders"]
            room.thread_share = args.get("thread_share", 0.0)
            room.roots = args.get("roots", [])
            room.thread_repliers = args.get("thread_repliers", "all")
            room.awareness_settle = args.get("awareness_settle", room.awareness_settle)
            try:
                await room.connect(args["concurrency"])
                write_message(out_fd, {"ok": True, "client": room.client})
            except RuntimeError as error:
                write_message(out_fd, {"ok": False, "error": str(error)})
        elif command == "step":
            cpu0 = loadgen.cpu_seconds()
            gc.disable()  # until the step is drained, as gc_paused() does in one process
            step = room.new_step(args["index"], args["rate"], args["duration"], args["label"])
            await room.send_all(step, args["t0"])
            write_message(out_fd, {"sent": step.sent})
        elif command == "drain":
            await room.drain(step, (args["deadline_ns"] - clock()) / 1e9)
            gc.enable()
            room.current = None
            result = export_step(step)
            result["cpu"] = loadgen.cpu_seconds() - cpu0
            result["closed"] = room.closed
            write_message(out_fd, result)
        elif command == "late":
            missing = await room.late(args["index"], args["wait"])
            write_message(out_fd, {"missing": missing, "closed": room.closed})
        elif command == "close":
            if room is not None:
                await room.close()
            write_message(out_fd, {"closed": room.closed if room else 0})
            return


async def worker_main() -> None:
    # The pipe to the parent is fd 0 (commands) and a copy of fd 1 (answers); fd 1 itself then
    # points at stderr, so that nothing printed can garble an answer.
    out_fd = os.dup(1)
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    await serve(reader, out_fd)


class Worker:
    """The parent's end of one worker process, pinned to one core."""

    def __init__(self, number: int, cpu: int | None):
        self.number = number
        self.cpu = cpu
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        cpu = self.cpu
        env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}

        def pin() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})

        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.generator",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=BASE_DIR,
            env=env,
            preexec_fn=pin,
            limit=2**26,
        )

    async def call(self, command: str, **args):
        data = pickle.dumps((command, args), protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(struct.pack("!I", len(data)) + data)
        await self.process.stdin.drain()
        try:
            return await read_message(self.process.stdout)
        except asyncio.IncompleteReadError as error:
            raise RuntimeError(
                f"generator worker {self.number} died (exit {self.process.returncode})"
            ) from error

    async def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


if __name__ == "__main__":
    import uvloop

    uvloop.run(worker_main())
