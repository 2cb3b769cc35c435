"""Shared fixtures: people, a room, and connected chat sockets driven like a browser tab."""

import asyncio
import contextlib
import os

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from messaging.actions.rooms import create_room, join_room
from notifications.notifier import notifier

from .chat import PASSWORD, ChatClient, communicator_for, session_cookie
from .mailbox import Mailbox
from .worker import WorkerProcess, in_process_broker, use_broker, worker_env

# Modules that run the same in both passes of `make test`: their servers are their own, always on
# SQLite and the in-memory layer (tests/live_server.py, the benchmark's bench/procs.py with no
# database URL), or they touch no database at all. The PostgreSQL + Redis pass would run them
# exactly again (about half its time), so they run in the first pass only.
SAME_IN_BOTH_PASSES = {
    "test_browser", "test_browser_accounts", "test_browser_awareness", "test_browser_changes",
    "test_browser_delivery", "test_browser_mentions", "test_browser_no_js", "test_browser_reconnect",
    "test_browser_reminders", "test_browser_scheduled",
    "test_browser_search", "test_browser_threads", "test_browser_ui",
    "test_close_codes", "test_compression", "test_crash",
    "test_bench_awareness", "test_bench_broker", "test_bench_threads", "test_bench_loadgen",
    "test_bench_peers_ejabberd", "test_bench_peers_synapse",
    "test_chromium", "test_harness", "test_ordering", "test_outbox", "test_readme", "test_relay",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        return
    once = pytest.mark.skip(reason="the same in both passes (its servers are on SQLite): tests/conftest.py")
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SAME_IN_BOTH_PASSES:
            item.add_marker(once)


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


@pytest.fixture(autouse=True)
def awareness_only_where_tested(settings):
    """Presence and read receipts send frames of their own on every connect and every read;
    the in-process tests that assert a socket's frames one by one are about other things, so
    those two are off here except where tests/test_awareness*.py turn them on. Live servers
    (browser, cluster, crash, bench) run with everything on, as deployed."""
    settings.PARLEY = {**settings.PARLEY, "PRESENCE": False, "READ_RECEIPTS": False}


@pytest.fixture(scope="session", autouse=True)
def broker_in_memory():
    """What in-process tests queue for the worker goes nowhere (kombu's memory transport), unless
    a test runs a real worker (the `worker` fixture points this process at its broker)."""
    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options
    use_broker("memory://", {})
    yield
    use_broker(*saved)


@pytest.fixture(autouse=True)
def relay_off(settings):
    """In-process sockets read nothing relayed (messaging/realtime/relay.py) but where a test
    with a worker asks for it: the hub of every test's event loop would poll the database."""
    settings.PARLEY = {**settings.PARLEY, "RELAY_SECONDS": 0}


@pytest.fixture(scope="module")
def smtp_server():
    server = Mailbox().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server):
    """The real SMTP server the `worker` sends through (tests/mailbox.py), emptied for each test."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="module")
def worker(django_db_setup, smtp_server, tmp_path_factory):
    """A real task worker with beat inside (tests/worker.py) on the test database and the pass's
    broker (the filesystem transport; Redis in the PostgreSQL + Redis pass), sending email to
    the `mailbox`. Tests that use it need `django_db(transaction=True)`: it sees only what they
    commit."""
    directory = tmp_path_factory.mktemp("worker")
    env = worker_env(directory, {"EMAIL_URL": smtp_server.url})
    process = WorkerProcess(env, directory / "worker.log")
    with in_process_broker(env):
        process.start(timeout=60)
        try:
            yield process
        finally:
            process.stop(timeout=15)


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
    room = create_room(creator=alice, name="general", description="Everyone")
    join_room(user=bob, room=room)
    join_room(user=carol, room=room)
    return room


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
