"""The benchmark's yardstick: a minimal broadcast server on the `websockets` library alone.

    python -m bench.baseline_server --port 8765

No Django, no database, no channel layer, no authentication: each socket joins the one room
on connect and gets `hello`; `message.send` is answered by a `message.new` frame of the same
shape as Parley's (with the room's next `seq`), serialised once and pushed to every socket
with `websockets.broadcast` (the sender's copy is its acknowledgement); `ping` gets `pong`.
Anything else is an `error` frame. This is about as fast as Python can fan a chat message out,
so Parley's figures are read as fractions of it.
"""

import argparse
import asyncio
import contextlib
import datetime
import signal

import orjson
import uvloop
from websockets.asyncio.server import broadcast, serve

AUTHOR = {"id": 0, "username": "baseline", "display_name": "Baseline"}


class Room:
    def __init__(self) -> None:
        self.sockets: set = set()
        self.seq = 0

    def post(self, room_id: int, body: str, client_id: str) -> bytes:
        self.seq += 1
        message = {
            "id": self.seq,
            "room": room_id,
            "seq": self.seq,
            "author": AUTHOR,
            "body": body.strip(),
            "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "client_id": client_id,
            "mentions": [],
        }
        return orjson.dumps({"type": "message.new", "message": message})


ROOM = Room()
HELLO = orjson.dumps({"type": "hello", "user": 0, "rooms": [1]}).decode()
PONG = orjson.dumps({"type": "pong"}).decode()


def error(code: str, detail: str) -> str:
    return orjson.dumps({"type": "error", "code": code, "detail": detail}).decode()


async def handler(socket) -> None:
    ROOM.sockets.add(socket)
    try:
        await socket.send(HELLO)
        async for text in socket:
            try:
                frame = orjson.loads(text)
                kind = frame["type"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                await socket.send(error("bad_request", "Not a frame."))
                continue
            if kind == "message.send":
                try:
                    frame_bytes = ROOM.post(int(frame["room"]), str(frame["body"]), str(frame["client_id"]))
                except (KeyError, TypeError, ValueError):
                    await socket.send(error("bad_request", "A field is missing."))
                    continue
                # Serialised once; UTF-8 bytes sent as a text frame to every socket.
                broadcast(ROOM.sockets, frame_bytes, text=True)
            elif kind == "ping":
                await socket.send(PONG)
            else:
                await socket.send(error("unknown_type", "Unknown frame type."))
    finally:
        ROOM.sockets.discard(socket)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(handler, host, port, compression=None, max_size=2**16):
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main(args.host, args.port))
