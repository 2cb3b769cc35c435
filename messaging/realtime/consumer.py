"""The chat socket: parse a frame, call one action or selector, send the result."""

import asyncio
import functools
import logging
import time
from collections import deque
from datetime import datetime

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.db import DatabaseError

from awareness import selectors as awareness_selectors
from awareness.realtime import awareness
from awareness.receipts import RECEIPTS_KIND
from awareness.serializers import presence_payload, presence_state_frame, receipts_state_frame
from awareness.store import STATES
from notifications.notifier import notifier

from .. import selectors
from ..actions import changes, threads
from ..actions.memberships import ReadRequest, read_queue
from ..actions.messages import MAX_CLIENT_ID_CHARS, send_message_async
from ..errors import BadRequest, NotFound, NotMember, ParleyError, RateLimited, Unauthenticated, UnknownType
from ..serializers import (
    error_frame,
    hello_frame,
    message_new_frame,
    message_updated_frame,
    pong_frame,
    room_joined_frame,
    room_left_frame,
    room_read_frame,
    stored_message_payload,
    sync_done_frame,
    thread_payload,
    thread_read_frame,
    threads_state_frame,
)
from . import outlet, standing
from .hub import room_hub
from .ordering import RoomStream, RoomStreams
from .outbox import Outbox
from .ratelimit import TooManySockets, awareness_buckets, user_buckets

logger = logging.getLogger(__name__)

# Close codes (docs/protocol.md). All in the application range, which every server accepts:
# daphne refuses to send 1009 and 1013 at all.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_TOO_MANY_SOCKETS = 4409
CLOSE_FRAME_TOO_LARGE = 4413
CLOSE_ABUSIVE = 4429
CLOSE_TOO_SLOW = 4503
# What may wait for a client that is not reading; past either bound it is let go (it reconnects
# and syncs) rather than held in memory without end. Under uvicorn the transport adds at most
# its write buffer's high-water mark (64 KiB) to this.
OUTBOX_LIMIT = 5000
OUTBOX_LIMIT_BYTES = 4 * 1024 * 1024
MAX_FRAME_BYTES = 64 * 1024
# Ids beyond this are not ids; refusing them early keeps them out of SQL integer columns.
MAX_ID = 2**53
GROUP_REFRESH_SECONDS = 3600
# A write re-checks the socket's session (log-out, password change, deactivation) in its own
# database hop when the last check is older than this; events close such sockets at once.
WRITE_RECHECK_SECONDS = 10.0
ROOM_REFUSALS = (NotMember.code, NotFound.code)
BACKGROUND: set[asyncio.Future] = set()
# Frames that draw on the reading allowance (ratelimit.awareness_buckets), not the messages'.
OWN_ALLOWANCE_FRAMES = frozenset(
    {
        "room.read",
        "thread.read",
        "presence.set",
        "presence.sync",
        "typing.start",
        "typing.stop",
        "receipts.sync",
    }
)


class ChatConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = None
        self.identity: standing.SocketIdentity | None = None
        self.streams = RoomStreams(
            push=self.push,
            fetch=self.fetch_stored,
            render=stored_frame,
            lost=self.drop_room,
            batch=settings.PARLEY["SYNC_BATCH_SIZE"],
        )
        self.hub = None
        self.bucket = None
        self.reading_bucket = None
        self.limited_in_a_row = 0
        # Every frame to the client goes through one outbox, in the order queued: replies,
        # acknowledgements and other people's messages alike. It exists before the socket joins
        # its rooms, so messages that arrive while it connects wait behind hello.
        self.outbox: Outbox | None = None
        # Set once the server decides to close: from then on nothing from this socket runs.
        self.closing = False
        self.closing_task: asyncio.Future | None = None
        self.released = False
        # One handler at a time, in arrival order: the client's frames and the user's events
        # (which the hub hands over), as Channels' own dispatch loop runs them.
        self.turn = asyncio.Lock()
        self.signals: deque[dict] | None = None
        self.signalling: asyncio.Task | None = None
        self.groups_joined_at = 0.0
        self.standing_checked_at = 0.0
        # Awareness (awareness/): this loop's presence tracker, typing relay and receipts; and
        # the conversations this socket said its person is typing in.
        self.awareness = None
        self.typing_in: set[tuple[int, int | None]] = set()
        self.greeted = False  # hello is queued: the first frame a client gets

    async def __call__(self, scope, receive, send):
        """As Channels' own, minus a channel of its own in the layer and the tasks that wait on
        it: the user's events reach every socket of this process through the hub (one
        subscription per user), so an idle socket is one task awaiting its client."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            # Accept first, so the browser sees the close code and goes to the login page.
            await self.accept()
            await self.close_with(CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.identity = standing.SocketIdentity.from_scope(self.scope)
        self.outbox = Outbox(
            send=websocket_send_of(self.base_send),
            too_slow=self.too_slow,
            max_frames=OUTBOX_LIMIT,
            max_bytes=OUTBOX_LIMIT_BYTES,
        )
        limits = settings.PARLEY
        try:
            self.bucket = user_buckets.acquire(
                user.id,
                burst=limits["RATE_BURST"],
                per_second=limits["RATE_PER_SECOND"],
                max_sockets=limits["MAX_SOCKETS_PER_USER"],
            )
            self.reading_bucket = awareness_buckets.acquire(
                user.id,
                burst=limits["RATE_BURST"],
                per_second=limits["RATE_PER_SECOND"],
                max_sockets=limits["MAX_SOCKETS_PER_USER"],
            )
        except TooManySockets:
            await self.accept()
            await self.close_with(CLOSE_TOO_MANY_SOCKETS)
            return
        try:
            self.hub = room_hub()
            self.hub.attach(self)
            notifier().start()
            # The user's events before the rooms are read: a removal committed after the read
            # reaches this socket as an event, one committed before is in the read.
            await self.join_groups()
            positions = await database_sync_to_async(selectors.member_room_positions)(user)
            self.standing_checked_at = time.monotonic()
            for room_id, (last_seq, last_change) in positions.items():
                self.streams.add(room_id, last_change, last_seq)
            self.push(hello_frame(user.id, list(self.streams)))
            self.greeted = True
            for room_id in self.streams:
                await self.hub.add(room_id, self)
            await self.accept()
        except Exception:
            logger.exception("Opening a socket for user %s failed", user.id)
            await self.release()
            await self.close()  # before accept: the handshake is refused; the client retries
            return
        self.outbox.start()
        forget_handshake(self.scope)
        if settings.PARLEY["PRESENCE"]:
            # After hello: presence is news about the socket, never a condition for it.
            self.awareness = awareness()
            await self.awareness.presence.attach(self)

    async def dispatch(self, message):
        """As Channels' own, minus its per-event database clean-up hop, and with layer events
        guarded: a handler that fails logs, it does not end the socket without its clean-up.

        Channels closes stale database connections before every event, a thread hop per
        recipient per message. Our database work all goes through `database_sync_to_async`,
        which does that clean-up itself, so events that never touch the database skip it.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        async with self.turn:
            if message["type"].startswith("websocket."):
                await handler(message)
                return
            if self.released:
                return
            try:
                await handler(message)
            except Exception:
                logger.exception(
                    "A %s event for user %s failed", message["type"], getattr(self.user, "id", None)
                )

    def signal(self, event: dict) -> None:
        """One of the user's events, from the hub: handled in its turn, after those before it."""
        if self.released:
            return
        if self.signals is None:
            self.signals = deque()
        self.signals.append(event)
        if self.signalling is None:
            self.signalling = asyncio.ensure_future(self.handle_signals())

    async def handle_signals(self) -> None:
        try:
            while self.signals:
                await self.dispatch(self.signals.popleft())
        finally:
            self.signalling = None
            if not self.signals:
                self.signals = None

    async def disconnect(self, code):
        await self.release()

    async def release(self) -> None:
        """Give back everything this socket holds in the process, each part on its own, so one
        failure cannot keep the others (a leaked socket would fill its outbox for ever)."""
        if self.released:
            return
        self.released = True
        self.streams.close()
        if self.outbox is not None:
            self.outbox.stop()
        if self.bucket is not None:
            user_buckets.release(self.user.id)
        if self.reading_bucket is not None:
            awareness_buckets.release(self.user.id)
        if self.hub is not None:
            self.hub.detach(self)
            for room_id in self.streams:
                try:
                    await self.hub.remove(room_id, self)
                except Exception:
                    logger.exception("Leaving room %s's hub entry failed", room_id)
            try:
                await self.hub.remove_user(self.user.id, self)
            except Exception:
                logger.exception("Leaving user %s's group failed", self.user.id)
        await self.leave_awareness()

    async def leave_awareness(self) -> None:
        """Last of the release, and waiting for nothing: the presence tracker takes the socket
        off at once (its store hears of it in the tracker's own time); the typing stop goes out
        in the background."""
        try:
            if self.awareness is not None:
                await self.awareness.presence.detach(self)
            if self.typing_in:
                self.in_background(awareness().typing.stop_all(self), "stopping typing")
        except Exception:
            logger.exception("Leaving user %s's presence failed", self.user.id)

    def in_background(self, work, what: str) -> None:
        """Ephemeral work that must not hold up the socket; a failure is logged."""

        async def guarded():
            try:
                await work
            except Exception:
                logger.exception("%s for user %s failed", what.capitalize(), self.user.id)

        task = asyncio.ensure_future(guarded())
        # Held until done: the loop keeps only weak references to tasks.
        BACKGROUND.add(task)
        task.add_done_callback(BACKGROUND.discard)

    async def close_with(self, code: int) -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=code)

    def push(self, text: str, size: int | None = None) -> None:
        """A frame for the client, sent at once or queued; a client far behind is let go."""
        if self.closing:
            return
        self.outbox.push(text, len(text.encode()) if size is None else size)

    def too_slow(self) -> None:
        logger.warning("User %s's socket is too far behind; closing it", self.user.id)
        self.closing = True
        self.closing_task = asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))

    # --- client → server ---------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            return
        if text_data is not None:
            # A character is at most 4 bytes: only long frames need encoding to be measured.
            too_large = len(text_data) * 4 > MAX_FRAME_BYTES and len(text_data.encode()) > MAX_FRAME_BYTES
        else:
            too_large = len(bytes_data or b"") > MAX_FRAME_BYTES
        if too_large:
            await self.close_with(CLOSE_FRAME_TOO_LARGE)
            return
        frame: dict = {}
        try:
            try:
                frame = parse_frame(text_data)
                unparsable = None
            except BadRequest as error:
                unparsable = error
            # Messages and changes draw on one allowance; reading and awareness on another.
            own = frame.get("type") in OWN_ALLOWANCE_FRAMES
            wait = (self.reading_bucket if own else self.bucket).take()
            if wait:
                self.limited_in_a_row += 1
                if self.limited_in_a_row > settings.PARLEY["RATE_ABUSE_CLOSE_AFTER"]:
                    await self.close_with(CLOSE_ABUSIVE)
                    return
            else:
                self.limited_in_a_row = 0
            if unparsable is not None:
                raise unparsable
            if wait:
                # Parsed first only so the answer can name the refused message's client_id.
                raise RateLimited(wait)
            handler = self.handlers.get(frame["type"])
            if handler is None:
                raise UnknownType(f"Unknown frame type “{frame['type'][:64]}”.")
            await handler(self, frame)
        except ParleyError as error:
            if error.code == Unauthenticated.code:
                await self.end_session()
                return
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
        """Answer a refused frame, naming what it named (its type, room and client_id)."""
        extra = error.extra()
        frame_type = frame.get("type")
        if isinstance(frame_type, str) and frame_type in self.handlers:
            extra["frame"] = frame_type
        room_id = frame.get("room")
        if is_id(room_id):
            extra["room"] = room_id
            if error.code in ROOM_REFUSALS and room_id in self.streams:
                # The database says this socket has no business with the room (a lost event).
                await self.drop_room(room_id)
        if is_id(frame.get("seq")):
            extra["seq"] = frame["seq"]
        client_id = frame.get("client_id")
        if isinstance(client_id, str) and len(client_id) <= MAX_CLIENT_ID_CHARS:
            extra["client_id"] = client_id
        self.push(error_frame(error.code, error.detail, **extra))

    def recheck_due(self) -> bool:
        return time.monotonic() - self.standing_checked_at > WRITE_RECHECK_SECONDS

    async def write_hop(self, write):
        """Run a write in one database hop, re-checking the session first when due."""
        recheck = self.recheck_due()
        identity = self.identity

        def checked_write():
            if recheck and standing.invalid_identities([identity]):
                raise Unauthenticated()
            return write()

        result = await database_sync_to_async(checked_write)()
        if recheck:
            self.standing_checked_at = time.monotonic()
        return result

    async def on_message_send(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        body = require_str(frame, "body")
        client_id = require_str(frame, "client_id")
        thread_root = require_id(frame, "thread_root") if frame.get("thread_root") is not None else None
        also_in_room = require_bool(frame, "also_in_room", default=False)
        # Written with the other sockets' sends that arrive meanwhile (one transaction), with
        # the session re-check when due, as every write of this socket.
        recheck = self.recheck_due()
        posted = await send_message_async(
            author=self.user,
            room_id=room_id,
            body=body,
            client_id=client_id,
            recheck=self.identity if recheck else None,
            thread_root=thread_root,
            also_in_room=also_in_room,
        )
        if recheck:
            self.standing_checked_at = time.monotonic()
        if self.typing_in:
            awareness().typing.sent(self, (room_id, thread_root))
        if not posted.created:
            # A resend: answer it even though this socket may have shown it already.
            self.push(posted.frame)
            return
        # The sender's own copy never depends on the channel layer (the hub handed it over
        # if this socket knew the room; a room it did not know is added here); it waits its
        # turn in the room's change order and goes out once.
        message = posted.message
        await self.join_stream(room_id, message.change - 1, message.seq - 1)
        self.forward(room_id, message.change, message.seq, posted.frame)
        if posted.root is not None:
            self.forward(room_id, posted.root.change, posted.root.seq, posted.root_frame)
        if posted.refused_frame is not None:
            # Never silently: the sender hears that @room/@here went out as plain text, and why.
            self.push(posted.refused_frame)

    async def on_message_edit(self, frame: dict) -> None:
        store = functools.partial(
            changes.store_edit,
            user=self.user,
            room_id=require_id(frame, "room"),
            seq=require_id(frame, "seq"),
            body=require_str(frame, "body"),
            client_id=require_str(frame, "client_id"),
        )
        await self.change(store)

    async def on_message_delete(self, frame: dict) -> None:
        store = functools.partial(
            changes.store_delete,
            user=self.user,
            room_id=require_id(frame, "room"),
            seq=require_id(frame, "seq"),
        )
        await self.change(store)

    async def on_reaction_add(self, frame: dict, add: bool = True) -> None:
        store = functools.partial(
            changes.store_reaction,
            user=self.user,
            room_id=require_id(frame, "room"),
            seq=require_id(frame, "seq"),
            emoji_text=require_str(frame, "emoji"),
            add=add,
        )
        await self.change(store)

    async def on_reaction_remove(self, frame: dict) -> None:
        await self.on_reaction_add(frame, add=False)

    async def on_message_pin(self, frame: dict) -> None:
        pinned = require_bool(frame, "pinned", default=True)
        store = functools.partial(
            changes.store_pin,
            user=self.user,
            room_id=require_id(frame, "room"),
            seq=require_id(frame, "seq"),
            pinned=pinned,
        )
        await self.change(store)

    async def change(self, store) -> None:
        """One change of a message: stored, then out to every member in the room's order; a
        change that changed nothing is answered with the message as it is, to this socket."""
        changed = await changes.apply_change_async(store, hop=self.write_hop)
        message = changed.message
        if not changed.changed:
            self.push(changed.frame)
            return
        # As for a new message: this socket's copy never depends on the layer.
        await self.join_stream(message.room_id, message.change - 1, message.seq)
        for change, seq, text in changed.room_frames:
            self.forward(message.room_id, change, seq, text)

    async def on_sync(self, frame: dict) -> None:
        """Catch up on a room: by change position (`after_change`: every message changed since,
        as it now is) or, as clients before changes did, by seq (`after_seq`: every message
        after it, as it now is)."""
        room_id = require_id(frame, "room")
        by_change = "after_change" in frame
        if by_change and "after_seq" in frame:
            raise BadRequest("Give “after_change” or “after_seq”, not both.")
        after = require_id(frame, "after_change" if by_change else "after_seq", minimum=0)
        batch = settings.PARLEY["SYNC_BATCH_SIZE"]
        # What goes out live from here on reaches the client before this answer does; what went
        # out before the request came may be what the client is asking for again.
        before = self.streams.positions(room_id)
        read = selectors.changes_after if by_change else selectors.messages_after
        kwargs = {"after_change": after} if by_change else {"after_seq": after}
        found = await database_sync_to_async(read)(user=self.user, room_id=room_id, limit=batch + 1, **kwargs)
        if found is None:
            raise await database_sync_to_async(selectors.write_refusal)(user=self.user, room_id=room_id)
        end, messages = found
        has_more = len(messages) > batch
        messages = messages[:batch]
        # A stream this socket did not have starts at the room's end, as at connect.
        stream = await self.join_stream(room_id, end.last_change, end.last_seq)
        # Sent live while this sync was answered (by change: those positions; by seq: those new
        # messages): the client has them before the answer.
        if before is None:
            live = range(0)
        elif by_change:
            live = range(before[0] + 1, stream.delivered + 1)
        else:
            live = range(before[1] + 1, stream.seq + 1)
        render = message_updated_frame if by_change else message_new_frame
        for message in messages:
            if (message.change if by_change else message.seq) not in live:
                self.push(render(stored_message_payload(message)))
        if has_more:
            # Where the client now stands in the order it follows; the other one is not known.
            last_seq = None if by_change else messages[-1].seq
            last_change = messages[-1].change if by_change else None
        else:
            # The room's end: a claim beyond it is not believed, and a hole or a superseded
            # position below it counts as delivered.
            last_seq, last_change = end.last_seq, end.last_change
            for held in stream.advance(last_change, last_seq):
                self.push(held)
        self.push(sync_done_frame(room_id, last_seq, last_change, has_more=has_more))

    async def on_room_read(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        seq = require_id(frame, "seq", minimum=0)
        # Committed with the other sockets' reads that arrive meanwhile (one transaction), with
        # the session re-check when due, as every write of this socket.
        recheck = self.recheck_due()
        outcome = await read_queue().submit(
            ReadRequest(self.user, room_id, seq, recheck=self.identity if recheck else None)
        )
        if recheck:
            self.standing_checked_at = time.monotonic()
        stored, moved, unread = outcome.seq, outcome.moved, outcome.unread
        text = room_read_frame(room_id, stored, unread)
        self.push(text)
        # The user's other tabs clear the room's unread count too.
        await outlet.send_to_user(self.user.id, text, skip=self.name)
        if moved:
            await awareness().receipts.read_moved(room_id, self.user, stored)

    async def on_thread_read(self, frame: dict) -> None:
        state = await self.write_hop(
            functools.partial(
                threads.mark_thread_read,
                user=self.user,
                room_id=require_id(frame, "room"),
                root_seq=require_id(frame, "root"),
                seq=require_id(frame, "seq", minimum=0),
                announce=False,
            )
        )
        text = thread_read_frame(state)
        self.push(text)
        # The user's other tabs clear the thread's unread count too.
        await outlet.send_to_user(self.user.id, text, skip=self.name)

    async def on_thread_follow(self, frame: dict) -> None:
        muted = frame.get("muted")
        if muted is not None and not isinstance(muted, bool):
            raise BadRequest("“muted” must be true or false.")
        # Answered with `thread.followed`, which reaches every socket of the user, this one too.
        await self.write_hop(
            functools.partial(
                threads.follow_thread,
                user=self.user,
                room_id=require_id(frame, "room"),
                root_seq=require_id(frame, "root"),
                following=require_bool(frame, "following", default=True),
                muted=muted,
            )
        )

    async def on_threads_sync(self, frame: dict) -> None:
        user = self.user

        def read():
            return [thread_payload(follow, follow.root) for follow in selectors.followed_threads(user)]

        self.push(threads_state_frame(await database_sync_to_async(read)()))

    # --- awareness: presence, typing, read receipts (awareness/) --------------------------------

    async def on_presence_set(self, frame: dict) -> None:
        state = frame.get("state")
        if state not in STATES:
            raise BadRequest("“state” must be “active” or “away”.")
        if self.awareness is not None:
            await self.awareness.presence.set_state(self, state)

    async def on_presence_sync(self, frame: dict) -> None:
        ids = frame.get("users")
        if not isinstance(ids, list) or not all(is_id(i) for i in ids):
            raise BadRequest("“users” must be a list of user ids.")
        if len(ids) > awareness_selectors.MAX_PRESENCE_USERS:
            raise BadRequest(f"Ask for at most {awareness_selectors.MAX_PRESENCE_USERS} users at once.")
        if not settings.PARLEY["PRESENCE"]:
            self.push(presence_state_frame([], enabled=False))
            return
        ids = list(dict.fromkeys(ids))
        visible = await database_sync_to_async(awareness_selectors.visible_users)(self.user, ids)
        shown = await awareness().presence.read(list(visible))
        payloads = []
        for user_id in ids:
            user = visible.get(user_id)
            if user is None:
                # No room shared (or no such user): offline, and nothing more, as for a stranger.
                payloads.append({"id": user_id, "state": "offline", "last_active_at": None, "status": None})
            else:
                payloads.append(presence_payload(user, shown.get(user_id)))
        self.push(presence_state_frame(payloads))

    async def on_typing_start(self, frame: dict) -> None:
        conversation = await self.typing_conversation(frame)
        await awareness().typing.start(self, conversation)

    async def on_typing_stop(self, frame: dict) -> None:
        conversation = await self.typing_conversation(frame)
        await awareness().typing.stop(self, conversation)

    async def typing_conversation(self, frame: dict) -> tuple[int, int | None]:
        """The (room, thread root) a typing frame names; a room this socket does not follow is
        refused as every frame about it is (`not_found`, `not_member`)."""
        room_id = require_id(frame, "room")
        root = require_id(frame, "thread_root") if frame.get("thread_root") is not None else None
        if room_id not in self.streams:
            raise await database_sync_to_async(selectors.write_refusal)(user=self.user, room_id=room_id)
        return room_id, root

    async def on_receipts_sync(self, frame: dict) -> None:
        room_id = require_id(frame, "room")
        enabled, shared, reads = await database_sync_to_async(awareness_selectors.room_reads)(
            viewer=self.user, room_id=room_id
        )
        self.push(receipts_state_frame(room_id, reads, shared=shared, enabled=enabled))

    def ephemeral(self, kind: str, frame: str) -> None:
        """Typing, receipts, presence from the hub: straight out, outside any room's order."""
        if self.closing or self.released or not self.greeted:
            return  # before hello nothing goes out; the client asks for what it shows after it
        if kind == RECEIPTS_KIND and not self.user.share_read_state:
            return  # reciprocity: who does not share sees no one's
        self.push(frame)

    async def awareness_settings(self, event: dict) -> None:
        """The user changed status, invisibility or read sharing (any tab, any process)."""
        user = self.user
        was_invisible = user.invisible
        user.invisible = event["invisible"]
        user.share_read_state = event["share_read_state"]
        user.status_text = event["status_text"]
        user.status_emoji = event["status_emoji"]
        expires = event["status_expires_at"]
        user.status_expires_at = datetime.fromisoformat(expires) if expires else None
        if self.awareness is not None and was_invisible != user.invisible:
            await self.awareness.presence.refresh_user(user.id)

    async def on_ping(self, frame: dict) -> None:
        self.push(pong_frame())
        if time.monotonic() - self.groups_joined_at > GROUP_REFRESH_SECONDS:
            await self.join_groups()

    async def join_groups(self) -> None:
        """(Re)subscribe the process's hub to the user's own group, for this socket.

        The in-memory and core Redis layers forget a group membership after a day
        (`group_expiry`); sockets live longer than that, so pings renew it every hour (and the
        hub renews its subscriptions hourly too).
        """
        await self.hub.add_user(self.user.id, self)
        self.groups_joined_at = time.monotonic()

    @property
    def name(self) -> str:
        """This socket, among every process's: what `send_to_user(skip=…)` names."""
        return f"{self.hub.channel}#{id(self)}"

    handlers = {
        "message.send": on_message_send,
        "message.edit": on_message_edit,
        "message.delete": on_message_delete,
        "reaction.add": on_reaction_add,
        "reaction.remove": on_reaction_remove,
        "message.pin": on_message_pin,
        "sync": on_sync,
        "room.read": on_room_read,
        "thread.read": on_thread_read,
        "thread.follow": on_thread_follow,
        "threads.sync": on_threads_sync,
        "presence.set": on_presence_set,
        "presence.sync": on_presence_sync,
        "typing.start": on_typing_start,
        "typing.stop": on_typing_stop,
        "receipts.sync": on_receipts_sync,
        "ping": on_ping,
    }

    # --- ordering -----------------------------------------------------------------------------

    async def join_stream(self, room_id: int, delivered: int, seq: int) -> RoomStream:
        """The room's stream; a room this socket did not know (a missed join event) is added."""
        stream, new = self.streams.add(room_id, delivered, seq)
        if new:
            await self.hub.add(room_id, self)
        return stream

    async def drop_room(self, room_id: int, room: dict | None = None) -> None:
        """Stop receiving a room: its stream, its gap fill and its hub entry go."""
        self.streams.drop(room_id)
        await self.hub.remove(room_id, self)
        self.push(room_left_frame(room or {"id": room_id}))

    def forward(self, room_id: int, change: int, seq: int, frame: str, size: int | None = None) -> None:
        """A room's change frame from the hub (or this socket's own write), in change order."""
        if not self.closing:
            self.streams.forward(room_id, change, seq, frame, size)

    async def fetch_stored(self, room_id: int, after_change: int, up_to_change: int, limit: int):
        """What a gap fill needs: the messages whose latest change lies in (after_change,
        up_to_change], as (change, seq, payload)."""
        found = await database_sync_to_async(selectors.changes_after)(
            user=self.user, room_id=room_id, after_change=after_change, limit=limit, up_to_change=up_to_change
        )
        if found is None:
            return None
        return [(m.change, m.seq, stored_message_payload(m)) for m in found[1]]

    # --- channel layer → client ---------------------------------------------------------------

    async def chat_frame(self, event: dict) -> None:
        """A frame for this user (a notification, a read room), serialised once by its sender."""
        if event.get("skip") != self.name:
            self.push(event["text"])

    async def session_ended(self, event: dict) -> None:
        """The user logged out of the session this socket was opened with."""
        if self.identity is not None and self.identity.session_key == event["session_key"]:
            await self.end_session()

    async def sockets_recheck(self, event: dict) -> None:
        """The account changed (deactivated, new password): is this socket's session still good?"""
        invalid = await database_sync_to_async(standing.invalid_identities)([self.identity])
        self.standing_checked_at = time.monotonic()
        if invalid:
            await self.end_session()

    async def end_session(self) -> None:
        await self.close_with(CLOSE_UNAUTHENTICATED)

    async def membership_changed(self, event: dict) -> None:
        room = event["room"]
        if event["is_member"]:
            await self.join_stream(room["id"], room["last_change"], room["last_seq"])
            self.push(room_joined_frame(room))
        elif room["id"] in self.streams:
            await self.drop_room(room["id"], room)


def forget_handshake(scope) -> None:
    """An open socket needs nothing more of its handshake's headers and cookies: emptied in
    place, since the scope's list and dict are shared by every middleware's copy of it (and
    each socket would keep them for as long as it stays open)."""
    headers = scope.get("headers")
    if isinstance(headers, list):
        headers.clear()
    cookies = scope.get("cookies")
    if isinstance(cookies, dict):
        cookies.clear()


def websocket_send_of(send):
    """The ASGI server's own send beneath Channels' session wrapper, which only reads the session
    for a `websocket.send` (it saves sessions on `http.response.start`), at each frame."""
    wrapper = getattr(send, "__self__", None)
    return wrapper.real_send if isinstance(wrapper, InstanceSessionWrapper) else send


def stored_frame(payload: dict, is_new: bool) -> str:
    """A stored message's frame for a gap fill: new to the client, or an update of one it has."""
    return message_new_frame(payload) if is_new else message_updated_frame(payload)


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


def is_id(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= MAX_ID


def require_id(frame: dict, key: str, *, minimum: int = 1) -> int:
    value = frame.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_ID:
        raise BadRequest(f"“{key}” must be a whole number of at least {minimum}.")
    return value


def require_bool(frame: dict, key: str, *, default: bool) -> bool:
    value = frame.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"“{key}” must be true or false.")
    return value


def require_str(frame: dict, key: str) -> str:
    value = frame.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"“{key}” must be a string.")
    return value
