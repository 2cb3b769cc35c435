"""The hourly housekeeping (jobs/housekeeping.py): what has served its time goes, nothing else."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from jobs.models import OutboundEmail
from jobs.sweeps import run_housekeeping
from messaging.actions.messages import send_message
from messaging.models import RelayedEvent
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_housekeeping_deletes_what_is_old_and_keeps_the_rest(room, alice, bob, settings):
    now = timezone.now()
    days = settings.PARLEY["NOTIFICATION_RETENTION_DAYS"]
    for n in range(3):
        send_message(author=alice, room_id=room.id, body=f"@bob {n}", client_id=f"c{n}")
    old_read, recent_read, unread = Notification.objects.filter(recipient=bob).order_by("pk")
    Notification.objects.filter(pk=old_read.pk).update(read_at=now - timedelta(days=days + 1))
    Notification.objects.filter(pk=recent_read.pk).update(read_at=now - timedelta(days=days - 1))
    Notification.objects.filter(pk=unread.pk).update(created_at=now - timedelta(days=days * 3))

    sent_days = settings.PARLEY["EMAIL_RETENTION_DAYS"]
    OutboundEmail.objects.create(
        key="old", to="a@example.com", subject="s", text="t", sent_at=now - timedelta(days=sent_days + 1)
    )
    OutboundEmail.objects.create(
        key="new", to="a@example.com", subject="s", text="t", sent_at=now - timedelta(days=1)
    )
    OutboundEmail.objects.create(
        key="waiting", to="a@example.com", subject="s", text="t", created_at=now - timedelta(days=400)
    )

    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=now - timedelta(seconds=1))

    bob.status_text, bob.status_expires_at = "Lunch", now - timedelta(minutes=1)
    bob.save()
    alice.status_text, alice.status_expires_at = "Travelling", now + timedelta(days=1)
    alice.save()

    RelayedEvent.objects.create(event={"type": "x"}, created_at=now - timedelta(minutes=10))
    RelayedEvent.objects.create(event={"type": "y"})

    done = run_housekeeping(now)
    assert (
        done["notifications"] == 1 and done["sessions"] == 1 and done["emails"] == 1 and done["statuses"] == 1
    )
    assert set(Notification.objects.filter(recipient=bob).values_list("pk", flat=True)) == {
        recent_read.pk,
        unread.pk,
    }
    assert set(OutboundEmail.objects.values_list("key", flat=True)) == {"new", "waiting"}, (
        "unsent ones are never pruned"
    )
    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    bob.refresh_from_db()
    alice.refresh_from_db()
    assert (bob.status_text, bob.status_expires_at) == ("", None)
    assert alice.status_text == "Travelling"
    assert list(RelayedEvent.objects.values_list("event", flat=True)) == [{"type": "y"}]
    assert run_housekeeping(now)["notifications"] == 0, "a second run finds nothing more"
