"""Direct conversations: starting one with a set of people, or opening the one they already have.

A direct conversation is a private room (`ChatRoom.kind` "direct") whose members are its
participants, keyed by their sorted ids (`direct_key`, unique), so one set of people has one
conversation: starting it again opens the same room. Its members never change (the membership
actions refuse it); adding someone starts a new conversation with the new set, and the history
stays with the old one, as in Slack.
"""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from ..errors import BadRequest, NoSuchUser, TooManyPeople, UserInactive
from ..models import ChatRoom, Membership
from .memberships import announce_membership

User = get_user_model()

# ChatRoom.name's length: the stored name is only what the admin and logs show; each participant
# sees the conversation named by the others (selectors.direct_titles).
NAME_LENGTH = 80


@dataclass(frozen=True)
class DirectStart:
    room: ChatRoom
    created: bool


def direct_key(user_ids: Iterable[int]) -> str:
    return "-".join(str(user_id) for user_id in sorted(set(user_ids)))


def start_direct(*, starter, usernames: Iterable[str]) -> DirectStart:
    """The direct conversation of `starter` with the people named (usernames, any case): the one
    they have, or a new one. Every name must be an active user; the starter's own name may be
    among them (it counts once). At most DM_MAX_PEOPLE people, the starter included.

    A new conversation's participants' open sockets join it after commit (`room.joined`), so it
    appears in their sidebars at once.
    """
    wanted = list(dict.fromkeys(name.strip().casefold() for name in usernames if name and name.strip()))
    if not wanted:
        raise BadRequest("Choose at least one person to write to.")
    limit = settings.PARLEY["DM_MAX_PEOPLE"]
    others = set(wanted) - {starter.folded_username}
    if len(others) >= limit:  # before the query: a list of a thousand names is refused at once
        raise TooManyPeople(f"A direct conversation has at most {limit} people, you included.")
    found = {user.folded_username: user for user in User.objects.filter(folded_username__in=wanted)}
    for name in wanted:
        user = found.get(name)
        if user is None:
            raise NoSuchUser(f"There is no user called “{name}”.")
        if not user.is_active:
            raise UserInactive(f"{user.shown_name}'s account is deactivated; it takes no direct messages.")
    people = {starter.pk: starter, **{user.pk: user for user in found.values()}}
    if len(people) < 2:
        raise BadRequest("Choose at least one other person to write to.")
    if len(people) > limit:
        raise TooManyPeople(f"A direct conversation has at most {limit} people, you included.")
    key = direct_key(people)
    existing = ChatRoom.objects.filter(direct_key=key).first()
    if existing is not None:
        return DirectStart(existing, created=False)
    try:
        with transaction.atomic():
            room = _create(starter=starter, people=list(people.values()), key=key)
    except IntegrityError:
        # Started by someone else of the set at the same moment: theirs is the one.
        return DirectStart(ChatRoom.objects.get(direct_key=key), created=False)
    return DirectStart(room, created=True)


def _create(*, starter, people: list, key: str) -> ChatRoom:
    names = ", ".join(sorted(person.shown_name for person in people))
    room = ChatRoom.objects.create(
        kind=ChatRoom.Kind.DIRECT,
        direct_key=key,
        is_private=True,
        # Not made of the people's names or ids: a link to the conversation says nothing of who is in it.
        slug=f"dm-{secrets.token_hex(8)}",
        name=names[:NAME_LENGTH],
        created_by=starter,
    )
    Membership.objects.bulk_create(
        [Membership(user=person, room=room, role=Membership.Role.MEMBER) for person in people]
    )
    for person in people:
        announce_membership(user_id=person.pk, room=room, is_member=True)
    return room
