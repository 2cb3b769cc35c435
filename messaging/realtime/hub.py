"""One channel-layer subscription per room per process, shared by all of its sockets.

Subscribing every socket to its rooms' groups makes the layer carry, and Channels dispatch, one
copy of each message per member: for a room of 1,000 that is 1,000 deserialisations, queue
hops and dispatch tasks per message. Instead each process subscribes once per room (its hub)
and hands every message to its own sockets directly. Messages sent through this process reach
its sockets without the layer at all; the layer only carries them to the other processes.

The same goes for a user's own events (notifications, a log-out, a room joined or left): the hub
subscribes once per user with sockets here and hands each event to the user's sockets, so a
socket holds no channel, queue or receiving task of its own in the layer.

The hub also knows every open socket of the process, so it audits them all periodically, in
one database hop: a socket whose session ended or whose member left a room while the event
saying so was lost is cut off within AUDIT_SECONDS.
"""

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from . import outlet, relay, standing

logger = logging.getLogger(__name__)

# The in-memory and core Redis layers forget a group membership after a day; renew hourly.
GROUP_REFRESH_SECONDS = 3600
RETRY_SECONDS = 1.0
# How long a lost log-out, deactivation or removal event can leave a socket receiving, at most
# (plus one database hop). docs/security.md states it; tests/test_standing.py proves it.
AUDIT_SECONDS = 15.0
# The hub's layer channel carries every room change and user event of the process: settings give
# channels named so a capacity of their own on the Redis core layer (CHANNEL_LAYER_HUB_CAPACITY).
HUB_CHANNEL_PREFIX = "parley-hub"
MAX_REMEMBERED_VERSIONS = 100_000


class RoomHub:
    def __init__(self):
        self.layer = get_channel_layer()
        self.members: dict[int, set] = {}
        # user id → the user's sockets here, each subscribed to the user's group through the hub.
        self.users: dict[int, set] = {}
        # Rooms with members here whose layer subscription failed; retried every RETRY_SECONDS.
        self.unsubscribed: set[int] = set()
        self.sockets: set = set()
        # (kind, user id) → the newest version of a user's presence passed on here.
        self.versions: dict[tuple[str, int], int] = {}
        self.channel: str | None = None
        self.audit_seconds = AUDIT_SECONDS
        self._started = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self._retrying: asyncio.Task | None = None

    async def start(self) -> None:
        async with self._started:
            if self.channel is None:
                self.channel = await self.layer.new_channel(prefix=HUB_CHANNEL_PREFIX)
                await self._join_peers()
                self._tasks = [
                    asyncio.create_task(self._receive()),
                    asyncio.create_task(self._renew()),
                    asyncio.create_task(self._audit_forever()),
                ]
                relay_seconds = settings.PARLEY["RELAY_SECONDS"]
                if not self.has_other_processes and relay_seconds:
                    self._tasks.append(asyncio.create_task(self._follow_relay(relay_seconds)))

    def attach(self, consumer) -> None:
        self.sockets.add(consumer)

    def detach(self, consumer) -> None:
        self.sockets.discard(consumer)

    async def add(self, room_id: int, consumer) -> None:
        """Hand the room's messages to this socket; never raises for a layer failure (the
        subscription is retried, and what it misses meanwhile the socket fetches as gaps)."""
        await self.start()
        members = self.members.setdefault(room_id, set())
        first = not members and room_id not in self.unsubscribed
        members.add(consumer)
        if first:
            await self._subscribe(room_id)

    async def remove(self, room_id: int, consumer) -> None:
        members = self.members.get(room_id)
        if members is None:
            return
        members.discard(consumer)
        if not members:
            del self.members[room_id]
            if room_id in self.unsubscribed:
                self.unsubscribed.discard(room_id)
                return
            await self.layer.group_discard(outlet.room_group_name(room_id), self.channel)

    async def _subscribe(self, room_id: int) -> None:
        try:
            await self.layer.group_add(outlet.room_group_name(room_id), self.channel)
        except Exception:
            logger.exception("Subscribing to room %s failed; retrying in %s s", room_id, RETRY_SECONDS)
            self.unsubscribed.add(room_id)
            if self._retrying is None or self._retrying.done():
                self._retrying = asyncio.create_task(self._retry_subscriptions())
        else:
            self.unsubscribed.discard(room_id)

    async def _retry_subscriptions(self) -> None:
        while self.unsubscribed:
            await asyncio.sleep(RETRY_SECONDS)
            for room_id in list(self.unsubscribed):
                if room_id not in self.members:
                    self.unsubscribed.discard(room_id)
                    continue
                try:
                    await self.layer.group_add(outlet.room_group_name(room_id), self.channel)
                except Exception:
                    logger.warning("Subscribing to room %s failed again", room_id)
                else:
                    self.unsubscribed.discard(room_id)

    async def add_user(self, user_id: int, consumer) -> None:
        """Hand the user's events to this socket; raises when the layer cannot be reached (the
        socket is refused, and its client retries). Awaited by each socket, so each returns
        subscribed; a second subscription of the hub renews it."""
        await self.start()
        self.users.setdefault(user_id, set()).add(consumer)
        try:
            await self.layer.group_add(outlet.user_group_name(user_id), self.channel)
        except Exception:
            await self.remove_user(user_id, consumer)
            raise

    async def remove_user(self, user_id: int, consumer) -> None:
        sockets = self.users.get(user_id)
        if sockets is None:
            return
        sockets.discard(consumer)
        if not sockets:
            del self.users[user_id]
            await self.layer.group_discard(outlet.user_group_name(user_id), self.channel)

    def signal(self, event: dict) -> None:
        """A user's event to each of the user's sockets here (each handles it in its turn)."""
        for consumer in list(self.users.get(event.get("user"), ())):
            try:
                consumer.signal(event)
            except Exception:
                logger.exception("Handing a %s event to a socket failed", event.get("type"))

    def deliver(self, room_id: int, change: int, seq: int, frame: str, *, skip=None) -> None:
        """Hand a change's frame to every socket of this process in the room (but `skip`)."""
        size = len(frame.encode())
        for consumer in list(self.members.get(room_id, ())):
            if consumer is not skip:
                try:
                    consumer.forward(room_id, change, seq, frame, size=size)
                except Exception:
                    # One broken socket must not cost the others their message.
                    logger.exception("Handing change %s of room %s to a socket failed", change, room_id)

    def deliver_ephemeral(self, room_id: int, frame: str, *, kind: str, skip_user: int | None = None) -> None:
        """An ephemeral frame (typing, receipts) to the room's sockets here, outside its order."""
        for consumer in list(self.members.get(room_id, ())):
            if consumer.user.id != skip_user:
                try:
                    consumer.ephemeral(kind, frame)
                except Exception:
                    logger.exception("Handing a %s frame of room %s to a socket failed", kind, room_id)

    def deliver_to_peers(
        self, user_id: int, room_ids: list[int], frame: str, *, kind: str, version: int | None = None
    ) -> None:
        """A frame about a user (presence, status) to each socket here that shares one of the
        user's rooms, and to the user's own: once per socket, however many rooms they share.
        A versioned frame older than (or as old as) the last one passed on is dropped."""
        if version is not None:
            key = (kind, user_id)
            if version <= self.versions.get(key, -1):
                return
            if len(self.versions) >= MAX_REMEMBERED_VERSIONS:
                self.versions.clear()  # only ever a few seconds' worth matters
            self.versions[key] = version
        sockets = set(self.users.get(user_id, ()))
        for room_id in room_ids:
            sockets.update(self.members.get(room_id, ()))
        for consumer in sockets:
            try:
                consumer.ephemeral(kind, frame)
            except Exception:
                logger.exception("Handing user %s's %s to a socket failed", user_id, kind)

    async def _join_peers(self) -> None:
        try:
            await self.layer.group_add(outlet.PEERS_GROUP, self.channel)
        except Exception:
            # Presence from other processes waits for the hourly renewal; clients heal on sync.
            logger.warning("Joining the presence group failed; retrying at the next renewal")

    @property
    def has_other_processes(self) -> bool:
        """Whether a room's messages must also go through the layer (False: one process)."""
        return not isinstance(self.layer, InMemoryChannelLayer)

    async def audit(self) -> None:
        """Cut off the sockets that lost their session or a room since they last heard of it,
        and bring up to date the ones that are behind their rooms' newest change (a broadcast
        the layer lost that no later change exposed as a gap)."""
        sockets = list(self.sockets)
        identities = {consumer.identity for consumer in sockets}
        pairs = {(consumer.user.id, room_id) for consumer in sockets for room_id in consumer.streams}
        invalid, lost, ends = await database_sync_to_async(_audit_reads)(identities, pairs)
        lost_by_user: dict[int, set[int]] = {}
        for user_id, room_id in lost:
            lost_by_user.setdefault(user_id, set()).add(room_id)
        for consumer in sockets:
            try:
                if consumer.identity in invalid:
                    await consumer.end_session()
                    continue
                for room_id in lost_by_user.get(consumer.user.id, ()):
                    if room_id in consumer.streams:
                        await consumer.drop_room(room_id)
                for room_id in consumer.streams:
                    if room_id in ends:
                        consumer.streams.catch_up(room_id, ends[room_id])
            except Exception:
                logger.exception("Auditing a socket of user %s failed", consumer.user.id)

    async def _audit_forever(self) -> None:
        while True:
            await asyncio.sleep(self.audit_seconds)
            try:
                await self.audit()
            except Exception:
                logger.exception("The socket audit failed; trying again in %s s", self.audit_seconds)

    async def _receive(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The layer is unreachable: whatever it misses, the sockets fetch as gaps.
                logger.exception("The room hub lost its channel layer; retrying")
                await asyncio.sleep(RETRY_SECONDS)
                await self._rejoin()
                continue
            if event.get("origin") == self.channel:
                continue  # this process's own, handed to its sockets already
            self.dispatch(event)

    def dispatch(self, event: dict) -> None:
        """An event from another process (through the layer or the relay) to the sockets here."""
        kind = event.get("type")
        if kind == outlet.ROOM_MESSAGE_EVENT:
            self.deliver(event["room"], event["change"], event["seq"], event["text"])
        elif kind == outlet.ROOM_EPHEMERAL_EVENT:
            self.deliver_ephemeral(
                event["room"], event["text"], kind=event["kind"], skip_user=event["skip_user"]
            )
        elif kind == outlet.PEERS_EVENT:
            self.deliver_to_peers(
                event["user"], event["rooms"], event["text"], kind=event["kind"], version=event.get("version")
            )
        else:
            self.signal(event)

    async def _follow_relay(self, seconds: float) -> None:
        """What the worker relayed through the database (relay.py), from now on."""
        loop = asyncio.get_running_loop()
        cursor = None
        while True:
            try:
                if cursor is None:
                    cursor = await loop.run_in_executor(relay.executor, relay.newest_id)
                await asyncio.sleep(seconds)
                events, cursor = await loop.run_in_executor(relay.executor, relay.read_after, cursor)
                for event in events:
                    self.dispatch(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Reading relayed events failed; trying again")
                await asyncio.sleep(RETRY_SECONDS)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            await self._rejoin()

    async def _rejoin(self) -> None:
        await self._join_peers()
        for room_id in list(self.members):
            await self._subscribe(room_id)
        for user_id in list(self.users):
            try:
                await self.layer.group_add(outlet.user_group_name(user_id), self.channel)
            except Exception:
                logger.warning("Renewing user %s's subscription failed", user_id)


def _audit_reads(identities, pairs) -> tuple[set, set, dict]:
    ends = standing.room_ends(room_id for _, room_id in pairs)
    return standing.invalid_identities(identities), standing.lost_rooms(pairs), ends


# One hub per event loop: tests run many loops in one process; a server runs one.
_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomHub]" = weakref.WeakKeyDictionary()


def room_hub() -> RoomHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = RoomHub()
    return hub
