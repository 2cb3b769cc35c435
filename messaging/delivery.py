"""After a message is committed: broadcast it, then (never before) notify the mentioned."""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from notifications import services as notification_services
from notifications.serializers import notification_new_frame

from .events import user_group_name
from .fanout import room_hub
from .services import PostedMessage

logger = logging.getLogger(__name__)

# Strong references to running notification steps, so the event loop does not drop them.
_notification_tasks: set[asyncio.Task] = set()


async def broadcast_message(*, room_id: int, seq: int, frame: str, sender=None) -> None:
    """Hand one serialised `message.new` frame to every member socket of the room.

    This process's sockets get it from its hub directly (`sender`, already answered, is
    skipped); the channel layer carries it to the other processes' hubs. Raises if the layer
    is unreachable; the message is stored regardless and members fill the gap from the database.
    """
    hub = room_hub()
    hub.deliver(room_id, seq, frame, skip=sender)
    await hub.publish(room_id, seq, frame)


def start_notification_step(posted: PostedMessage) -> None:
    """Run the mention → notification step in the background, after delivery.

    Also for a resend: the first attempt may have been stored and then lost its step (the
    process died); the step only creates the notifications that do not exist yet.
    """
    if not posted.mentioned_user_ids:
        return
    task = asyncio.create_task(notify_mentioned(posted))
    _notification_tasks.add(task)
    task.add_done_callback(_notification_tasks.discard)


async def notify_mentioned(posted: PostedMessage) -> None:
    try:
        notifications = await database_sync_to_async(notification_services.notify_mentions)(
            message=posted.message, recipient_ids=posted.mentioned_user_ids, may_exist=not posted.created
        )
        layer = get_channel_layer()
        for notification in notifications:
            await layer.group_send(
                user_group_name(notification.recipient_id),
                {"type": "chat.frame", "text": notification_new_frame(notification, posted.mentions)},
            )
    except Exception:
        # Whatever fails here, the message was delivered already.
        logger.exception("Notifying mentions of message %s failed", posted.message.id)


async def wait_for_notification_steps() -> None:
    """For tests and shutdown: let the running notification steps finish."""
    while _notification_tasks:
        await asyncio.gather(*list(_notification_tasks), return_exceptions=True)
