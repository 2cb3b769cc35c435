"""The user account: Django's user plus the name shown beside messages."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    display_name = models.CharField(max_length=80, blank=True)
    # The username case-folded in Python: what @mentions and "add member" match on. SQL lower()
    # folds only ASCII on SQLite and on a C-locale PostgreSQL, so `@émile` would miss `Émile`.
    folded_username = models.CharField(max_length=150, db_index=True, editable=False, default="")
    # Awareness (awareness/): a status others see beside the name, until it expires; whether
    # others see this user online at all; whether the user's read pointers are shared (and,
    # in return, others' seen by the user).
    status_text = models.CharField(max_length=100, blank=True)
    status_emoji = models.CharField(max_length=16, blank=True)
    status_expires_at = models.DateTimeField(null=True, blank=True)
    invisible = models.BooleanField(default=False)
    share_read_state = models.BooleanField(default=True)
    # When the user was last active while visible (kept by the presence tracker, at most once
    # a minute): what "last active 12 minutes ago" says once the user is offline.
    last_active_at = models.DateTimeField(null=True, blank=True)
    # When the user was last active in a focused tab, invisible or not: shown to nobody; it holds
    # back missed-message emails while the person is in Parley (notifications/digest.py).
    present_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Email (jobs/, accounts/): the address counts once its owner opened the link sent to it
    # (`email_verified_at` set; cleared when the address changes). Only a verified address gets
    # password resets and missed-message emails.
    email_verified_at = models.DateTimeField(null=True, blank=True)
    # Missed-message emails (notifications/digest.py): mentions, DMs and followed-thread replies
    # still unread this many minutes after they came, in one email; 0: at once; None: never.
    missed_email_minutes = models.PositiveSmallIntegerField(null=True, blank=True, default=10)
    # Notification control (notifications/preferences.py), on the server so every device
    # follows. Do not disturb while `dnd_until` is in the future: nothing pops up, nothing is
    # lost (notifications are made and listed as ever, missed-message emails wait for its end).
    dnd_until = models.DateTimeField(null=True, blank=True)
    # Desktop notifications while a Parley tab is open but hidden (the browser's permission is
    # each device's own; this is whether the person wants them at all), and their sound.
    desktop_notifications = models.BooleanField(default=True)
    notification_sound = models.BooleanField(default=False)

    class Meta(AbstractUser.Meta):
        constraints = [
            # One account per verified address (migration 0005): what a password reset goes to.
            # An unverified address may be on several accounts, so typing someone's address
            # neither squats it nor tells whether it has an account; the first to open its
            # link keeps it (accounts.actions.verify_email).
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email="") & models.Q(email_verified_at__isnull=False),
                name="accounts_user_email_ci_unique",
                violation_error_message="Another account has this email address verified.",
            ),
        ]

    @property
    def email_verified(self) -> bool:
        return bool(self.email) and self.email_verified_at is not None

    def in_dnd(self, now) -> bool:
        return self.dnd_until is not None and self.dnd_until > now

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    def save(self, *args, **kwargs):
        self.folded_username = self.username.casefold()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "folded_username"}
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.username
