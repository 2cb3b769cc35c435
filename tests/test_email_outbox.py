"""The outbox (jobs/email.py) and the broker's edges, in process: no worker runs here (one would
send what these tests look at: tests/test_jobs.py and tests/test_worker_faults.py have it)."""

import pytest

from jobs.email import queue_email
from jobs.models import OutboundEmail

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_broker_that_accepts_and_never_answers_holds_a_wake_up_for_seconds_only(settings):
    """A Redis behind a dead NAT entry, a failover without a reset: the commit's wake-up gives up."""
    import socket
    import threading
    import time

    from jobs.wake import wake

    from .worker import use_broker

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(listener.accept()) for _ in range(16)], daemon=True).start()
    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options
    use_broker(f"redis://127.0.0.1:{listener.getsockname()[1]}/0", dict(settings.REDIS_BROKER_OPTIONS))
    try:
        started = time.monotonic()
        wake("jobs.send_email", 1)  # logged, never raised
        assert time.monotonic() - started < 20
    finally:
        use_broker(*saved)
        listener.close()


def test_an_email_past_its_expiry_is_not_sent(mailoutbox):
    from datetime import timedelta

    from django.utils import timezone

    from jobs.email import send_queued_email

    email = queue_email(
        key="old",
        to="a@example.com",
        subject="Late",
        text="t",
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert send_queued_email(email.pk) == "expired"
    email.refresh_from_db()
    assert email.failed_at is not None and email.sent_at is None and mailoutbox == []


def test_a_sensitive_email_is_blanked_once_sent_and_its_body_never_shown_in_the_admin(
    admin_client, mailoutbox
):
    from jobs.email import send_queued_email

    secret = queue_email(
        key="reset:1", to="a@example.com", subject="Reset", text="link: /reset/SECRET/", sensitive=True
    )
    plain = queue_email(key="plain:1", to="a@example.com", subject="Plain", text="nothing secret here")
    page = admin_client.get(f"/admin/jobs/outboundemail/{secret.pk}/change/")
    assert page.status_code == 200 and b"SECRET" not in page.content
    assert b"nothing secret here" in admin_client.get(f"/admin/jobs/outboundemail/{plain.pk}/change/").content
    assert send_queued_email(secret.pk) == "sent"
    assert "SECRET" in mailoutbox[0].body
    secret.refresh_from_db()
    assert "SECRET" not in secret.text and secret.html == ""


def test_a_sweep_during_a_slow_send_leaves_the_email_to_the_worker_sending_it(settings, mailoutbox):
    import threading
    import time

    from django.db import connections

    from jobs.email import send_due_emails, send_queued_email

    settings.EMAIL_BACKEND = "tests.email_backends.SlowBackend"
    settings.PARLEY = {**settings.PARLEY, "EMAIL_LEASE_SECONDS": 10}
    email = queue_email(key="slow", to="a@example.com", subject="Slow", text="t")
    results = {}

    def first():
        try:
            results["first"] = send_queued_email(email.pk)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.5)
    results["sweep"] = send_due_emails(timezone_now())
    thread.join()
    assert results == {"first": "sent", "sweep": 0}
    assert len(mailoutbox) == 1


def test_the_email_sweep_runs_after_the_others_and_stops_at_its_budget(settings, monkeypatch, mailoutbox):
    from jobs import email as outbox
    from jobs import sweeps

    settings.EMAIL_BACKEND = "tests.email_backends.SlowBackend"
    monkeypatch.setattr(outbox, "SWEEP_BUDGET_SECONDS", 1.0)
    for n in range(4):
        queue_email(key=f"q{n}", to="a@example.com", subject=f"n{n}", text="t")
    order = list(sweeps.run_sweeps.__globals__["_sweeps"]) + list(sweeps.run_sweeps.__globals__["_last"])
    assert order[-1] == "emails", order
    assert outbox.send_due_emails(timezone_now()) == 1, "one slow email, then the budget is spent"
    assert OutboundEmail.objects.filter(sent_at__isnull=True).count() == 3


def test_send_again_leaves_an_email_being_sent_alone():
    from datetime import timedelta

    from django.utils import timezone

    from jobs.email import send_again

    leased = queue_email(key="leased", to="a@example.com", subject="s", text="t")
    OutboundEmail.objects.filter(pk=leased.pk).update(
        available_at=timezone.now() + timedelta(minutes=5), attempts=1
    )
    failed = queue_email(key="failed", to="a@example.com", subject="s", text="t")
    OutboundEmail.objects.filter(pk=failed.pk).update(failed_at=timezone.now(), attempts=6)
    assert send_again([leased.pk, failed.pk]) == 1
    leased.refresh_from_db()
    assert leased.attempts == 1 and leased.available_at > timezone.now()


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def test_the_embedded_broker_never_hands_a_worker_half_a_message(tmp_path):
    """kombu's own filesystem transport let a poll take a file still being written: the worker
    read half a message and exited. Ours writes beside it and renames it into place."""
    import os

    from kombu import Connection
    from kombu.transport import resolve_transport

    from jobs.transport import Transport

    assert resolve_transport("filesystem") is Transport
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport_options=options) as connection:
        queue = connection.SimpleQueue("q")
        (folder / ".123_abc.q.msg.part").write_bytes(b'{"body": "half')  # a write in progress
        queue.put({"n": 1})
        assert [name for name in os.listdir(folder) if not name.startswith(".")] != []
        assert queue.get(timeout=2).payload == {"n": 1}
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.3)
        queue.close()


def test_a_worker_outlives_its_queue_folder_going_away(tmp_path):
    """kombu's poll raised on a missing folder, which Celery took for unrecoverable: the worker
    exited (the broker-outage test found it). Ours finds nothing and makes the folder again."""
    import shutil

    from kombu import Connection

    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection("filesystem://", transport_options=options) as connection:
        queue = connection.SimpleQueue("outlives")
        shutil.rmtree(folder)
        with pytest.raises(queue.Empty):
            queue.get(timeout=0.3)
        assert folder.is_dir()
        queue.put({"n": 2})
        assert queue.get(timeout=5).payload == {"n": 2}
        queue.close()
