"""Background work (jobs/): a real worker sends what actions record, once, through faults."""

import pytest
from django.db import transaction

from jobs.email import queue_email
from jobs.models import OutboundEmail

from .mailbox import text_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_queued_email_reaches_the_smtp_server_once(worker, mailbox):
    with transaction.atomic():
        queue_email(key="t:1", to="ann@example.com", subject="Hello", text="Plain body", html="<p>Body</p>")
        queue_email(key="t:1", to="ann@example.com", subject="Hello again", text="Other")
    [message] = mailbox.wait_for(1)
    assert message["Subject"] == "Hello"
    assert text_of(message).strip() == "Plain body"
    assert mailbox.recipients == [["ann@example.com"]]
    email = OutboundEmail.objects.get(key="t:1")
    assert email.sent_at is not None and email.attempts == 1
