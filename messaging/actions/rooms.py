"""Rooms: creating one, joining a public one, leaving."""

from django.db import transaction
from django.utils.text import slugify

from ..errors import BadRequest, NotMember
from ..models import ChatRoom, Membership
from ..selectors import access_room
from .memberships import add_membership, announce_membership


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "room"
    slug, n = base, 1
    while ChatRoom.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def create_room(*, creator, name: str, description: str = "", is_private: bool = False) -> ChatRoom:
    name = name.strip()
    if not name:
        raise BadRequest("A room needs a name.")
    with transaction.atomic():
        room = ChatRoom.objects.create(
            name=name,
            slug=_unique_slug(name),
            description=description.strip(),
            is_private=is_private,
            created_by=creator,
        )
        Membership.objects.create(user=creator, room=room, role=Membership.Role.OWNER)
        announce_membership(user_id=creator.id, room=room, is_member=True)
    return room


def join_room(*, user, room: ChatRoom) -> Membership:
    """A user joins a public room themselves; private rooms are joined by being added."""
    room, membership = access_room(user=user, room_id=room.pk)
    if membership is not None:
        return membership
    if room.is_archived:
        raise BadRequest("This room is archived.")
    return add_membership(user=user, room=room, role=Membership.Role.MEMBER)


def leave_room(*, user, room: ChatRoom) -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user, room=room).first()
        if membership is None:
            raise NotMember()
        if membership.role == Membership.Role.OWNER and not (
            Membership.objects.filter(room=room, role=Membership.Role.OWNER)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise BadRequest("You are the room's only owner; it cannot be left without one.")
        membership.delete()
        announce_membership(user_id=user.id, room=room, is_member=False)
