"""Concurrent senders into one room: seq stays consecutive, nothing duplicated, no deadlock."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from messaging.actions.messages import post_message
from messaging.actions.rooms import join_room
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
