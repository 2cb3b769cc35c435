"""Reminders: "remind me about this message at that time", one row per reminder until it is due."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class Reminder(models.Model):
    """A pending reminder is due at `remind_at`; the sweep then makes it `delivered` (a
    notification, in the same transaction) or `dropped` (the message is no longer the user's to
    read). Cancelling deletes the row: nothing is left to deliver or to show."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        # Due, but the user could no longer read the message (left its room, it was deleted).
        DROPPED = "dropped", "Dropped"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    message = models.ForeignKey("messaging.ChatMessage", on_delete=models.CASCADE, related_name="+")
    remind_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # When it was delivered or dropped.
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["remind_at", "id"]
        constraints = [
            # A pending reminder has no done time; a delivered or dropped one has.
            models.CheckConstraint(
                condition=Q(state="pending", done_at__isnull=True)
                | Q(state__in=["delivered", "dropped"], done_at__isnull=False),
                name="reminder_done_at_matches_state",
            ),
            models.CheckConstraint(
                condition=Q(remind_at__gt=F("created_at")), name="reminder_after_its_creation"
            ),
            # The same reminder set twice (a double click, a resent form) is one reminder.
            models.UniqueConstraint(
                fields=["user", "message", "remind_at"],
                condition=Q(state="pending"),
                name="reminder_unique_pending",
            ),
        ]
        indexes = [
            # The sweep's query: pending reminders due by now, oldest first.
            models.Index(fields=["remind_at"], condition=Q(state="pending"), name="reminder_due"),
            # The reminders page and the per-user limit.
            models.Index(fields=["user", "state", "remind_at"], name="reminder_user_state"),
        ]

    def __str__(self) -> str:
        return f"reminder for {self.user_id} on message {self.message_id} at {self.remind_at:%Y-%m-%d %H:%M}"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING
