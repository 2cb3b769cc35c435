"""Data for the group-mention and notify-effect tests: big rooms made in bulk, direct
conversations made directly (messaging/actions/direct.py is another branch's), and what a live
server made (`server.call("tests.group_data:notified", room=…)`). Imports of the project's modules
stay inside the functions: a live server's harness sets Django up before calling them."""

from __future__ import annotations

PASSWORD = "parley-demo"


def room_of(owner, usernames: list[str], *, name: str = "big room"):
    """A room owned by `owner` with a member per username (made in bulk, no passwords to hash)."""
    from django.contrib.auth import get_user_model
    from django.utils.text import slugify

    from messaging.actions.rooms import create_room
    from messaging.models import Membership

    users = get_user_model().objects
    users.bulk_create([get_user_model()(username=u, folded_username=u.casefold()) for u in usernames])
    room = create_room(creator=owner, name=name)
    people = users.filter(username__in=usernames)
    Membership.objects.bulk_create([Membership(user=person, room=room) for person in people])
    assert room.slug == slugify(name)
    return room


def direct_conversation(*people):
    """A direct conversation of these people, as messaging/actions/direct.py makes one."""
    from messaging.models import ChatRoom, Membership

    key = "-".join(str(pk) for pk in sorted(person.pk for person in people))
    room = ChatRoom.objects.create(
        kind=ChatRoom.Kind.DIRECT,
        is_private=True,
        direct_key=key,
        name=", ".join(sorted(person.username for person in people)),
        slug=f"dm-{key}",
        created_by=people[0],
    )
    Membership.objects.bulk_create([Membership(user=person, room=room) for person in people])
    return room


def notified(room: int) -> dict[str, str]:
    """The newest message of the room's notifications: recipient username → kind."""
    from messaging.models import ChatMessage
    from notifications.models import Notification

    message = ChatMessage.objects.filter(room_id=room).order_by("-seq").first()
    if message is None:
        return {}
    return dict(Notification.objects.filter(message=message).values_list("recipient__username", "kind"))


def make_users(usernames: list[str]) -> None:
    """People who can log in to a live server (password ``parley-demo``)."""
    from django.contrib.auth import get_user_model

    for username in usernames:
        get_user_model().objects.create_user(
            username=username, password=PASSWORD, display_name=username.title()
        )


def crowd_room(name: str, owner: str, members: int) -> int:
    """A room owned by `owner` with `members` more people (made in bulk); its id."""
    from django.contrib.auth import get_user_model

    room = room_of(
        get_user_model().objects.get(username=owner), [f"{name}-{i}" for i in range(members)], name=name
    )
    return room.id


def set_group_mentions_by(slug: str, rule: str) -> None:
    from messaging.models import ChatRoom

    ChatRoom.objects.filter(slug=slug).update(group_mentions_by=rule)
