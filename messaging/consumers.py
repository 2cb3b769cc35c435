"""The chat socket: parse a frame, call one service or selector, send the result."""

import logging

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from . import delivery, selectors, services
from .errors import BadRequest, ParleyError, RateLimited, UnknownType
from .events import room_group_name, user_group_name
from .ratelimit import TokenBucket
from .serializers import (
    HELLO,
    PONG,
    ROOM_JOINED,
    ROOM_LEFT,
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
MAX_FRAME_BYTES = 64 * 1024
# Ids beyond this are not ids; refusing them early keeps them out of SQL integer columns.
MAX_ID = 2**53


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        if self.user is None or not self.user.is_authenticated:
            # Accept first, so the browser sees the close code and goes to the login page.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.room_ids: set[int] = set(await database_sync_to_async(selectors.member_room_ids)(self.user))
        limits = settings.PARLEY
        self.bucket = TokenBucket(burst=limits["RATE_BURST"], per_second=limits["RATE_PER_SECOND"])
        self.limited_in_a_row = 0
        for room_id in self.room_ids:
            await self.channel_layer.group_add(room_group_name(room_id), self.channel_name)
        await self.channel_layer.group_add(user_group_name(self.user.id), self.channel_name)
        await self.accept()
        await self.send(
            text_data=dumps({"type": HELLO, "user": self.user.id, "rooms": sorted(self.room_ids)})
        )

    async def disconnect(self, code):
        if getattr(self, "room_ids", None) is None:
            return
        for room_id in self.room_ids:
            await self.channel_layer.group_discard(room_group_name(room_id), self.channel_name)
        await self.channel_layer.group_discard(user_group_name(self.user.id), self.channel_name)

    # --- client → server ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        frame_size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if frame_size > MAX_FRAME_BYTES:
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
                raise RateLimited(wait)
            self.limited_in_a_row = 0
            frame = parse_frame(text_data, bytes_data)
            handler = self.handlers.get(frame["type"])
            if handler is None:
                raise UnknownType(f"Unknown frame type “{frame['type'][:64]}”.")
            await handler(self, frame)
        except ParleyError as error:
            await self.send_error(error, frame)
        except DatabaseError:
            logger.exception("Database error on a %s frame", frame.get("type"))
            await self.send_error(services_unavailable(), frame)
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
        await self.send(text_data=error_frame(error.code, error.detail, **extra))

    async def on_message_send(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        body = require_str(frame, "body")
        client_id = require_str(frame, "client_id")
        posted = await database_sync_to_async(services.post_message)(
            author=self.user, room_id=room_id, body=body, client_id=client_id
        )
        # The sender's acknowledgement goes straight back, so it never depends on the layer.
        frame_text = message_new_frame(message_payload(posted.message, posted.mentions))
        await self.send(text_data=frame_text)
        await self.ensure_in_group(room_id)
        if posted.created:
            try:
                await delivery.broadcast_message(
                    room_id=room_id, frame=frame_text, skip_channel=self.channel_name
                )
            except Exception:
                # Stored and acknowledged: the other members will fetch it through `sync`.
                logger.exception("Broadcast of message %s failed", posted.message.id)
            delivery.start_notification_step(posted)

    async def on_sync(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        after_seq = require_id(frame, "after_seq", minimum=0)
        batch = settings.PARLEY["SYNC_BATCH_SIZE"]
        messages = await database_sync_to_async(selectors.messages_after)(
            user=self.user, room_id=room_id, after_seq=after_seq, limit=batch + 1
        )
        if messages is None:
            raise await database_sync_to_async(services.room_access_error)(
                user_id=self.user.id, room_id=room_id
            )
        await self.ensure_in_group(room_id)
        has_more = len(messages) > batch
        messages = messages[:batch]
        for message in messages:
            await self.send(text_data=message_new_frame(stored_message_payload(message)))
        last_seq = messages[-1].seq if messages else after_seq
        await self.send(
            text_data=dumps({"type": SYNC_DONE, "room": room_id, "last_seq": last_seq, "has_more": has_more})
        )

    async def on_ping(self, frame: dict) -> None:
        await self.send(text_data=dumps({"type": PONG}))

    async def ensure_in_group(self, room_id: int) -> None:
        """Heal a membership event this socket missed: the database just said it is a member."""
        if room_id not in self.room_ids:
            self.room_ids.add(room_id)
            await self.channel_layer.group_add(room_group_name(room_id), self.channel_name)

    handlers = {
        "message.send": on_message_send,
        "sync": on_sync,
        "ping": on_ping,
    }

    # --- channel layer → client ---------------------------------------------------------------

    async def chat_frame(self, event: dict) -> None:
        """A frame serialised once by the sender's process; forwarded as is."""
        if event.get("skip") != self.channel_name:
            await self.send(text_data=event["text"])

    async def membership_changed(self, event: dict) -> None:
        room = event["room"]
        group = room_group_name(room["id"])
        if event["is_member"]:
            self.room_ids.add(room["id"])
            await self.channel_layer.group_add(group, self.channel_name)
            await self.send(text_data=dumps({"type": ROOM_JOINED, "room": room}))
        else:
            self.room_ids.discard(room["id"])
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.send(text_data=dumps({"type": ROOM_LEFT, "room": room}))


def services_unavailable() -> ParleyError:
    return ParleyError("The server could not store that right now. Please try again.")


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict:
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
