"""Rooms, who belongs to them, and the messages said in them."""

from datetime import UTC, datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# "Until I unmute": a mute's end that never comes (a far date keeps "muted now" one comparison).
MUTED_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


class ChatRoom(models.Model):
    class Kind(models.TextChoices):
        ROOM = "room", "Room"
        # A direct conversation (messaging/actions/direct.py): a private room of 2 to
        # DM_MAX_PEOPLE people, named by its other participants for each of them, whose
        # members never change (adding someone starts a new conversation).
        DIRECT = "direct", "Direct message"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ROOM)
    # A direct conversation's participants, their ids sorted and joined ("3-7-12"): one
    # conversation per set of people, enforced by the unique index. None for rooms.
    direct_key = models.CharField(max_length=200, null=True, blank=True, unique=True, editable=False)
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
    # The position of the room's newest change (a message, an edit, a delete, a reaction, a pin):
    # bumped under the same lock, so changes are gap-free and ordered as messages are.
    last_change = models.PositiveBigIntegerField(default=0)

    # Policy, set by the room's managers. None: the site's default (settings.PARLEY).
    edit_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Minutes after sending that authors may edit. Empty: the site's default; 0: no limit.",
    )
    delete_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Minutes after sending that authors may delete. Empty: the site's default; 0: no limit.",
    )

    class Audience(models.TextChoices):
        MEMBERS = "members", "Every member"
        MANAGERS = "managers", "Only the room's owner and admins"

    history_visible_to = models.CharField(
        max_length=10,
        choices=Audience.choices,
        blank=True,
        default="",
        help_text="Who may see a message's earlier versions. Empty: the site's default.",
    )
    pins_by = models.CharField(
        max_length=10, choices=Audience.choices, default=Audience.MEMBERS, help_text="Who may pin messages."
    )
    # @room and @here (notifications/audience.py). Empty: every member in rooms of up to
    # GROUP_MENTION_MEMBERS members, only managers in bigger ones.
    group_mentions_by = models.CharField(
        max_length=10,
        choices=Audience.choices,
        blank=True,
        default="",
        help_text="Who may notify the room with @room and @here. Empty: everyone in small rooms, "
        "only the owner and admins in big ones.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="chat_rooms"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # A direct conversation is private and has its participants' key; a room has none.
            models.CheckConstraint(
                condition=(Q(kind="direct") & Q(is_private=True) & Q(direct_key__isnull=False))
                | (Q(kind="room") & Q(direct_key__isnull=True)),
                name="chatroom_direct_is_private_and_keyed",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def is_direct(self) -> bool:
        return self.kind == self.Kind.DIRECT


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

    class NotifyLevel(models.TextChoices):
        # Every new message pops up (desktop notification), as a direct message does.
        ALL = "all", "All new messages"
        # Mentions of the member, @room and @here, replies in followed threads; in a direct
        # conversation every message (it is addressed to its participants).
        MENTIONS = "mentions", "Mentions"
        # No notification from this room at all, not even a direct mention.
        NOTHING = "nothing", "Nothing"

    # Notification control (notifications/preferences.py), the member's own, on every device.
    notify_level = models.CharField(max_length=10, choices=NotifyLevel.choices, default=NotifyLevel.MENTIONS)
    # Muted while this is in the future (MUTED_FOREVER: until unmuted): no bold, no unread badge,
    # no @room/@here; a direct mention still notifies unless the level is "nothing". A timed
    # mute ends by itself, as the clock passes it: nothing has to run.
    muted_until = models.DateTimeField(null=True, blank=True)

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

    def is_muted(self, now: datetime) -> bool:
        return self.muted_until is not None and self.muted_until > now


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
    # The position of this message's latest change in the room's change order (its creation, or
    # the edit, delete, reaction or pin after it): sync by change reads by it.
    change = models.PositiveBigIntegerField()
    edited_at = models.DateTimeField(null=True, blank=True)
    # A deleted message keeps its place (seq) as a tombstone; its body and versions are erased.
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pinned_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The group mention the message was sent with, when its author was allowed it: "room" (every
    # member) or "here" (members with a socket open then); "" for none, or one refused (then it
    # is plain text, and its author was told why).
    group_mention = models.CharField(max_length=8, blank=True, default="")
    # The members the current body mentions.
    mentioned_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="mentioned_in"
    )
    # A reply in a thread: the message it answers (a root, never itself a reply: threads are one
    # level deep). Messages are never deleted but with their room (deletes are tombstones).
    thread_root = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # Whether the room's timeline shows it: every message but a reply not "also sent to the room".
    # The room's unread count counts only these.
    in_room = models.BooleanField(default=True)
    # A root's thread as the room's timeline shows it, kept in the transaction of each reply and
    # each reply's delete (so a message's payload is still one row).
    reply_count = models.PositiveIntegerField(default=0)
    last_reply_at = models.DateTimeField(null=True, blank=True)
    # The newest reply's seq, deleted or not (it never goes back): what a reader's place in the
    # thread is measured against.
    last_reply_seq = models.PositiveBigIntegerField(null=True, blank=True)
    # The authors of the newest replies, newest first, as author payloads (at most 3).
    last_repliers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["room", "seq"]
        constraints = [
            # The unique index on (room, seq) is also what history and sync read by.
            models.UniqueConstraint(fields=["room", "seq"], name="chatmessage_unique_room_seq"),
            # A position belongs to one message's latest change; sync by change reads this index.
            models.UniqueConstraint(fields=["room", "change"], name="chatmessage_unique_room_change"),
            models.UniqueConstraint(
                fields=["author", "client_id"], name="chatmessage_unique_author_client_id"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="chatmessage_seq_positive"),
            models.CheckConstraint(
                condition=~Q(body="") | Q(deleted_at__isnull=False), name="chatmessage_body_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(body="") | Q(deleted_at__isnull=True), name="chatmessage_deleted_has_no_body"
            ),
            models.CheckConstraint(
                condition=Q(in_room=True) | Q(thread_root__isnull=False), name="chatmessage_only_replies_hide"
            ),
        ]
        indexes = [
            models.Index(
                fields=["room", "pinned_at"], name="chatmessage_pinned", condition=Q(pinned_at__isnull=False)
            ),
            # A thread's replies in order.
            models.Index(
                fields=["thread_root", "seq"],
                name="chatmessage_thread",
                condition=Q(thread_root__isnull=False),
            ),
            # The room's timeline (history pages, unread counts) without the thread-only replies.
            models.Index(fields=["room", "seq"], name="chatmessage_timeline", condition=Q(in_room=True)),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.room_id} by {self.author_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ThreadFollow(models.Model):
    """A user's standing in one thread: whether they follow it (its root's author, whoever
    replied or was mentioned in it, or chose to), muted, and how far they have read it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="thread_follows"
    )
    root = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="follows")
    # Denormalised from the root: the Threads view and access checks read by room.
    room = models.ForeignKey(ChatRoom, on_delete=models.CASCADE, related_name="+")
    # False: unfollowed on purpose; kept so that a later mention does not follow again.
    following = models.BooleanField(default=True)
    # Followed, but no notifications and no unread badge.
    muted = models.BooleanField(default=False)
    # The newest reply's seq the user has seen in this thread (replies are the room's seqs).
    last_read_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "root"], name="threadfollow_unique_user_root"),
        ]
        indexes = [
            models.Index(fields=["root", "user"], name="threadfollow_root_user"),
        ]

    def __str__(self) -> str:
        state = "follows" if self.following else "unfollowed"
        return f"{self.user_id} {state} thread {self.root_id}"


class MessageRevision(models.Model):
    """An earlier version of an edited message's body: what it said, from when until when."""

    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    written_at = models.DateTimeField()
    replaced_at = models.DateTimeField(default=timezone.now)
    # The client_id of the edit that replaced this version: a resent edit changes nothing.
    edit_client_id = models.CharField(max_length=64)

    class Meta:
        ordering = ["message", "replaced_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "edit_client_id"], name="revision_unique_edit_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"version of message {self.message_id} until {self.replaced_at:%Y-%m-%d %H:%M}"


class Reaction(models.Model):
    message = models.ForeignKey(ChatMessage, on_delete=models.CASCADE, related_name="reactions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reactions")
    emoji = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["message", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "user", "emoji"], name="reaction_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} by {self.user_id} on message {self.message_id}"


class RelayedEvent(models.Model):
    """A channel-layer event written by a process that shares no layer with the servers (the task
    worker on the embedded default, whose in-memory layer is its own): each server's hub reads
    the new ones every RELAY_SECONDS and hands them to its sockets (messaging/realtime/relay.py)."""

    event = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"relayed {self.event.get('type')} #{self.pk}"
