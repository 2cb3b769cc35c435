"""Who is in a room: adding and removing members (by managers and the admin), and each
member's read pointer."""

import sys
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Subquery, Value
from django.db.models.functions import Least
from django.utils import timezone

from awareness.realtime import publish_read_on_commit
from notifications.models import Notification
from notifications.selectors import unread_count
from notifications.serializers import notification_read_frame

from ..errors import BadRequest, NotMember, ParleyError, PermissionDenied, Unauthenticated
from ..models import ChatRoom, Membership
from ..realtime import outlet, standing
from ..realtime.standing import SocketIdentity
from ..selectors import access_room, direct_titles, room_unread, write_refusal
from ..serializers import room_payload, room_read_frame
from .group_commit import PerLoop

User = get_user_model()


def refuse_direct(room: ChatRoom, refused: str) -> None:
    """A direct conversation's members are its participants, for good: every change of who is in
    it (or of its rules) is refused, whoever asks (the pages, the socket, the admin)."""
    if room.is_direct:
        raise PermissionDenied(
            f"{refused} A direct conversation's people never change; to add someone, start a new "
            "conversation with everyone."
        )


def access_managed_room(*, user, room_id: int, refused: str) -> ChatRoom:
    """`access_room(manager=True)`, saying first, to anyone in a direct conversation, why it is
    not managed (nobody manages one)."""
    room, membership = access_room(user=user, room_id=room_id, member=True)
    refuse_direct(room, refused)
    if not membership.can_manage:
        raise PermissionDenied("Only the room's owner and admins can manage its members.")
    return room


def add_member(*, actor, room: ChatRoom, username: str) -> Membership:
    """A room owner or admin adds someone by username."""
    room = access_managed_room(
        user=actor, room_id=room.pk, refused="Nobody can be added to a direct conversation."
    )
    user = User.objects.filter(folded_username=username.strip().casefold(), is_active=True).first()
    if user is None:
        raise BadRequest(f"There is no user called “{username.strip()}”.")
    return add_membership(user=user, room=room, role=Membership.Role.MEMBER)


def add_membership(*, user, room: ChatRoom, role: str) -> Membership:
    """Make `user` a member (no-op if they are one); their open sockets join the room."""
    refuse_direct(room, "Nobody can be added to a direct conversation.")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(user=user, room=room, defaults={"role": role})
        if created:
            announce_membership(user_id=user.id, room=room, is_member=True)
    return membership


def end_membership(*, membership: Membership) -> None:
    """Remove a membership as it stands (the admin's delete); the user's open sockets leave."""
    refuse_direct(membership.room, "Nobody can be removed from a direct conversation.")
    with transaction.atomic():
        Membership.objects.filter(pk=membership.pk).delete()
        announce_membership(user_id=membership.user_id, room=membership.room, is_member=False)


def announce_membership(*, user_id: int, room: ChatRoom, is_member: bool) -> None:
    """After commit, the user's open sockets join or leave the room (`room.joined`/`room.left`)."""

    def fields() -> dict:
        # Read after commit: a joining socket's stream starts from the room's current seq.
        current = ChatRoom.objects.filter(pk=room.pk).first() or room
        payload = room_payload(current)
        # The sidebar puts a direct conversation in its own section, named by the other people.
        payload["kind"] = current.kind
        if current.is_direct and is_member:
            payload["name"] = direct_titles(user_id=user_id, room_ids=[current.pk]).get(
                current.pk, current.name
            )
        return {"room": payload, "is_member": is_member}

    outlet.signal_user_on_commit(user_id, outlet.MEMBERSHIP_EVENT, fields)


def remove_member(*, actor, room: ChatRoom, user) -> None:
    """A room owner or admin removes a member; owners are not removed this way."""
    room = access_managed_room(
        user=actor, room_id=room.pk, refused="Nobody can be removed from a direct conversation."
    )
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user, room=room).first()
        if membership is None:
            raise NotMember(f"{user.username} is not a member of this room.")
        if membership.role == Membership.Role.OWNER:
            raise PermissionDenied("The room's owner cannot be removed.")
        membership.delete()
        announce_membership(user_id=user.id, room=room, is_member=False)


def mark_room_read(*, user, room_id: int, seq: int, announce: bool = True) -> int:
    """Move the member's read pointer forward to `seq` (never back, never past the room's end).

    Returns the pointer now stored; raises NotMember/NotFound when the user is not a member.
    With `announce`, the user's open tabs hear of it, and, if it moved, the room's read receipts
    (the socket does both itself, in its event loop: `move_read_pointer`).
    """
    stored, moved, _ = move_read_pointer(user=user, room_id=room_id, seq=seq)
    if announce:
        outlet.send_to_user_on_commit(
            user.id, room_read_frame(room_id, stored, room_unread(user=user, room_id=room_id))
        )
        if moved:
            publish_read_on_commit(room_id, user, stored)
    return stored


@dataclass(frozen=True)
class ReadRequest:
    user: Any
    room_id: int
    seq: int
    # The reading socket's identity when its session is due for a re-check (as a send's).
    recheck: SocketIdentity | None = None


@dataclass(frozen=True)
class ReadOutcome:
    seq: int  # the pointer now stored
    moved: bool
    unread: int


def move_read_pointers(requests: list[ReadRequest]) -> list[ReadOutcome | ParleyError]:
    """Group commit of read pointers: the reads that arrive together from a process's sockets,
    in one transaction (one commit, where each alone was one: a room of 100 reading live is a
    hundred durable commits a second on the thread the sends use). Each request is answered
    for itself: its outcome, or its refusal."""
    ended = standing.invalid_identities(r.recheck for r in requests if r.recheck is not None)
    outcomes: list[ReadOutcome | ParleyError] = []
    with transaction.atomic():
        for request in requests:
            if request.recheck is not None and request.recheck in ended:
                outcomes.append(Unauthenticated())
                continue
            try:
                stored, moved, at_end = move_read_pointer(
                    user=request.user, room_id=request.room_id, seq=request.seq
                )
            except ParleyError as refusal:  # read-only so far: the transaction goes on
                outcomes.append(refusal)
                continue
            # Read to the end (the common case): nothing is unread, no count needed.
            unread = 0 if at_end else room_unread(user=request.user, room_id=request.room_id)
            outcomes.append(ReadOutcome(stored, moved, unread))
    return outcomes


MAX_READ_BATCH = 500
# This process's group commit of read pointers (messaging/actions/group_commit.py), as sends'.
read_queue = PerLoop(sys.modules[__name__], "move_read_pointers", max_batch=MAX_READ_BATCH)


def move_read_pointer(*, user, room_id: int, seq: int) -> tuple[int, bool, bool]:
    """The read pointer's move, announcing nothing: (the pointer now stored, whether it moved,
    whether it is at the room's end: then nothing is unread, and the caller needs no count).
    Two queries either way; raises NotMember/NotFound when the user is not a member."""
    target = Least(Value(seq), Subquery(ChatRoom.objects.filter(pk=room_id).values("last_seq")[:1]))
    mine = Membership.objects.filter(user=user, room_id=room_id)
    moved = bool(mine.filter(last_read_seq__lt=target).update(last_read_seq=target))
    found = mine.values_list("last_read_seq", "room__last_seq", "room__kind").first()
    if found is None:
        raise write_refusal(user=user, room_id=room_id)
    stored, room_end, kind = found
    if moved and kind == ChatRoom.Kind.DIRECT:
        read_direct_notifications(user=user, room_id=room_id, seq=stored)
    return stored, moved, stored >= room_end


def read_direct_notifications(*, user, room_id: int, seq: int) -> None:
    """Every message of a direct conversation is a notification for its other participants:
    reading the conversation up to `seq` reads those of its messages up to there (and the user's
    open tabs hear of it, `notification.read`, after commit)."""
    unread = Notification.objects.filter(
        recipient=user,
        room_id=room_id,
        kind=Notification.Kind.DIRECT,
        read_at__isnull=True,
        message__seq__lte=seq,
    )
    ids = list(unread.values_list("pk", flat=True))
    if ids:
        Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
        outlet.send_to_user_on_commit(user.id, notification_read_frame(ids, unread_count(user)))
