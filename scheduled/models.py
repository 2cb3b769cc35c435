"""A message written now and sent later: one row per scheduled message, the record of due work."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ScheduledMessage(models.Model):
    """What the author wrote, where, and when it goes out; then what became of it.

    The row is the due work (the sweep finds it by `send_at`), and its `sent` mark commits in
    the transaction that stores the message (`sent_message`), whose client_id is
    `scheduled-<id>`: a re-run stores nothing new.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Scheduled"
        SENT = "sent", "Sent"
        # Refused at its time (no longer a member, the room archived, the thread gone):
        # `failure_code` and `failure_detail` say why; no message was stored.
        FAILED = "failed", "Not sent"
        # Cancelled by the author (a pending one), or a failed one dismissed.
        CANCELLED = "cancelled", "Cancelled"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scheduled_messages"
    )
    # A deleted room takes its scheduled messages with it, as it takes its messages.
    room = models.ForeignKey("messaging.ChatRoom", on_delete=models.CASCADE, related_name="+")
    body = models.TextField()
    send_at = models.DateTimeField()
    # A reply: the seq of its thread's root in the room (and shown in the room's timeline too
    # when `also_in_room`), as `send_message` takes it.
    thread_root_seq = models.PositiveBigIntegerField(null=True, blank=True)
    also_in_room = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    sent_message = models.ForeignKey(
        "messaging.ChatMessage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failure_code = models.CharField(max_length=40, blank=True)
    failure_detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When it was sent, failed or was cancelled.
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["send_at", "id"]
        indexes = [
            # The sweep's query: pending ones due by now, the oldest first.
            models.Index(fields=["send_at"], condition=Q(state="pending"), name="scheduled_due"),
            # The author's list and the room's indicator.
            models.Index(fields=["author", "state", "room"], name="scheduled_by_author"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "sent", "failed", "cancelled"]),
                name="scheduled_state_known",
            ),
            # Only a sent one has a message (which may since have been deleted for good).
            models.CheckConstraint(
                condition=Q(state="sent") | Q(sent_message__isnull=True),
                name="scheduled_message_only_when_sent",
            ),
            # A failed one says why; no other does.
            models.CheckConstraint(
                condition=(Q(state="failed") & ~Q(failure_code=""))
                | (~Q(state="failed") & Q(failure_code="")),
                name="scheduled_failure_code_when_failed",
            ),
            models.CheckConstraint(
                condition=Q(also_in_room=False) | Q(thread_root_seq__isnull=False),
                name="scheduled_also_in_room_only_for_replies",
            ),
            models.CheckConstraint(
                condition=Q(state="pending") | Q(finished_at__isnull=False),
                name="scheduled_finished_at_when_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author} in {self.room_id} at {self.send_at:%Y-%m-%d %H:%M}: {self.body[:40]}"

    @property
    def client_id(self) -> str:
        """The sent message's client_id: the same on every run, so a re-run stores nothing new."""
        return f"scheduled-{self.pk}"
