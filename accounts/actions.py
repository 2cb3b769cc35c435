"""Account actions with effects beyond the request: ending or re-checking open sockets."""

from messaging.realtime import outlet


def end_session_sockets(*, user_id: int, session_key: str) -> None:
    """Close the sockets opened with this session (close code 4401); other sessions keep theirs."""
    outlet.signal_user_sync(user_id, outlet.SESSION_ENDED_EVENT, session_key=session_key)


def recheck_user_sockets(*, user_id: int) -> None:
    """The account changed (deactivated, password set): every open socket of the user re-checks
    its session at once and closes (4401) if it no longer holds. A lost event is made good by
    the sockets' periodic audit (messaging/realtime/hub.py, AUDIT_SECONDS)."""
    outlet.signal_user_sync(user_id, outlet.RECHECK_EVENT)
