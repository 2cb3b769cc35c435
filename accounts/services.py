"""Account actions with effects beyond the request: ending a session's open sockets."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from messaging.events import user_group_name

logger = logging.getLogger(__name__)


def end_session_sockets(*, user_id: int, session_key: str) -> None:
    """Close the sockets opened with this session (close code 4401); other sessions keep theirs."""
    try:
        async_to_sync(get_channel_layer().group_send)(
            user_group_name(user_id), {"type": "session.ended", "session_key": session_key}
        )
    except Exception:
        # The session is gone from the database either way: those sockets can do nothing more.
        logger.exception("Could not close the sockets of a logged-out session of user %s", user_id)
