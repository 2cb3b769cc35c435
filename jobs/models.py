"""What background work leaves a trace of: the emails to send, and tasks that gave up."""

from django.db import models
from django.utils import timezone


class OutboundEmail(models.Model):
    """One email Parley sends, recorded in the transaction that decided to send it.

    `key` says what the email is for (a digest of these notifications, a password reset with
    this token): recording it twice records nothing new, so a retried action or task cannot
    send twice. A worker takes the email by moving `available_at` past now (a lease); sent,
    it sets `sent_at`; a worker that dies while sending leaves the lease to run out, and the
    sweep hands the email to the next worker.
    """

    key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=250)
    text = models.TextField()
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Not to be sent before: now for a new email; the lease's end while a worker sends it; the
    # next retry's time after a failure.
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Attempts ran out, or it expired unsent: left for a site admin (who may send it again).
    failed_at = models.DateTimeField(null=True, blank=True)
    # Not sent by then, it is not sent at all: what it says would be stale (a missed-message
    # email hours late) or its link dead (a password reset).
    expires_at = models.DateTimeField(null=True, blank=True)
    # It holds a one-time link (a password reset, a verification): never shown in the admin,
    # and its body is blanked once sent.
    sensitive = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["available_at"],
                condition=models.Q(sent_at__isnull=True, failed_at__isnull=True),
                name="outbound_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to}"

    @property
    def state(self) -> str:
        if self.sent_at:
            return "sent"
        if self.failed_at:
            return "failed"
        return "waiting"


class FailedTask(models.Model):
    """A task that failed for good (its retries ran out, or it cannot be retried)."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200, blank=True)
    arguments = models.TextField(blank=True)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    failed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.task_name} failed at {self.failed_at:%Y-%m-%d %H:%M}"
