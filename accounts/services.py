"""Account actions with effects beyond the request: ending or re-checking open sockets."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from messaging.events import user_group_name

logger = logging.getLogger(__name__)


def end_session_sockets(*, user_id: int, session_key: str) -> None:
    """Close the sockets opened with this session (close code 4401); other sessions keep theirs."""
    _send_to_user_sockets(user_id, {"type": "session.ended", "session_key": session_key})


def recheck_user_sockets(*, user_id: int) -> None:
    """The account changed (deactivated, password set): every open socket of the user re-checks
    its session at once and closes (4401) if it no longer holds."""
    _send_to_user_sockets(user_id, {"type": "sockets.recheck"})


def _send_to_user_sockets(user_id: int, event: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)
    except Exception:
        # The sockets' periodic audit closes them anyway (messaging/fanout.py, AUDIT_SECONDS).
        logger.exception("Could not reach the open sockets of user %s", user_id)
