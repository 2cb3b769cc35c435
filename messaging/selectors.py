"""Reads of rooms and messages, with the joins each needs, for views and the consumer."""

from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from .errors import (
    BadRequest,
    NoSuchMessage,
    NotFound,
    NotMember,
    ParleyError,
    PermissionDenied,
    ThreadDepth,
    Unauthenticated,
)
from .models import ChatMessage, ChatRoom, Membership, Reaction, ThreadFollow

User = get_user_model()


def member_room_positions(user) -> dict[int, tuple[int, int]]:
    """The user's rooms, each with the seq of its newest message and its newest change."""
    rows = Membership.objects.filter(user=user).values_list("room_id", "room__last_seq", "room__last_change")
    return {room_id: (last_seq, last_change) for room_id, last_seq, last_change in rows}


class SidebarRooms(QuerySet):
    """The user's rooms and direct conversations (all of them, when iterated), and each part. As
    lazy as any queryset; once read, each room has `muted`, `people` and `title` (see rooms_for),
    the direct conversations' people read in one more query."""

    def __init__(self, *args, viewer_id: int | None = None, now: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.viewer_id, self.now = viewer_id, now

    def _clone(self):
        clone = super()._clone()
        clone.viewer_id, clone.now = self.viewer_id, self.now
        return clone

    def _fetch_all(self):
        fresh = self._result_cache is None
        super()._fetch_all()
        if not fresh or not self._result_cache or not isinstance(self._result_cache[0], ChatRoom):
            return
        now = self.now or timezone.now()
        directs = [room.pk for room in self._result_cache if room.is_direct]
        people = direct_people(user_id=self.viewer_id, room_ids=directs) if directs else {}
        for room in self._result_cache:
            room.muted = room.muted_until is not None and room.muted_until > now
            room.people = people.get(room.pk, [])
            room.title = ", ".join(p.shown_name for p in room.people) if room.is_direct else room.name

    @property
    def rooms(self) -> list[ChatRoom]:
        return [room for room in self if not room.is_direct]

    @property
    def directs(self) -> list[ChatRoom]:
        return sorted((room for room in self if room.is_direct), key=lambda room: room.title.casefold())


def rooms_for(user, *, now: datetime | None = None) -> SidebarRooms:
    """The rooms the user is a member of, by name, each with `unread`: other people's messages
    of its timeline not yet seen (a reply only in its thread is not the room's news; one's own
    message is never unread, even when sending did not move the read pointer); `muted` (the
    member's mute lasts past `now`) and `notify_level`; and `title`: a room's name, or for a
    direct conversation the other participants' display names (its `people`, sorted)."""
    unread = (
        ChatMessage.objects.filter(
            room=OuterRef("pk"), in_room=True, seq__gt=OuterRef("memberships__last_read_seq")
        )
        .exclude(author=user)
        .order_by()
        .values("room")
        .annotate(count=Count("*"))
        .values("count")
    )
    rooms = (
        ChatRoom.objects.filter(memberships__user=user)
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            muted_until=F("memberships__muted_until"),
            notify_level=F("memberships__notify_level"),
        )
        .order_by("name")
    )
    return SidebarRooms(model=ChatRoom, query=rooms.query, viewer_id=user.pk, now=now)


def direct_people(*, user_id: int, room_ids: list[int]) -> dict[int, list]:
    """The other participants of each of these direct conversations, by display name: one query."""
    people: dict[int, list] = {room_id: [] for room_id in room_ids}
    rows = (
        Membership.objects.filter(room_id__in=room_ids)
        .exclude(user_id=user_id)
        .select_related("user")
        .order_by("user__display_name", "user__username")
    )
    for membership in rows:
        people[membership.room_id].append(membership.user)
    for members in people.values():
        members.sort(key=lambda person: person.shown_name.casefold())
    return people


def direct_titles(*, user_id: int, room_ids: list[int]) -> dict[int, str]:
    """What each of these direct conversations is called for this participant: the others'
    display names, sorted (just themselves, for a conversation of one's own)."""
    return {
        room_id: ", ".join(person.shown_name for person in people) or "You"
        for room_id, people in direct_people(user_id=user_id, room_ids=room_ids).items()
    }


def room_title(room: ChatRoom, *, user) -> str:
    """The room's name as this user sees it (a direct conversation: the other people)."""
    if not room.is_direct:
        return room.name
    return direct_titles(user_id=user.pk, room_ids=[room.pk])[room.pk]


def room_unread(*, user, room_id: int) -> int:
    """The room's unread count for this member, as the sidebar shows it."""
    read = Membership.objects.filter(user=user, room_id=room_id).values("last_read_seq")[:1]
    return (
        ChatMessage.objects.filter(room_id=room_id, in_room=True, seq__gt=Subquery(read))
        .exclude(author=user)
        .count()
    )


def people_to_message(user, *, limit: int = 1000) -> QuerySet:
    """Everyone the user may start a direct conversation with (active accounts but their own), by
    name: the "New message" picker's list."""
    return (
        User.objects.filter(is_active=True)
        .exclude(pk=user.pk)
        .order_by(Lower("display_name"), "folded_username")[:limit]
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


def readable_rooms(user) -> QuerySet[ChatRoom]:
    """The rooms whose messages the user may read: the rule of `access_room` for many rooms at
    once (every public room, and the private ones the user is a member of). Search embeds it in
    its statement, so what search finds is what the room pages would show."""
    mine = Membership.objects.filter(user=user).values("room_id")
    return ChatRoom.objects.filter(Q(is_private=False) | Q(pk__in=mine))


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


def messages_with_state() -> QuerySet[ChatMessage]:
    """Messages with what their payload shows: author, mentions, reactions and who pinned."""
    reactions = Reaction.objects.select_related("user").order_by("created_at", "id")
    return (
        ChatMessage.objects.select_related("author", "pinned_by")
        .annotate(thread_root_seq=F("thread_root__seq"))
        .prefetch_related("mentioned_users", Prefetch("reactions", queryset=reactions))
    )


def message_with_state(*, room_id: int, seq: int) -> ChatMessage:
    return messages_with_state().get(room_id=room_id, seq=seq)


def room_history(room: ChatRoom, *, before_seq: int | None = None, limit: int = 50) -> list[ChatMessage]:
    """The `limit` messages of the room's timeline before `before_seq` (the newest when
    None), oldest first: replies only in their thread are not in it."""
    messages = messages_with_state().filter(room=room, in_room=True)
    if before_seq is not None:
        messages = messages.filter(seq__lt=before_seq)
    return list(reversed(messages.order_by("-seq")[:limit]))


class RoomEnd(NamedTuple):
    """Where a room stands: its newest message and its newest change."""

    last_seq: int
    last_change: int


def _room_end(*, user, room_id: int) -> RoomEnd | None:
    # Membership is read from the database on every call, so a member removed a moment ago
    # reads nothing more.
    row = (
        Membership.objects.filter(room_id=room_id, user=user)
        .values_list("room__last_seq", "room__last_change")
        .first()
    )
    return RoomEnd(*row) if row is not None else None


def messages_after(
    *, user, room_id: int, after_seq: int, limit: int
) -> tuple[RoomEnd, list[ChatMessage]] | None:
    """Where the room stands and its messages after `after_seq`, by seq, as they now are,
    for a member; None when the user is not one."""
    end = _room_end(user=user, room_id=room_id)
    if end is None:
        return None
    if after_seq >= end.last_seq:
        return end, []
    messages = messages_with_state().filter(room_id=room_id, seq__gt=after_seq)
    return end, list(messages.order_by("seq")[:limit])


def changes_after(
    *, user, room_id: int, after_change: int, limit: int, up_to_change: int | None = None
) -> tuple[RoomEnd, list[ChatMessage]] | None:
    """Where the room stands and the messages changed after position `after_change` (new,
    edited, deleted, reacted to, pinned), each once as it now is, in the order of their latest
    change; None when the user is not a member."""
    end = _room_end(user=user, room_id=room_id)
    if end is None:
        return None
    if after_change >= end.last_change:
        return end, []
    messages = messages_with_state().filter(room_id=room_id, change__gt=after_change)
    if up_to_change is not None:
        messages = messages.filter(change__lte=up_to_change)
    return end, list(messages.order_by("change")[:limit])


def pinned_messages(room: ChatRoom) -> list[ChatMessage]:
    """The room's pinned messages, the most recently pinned first."""
    return list(
        messages_with_state().filter(room=room, pinned_at__isnull=False).order_by("-pinned_at", "-seq")
    )


def can_see_versions(room: ChatRoom, membership: Membership | None) -> bool:
    """Whether this reader may see earlier versions of the room's messages (the room's policy,
    or the site's when the room has none)."""
    audience = room.history_visible_to or settings.PARLEY["HISTORY_VISIBLE_TO"]
    if audience == ChatRoom.Audience.MANAGERS:
        return membership is not None and membership.can_manage
    return True


def message_versions(*, room: ChatRoom, membership: Membership | None, seq: int) -> list[dict]:
    """Every version of a message's body, oldest first, the current one last (`replaced_at`
    None). The caller has passed `access_room`; this applies the room's history policy."""
    if not can_see_versions(room, membership):
        raise PermissionDenied("In this room only the owner and admins see earlier versions.")
    message = ChatMessage.objects.filter(room=room, seq=seq).first()
    if message is None or message.is_deleted:
        raise NoSuchMessage()
    versions = [
        {"body": r.body, "written_at": r.written_at, "replaced_at": r.replaced_at}
        for r in message.revisions.order_by("replaced_at", "id")
    ]
    versions.append(
        {"body": message.body, "written_at": message.edited_at or message.created_at, "replaced_at": None}
    )
    return versions


def room_members(room: ChatRoom) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")


# --- Threads -------------------------------------------------------------------------------


def thread_root(*, room: ChatRoom, seq: int) -> ChatMessage:
    """The root of a thread (a message that is not itself a reply), with its state."""
    root = messages_with_state().filter(room=room, seq=seq).first()
    if root is None:
        raise NoSuchMessage()
    if root.thread_root_id is not None:
        raise ThreadDepth()
    return root


def thread_replies(
    root: ChatMessage, *, before_seq: int | None = None, limit: int = 500
) -> list[ChatMessage]:
    """The thread's replies, oldest first: the `limit` newest (before `before_seq`)."""
    replies = messages_with_state().filter(thread_root=root)
    if before_seq is not None:
        replies = replies.filter(seq__lt=before_seq)
    return list(reversed(replies.order_by("-seq")[:limit]))


def _unread_replies(user) -> Subquery:
    """For a ThreadFollow row: its thread's replies by others after its read pointer."""
    return Coalesce(
        Subquery(
            ChatMessage.objects.filter(
                thread_root=OuterRef("root_id"), seq__gt=OuterRef("last_read_seq"), deleted_at__isnull=True
            )
            .exclude(author=user)
            .order_by()
            .values("thread_root")
            .annotate(count=Count("*"))
            .values("count"),
            output_field=IntegerField(),
        ),
        Value(0),
    )


def followed_threads(user, *, limit: int = 200) -> list[ThreadFollow]:
    """The threads the user follows in rooms they are still in, newest activity first, each
    with `unread`, its root (with state) and its room."""
    follows = (
        ThreadFollow.objects.filter(user=user, following=True, room__memberships__user=user)
        .annotate(unread=_unread_replies(user))
        .select_related("room")
        .order_by(F("root__last_reply_at").desc(nulls_last=True), "-root_id")[:limit]
    )
    follows = list(follows)
    roots = messages_with_state().in_bulk([follow.root_id for follow in follows])
    for follow in follows:
        follow.root = roots[follow.root_id]
    return follows


def thread_standing(*, user, root: ChatMessage) -> ThreadFollow | None:
    """The user's (a user or their id) follow row for this thread with `unread`, or None when
    there is none."""
    follow = ThreadFollow.objects.filter(user=user, root=root).annotate(unread=_unread_replies(user)).first()
    if follow is not None:
        follow.root = root
    return follow


def unread_thread_count(user) -> int:
    """How many followed, unmuted threads have replies the user has not read: the header's
    Threads badge."""
    return (
        ThreadFollow.objects.filter(user=user, following=True, muted=False, room__memberships__user=user)
        .filter(
            Exists(
                ChatMessage.objects.filter(
                    thread_root=OuterRef("root_id"),
                    seq__gt=OuterRef("last_read_seq"),
                    deleted_at__isnull=True,
                ).exclude(author=user)
            )
        )
        .count()
    )
