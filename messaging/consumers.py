"""The chat socket: parse a frame, call one service or selector, send the result."""

import asyncio
import logging
import random
import time

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from . import delivery, selectors, services
from .errors import BadRequest, ParleyError, RateLimited, UnknownType
from .events import user_group_name
from .fanout import room_hub
from .ordering import RoomStream
from .ratelimit import user_buckets
from .serializers import (
    HELLO,
    PONG,
    ROOM_JOINED,
    ROOM_LEFT,
    ROOM_READ,
    SYNC_DONE,
    dumps,
    error_frame,
    message_new_frame,
    message_payload,
    stored_message_payload,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_ABUSIVE = 4429
CLOSE_FRAME_TOO_LARGE = 1009
CLOSE_TOO_SLOW = 1013
# Frames queued for a client that is not reading them; past this it is let go.
OUTBOX_LIMIT = 5000
MAX_FRAME_BYTES = 64 * 1024
# Ids beyond this are not ids; refusing them early keeps them out of SQL integer columns.
MAX_ID = 2**53
# How long a frame waits for a missing predecessor before the socket fetches it itself.
GAP_WAIT_SECONDS = 0.5
GROUP_REFRESH_SECONDS = 3600


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        self.streams: dict[int, RoomStream] = {}
        if self.user is None or not self.user.is_authenticated:
            # Accept first, so the browser sees the close code and goes to the login page.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        room_seqs = await database_sync_to_async(selectors.member_room_seqs)(self.user)
        self.streams = {room_id: RoomStream(last_seq) for room_id, last_seq in room_seqs.items()}
        self.gap_fills: dict[int, asyncio.Task] = {}
        self.hub = room_hub()
        limits = settings.PARLEY
        self.bucket = user_buckets.acquire(
            self.user.id, burst=limits["RATE_BURST"], per_second=limits["RATE_PER_SECOND"]
        )
        self.limited_in_a_row = 0
        # Every frame to the client goes through one queue and one writer, in the order queued:
        # replies, acknowledgements and other people's messages alike. It exists before the
        # socket joins its rooms, so messages that arrive while it connects wait behind hello.
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.writer: asyncio.Task | None = None
        self.push(dumps({"type": HELLO, "user": self.user.id, "rooms": sorted(self.streams)}))
        await self.join_groups()
        for room_id in self.streams:
            await self.hub.add(room_id, self)
        await self.accept()
        self.writer = asyncio.create_task(self.write_outbox())

    async def dispatch(self, message):
        """As Channels' own, minus its per-event database clean-up hop.

        Channels closes stale database connections before every event, a thread hop per
        recipient per message. Our database work all goes through `database_sync_to_async`,
        which does that clean-up itself, so events that never touch the database skip it.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code):
        for task in getattr(self, "gap_fills", {}).values():
            task.cancel()
        if getattr(self, "writer", None) is not None:
            self.writer.cancel()
        if getattr(self, "bucket", None) is not None:
            user_buckets.release(self.user.id)
        if getattr(self, "hub", None) is not None:
            for room_id in list(self.streams):
                await self.hub.remove(room_id, self)
            await self.channel_layer.group_discard(user_group_name(self.user.id), self.channel_name)

    def push(self, text: str) -> None:
        """Queue a frame for the client; a client that stays far behind is let go (it
        reconnects and syncs) rather than held in memory without end."""
        if self.outbox.qsize() >= OUTBOX_LIMIT:
            if self.writer is not None and not self.writer.done():
                logger.warning("User %s's socket is %s frames behind; closing it", self.user.id, OUTBOX_LIMIT)
                self.writer.cancel()
                self.closing = asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))
            return
        self.outbox.put_nowait(text)

    async def write_outbox(self) -> None:
        while True:
            await self.send(text_data=await self.outbox.get())

    # --- client → server ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            # A character is at most 4 bytes: only long frames need encoding to be measured.
            too_large = len(text_data) * 4 > MAX_FRAME_BYTES and len(text_data.encode()) > MAX_FRAME_BYTES
        else:
            too_large = len(bytes_data or b"") > MAX_FRAME_BYTES
        if too_large:
            await self.close(code=CLOSE_FRAME_TOO_LARGE)
            return
        frame: dict = {}
        try:
            wait = self.bucket.take()
            if wait:
                self.limited_in_a_row += 1
                if self.limited_in_a_row > settings.PARLEY["RATE_ABUSE_CLOSE_AFTER"]:
                    await self.close(code=CLOSE_ABUSIVE)
                    return
            else:
                self.limited_in_a_row = 0
            frame = parse_frame(text_data)
            if wait:
                # Parsed first only so the answer can name the refused message's client_id.
                raise RateLimited(wait)
            handler = self.handlers.get(frame["type"])
            if handler is None:
                raise UnknownType(f"Unknown frame type “{frame['type'][:64]}”.")
            await handler(self, frame)
        except ParleyError as error:
            await self.send_error(error, frame)
        except DatabaseError:
            logger.exception("Database error on a %s frame", frame.get("type"))
            await self.send_error(
                ParleyError("The server could not reach its database. Please try again."), frame
            )
        except Exception:
            logger.exception("Unexpected error on a %s frame", frame.get("type"))
            await self.send_error(ParleyError(), frame)

    async def send_error(self, error: ParleyError, frame: dict) -> None:
        extra = {}
        client_id = frame.get("client_id")
        if isinstance(client_id, str) and len(client_id) <= services.MAX_CLIENT_ID_CHARS:
            extra["client_id"] = client_id
        if isinstance(error, RateLimited):
            extra["retry_after"] = round(error.retry_after, 3)
        self.push(error_frame(error.code, error.detail, **extra))

    async def on_message_send(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        body = require_str(frame, "body")
        client_id = require_str(frame, "client_id")
        posted = await database_sync_to_async(services.post_message)(
            author=self.user, room_id=room_id, body=body, client_id=client_id
        )
        frame_text = message_new_frame(message_payload(posted.message, posted.mentions))
        if not posted.created:
            # A resend: answer it even though this socket may have shown it already.
            self.push(frame_text)
            return
        # The sender's own copy goes straight back, so its acknowledgement never depends on
        # the channel layer; it still waits its turn in the room's seq order.
        seq = posted.message.seq
        await self.join_stream(room_id, seq - 1)
        self.forward(room_id, seq, frame_text)
        try:
            await delivery.broadcast_message(room_id=room_id, seq=seq, frame=frame_text, sender=self)
        except Exception:
            # Stored and acknowledged: the other members fetch it when they notice the gap.
            logger.exception("Broadcast of message %s failed", posted.message.id)
        delivery.start_notification_step(posted)

    async def on_sync(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        after_seq = require_id(frame, "after_seq", minimum=0)
        batch = settings.PARLEY["SYNC_BATCH_SIZE"]
        found = await database_sync_to_async(selectors.messages_after)(
            user=self.user, room_id=room_id, after_seq=after_seq, limit=batch + 1
        )
        if found is None:
            raise await database_sync_to_async(services.room_access_error)(
                user_id=self.user.id, room_id=room_id
            )
        room_last_seq, messages = found
        has_more = len(messages) > batch
        messages = messages[:batch]
        # Where the client now stands; a claim beyond the room's end is not believed.
        last_seq = messages[-1].seq if messages else min(after_seq, room_last_seq)
        stream = await self.join_stream(room_id, last_seq)
        for message in messages:
            self.push(message_new_frame(stored_message_payload(message)))
        for held in stream.advance(last_seq):
            self.push(held)
        self.push(dumps({"type": SYNC_DONE, "room": room_id, "last_seq": last_seq, "has_more": has_more}))

    async def on_room_read(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        seq = require_id(frame, "seq", minimum=0)
        stored = await database_sync_to_async(services.mark_room_read)(
            user=self.user, room_id=room_id, seq=seq, announce=False
        )
        text = dumps({"type": ROOM_READ, "room": room_id, "seq": stored})
        self.push(text)
        # The user's other tabs clear the room's unread count too.
        try:
            await self.channel_layer.group_send(
                user_group_name(self.user.id), {"type": "chat.frame", "text": text, "skip": self.channel_name}
            )
        except Exception:
            logger.exception("Could not tell user %s's other tabs about a read room", self.user.id)

    async def on_ping(self, frame: dict) -> None:
        self.push(dumps({"type": PONG}))
        if time.monotonic() - self.groups_joined_at > GROUP_REFRESH_SECONDS:
            await self.join_groups()

    async def join_groups(self) -> None:
        """(Re)subscribe to the user's own group (rooms come through the process's hub).

        The in-memory and core Redis layers forget a group membership after a day
        (`group_expiry`); sockets live longer than that, so pings renew it every hour.
        """
        await self.channel_layer.group_add(user_group_name(self.user.id), self.channel_name)
        self.groups_joined_at = time.monotonic()

    handlers = {
        "message.send": on_message_send,
        "sync": on_sync,
        "room.read": on_room_read,
        "ping": on_ping,
    }

    # --- ordering -----------------------------------------------------------------------------

    async def join_stream(self, room_id: int, delivered: int) -> RoomStream:
        """The room's stream; a room this socket did not know (a missed join event) is added."""
        stream = self.streams.get(room_id)
        if stream is None:
            stream = self.streams[room_id] = RoomStream(delivered)
            await self.hub.add(room_id, self)
        return stream

    def forward(self, room_id: int, seq: int, frame: str) -> None:
        """A room's message frame, from the hub or the sender: queued in seq order, once."""
        stream = self.streams.get(room_id)
        if stream is None:
            return
        for text in stream.offer(seq, frame):
            self.push(text)
        if stream.has_gap and room_id not in self.gap_fills:
            self.gap_fills[room_id] = asyncio.create_task(self.fill_gap(room_id))

    async def fill_gap(self, room_id: int) -> None:
        """Fetch from the database what the channel layer did not bring in time."""
        try:
            await asyncio.sleep(GAP_WAIT_SECONDS * (1 + random.random()))
            stream = self.streams.get(room_id)
            while stream is not None and stream.has_gap:
                found = await database_sync_to_async(selectors.messages_after)(
                    user=self.user,
                    room_id=room_id,
                    after_seq=stream.delivered,
                    limit=min(stream.missing_up_to - stream.delivered, settings.PARLEY["SYNC_BATCH_SIZE"]),
                )
                missing = found[1] if found else []
                if not missing:
                    break
                for message in missing:
                    for text in stream.offer(message.seq, message_new_frame(stored_message_payload(message))):
                        self.push(text)
        except Exception:
            logger.exception("Filling a gap in room %s failed; the client's sync covers it", room_id)
        finally:
            self.gap_fills.pop(room_id, None)

    # --- channel layer → client ---------------------------------------------------------------

    async def chat_frame(self, event: dict) -> None:
        """A frame for this user (a notification, a read room), serialised once by its sender."""
        if event.get("skip") != self.channel_name:
            self.push(event["text"])

    async def session_ended(self, event: dict) -> None:
        """The user logged out of the session this socket was opened with."""
        session = self.scope.get("session")
        if session is not None and session.session_key == event["session_key"]:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def membership_changed(self, event: dict) -> None:
        room = event["room"]
        if event["is_member"]:
            self.streams.setdefault(room["id"], RoomStream(room["last_seq"]))
            await self.hub.add(room["id"], self)
            self.push(dumps({"type": ROOM_JOINED, "room": room}))
        else:
            self.streams.pop(room["id"], None)
            await self.hub.remove(room["id"], self)
            self.push(dumps({"type": ROOM_LEFT, "room": room}))


def parse_frame(text_data: str | None) -> dict:
    if text_data is None:
        raise BadRequest("Frames must be JSON text, not binary.")
    try:
        frame = orjson.loads(text_data)
    except orjson.JSONDecodeError:
        raise BadRequest("The frame is not valid JSON.") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise BadRequest("A frame is a JSON object with a string “type”.")
    return frame


def require_id(frame: dict, key: str, *, minimum: int = 1) -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_ID:
        raise BadRequest(f"“{key}” must be a whole number of at least {minimum}.")
    return value


def require_str(frame: dict, key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"“{key}” must be a string.")
    return value
