"""Rooms, who belongs to them, and the messages said in them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ChatRoom(models.Model):
    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=300, blank=True)
    is_private = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)
    # The seq of the newest message; bumped under the row lock that orders the room's messages.
    last_seq = models.PositiveBigIntegerField(default=0)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)
    # The newest seq this member has seen in the room; the room's last_seq minus it is unread.
    last_read_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "room"], name="membership_unique_user_room"),
        ]
        indexes = [models.Index(fields=["room", "user"], name="membership_room_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class ChatMessage(models.Model):
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chat_messages"
    )
    # Position in the room: 1, 2, 3 … with no gaps; clients detect loss by it.
    seq = models.PositiveBigIntegerField()
    body = models.TextField()
    # Chosen by the sender so a resend after a reconnect stores nothing new.
    client_id = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    mentioned_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in"
    )

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            # The unique index on (room, seq) is also what history and sync read by.
            models.UniqueConstraint(fields=["room", "seq"], name="chatmessage_unique_room_seq"),
            models.UniqueConstraint(
                fields=["author", "client_id"], name="chatmessage_unique_author_client_id"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chatmessage_seq_positive"),
            models.CheckConstraint(condition=~Q(body=""), name="chatmessage_body_not_empty"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.room_id} by {self.author_id}"
