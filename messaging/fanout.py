"""One channel-layer subscription per room per process, shared by all of its sockets.

Subscribing every socket to its rooms' groups makes the layer carry, and Channels dispatch, one
copy of each message per member: for a room of 1,000 that is 1,000 deserialisations, queue
hops and dispatch tasks per message. Instead each process subscribes once per room (its hub)
and hands every message to its own sockets directly. Messages sent through this process reach
its sockets without the layer at all; the layer only carries them to the other processes.
"""

import asyncio
import logging
import weakref

from channels.layers import InMemoryChannelLayer, get_channel_layer

from .events import room_group_name

logger = logging.getLogger(__name__)

# The in-memory and core Redis layers forget a group membership after a day; renew hourly.
GROUP_REFRESH_SECONDS = 3600
RETRY_SECONDS = 1.0


class RoomHub:
    def __init__(self):
        self.layer = get_channel_layer()
        self.members: dict[int, set] = {}
        self.channel: str | None = None
        self._started = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        async with self._started:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._renew())]

    async def add(self, room_id: int, consumer) -> None:
        await self.start()
        members = self.members.get(room_id)
        if members is None:
            members = self.members[room_id] = set()
            members.add(consumer)
            await self.layer.group_add(room_group_name(room_id), self.channel)
        else:
            members.add(consumer)

    async def remove(self, room_id: int, consumer) -> None:
        members = self.members.get(room_id)
        if members is None:
            return
        members.discard(consumer)
        if not members:
            del self.members[room_id]
            await self.layer.group_discard(room_group_name(room_id), self.channel)

    def deliver(self, room_id: int, seq: int, frame: str, *, skip=None) -> None:
        """Hand a message frame to every socket of this process in the room (but `skip`)."""
        for consumer in list(self.members.get(room_id, ())):
            if consumer is not skip:
                try:
                    consumer.forward(room_id, seq, frame)
                except Exception:
                    # One broken socket must not cost the others their message.
                    logger.exception("Handing message %s of room %s to a socket failed", seq, room_id)

    async def publish(self, room_id: int, seq: int, frame: str) -> None:
        """Carry a message frame to the other processes' hubs."""
        if isinstance(self.layer, InMemoryChannelLayer):
            return  # one process: there are no other hubs, deliver() reached every socket
        await self.start()
        await self.layer.group_send(
            room_group_name(room_id),
            {"type": "room.message", "room": room_id, "seq": seq, "text": frame, "origin": self.channel},
        )

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
            if event.get("origin") != self.channel:
                self.deliver(event["room"], event["seq"], event["text"])

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            await self._rejoin()

    async def _rejoin(self) -> None:
        try:
            for room_id in list(self.members):
                await self.layer.group_add(room_group_name(room_id), self.channel)
        except Exception:
            logger.exception("The room hub could not renew its groups")


# One hub per event loop: tests run many loops in one process; a server runs one.
_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomHub]" = weakref.WeakKeyDictionary()


def room_hub() -> RoomHub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = RoomHub()
    return hub
