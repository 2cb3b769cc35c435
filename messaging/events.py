"""Channel-layer group names and the membership events that keep open sockets' groups current."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import ChatRoom
from .serializers import ROOM_READ, dumps, message_new_frame, message_payload, room_payload

logger = logging.getLogger(__name__)


def room_group_name(room_id: int) -> str:
    return f"room_{room_id}"


def user_group_name(user_id: int) -> str:
    return f"user_{user_id}"


def membership_changed_on_commit(*, user_id: int, room: ChatRoom, is_member: bool) -> None:
    """After commit, tell the user's open sockets to join or leave the room's group."""

    def publish() -> None:
        # The change is committed either way; a socket that misses the event heals on its next
        # sync or connect.
        try:
            # Read after commit: the socket's stream starts from the room's current seq.
            current = ChatRoom.objects.filter(pk=room.id).first() or room
            room_info = room_payload(current)
            event = {"type": "membership.changed", "room": room_info, "is_member": is_member}
            async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)
        except Exception:
            logger.exception("Could not tell user %s's sockets about room %s", user_id, room.id)

    transaction.on_commit(publish)


def room_read_on_commit(*, user_id: int, room_id: int, seq: int) -> None:
    """After commit, every open tab of the user clears the room's unread count."""
    frame = dumps({"type": ROOM_READ, "room": room_id, "seq": seq})
    transaction.on_commit(lambda: send_frame_to_user(user_id, frame))


def send_frame_to_user(user_id: int, frame: str) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(
            user_group_name(user_id), {"type": "chat.frame", "text": frame}
        )
    except Exception:
        logger.exception("Could not send a frame to user %s's sockets", user_id)


def send_message_to_room(posted) -> None:
    """Hand a stored message to every member socket, through every process's room hub."""
    frame = message_new_frame(message_payload(posted.message, posted.mentions))
    event = {"type": "room.message", "room": posted.message.room_id, "seq": posted.message.seq, "text": frame}
    try:
        async_to_sync(get_channel_layer().group_send)(room_group_name(posted.message.room_id), event)
    except Exception:
        # Stored: the members' sockets fetch it when they notice the gap, clients on their next sync.
        logger.exception("Broadcast of message %s failed", posted.message.id)


def notify_mentioned(posted) -> None:
    """The mention step of a message stored outside the socket; failures never reach the sender."""
    if not posted.mentioned_user_ids:
        return
    from notifications.notifier import hand_off

    try:
        hand_off([posted.message.id])
    except Exception:
        # Pending in the database: a server's notifier takes it up on its next scan.
        logger.exception("Notifying mentions of message %s failed", posted.message.id)
