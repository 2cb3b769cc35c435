"""Chat sockets as the tests drive them: a logged-in session, a socket to the application in
this process, and one browser tab's socket with the waits a test needs."""

import asyncio

from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application

PASSWORD = "correct horse battery staple"


def session_cookie(user) -> str:
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return session.session_key


class ChatClient:
    """One browser tab's socket, with the waits a test needs."""

    def __init__(self, communicator: WebsocketCommunicator, user):
        self.communicator = communicator
        self.user = user

    async def send(self, frame) -> None:
        if isinstance(frame, str | bytes):
            key = "bytes_data" if isinstance(frame, bytes) else "text_data"
            await self.communicator.send_to(**{key: frame})
        else:
            await self.communicator.send_json_to(frame)

    async def receive(self, timeout: float = 3) -> dict:
        return await self.communicator.receive_json_from(timeout=timeout)

    async def receive_type(self, frame_type: str, timeout: float = 3) -> dict:
        """The next frame of this type; frames of other types before it are skipped."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.receive(timeout=max(remaining, 0.01))
            if frame["type"] == frame_type:
                return frame

    async def receive_messages(self, count: int, timeout: float = 10) -> list[dict]:
        frames = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(frames) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            frame = await self.receive(timeout=max(remaining, 0.01))
            if frame["type"] == "message.new":
                frames.append(frame["message"])
        return frames

    async def assert_nothing_more(self, wait: float = 0.3) -> None:
        assert await self.communicator.receive_nothing(timeout=wait), "an unexpected frame arrived"

    async def post(self, room_id: int, body: str, client_id: str) -> dict:
        """Send and return the echo: this client's message.new with that client_id."""
        await self.send({"type": "message.send", "room": room_id, "body": body, "client_id": client_id})
        while True:
            message = (await self.receive_type("message.new"))["message"]
            if message["client_id"] == client_id and message["author"]["id"] == self.user.id:
                return message

    async def change(self, frame: dict, timeout: float = 3) -> dict:
        """Send a change frame and return its answer: the next `message.updated` of that
        message, or the next `error`. Frames that arrived before (other people's changes) are
        dropped first, and other frames on the way are skipped."""
        await self.drain()
        await self.send(frame)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            answer = await self.receive(timeout=max(remaining, 0.01))
            if answer["type"] == "error" or (
                answer["type"] == "message.updated" and answer["message"]["seq"] == frame.get("seq")
            ):
                return answer

    async def drain(self, quiet: float = 0.05) -> list[dict]:
        """Whatever has arrived, until nothing more comes for `quiet` seconds."""
        frames = []
        while not await self.communicator.receive_nothing(timeout=quiet):
            frames.append(await self.receive())
        return frames

    async def receive_updates(self, count: int, timeout: float = 5) -> list[dict]:
        """The next `count` messages of `message.updated` frames (other frames are skipped)."""
        updates = []
        while len(updates) < count:
            updates.append((await self.receive_type("message.updated", timeout=timeout))["message"])
        return updates

    async def close(self) -> None:
        await self.communicator.disconnect()


def communicator_for(user=None, origin: bytes = b"http://127.0.0.1", cookie: str | None = None):
    # As a browser would: the Host of the page's origin, and the Origin itself.
    headers = [(b"host", origin.split(b"://", 1)[1]), (b"origin", origin)]
    if user is not None:
        cookie = cookie or session_cookie(user)
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)
