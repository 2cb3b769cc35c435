"""A demo thread for scripts/screenshots.py, written in a process of its own like
tests/server_data.py (`server.call("tests.thread_data:demo_thread")`), after its
`demo_conversation`: three replies to Alice's deploy heads-up in #general, one also sent to the
room, followed by who took part."""

from __future__ import annotations


def demo_thread() -> None:
    from datetime import timedelta

    from django.contrib.auth import get_user_model

    from messaging.actions.messages import post_message
    from messaging.actions.threads import follow_for_reply
    from messaging.models import ChatMessage, ChatRoom

    users = get_user_model().objects
    general = ChatRoom.objects.get(slug="general")
    root = ChatMessage.objects.get(room=general, body__startswith="Heads-up: deploy")
    replies = [
        ("carol", "Is the status page updated for it?", False),
        ("bob", "I'll keep an eye on the error rates during the deploy.", True),
        ("alice", "Thanks both! Status page is done; rolling back if errors pass 1%.", False),
    ]
    at = root.created_at
    for index, (username, body, also_in_room) in enumerate(replies):
        at += timedelta(minutes=3)
        posted = post_message(
            author=users.get(username=username),
            room_id=general.id,
            body=body,
            client_id=f"demo-thread-{index}",
            thread_root=root.seq,
            also_in_room=also_in_room,
        )
        ChatMessage.objects.filter(pk=posted.message.pk).update(created_at=at)
        follow_for_reply(reply=posted.message, mentioned_ids=[], new_reply=True)
    ChatMessage.objects.filter(pk=root.pk).update(last_reply_at=at)


def store_replies(
    author: str, room_slug: str, root_seq: int, bodies: list[str], also_in_room: bool = False
) -> list[int]:
    """Replies stored one after another in the thread of `root_seq`, as another process of the
    cluster would (nothing broadcast); their seqs."""
    from django.contrib.auth import get_user_model

    from messaging.actions.messages import post_message
    from messaging.models import ChatRoom

    user = get_user_model().objects.get(username=author)
    room = ChatRoom.objects.get(slug=room_slug)
    return [
        post_message(
            author=user,
            room_id=room.id,
            body=body,
            client_id=f"reply-{room.id}-{root_seq}-{i}-{body}"[:64],
            thread_root=root_seq,
            also_in_room=also_in_room,
        ).message.seq
        for i, body in enumerate(bodies)
    ]
