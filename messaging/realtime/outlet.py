"""The one way out to the clients: group names, and sending to a user's or a room's sockets.

Every frame a client gets from anything but its own socket's answers leaves through here, as
Zulip's events leave through `send_event_on_commit`; actions call it (and the chat socket, to
tell the user's other tabs what it just answered, such as a `room.read`). A
room's messages go to this process's sockets through its hub directly and to the other
processes through the channel layer; a user's frames go to the user's group, to which each
process with sockets of the user is subscribed, once, through its hub. Sending never raises:
what is lost here the clients recover (sync, the socket audit, the next page load), and the
write it follows is committed either way.
"""

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from . import relay
from .hub import room_hub

logger = logging.getLogger(__name__)

# Channel-layer event types the consumer handles (`ChatConsumer.<type with _ for .>`).
FRAME_EVENT = "chat.frame"
SESSION_ENDED_EVENT = "session.ended"
RECHECK_EVENT = "sockets.recheck"
MEMBERSHIP_EVENT = "membership.changed"
ROOM_MESSAGE_EVENT = "room.message"
# Ephemeral frames (awareness/): never in a room's change order; losing one is harmless.
ROOM_EPHEMERAL_EVENT = "room.ephemeral"
PEERS_EVENT = "peers.frame"
# Every process's hub is in this group: a user's presence goes to the processes once, and each
# hands it to its own sockets that share a room with the user.
PEERS_GROUP = "parley-peers"


def room_group_name(room_id: int) -> str:
    return f"room_{room_id}"


def user_group_name(user_id: int) -> str:
    return f"user_{user_id}"


# --- a user's sockets --------------------------------------------------------------------------


async def send_to_user(user_id: int, frame: str, *, skip: str | None = None) -> None:
    """A serialised frame to every open socket of the user (but the socket named `skip`)."""
    await signal_user(user_id, FRAME_EVENT, text=frame, skip=skip)


async def signal_user(user_id: int, event_type: str, **fields) -> None:
    """A control event to the user's sockets (a session ended, a room joined …).

    As for a room: this process's sockets get it from the hub directly (a burst, such as a
    mention of a whole room, never waits in the hub's one layer channel, whose capacity would
    drop the rest), and the layer carries it to the other processes' hubs.
    """
    event = {"type": event_type, "user": user_id, **fields}
    hub = room_hub()
    hub.signal(event)
    if not hub.has_other_processes:
        return
    try:
        event["origin"] = hub.channel
        await get_channel_layer().group_send(user_group_name(user_id), event)
    except Exception:
        logger.exception("Could not reach the open sockets of user %s", user_id)


def send_to_user_sync(user_id: int, frame: str) -> None:
    signal_user_sync(user_id, FRAME_EVENT, text=frame)


def signal_user_sync(user_id: int, event_type: str, **fields) -> None:
    if relay.writing():
        relay.write({"type": event_type, "user": user_id, **fields})
        return
    async_to_sync(in_loop_context)(signal_user(user_id, event_type, **fields))


def send_to_user_on_commit(user_id: int, frame: str) -> None:
    on_commit(lambda: send_to_user_sync(user_id, frame))


def signal_user_on_commit(user_id: int, event_type: str, fields: Callable[[], dict]) -> None:
    """After commit; `fields` is called then, so it can read what the transaction committed."""
    on_commit(lambda: signal_user_sync(user_id, event_type, **fields()))


# --- a room's sockets --------------------------------------------------------------------------


async def send_to_room(room_id: int, change: int, seq: int, frame: str, *, sender=None) -> None:
    """A room's change (`message.new` or `message.updated` of message `seq`, at position
    `change`) to every member socket, on every process.

    This process's sockets get it from its hub directly (`sender`, already answered, is
    skipped); the channel layer carries it to the other processes' hubs. If the layer is
    unreachable the members fill the gap from the database.
    """
    hub = room_hub()
    hub.deliver(room_id, change, seq, frame, skip=sender)
    if hub.has_other_processes:
        try:
            event = room_event(room_id, change, seq, frame, origin=hub.channel)
            await get_channel_layer().group_send(room_group_name(room_id), event)
        except Exception:
            logger.exception("Could not carry change %s of room %s to the other processes", change, room_id)


def send_to_room_sync(room_id: int, change: int, seq: int, frame: str) -> None:
    """From synchronous code, as `send_to_room`: in a server, in its event loop (this process's
    sockets from the hub, in the order of everything else it hands them, the others through
    the layer); elsewhere (a command) through the layer to every server's hub, or, from the
    worker without a shared layer, through the database (relay.py)."""
    if relay.writing():
        relay.write(room_event(room_id, change, seq, frame))
        return
    try:
        async_to_sync(in_loop_context)(send_to_room(room_id, change, seq, frame))
    except Exception:
        logger.exception("Could not hand change %s of room %s to its sockets", change, room_id)


def send_to_room_on_commit(room_id: int, change: int, seq: int, frame: str) -> None:
    on_commit(lambda: send_to_room_sync(room_id, change, seq, frame))


def room_event(room_id: int, change: int, seq: int, frame: str, origin: str | None = None) -> dict:
    return {
        "type": ROOM_MESSAGE_EVENT,
        "room": room_id,
        "change": change,
        "seq": seq,
        "text": frame,
        "origin": origin,
    }


# --- ephemeral: typing, receipts, presence (awareness/) -------------------------------------------


async def send_ephemeral_to_room(
    room_id: int, frame: str, *, kind: str, skip_user: int | None = None
) -> None:
    """An ephemeral frame to the room's member sockets on every process (but `skip_user`'s):
    typing, read receipts. `kind` lets each socket decline what its user does not take (a user
    who shares no read state sees no one's)."""
    hub = room_hub()
    hub.deliver_ephemeral(room_id, frame, kind=kind, skip_user=skip_user)
    if hub.has_other_processes:
        event = {
            "type": ROOM_EPHEMERAL_EVENT,
            "room": room_id,
            "text": frame,
            "kind": kind,
            "skip_user": skip_user,
            "origin": hub.channel,
        }
        try:
            await get_channel_layer().group_send(room_group_name(room_id), event)
        except Exception:
            logger.warning("Could not carry a %s frame of room %s to the other processes", kind, room_id)


async def send_to_peers(
    user_id: int, room_ids: list[int], frame: str, *, kind: str, version: int | None = None
) -> None:
    """An ephemeral frame about a user (presence, status) to every socket, on every process, of
    the user and of the members of `room_ids` (the user's rooms): the people who see the user.
    With a `version`, each hub passes on only what is newer than what it last passed on of that
    kind for that user (two processes may announce one user in either order)."""
    hub = room_hub()
    hub.deliver_to_peers(user_id, room_ids, frame, kind=kind, version=version)
    if hub.has_other_processes:
        event = peers_event(user_id, room_ids, frame, kind=kind, version=version, origin=hub.channel)
        try:
            await get_channel_layer().group_send(PEERS_GROUP, event)
        except Exception:
            logger.warning("Could not carry user %s's %s to the other processes", user_id, kind)


def peers_event(
    user_id: int, room_ids: list[int], frame: str, *, kind: str, version: int | None = None, origin=None
) -> dict:
    return {
        "type": PEERS_EVENT,
        "user": user_id,
        "rooms": room_ids,
        "text": frame,
        "kind": kind,
        "version": version,
        "origin": origin,
    }


def send_to_peers_sync(user_id: int, room_ids: list[int], frame: str, *, kind: str) -> None:
    if relay.writing():
        relay.write(peers_event(user_id, room_ids, frame, kind=kind))
        return
    try:
        async_to_sync(in_loop_context)(send_to_peers(user_id, room_ids, frame, kind=kind))
    except Exception:
        logger.exception("Could not hand user %s's %s to its sockets", user_id, kind)


def send_to_peers_on_commit(
    user_id: int, room_ids: Callable[[], list[int]], frame: Callable[[], str], *, kind: str
):
    """After commit; `room_ids` and `frame` are called then, to read what was committed."""
    on_commit(lambda: send_to_peers_sync(user_id, room_ids(), frame(), kind=kind))


async def in_loop_context(sending: Awaitable[None]) -> None:
    """Await a hand-out from synchronous code in a context of its own: the tasks it starts for
    sockets (a user's event, a gap fill) must not inherit the caller's, whose thread executor
    is gone once the caller returns."""
    await asyncio.get_running_loop().create_task(sending, context=contextvars.Context())


def on_commit(send: Callable[[], None]) -> None:
    # robust: a failing send is logged by the sender itself and never undoes the commit.
    transaction.on_commit(send, robust=True)
