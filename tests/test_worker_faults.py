"""The worker's faults (docs/reliability.md): killed mid-task, the SMTP server failing, the
broker down or losing its messages; each delays the work and loses or doubles nothing.

A real worker (tests/worker.py) on the test database and the pass's broker, and a real SMTP
server (tests/mailbox.py). The intervals are the tests' short ones (TEST_WORKER_ENV): a lease
of 3 s, retries from 0.5 s, 3 attempts, a sweep every 0.5 s.
"""

import os
import shutil
import time

import pytest
from django.db import transaction

from config.celery import app
from jobs.email import queue_email, send_queued_email
from jobs.models import FailedTask, OutboundEmail

pytestmark = pytest.mark.django_db(transaction=True)


def queue(key: str) -> OutboundEmail:
    with transaction.atomic():
        return queue_email(key=key, to="ann@example.com", subject=f"About {key}", text="Body")


def wait_until(condition, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not hold within {timeout:.0f} s")


def test_a_worker_killed_while_sending_sends_the_email_once_after_it_restarts(worker, mailbox):
    mailbox.stall()
    email = queue("killed")
    mailbox.wait_held(1)  # the worker is inside the SMTP conversation now
    worker.kill()
    mailbox.release()  # the held copy is answered 451, to nobody: it was never accepted
    worker.start(timeout=60)
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "About killed"
    time.sleep(2)  # a second copy would come within the lease and a few sweeps
    assert len(mailbox.messages()) == 1
    email.refresh_from_db()
    assert email.sent_at is not None and email.attempts == 2


def test_a_refused_email_is_retried_with_backoff_and_sent(worker, mailbox):
    mailbox.refuse(2)
    email = queue("refused")
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "About refused" and mailbox.refused == 2
    email.refresh_from_db()
    assert email.attempts == 3 and email.last_error == "" and email.sent_at is not None


def test_an_email_that_keeps_failing_is_left_for_the_admin_who_can_send_it_again(
    worker, mailbox, admin_client
):
    mailbox.refuse(100)
    email = queue("failing")
    wait_until(
        lambda: OutboundEmail.objects.filter(pk=email.pk, failed_at__isnull=False).exists(), what="giving up"
    )
    email.refresh_from_db()
    assert email.attempts == 3 and "451" in email.last_error
    page = admin_client.get("/admin/jobs/outboundemail/?failed_at__isnull=False")
    assert page.status_code == 200 and b"About failing" in page.content
    mailbox.refuse(0)
    answer = admin_client.post(
        "/admin/jobs/outboundemail/",
        {"action": "send_again_action", "_selected_action": [email.pk]},
        follow=True,
    )
    assert b"1 email(s) will be sent again." in answer.content
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "About failing"


def test_a_task_that_fails_outright_lands_in_the_admin(worker):
    app.send_task("jobs.send_email", args=["not an id"])
    failure = wait_until(
        lambda: FailedTask.objects.filter(task_name="jobs.send_email").first(), what="a FailedTask"
    )
    assert "not an id" in failure.arguments and failure.error


def test_work_whose_wake_up_the_broker_lost_is_done_by_the_sweep(worker, mailbox):
    worker.stop()
    queue("lost")
    folder = app.conf.broker_transport_options.get("data_folder_in")
    if folder:  # the filesystem broker: its message deleted, as a worker killed holding it loses it
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
    else:  # Redis: the queue emptied
        with app.connection_for_write() as connection:
            connection.default_channel.client.delete("celery")
    worker.start(timeout=60)
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "About lost"


def test_a_broker_outage_delays_the_email_and_loses_nothing(worker, mailbox):
    if os.environ.get("REDIS_URL"):
        from tests.servers import redis_from_env

        redis = redis_from_env()
        redis.stop()
        try:
            started = time.monotonic()
            queue("outage")  # the commit goes through; the wake-up fails and is logged
            assert time.monotonic() - started < 10
            time.sleep(1)
            assert mailbox.messages() == []
        finally:
            redis.start()
    else:
        folder = app.conf.broker_transport_options["data_folder_in"]
        shutil.move(folder, folder + ".away")
        try:
            queue("outage")
        finally:
            shutil.move(folder + ".away", folder)
    [message] = mailbox.wait_for(1, timeout=40)
    assert message["Subject"] == "About outage"
    time.sleep(1)
    assert len(mailbox.messages()) == 1


def test_sending_again_what_was_sent_sends_nothing(mailbox):
    email = queue("twice")
    email.refresh_from_db()
    OutboundEmail.objects.filter(pk=email.pk).update(sent_at=email.created_at)
    assert send_queued_email(email.pk) == "skipped"
