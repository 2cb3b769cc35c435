"""Channel-layer group names and the membership events that keep open sockets' groups current."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import ChatRoom

logger = logging.getLogger(__name__)


def room_group_name(room_id: int) -> str:
    return f"room_{room_id}"


def user_group_name(user_id: int) -> str:
    return f"user_{user_id}"


def membership_changed_on_commit(*, user_id: int, room: ChatRoom, is_member: bool) -> None:
    """After commit, tell the user's open sockets to join or leave the room's group."""

    def publish() -> None:
        # Read after commit: the socket's stream starts from the room's current seq.
        last_seq = ChatRoom.objects.filter(pk=room.id).values_list("last_seq", flat=True).first() or 0
        room_info = {"id": room.id, "name": room.name, "slug": room.slug, "last_seq": last_seq}
        publish_to_user(user_id, {"type": "membership.changed", "room": room_info, "is_member": is_member})

    transaction.on_commit(publish)


def publish_to_user(user_id: int, event: dict) -> None:
    # The change is committed either way; a socket that misses the event picks the room up on
    # its next connect.
    try:
        async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)
    except Exception:
        logger.exception("Could not publish %s to user %s", event["type"], user_id)
