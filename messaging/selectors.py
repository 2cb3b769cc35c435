"""Reads of rooms and messages, with the joins each needs, for views and the consumer."""

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet

from .errors import BadRequest, NotFound, NotMember, ParleyError, PermissionDenied, Unauthenticated
from .models import ChatMessage, ChatRoom, Membership

User = get_user_model()


def member_room_seqs(user) -> dict[int, int]:
    """The user's rooms, each with the seq of its newest message."""
    return dict(Membership.objects.filter(user=user).values_list("room_id", "room__last_seq"))


def rooms_for(user) -> QuerySet[ChatRoom]:
    """The rooms the user is a member of, by name, each with `unread`: messages not yet seen."""
    return (
        ChatRoom.objects.filter(memberships__user=user)
        .annotate(unread=F("last_seq") - F("memberships__last_read_seq"))
        .order_by("name")
    )


def joinable_rooms(user) -> QuerySet[ChatRoom]:
    """Public, unarchived rooms the user is not in yet."""
    return (
        ChatRoom.objects.filter(is_private=False, archived_at__isnull=True)
        .exclude(memberships__user=user)
        .order_by("name")
    )


def access_room(
    *,
    user,
    room_id: int | None = None,
    slug: str | None = None,
    member: bool = False,
    manager: bool = False,
) -> tuple[ChatRoom, Membership | None]:
    """The one access rule, for pages, the socket, the API, search and files alike.

    The room (by id or slug) and the user's membership (None for a reader of a public room).
    A private room the user is not in raises NotFound, the same as a room that does not exist,
    so its existence cannot be probed. With `member`, a non-member of a public room raises
    NotMember; with `manager`, a member who is neither owner nor admin raises PermissionDenied.
    Two queries at most.
    """
    rooms = ChatRoom.objects.filter(pk=room_id) if room_id is not None else ChatRoom.objects.filter(slug=slug)
    room = rooms.first()
    membership = Membership.objects.filter(room=room, user=user).first() if room is not None else None
    if room is None or (room.is_private and membership is None):
        raise NotFound()
    if membership is None and (member or manager):
        raise NotMember()
    if manager and not membership.can_manage:
        raise PermissionDenied("Only the room's owner and admins can manage its members.")
    return room, membership


def write_refusal(*, user, room_id: int) -> Exception:
    """Why the user's write to the room was refused (the write itself found it was not allowed)."""
    if not User.objects.filter(pk=user.pk, is_active=True).exists():
        return Unauthenticated()
    try:
        room, _ = access_room(user=user, room_id=room_id, member=True)
    except ParleyError as error:
        return error
    if room.is_archived:
        return BadRequest("This room is archived; it takes no new messages.")
    return NotMember()  # it changed in between; as good as any


def _messages_with_people() -> QuerySet[ChatMessage]:
    return ChatMessage.objects.select_related("author").prefetch_related("mentioned_users")


def room_history(room: ChatRoom, *, before_seq: int | None = None, limit: int = 50) -> list[ChatMessage]:
    """The `limit` messages before `before_seq` (the newest when None), oldest first."""
    messages = _messages_with_people().filter(room=room)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return list(reversed(messages.order_by("-seq")[:limit]))


def messages_after(
    *, user, room_id: int, after_seq: int, limit: int, up_to_seq: int | None = None
) -> tuple[int, list[ChatMessage]] | None:
    """The room's last seq and its messages after `after_seq`, in order, for a member.

    None when the user is not a member: membership is read from the database on every call,
    so a member removed a moment ago reads nothing more.
    """
    room_last_seq = (
        Membership.objects.filter(room_id=room_id, user=user).values_list("room__last_seq", flat=True).first()
    )
    if room_last_seq is None:
        return None
    if after_seq >= room_last_seq:
        return room_last_seq, []
    messages = _messages_with_people().filter(room_id=room_id, seq__gt=after_seq)
    if up_to_seq is not None:
        messages = messages.filter(seq__lte=up_to_seq)
    return room_last_seq, list(messages.order_by("seq")[:limit])


def room_members(room: ChatRoom) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")
