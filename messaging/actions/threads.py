"""A user's standing in threads: following (by choice, or by taking part), muting, reading.

Replies themselves are messages (`actions.messages`); what is here is per user and outside the
room's change order: it reaches the user's own sockets as `thread.followed` and `thread.read`,
and a socket that was away asks for all of it again with `threads.sync`.
"""

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from notifications.models import Notification
from notifications.selectors import unread_count
from notifications.serializers import notification_read_frame

from ..models import ChatMessage, ChatRoom, Membership, ThreadFollow
from ..realtime import outlet
from ..selectors import access_room, thread_root, thread_standing
from ..serializers import thread_followed_frame, thread_payload, thread_read_frame


def follow_thread(*, user, room_id: int, root_seq: int, following: bool, muted: bool | None = None) -> dict:
    """Follow or unfollow the thread of the message at `root_seq` (and mute or unmute it);
    returns the user's standing in it, which every socket of the user hears of too.

    Following on purpose starts from what the thread holds now: its earlier replies are not
    news. An unfollow is kept (not deleted), so being mentioned there later does not follow
    the thread again; replying does.
    """
    room, _ = access_room(user=user, room_id=room_id, member=True)
    root = thread_root(room=room, seq=root_seq)
    with transaction.atomic():
        rows = ThreadFollow.objects.select_for_update().filter(user=user, root=root)
        follow = rows.first()
        if follow is None:
            # The notification step may make it at the same moment (a reply's auto-follow).
            try:
                with transaction.atomic():
                    ThreadFollow.objects.create(user=user, root=root, room=room, following=False)
            except IntegrityError:
                pass
            follow = rows.get()
        if following and not follow.following:
            follow.last_read_seq = max(follow.last_read_seq, newest_reply_seq(root))
        follow.following = following
        if muted is not None:
            follow.muted = muted
        follow.save()
        state = thread_payload(thread_standing(user=user, root=root), root)
        outlet.send_to_user_on_commit(user.id, thread_followed_frame(state))
    return state


def mark_thread_read(*, user, room_id: int, root_seq: int, seq: int, announce: bool = True) -> dict:
    """The user has seen the thread up to reply `seq`: their place in it moves forward (never
    back, never past the room's end), and its reply notification and the mentions of the
    replies read are read. The room's own read pointer does not move: reading a thread is not
    reading the room.

    Returns the standing now stored; with `announce`, every socket of the user hears of it
    (the socket that asked answers itself).
    """
    room, _ = access_room(user=user, room_id=room_id, member=True)
    root = thread_root(room=room, seq=root_seq)
    room_end = ChatRoom.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
    with transaction.atomic():
        ThreadFollow.objects.filter(user=user, root=root).update(
            last_read_seq=Greatest(F("last_read_seq"), Least(Value(seq), Value(room_end)))
        )
        # What the reader has now seen: the thread's reply notification, and the mentions in
        # the replies read.
        stored_seq = thread_read_seq(user=user, root=root, seq=min(seq, room_end))
        seen = Q(kind=Notification.Kind.REPLY, thread_root=root) | Q(
            kind=Notification.Kind.MENTION, message__thread_root=root, message__seq__lte=stored_seq
        )
        read_ids = list(
            Notification.objects.filter(seen, recipient=user, read_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        if read_ids:
            Notification.objects.filter(pk__in=read_ids).update(read_at=timezone.now())
            outlet.send_to_user_on_commit(user.id, notification_read_frame(read_ids, unread_count(user)))
        state = thread_payload(thread_standing(user=user, root=root), root)
        if announce:
            outlet.send_to_user_on_commit(user.id, thread_read_frame(state))
    return state


def thread_read_seq(*, user, root: ChatMessage, seq: int) -> int:
    """Where the user has read the thread to: their place in it, or, when they do not follow it
    (no place kept), the seq they just read to."""
    kept = ThreadFollow.objects.filter(user=user, root=root).values_list("last_read_seq", flat=True).first()
    return seq if kept is None else kept


def newest_reply_seq(root: ChatMessage) -> int:
    return (
        ChatMessage.objects.filter(thread_root=root).order_by("-seq").values_list("seq", flat=True).first()
        or root.seq
    )


def _follow_as_replier(reply: ChatMessage, root: ChatMessage) -> None:
    """The reply's author follows the thread, read up to the reply. Another process's step for
    another reply of theirs may make the row at the same moment: then it is brought up to date."""
    mine = ThreadFollow.objects.filter(user_id=reply.author_id, root=root)
    up_to_date = {"following": True, "last_read_seq": Greatest(F("last_read_seq"), Value(reply.seq))}
    if mine.update(**up_to_date):
        return
    try:
        with transaction.atomic():
            ThreadFollow.objects.create(
                user_id=reply.author_id, root=root, room_id=root.room_id, last_read_seq=reply.seq
            )
    except IntegrityError:
        mine.update(**up_to_date)


def follow_for_reply(
    *, reply: ChatMessage, mentioned_ids: Iterable[int], new_reply: bool = True
) -> list[tuple[int, str]]:
    """Who a reply makes follow its thread: the members it mentions (unless they unfollowed)
    and, when it is new, its author (again, even after an unfollow, and read up to the reply)
    and the root's author. For the notification step; returns the `thread.followed` frames of
    those now following, as (user id, frame)."""
    root = ChatMessage.objects.get(pk=reply.thread_root_id)
    candidates = set(mentioned_ids) | ({root.author_id} if new_reply else set())
    candidates.discard(reply.author_id)
    existing = {
        follow.user_id: follow
        for follow in ThreadFollow.objects.filter(root=root, user_id__in=[*candidates, reply.author_id])
    }
    newly: list[int] = []
    mine = existing.get(reply.author_id)
    if new_reply:
        _follow_as_replier(reply, root)
        if mine is None or not mine.following:
            newly.append(reply.author_id)
    # Those with no row yet follow, if they are the room's members (the root's author may have
    # left it); one who has a row keeps it as it is (an unfollow sticks).
    fresh = sorted(candidates - set(existing))
    if fresh:
        fresh = sorted(
            Membership.objects.filter(
                room_id=root.room_id, user_id__in=fresh, user__is_active=True
            ).values_list("user_id", flat=True)
        )
        ThreadFollow.objects.bulk_create(
            [ThreadFollow(user_id=user_id, root=root, room_id=root.room_id) for user_id in fresh],
            ignore_conflicts=True,
        )
    newly += fresh
    frames = []
    for user_id in newly:
        follow = thread_standing(user=user_id, root=root)
        if follow is not None and follow.following:
            frames.append((user_id, thread_followed_frame(thread_payload(follow, root))))
    return frames
