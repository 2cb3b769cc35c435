"""Shared fixtures: people, a room, and connected chat sockets driven like a browser tab."""

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application
from messaging import services
from notifications.notifier import notifier

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session", autouse=True)
def close_async_db_connections(django_db_setup):
    """Close the connection of the thread that runs async tests' database calls, so the test
    database (PostgreSQL) can be dropped at the end without waiting for it."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from notifications.notifier import close_connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    close_connections()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """SQLite's test database in a file, as in production, not Django's in-memory default: an
    in-memory database shared between connections fails a second writer at once ("database
    table is locked") instead of waiting, and the notifier writes on a connection of its own."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing costs most of each test's set-up; these passwords protect nothing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def generous_rate_limit(settings):
    """Tests send fast on purpose; the flood-control tests set their own limits."""
    settings.PARLEY = {**settings.PARLEY, "RATE_BURST": 10_000, "RATE_PER_SECOND": 10_000.0}


@pytest.fixture
def make_user(db):
    def make(username: str, display_name: str = ""):
        return get_user_model().objects.create_user(
            username=username, password=PASSWORD, display_name=display_name or username.title()
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def carol(make_user):
    return make_user("carol")


@pytest.fixture
def dave(make_user):
    """Not a member of the room."""
    return make_user("dave")


@pytest.fixture
def room(alice, bob, carol):
    room = services.create_room(creator=alice, name="general", description="Everyone")
    services.join_room(user=bob, room=room)
    services.join_room(user=carol, room=room)
    return room


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

    async def close(self) -> None:
        await self.communicator.disconnect()


def communicator_for(user=None, origin: bytes = b"http://127.0.0.1", cookie: str | None = None):
    headers = [(b"origin", origin)]
    if user is not None:
        cookie = cookie or session_cookie(user)
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)


@pytest.fixture
async def connect():
    """`await connect(user)` opens a socket as that user and returns it past the hello frame."""
    clients: list[ChatClient] = []

    async def open_socket(user) -> ChatClient:
        cookie = await database_sync_to_async(session_cookie)(user)
        communicator = communicator_for(user, cookie=cookie)
        connected, _ = await communicator.connect()
        assert connected
        client = ChatClient(communicator, user)
        clients.append(client)
        hello = await client.receive()
        assert hello["type"] == "hello"
        return client

    yield open_socket
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(notifier().wait_idle(), timeout=5)
    for client in clients:
        # The test may have closed the socket already.
        with contextlib.suppress(Exception):
            await client.close()
    # The next test starts with an empty channel layer (groups, queued messages).
    await get_channel_layer().flush()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per browser-test module (Playwright's own, else the system's:
    tests/chromium.py); each test opens its own contexts. Without one the tests fail, saying
    what is missing."""
    from playwright.sync_api import sync_playwright

    from .chromium import ChromiumMissing, launch_chromium

    with sync_playwright() as playwright:
        try:
            chromium = launch_chromium(playwright)
        except ChromiumMissing as missing:
            pytest.fail(str(missing), pytrace=False)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sessions() -> dict[str, dict]:
    """Logged-in browser storage per user, shared by a module's tests (each logs in once)."""
    return {}
