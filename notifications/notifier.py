"""Runs the notification step off the message path: its own thread and database connection.

The chat socket's database work runs on one thread per process (`database_sync_to_async`);
if the notification step ran there, a slow one (a lock on the notifications table, a big
mention) would hold up every `message.send` behind it: delivery would depend on mentions.
So each process has a notifier: a task on the event loop that hands pending messages to a
thread of its own, then sends the `notification.new` frames that came back. What it has not
done yet is in the database (`PendingNotification`), so a process that dies loses nothing: the
notifier of the next process to start, and every SCAN_SECONDS after, takes up what was left.
"""

import asyncio
import logging
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections

from messaging.realtime import outlet

from . import actions, audience

logger = logging.getLogger(__name__)

# How often pending messages nobody woke the notifier for (a process that died) are looked for.
SCAN_SECONDS = 10.0
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0

# One thread, and so one database connection, for the notification work of the whole process.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-notifier")


def _make(
    message_ids: list[int] | None, presence: audience.PresenceReader | None = None
) -> list[tuple[int, str]]:
    close_old_connections()
    try:
        return actions.make_pending_notifications(message_ids=message_ids, presence=presence)
    finally:
        close_old_connections()


def close_connections() -> None:
    """For shutdown and the end of a test run: close the notifier thread's connection."""
    _executor.submit(connections.close_all).result()


class Notifier:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.waiting: set[int] = set()
        self.woken = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Run from now on (the first socket of a process starts it): first, take up what a
        process that stopped before its notification step left pending."""
        if self.task is None:
            self.idle.clear()
            self.task = self.loop.create_task(self._run())

    def wake(self, message_ids: Iterable[int]) -> None:
        """Make these messages' notifications soon; returns at once (call on the loop)."""
        self.waiting.update(message_ids)
        self.idle.clear()
        self.woken.set()
        self.start()

    async def _run(self) -> None:
        scan = True  # a new process first takes up what an earlier one left
        delay = RETRY_SECONDS
        while True:
            if not scan:
                try:
                    await asyncio.wait_for(self.woken.wait(), timeout=SCAN_SECONDS)
                except TimeoutError:
                    scan = True
            self.woken.clear()
            message_ids, self.waiting = self.waiting, set()
            try:
                if message_ids:
                    await self._make(list(message_ids))
                if scan:
                    await self._make(None)
                    scan = False
            except Exception:
                # The pending rows stay; the next round takes them up, sooner than a scan.
                logger.exception("The notification step failed; retrying in %.0f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
                self.waiting |= message_ids
                self.woken.set()
                continue
            delay = RETRY_SECONDS
            if not self.waiting:
                self.idle.set()

    def presence_reader(self) -> audience.PresenceReader | None:
        """@here's "who has a socket open now", from this loop's presence store (Redis: every
        process's), asked from the notifier's thread while the loop waits for it."""
        if not settings.PARLEY["PRESENCE"]:
            return None
        try:
            from awareness.realtime import awareness

            awareness()  # the loop's presence parts, also in a process with no socket yet
            return audience.loop_presence_reader(self.loop)
        except Exception:
            logger.exception("No presence store for @here; the database's present_at stands in")
            return None

    async def _make(self, message_ids: list[int] | None) -> None:
        presence = self.presence_reader()
        while True:
            frames = await self.loop.run_in_executor(_executor, _make, message_ids, presence)
            for recipient_id, frame in frames:
                # Stored whatever happens here: the badge and the page show it on the next load.
                await outlet.send_to_user(recipient_id, frame)
            if message_ids is not None or len(frames) == 0:
                return
            # A scan handles a batch at a time: go on while there was work.

    async def wait_idle(self) -> None:
        """For tests: until everything woken for has been made and sent."""
        await self.idle.wait()


_notifiers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Notifier]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def notifier() -> Notifier:
    """This event loop's notifier."""
    loop = asyncio.get_running_loop()
    with _lock:
        found = _notifiers.get(loop)
        if found is None:
            found = _notifiers[loop] = Notifier(loop)
    return found


def hand_off(message_ids: list[int]) -> None:
    """From synchronous code (a view, a management command): make these notifications without
    holding up the caller when a server's event loop runs in this process, else right here."""
    with _lock:
        live = [n for loop, n in _notifiers.items() if loop.is_running() and not loop.is_closed()]
    if live:
        live[-1].loop.call_soon_threadsafe(live[-1].wake, message_ids)
        return
    for recipient_id, frame in actions.make_pending_notifications(message_ids=message_ids):
        outlet.send_to_user_sync(recipient_id, frame)
