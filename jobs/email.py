"""Sending email: record it with the write that decided it, then the worker sends it, once.

`queue_email` is called inside an action's transaction; after commit the worker is woken to
send (`jobs.send_email`), and the sweep sends whatever that wake-up missed. Sending takes a
lease on the row first, so two workers never send one email together; a worker that dies
while sending leaves the lease to run out, and the email goes again. The one duplicate left is
a worker killed between the SMTP server's "250 accepted" and the commit after it: its copy
carries the same Message-ID (derived from the key), which mail clients fold into one.
A failed attempt waits `EMAIL_RETRY_SECONDS * 2**(attempts - 1)` (at most an hour) before the next; after
`EMAIL_MAX_ATTEMPTS` the email is left, failed, for a site admin (admin: Outbound emails).
"""

import hashlib
import logging
import time
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboundEmail
from .wake import wake_on_commit

logger = logging.getLogger(__name__)

RETRY_MAX_SECONDS = 3600
# Emails one sweep sends at most, and for how long at most; the rest wait for the next.
SWEEP_BATCH = 50
SWEEP_BUDGET_SECONDS = 10.0


def queue_email(
    *,
    key: str,
    to: str,
    subject: str,
    text: str,
    html: str = "",
    headers: dict[str, str] | None = None,
    expires_at: datetime | None = None,
    sensitive: bool = False,
) -> OutboundEmail:
    """Record an email to send after commit; a second call with the same `key` returns the first
    record and sends nothing more. `key` is shown in the admin: no secret in it. `sensitive`:
    the body holds a one-time link (shown to nobody, blanked once sent); `expires_at`: not sent
    after then."""
    email, created = OutboundEmail.objects.get_or_create(
        key=key,
        defaults={
            "to": to,
            "subject": subject[:250],
            "text": text,
            "html": html,
            "headers": headers or {},
            "expires_at": expires_at,
            "sensitive": sensitive,
        },
    )
    if created:
        wake_on_commit("jobs.send_email", email.pk)
    return email


def message_id(key: str) -> str:
    """The same Message-ID for every attempt at one email."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "parley.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def retry_delay(attempts: int) -> timedelta:
    first = settings.PARLEY["EMAIL_RETRY_SECONDS"]
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS))


def send_queued_email(email_id: int, *, now: datetime | None = None) -> str:
    """Send one recorded email if it is due and nobody else is sending it: "sent", "skipped"
    (sent already, failed for good, leased or not due), "retrying", "failed" or "expired".

    The lease is this attempt's: its end (`available_at`) is the token every later write names,
    so a worker whose lease ran out (another took the email) changes nothing of the other's."""
    now = now or timezone.now()
    lease_end = now + timedelta(seconds=settings.PARLEY["EMAIL_LEASE_SECONDS"])
    waiting = OutboundEmail.objects.filter(pk=email_id, sent_at__isnull=True, failed_at__isnull=True)
    with transaction.atomic():
        taken = waiting.filter(available_at__lte=now).update(
            available_at=lease_end, attempts=F("attempts") + 1
        )
    if not taken:
        return "skipped"
    email = OutboundEmail.objects.get(pk=email_id)
    mine = waiting.filter(available_at=lease_end)
    if email.expires_at is not None and email.expires_at <= now:
        mine.update(failed_at=now, last_error="Expired before it could be sent.", **_redacted(email))
        return "expired"
    try:
        message = EmailMultiAlternatives(
            subject=email.subject,
            body=email.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.to],
            headers={**email.headers, "Message-ID": message_id(email.key)},
        )
        if email.html:
            message.attach_alternative(email.html, "text/html")
        message.send()
    except Exception as error:
        failed = email.attempts >= settings.PARLEY["EMAIL_MAX_ATTEMPTS"]
        logger.warning(
            "Sending email %s (%s) failed, attempt %s: %r", email.pk, email.key, email.attempts, error
        )
        finished = timezone.now()
        mine.update(
            last_error=f"{type(error).__name__}: {error}"[:2000],
            # The backoff counts from the attempt's end: a slow failure still waits its turn.
            available_at=finished + retry_delay(email.attempts),
            failed_at=finished if failed else None,
            **(_redacted(email) if failed else {}),
        )
        return "failed" if failed else "retrying"
    mine.update(sent_at=timezone.now(), last_error="", **_redacted(email))
    return "sent"


REDACTED = "(Held a one-time link: removed once the email was sent or given up.)"


def _redacted(email: OutboundEmail) -> dict:
    return {"text": REDACTED, "html": ""} if email.sensitive else {}


def send_due_emails(now: datetime) -> int:
    """The sweep's part (run after the others, which it must not hold up): the emails due and
    not taken (their wake-up lost, a retry due, a lease run out), for at most
    SWEEP_BUDGET_SECONDS of a slow SMTP server. Returns how many were sent."""
    due = OutboundEmail.objects.filter(sent_at__isnull=True, failed_at__isnull=True, available_at__lte=now)
    ids = list(due.order_by("available_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    deadline = time.monotonic() + SWEEP_BUDGET_SECONDS
    sent = 0
    for email_id in ids:
        if time.monotonic() > deadline:
            break  # the rest go in the next sweep
        sent += send_queued_email(email_id, now=max(now, timezone.now())) == "sent"
    return sent


def send_again(email_ids) -> int:
    """For the admin: give failed emails a new round of attempts (one that is being sent or
    waits for its retry is left alone: it is not stuck). A redacted one cannot be sent again."""
    return (
        OutboundEmail.objects.filter(pk__in=email_ids, sent_at__isnull=True, failed_at__isnull=False)
        .exclude(sensitive=True)
        .update(failed_at=None, attempts=0, available_at=timezone.now(), last_error="")
    )
