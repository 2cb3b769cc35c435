"""Data for tests/test_browser_search.py, written in a process of its own like
tests/server_data.py (``server.call("tests.search_data:private_room", ...)``)."""

from __future__ import annotations


def private_room(name: str, members: list[str]) -> int:
    """A private room named `name`, owned by the first member, the others added; its id."""
    from django.contrib.auth import get_user_model

    from messaging.actions.memberships import add_member
    from messaging.actions.rooms import create_room

    users = get_user_model().objects
    owner = users.get(username=members[0])
    room = create_room(creator=owner, name=name, is_private=True)
    assert room.slug == name, room.slug
    for username in members[1:]:
        add_member(actor=owner, room=room, username=username)
    return room.id


def seed_search_messages() -> dict[str, int]:
    """What the search tests look for, each word in one message only:
    - `search-ops`: "résumé" (accents folded), and a thread whose reply alone says "zeppelin";
    - `search-history`: "quokka" in its first message, 60 messages (by alice) before the newest;
    - `search-own`: "wombat" likewise, half of the 60 later messages bob's;
    - `search-secret` (private, alice and carol): "marmalade", which bob may never see.
    {name: seq} of the messages the tests open."""
    from django.contrib.auth import get_user_model

    from messaging.actions.messages import post_message
    from messaging.models import ChatRoom

    users = get_user_model().objects
    alice, bob = users.get(username="alice"), users.get(username="bob")

    def post(room_slug: str, author, body: str, **options) -> int:
        room = ChatRoom.objects.get(slug=room_slug)
        client_id = f"search-{room.id}-{room.last_seq}"
        posted = post_message(author=author, room_id=room.id, body=body, client_id=client_id, **options)
        return posted.message.seq

    seqs = {}
    post("search-ops", bob, "Morning! Coffee first.")
    seqs["resume"] = post("search-ops", alice, "Please send your résumé to Dana by Friday.")
    seqs["root"] = post("search-ops", bob, "Who is picking up the visitors tomorrow?")
    seqs["reply"] = post(
        "search-ops", alice, "The zeppelin lands at noon, I will be there.", thread_root=seqs["root"]
    )
    post("search-ops", bob, "Thanks, see you then.")
    seqs["quokka"] = post("search-history", bob, "The quokka migration plan is in the wiki.")
    for i in range(1, 61):
        post("search-history", alice, f"later message {i:02d}")
    # The same, with the reader's own messages among the later ones.
    seqs["wombat"] = post("search-own", alice, "The wombat budget is approved.")
    for i in range(1, 61):
        post("search-own", alice if i % 2 else bob, f"later message {i:02d}")
    post("search-secret", alice, "The marmalade launch stays between us.")
    return seqs
