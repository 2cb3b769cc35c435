"""Clients for real Parley server processes: log in over HTTP, talk over a real WebSocket.

A `RealClient` behaves like the browser client: it remembers the last `seq` it holds per room,
reconnects when the socket drops, sends `sync` after every reconnect, and resends messages that
were never acknowledged with the same `client_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request

import websockets

CONNECT_TIMEOUT = 5.0


def http_login(base_url: str, username: str, password: str) -> str:
    """Log in through the real login form; the session cookie's value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base_url}/accounts/login/", timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(
        f"{base_url}/accounts/login/", data=form.encode(), headers={"Referer": f"{base_url}/accounts/login/"}
    )
    with opener.open(request, timeout=10):
        pass
    cookies = {cookie.name: cookie.value for cookie in jar}
    if "sessionid" not in cookies:
        raise AssertionError(f"logging in as {username} on {base_url} failed")
    return cookies["sessionid"]


class RealClient:
    def __init__(self, name: str, base_url: str, session: str, rooms: list[int]):
        self.name = name
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://") + "/ws/chat/"
        self.session = session
        self.last_seq = dict.fromkeys(rooms, 0)
        # Every message.new received, in arrival order (duplicates included, to be counted).
        self.received: list[dict] = []
        self.acks: dict[str, dict] = {}
        self.errors: list[dict] = []
        # Every other frame (presence, typing, receipts …), in arrival order.
        self.others: list[dict] = []
        self.unacknowledged: dict[str, dict] = {}
        self.connections = 0
        self.socket = None
        self._reader: asyncio.Task | None = None
        self._closing = False
        self._connected = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), CONNECT_TIMEOUT)

    async def _run(self) -> None:
        delay = 0.1
        while not self._closing:
            try:
                async with websockets.connect(
                    self.ws_url,
                    additional_headers={"Cookie": f"sessionid={self.session}"},
                    origin=self.base_url,
                    open_timeout=CONNECT_TIMEOUT,
                    max_size=2**22,
                ) as socket:
                    self.socket = socket
                    self.connections += 1
                    delay = 0.1
                    for frame in self.sync_frames():
                        await socket.send(json.dumps(frame))
                    for frame in list(self.unacknowledged.values()):
                        await socket.send(json.dumps(frame))
                    self._connected.set()
                    async for text in socket:
                        self._handle(json.loads(text))
            except (TimeoutError, OSError, websockets.WebSocketException):
                pass
            finally:
                self.socket = None
                self._connected.clear()
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    def sync_frames(self) -> list[dict]:
        return [{"type": "sync", "room": room, "after_seq": seq} for room, seq in self.last_seq.items()]

    def _handle(self, frame: dict) -> None:
        if frame["type"] == "message.new":
            message = frame["message"]
            self.received.append(message)
            room = message["room"]
            if message["seq"] == self.last_seq.get(room, 0) + 1:
                self.last_seq[room] = message["seq"]
            if self.unacknowledged.pop(message["client_id"], None) is not None:
                self.acks[message["client_id"]] = message
        elif frame["type"] == "error":
            self.errors.append(frame)
            self.unacknowledged.pop(frame.get("client_id"), None)
        else:
            self.others.append(frame)

    async def send_message(self, room: int, body: str, client_id: str) -> bool:
        """Send if connected; either way it is resent on the next connect until acknowledged."""
        frame = {"type": "message.send", "room": room, "body": body, "client_id": client_id}
        self.unacknowledged[client_id] = frame
        return await self.send_frame(frame)

    async def send_frame(self, frame: dict) -> bool:
        """Send if connected (False: not sent, and not remembered)."""
        socket = self.socket
        if socket is None:
            return False
        try:
            await socket.send(json.dumps(frame))
        except websockets.WebSocketException:
            return False
        return True

    def messages_in(self, room: int) -> list[dict]:
        return [m for m in self.received if m["room"] == room]

    def distinct_seqs(self, room: int) -> list[int]:
        return sorted({m["seq"] for m in self.messages_in(room)})

    async def wait_for_seq(self, room: int, seq: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.last_seq.get(room, 0) < seq:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} holds up to seq {self.last_seq.get(room, 0)} of room {room}, "
                    f"expected {seq}; received {len(self.messages_in(room))} frames"
                )
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._closing = True
        if self.socket is not None:
            await self.socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


class ChangeClient(RealClient):
    """A client of the change order: it keeps, for each message, the state with the highest
    `change`, follows each room's change position, and syncs by `after_change` after every
    reconnect and whenever a position is skipped."""

    def __init__(self, name: str, base_url: str, session: str, rooms: list[int]):
        super().__init__(name, base_url, session, rooms)
        self.last_change = dict.fromkeys(rooms, 0)
        self.states: dict[int, dict[int, dict]] = {room: {} for room in rooms}
        self.syncing: set[int] = set()
        self.tasks: set[asyncio.Task] = set()

    def sync_frames(self) -> list[dict]:
        self.syncing = set(self.last_change)
        return [{"type": "sync", "room": room, "after_change": c} for room, c in self.last_change.items()]

    def _handle(self, frame: dict) -> None:
        kind = frame["type"]
        if kind in ("message.new", "message.updated"):
            message = frame["message"]
            room = message["room"]
            held = self.states[room].get(message["seq"])
            if held is None or message["change"] > held["change"]:
                self.states[room][message["seq"]] = message
            if message["change"] == self.last_change[room] + 1:
                self.last_change[room] = message["change"]
            elif message["change"] > self.last_change[room] + 1 and room not in self.syncing:
                self._sync(room)
            # The acknowledgement: its message.new, or after a sync by change its message.updated
            # (docs/protocol.md, "Sending"); client_ids here name their sender.
            self.unacknowledged.pop(message["client_id"], None)
        elif kind == "sync.done":
            room = frame["room"]
            self.syncing.discard(room)
            if frame["last_change"] is not None:
                self.last_change[room] = max(self.last_change[room], frame["last_change"])
            if frame["has_more"]:
                self._sync(room)
        elif kind == "error":
            self.errors.append(frame)
            self.unacknowledged.pop(frame.get("client_id"), None)

    async def wait_for_changes(self, room: int, change: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.last_change.get(room, 0) < change:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} holds change {self.last_change.get(room, 0)}, expected {change}"
                )
            await asyncio.sleep(0.05)

    def _sync(self, room: int) -> None:
        self.syncing.add(room)
        task = asyncio.ensure_future(
            self.send_frame({"type": "sync", "room": room, "after_change": self.last_change[room]})
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
