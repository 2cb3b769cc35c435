"""Rooms: creating one, joining a public one, leaving, and the rules its managers set."""

from django.db import transaction
from django.utils.text import slugify

from ..errors import BadRequest, NotMember
from ..models import ChatRoom, Membership
from ..selectors import access_room
from .memberships import access_managed_room, add_membership, announce_membership, refuse_direct


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
    refuse_direct(room, "A direct conversation is not joined.")
    if membership is not None:
        return membership
    if room.is_archived:
        raise BadRequest("This room is archived.")
    return add_membership(user=user, room=room, role=Membership.Role.MEMBER)


def leave_room(*, user, room: ChatRoom) -> None:
    refuse_direct(room, "A direct conversation cannot be left.")
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


# The longest edit or delete window a room may set: a year. Past that "no limit" (0) says it.
MAX_WINDOW_MINUTES = 365 * 24 * 60
POLICY_FIELDS = (
    "edit_window_minutes",
    "delete_window_minutes",
    "history_visible_to",
    "pins_by",
    "group_mentions_by",
)


def update_room_policy(*, actor, room: ChatRoom, **fields) -> ChatRoom:
    """A room's owner or admin sets its rules for changing messages: the edit and delete windows
    (None: the site's default; 0: no limit), who sees earlier versions ("": the site's default)
    and who pins. Fields not given keep their value.

    Only these columns are written (an UPDATE of them alone), so the room's positions, bumped
    concurrently under its row lock by new messages and changes, are never overwritten. The
    changes read the policy inside their own transaction: the next one obeys the new rules.
    """
    room = access_managed_room(
        user=actor, room_id=room.pk, refused="A direct conversation has no settings to change."
    )
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise BadRequest(f"Not a room setting: {', '.join(sorted(unknown))}.")
    for name in ("edit_window_minutes", "delete_window_minutes"):
        if name in fields:
            minutes = fields[name]
            whole = isinstance(minutes, int) and not isinstance(minutes, bool)
            if minutes is not None and not (whole and 0 <= minutes <= MAX_WINDOW_MINUTES):
                raise BadRequest(f"A time limit is a whole number of minutes from 0 to {MAX_WINDOW_MINUTES}.")
    if fields.get("history_visible_to", "") not in ("", *ChatRoom.Audience.values):
        raise BadRequest("Earlier versions are shown to members or to managers.")
    if "pins_by" in fields and fields["pins_by"] not in ChatRoom.Audience.values:
        raise BadRequest("Messages are pinned by members or by managers.")
    if fields.get("group_mentions_by", "") not in ("", *ChatRoom.Audience.values):
        raise BadRequest("@room and @here are for members or for managers.")
    if fields:
        ChatRoom.objects.filter(pk=room.pk).update(**fields)
    room.refresh_from_db()
    return room
