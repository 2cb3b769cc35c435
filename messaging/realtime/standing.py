"""Is an open socket still entitled to what it receives? Its session, its user, its rooms.

A socket is authenticated once, at its handshake; what happens later (log-out, a password
change, deactivation, removal from a room) reaches it as an event, and an event can be lost.
These reads re-check from the database: for one socket before it writes, and for all the
sockets of a process at once in the room hub's periodic audit.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from ..models import ChatRoom, Membership

DATABASE_SESSION_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}


@dataclass(frozen=True)
class SocketIdentity:
    """Who a socket was opened as: the user and the session (with its password hash)."""

    user_id: int
    session_key: str
    auth_hash: str

    @classmethod
    def from_scope(cls, scope) -> "SocketIdentity":
        session = scope.get("session")
        user = scope["user"]
        return cls(
            user_id=user.pk,
            session_key=(session.session_key if session is not None else "") or "",
            auth_hash=(session.get(HASH_SESSION_KEY, "") if session is not None else "") or "",
        )


def invalid_identities(identities: Iterable[SocketIdentity]) -> set[SocketIdentity]:
    """Those whose session is gone or expired, whose user is inactive or gone, or whose
    password changed since the session logged in: two queries for any number of sockets."""
    identities = set(identities)
    if not identities:
        return set()
    users = {
        user.pk: user
        for user in get_user_model()
        .objects.filter(pk__in={i.user_id for i in identities}, is_active=True)
        .only("id", "password", "is_active")
    }
    live_sessions = _live_session_keys({i.session_key for i in identities if i.session_key})
    invalid = set()
    for identity in identities:
        user = users.get(identity.user_id)
        if user is None or identity.session_key not in live_sessions or not _hash_matches(user, identity):
            invalid.add(identity)
    return invalid


def _hash_matches(user, identity: SocketIdentity) -> bool:
    # As django.contrib.auth.get_user: the current key or a fallback key signed the hash.
    if constant_time_compare(identity.auth_hash, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(identity.auth_hash, user._get_session_auth_hash(secret=secret))
        for secret in settings.SECRET_KEY_FALLBACKS
    )


def _live_session_keys(keys: set[str]) -> set[str]:
    if not keys:
        return set()
    if settings.SESSION_ENGINE in DATABASE_SESSION_ENGINES:
        return set(
            Session.objects.filter(session_key__in=keys, expire_date__gt=timezone.now()).values_list(
                "session_key", flat=True
            )
        )
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return {key for key in keys if store(session_key=key).get(SESSION_KEY) is not None}


def lost_rooms(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of these (user_id, room_id) pairs, the ones that are no longer memberships: one query."""
    pairs = set(pairs)
    if not pairs:
        return set()
    kept = set(
        Membership.objects.filter(
            user_id__in={user_id for user_id, _ in pairs}, room_id__in={room_id for _, room_id in pairs}
        ).values_list("user_id", "room_id")
    )
    return pairs - kept


def room_ends(room_ids: Iterable[int]) -> dict[int, int]:
    """The newest change position of each of these rooms: one query."""
    room_ids = set(room_ids)
    if not room_ids:
        return {}
    return dict(ChatRoom.objects.filter(pk__in=room_ids).values_list("id", "last_change"))
