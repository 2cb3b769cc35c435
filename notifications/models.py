"""Notifications: something a user should look at, such as a message that mentions them."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    class Kind(models.TextChoices):
        MENTION = "mention", "Mention"
        # New replies in a thread the recipient follows: one unread notification per thread,
        # brought up to date (its newest reply, how many) while it stays unread.
        REPLY = "reply", "Reply in a followed thread"
        # A reminder the recipient set on the message (reminders/), at the time it was due. A
        # second reminder on the same message brings the first one's notification up to date.
        REMINDER = "reminder", "Reminder"
        # A message in a direct conversation, for each of its other participants.
        DIRECT = "direct", "Direct message"
        # @room or @here (the message's `group_mention` says which), for the members it reached
        # that it does not mention by name (those have a "mention").
        GROUP = "group", "@room or @here"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    room = models.ForeignKey("messaging.ChatRoom", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        "messaging.ChatMessage", on_delete=models.CASCADE, related_name="notifications"
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    # For replies: the thread's root, and how many replies the notification stands for.
    thread_root = models.ForeignKey(
        "messaging.ChatMessage", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    count = models.PositiveIntegerField(default=1)
    # When a missed-message email took it in (notifications/digest.py); a reply notification
    # brought up to date by a newer reply is missed again.
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A retried notification step must not notify twice for one message.
            models.UniqueConstraint(
                fields=["recipient", "message", "kind"], name="notification_unique_per_message"
            ),
            # One unread reply notification per thread, however many replies it stands for.
            models.UniqueConstraint(
                fields=["recipient", "thread_root"],
                condition=models.Q(read_at__isnull=True, kind="reply"),
                name="notification_one_unread_per_thread",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "-created_at"], name="notification_recent"),
            # The sweep's look for missed notifications: the unread ones no email took yet.
            models.Index(
                fields=["created_at"],
                condition=models.Q(read_at__isnull=True, emailed_at__isnull=True),
                name="notification_not_emailed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id} on message {self.message_id}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class PendingNotification(models.Model):
    """A message whose notifications are still to be made: written in the message's own
    transaction, deleted in the transaction that makes them. Whatever stops between the two
    (a crash, a lock on the notifications table) leaves the row for the next attempt."""

    message = models.OneToOneField(
        "messaging.ChatMessage", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # A new reply: its thread's followers are to be told (an edit's new mentions are not that).
    new_reply = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"notifications pending for message {self.message_id}"
