"""Notifications never hold up delivery and are never lost: the mention step runs off the
message path and what it has not done yet is stored with the message (PostgreSQL pass)."""

import asyncio
import os
import signal
import time

import psycopg
import pytest
from django.db import connection

from notifications.models import Notification

from .live_server import running_server
from .realtime import RealClient, http_login
from .servers import start_postgres

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    pytest.skip("runs in the PostgreSQL + Redis pass of `make test`", allow_module_level=True)

MENTIONS = 20
LOCK_NOTIFICATIONS = "LOCK TABLE notifications_notification IN ACCESS EXCLUSIVE MODE"


def lock_holder(**params) -> psycopg.Connection:
    """Another database session holding the notifications table, as a slow notification
    insert (lock contention, a big group mention) would."""
    holder = psycopg.connect(**params)
    holder.execute(LOCK_NOTIFICATIONS)  # in the session's open transaction, until rollback
    return holder


def database_params() -> dict:
    settings = connection.settings_dict
    return {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "dbname": settings["NAME"],
    }


async def test_a_locked_notifications_table_holds_up_no_delivery(connect, room, alice, bob):
    a, b = await connect(alice), await connect(bob)
    holder = await asyncio.to_thread(lock_holder, **database_params())
    try:
        started = time.monotonic()
        for i in range(MENTIONS):
            await a.send({"type": "message.send", "room": room.id, "body": f"@bob {i}", "client_id": f"m{i}"})
        acknowledged = await a.receive_messages(MENTIONS, timeout=5)
        acknowledged_after = time.monotonic() - started
        delivered = await b.receive_messages(MENTIONS, timeout=5)

        assert [m["seq"] for m in acknowledged] == list(range(1, MENTIONS + 1))
        assert [m["seq"] for m in delivered] == list(range(1, MENTIONS + 1))
        assert acknowledged_after < 3, f"20 sends took {acknowledged_after:.1f} s behind the lock"
    finally:
        await asyncio.to_thread(holder.rollback)
        await asyncio.to_thread(holder.close)

    notified = [
        (await b.receive_type("notification.new", timeout=10))["notification"] for _ in range(MENTIONS)
    ]
    assert sorted(n["message"]["seq"] for n in notified) == list(range(1, MENTIONS + 1))
    assert await Notification.objects.filter(recipient=bob).acount() == MENTIONS


async def test_notifications_pending_when_the_server_is_killed_are_made_once_after_restart(tmp_path):
    postgres = start_postgres()
    try:
        env = {"DATABASE_URL": postgres.url, "PARLEY_RATE_BURST": "1000", "PARLEY_RATE_PER_SECOND": "1000"}
        with running_server(tmp_path, env=env) as server:
            room = await asyncio.to_thread(server.call, "tests.server_data:room_id", slug="general")
            alice_session = await asyncio.to_thread(http_login, server.url, "alice", "parley-demo")
            alice = RealClient("alice", server.url, alice_session, [room])
            await alice.start()
            holder = await asyncio.to_thread(psycopg.connect, postgres.url)
            await asyncio.to_thread(holder.execute, LOCK_NOTIFICATIONS)
            try:
                for i in range(MENTIONS):
                    await alice.send_message(room, f"@bob look {i}", f"kill-{i}")
                deadline = time.monotonic() + 10
                while len(alice.acks) < MENTIONS and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert len(alice.acks) == MENTIONS
                # Acknowledged, the notification step blocked behind the lock: kill the process.
                server.process.send_signal(signal.SIGKILL)
                server.process.wait(timeout=10)
                server.process = None
            finally:
                await alice.close()
                await asyncio.to_thread(holder.rollback)
                await asyncio.to_thread(holder.close)

            await asyncio.to_thread(server.start)
            # The first socket of the new process starts its notifier, which takes up the rest.
            bob_session = await asyncio.to_thread(http_login, server.url, "bob", "parley-demo")
            bob = RealClient("bob", server.url, bob_session, [room])
            await bob.start()
            try:
                counts = await wait_for_notifications(postgres.url, MENTIONS)
            finally:
                await bob.close()
        assert len(counts) == MENTIONS and set(counts.values()) == {1}
    finally:
        postgres.stop()


async def wait_for_notifications(url: str, expected: int, timeout: float = 20) -> dict[int, int]:
    """Bob's notifications per message, once there are `expected` messages with one."""
    query = (
        "SELECT n.message_id, count(*) FROM notifications_notification n "
        "JOIN accounts_user u ON u.id = n.recipient_id WHERE u.username = 'bob' GROUP BY n.message_id"
    )

    def read() -> dict[int, int]:
        with psycopg.connect(url) as reader:
            return dict(reader.execute(query).fetchall())

    deadline = time.monotonic() + timeout
    counts = await asyncio.to_thread(read)
    while len(counts) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        counts = await asyncio.to_thread(read)
    return counts
