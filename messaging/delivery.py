"""After a message is committed: hand it to every member socket of the room."""

import logging

from .fanout import room_hub

logger = logging.getLogger(__name__)


async def broadcast_message(*, room_id: int, seq: int, frame: str, sender=None) -> None:
    """Hand one serialised `message.new` frame to every member socket of the room.

    This process's sockets get it from its hub directly (`sender`, already answered, is
    skipped); the channel layer carries it to the other processes' hubs. Raises if the layer
    is unreachable; the message is stored regardless and members fill the gap from the database.
    """
    hub = room_hub()
    hub.deliver(room_id, seq, frame, skip=sender)
    await hub.publish(room_id, seq, frame)
