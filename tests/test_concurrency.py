"""Concurrent senders into one room: seq stays consecutive, nothing duplicated, no deadlock."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from messaging.actions.messages import SendRequest, post_message, post_messages
from messaging.actions.rooms import create_room, join_room
from messaging.models import ChatMessage, ChatRoom

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 10
PER_SENDER = 30


def test_concurrent_senders_get_consecutive_seqs(room, make_user):
    senders = [make_user(f"sender{i}") for i in range(SENDERS)]
    for sender in senders:
        join_room(user=sender, room=room)

    def send_all(sender):
        try:
            return [
                post_message(
                    author=sender,
                    room_id=room.id,
                    body=f"{sender.username} {i}",
                    client_id=f"{sender.id}-{i}",
                ).message.seq
                for i in range(PER_SENDER)
            ]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        results = list(pool.map(send_all, senders, timeout=120))

    total = SENDERS * PER_SENDER
    every_seq = sorted(seq for seqs in results for seq in seqs)
    assert every_seq == list(range(1, total + 1))
    for seqs in results:
        assert seqs == sorted(seqs), "one sender's messages keep their order"
    stored = list(ChatMessage.objects.filter(room=room).order_by("seq").values_list("seq", flat=True))
    assert stored == list(range(1, total + 1))
    assert ChatRoom.objects.get(pk=room.pk).last_seq == total


def test_concurrent_batches_over_the_same_rooms_never_deadlock(room, alice, bob):
    """Group commit locks several rooms in one transaction: always in id order, so two batches
    naming the same rooms in opposite orders wait for each other instead of deadlocking."""
    other = create_room(creator=bob, name="other")
    join_room(user=alice, room=other)
    rounds = 40

    def send_batches(author, rooms):
        try:
            seqs = []
            for i in range(rounds):
                outcomes = post_messages(
                    [
                        SendRequest(author, r.id, f"{author.username} {i}", f"{author.id}-{r.id}-{i}")
                        for r in rooms
                    ]
                )
                seqs.append([o.message.seq for o in outcomes])
            return seqs
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        forward = pool.submit(send_batches, alice, [room, other])
        backward = pool.submit(send_batches, bob, [other, room])
        forward.result(timeout=120), backward.result(timeout=120)

    for r in (room, other):
        stored = list(ChatMessage.objects.filter(room=r).order_by("seq").values_list("seq", flat=True))
        assert stored == list(range(1, 2 * rounds + 1))
