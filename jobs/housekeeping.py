"""Deleting what has served its time: run hourly by the worker (jobs.housekeeping)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.sessions.models import Session

from .models import OutboundEmail


def expired_sessions(now: datetime) -> int:
    return Session.objects.filter(expire_date__lt=now).delete()[0]


def old_read_notifications(now: datetime) -> int:
    from notifications.models import Notification

    cutoff = now - timedelta(days=settings.PARLEY["NOTIFICATION_RETENTION_DAYS"])
    return Notification.objects.filter(read_at__lt=cutoff).delete()[0]


def old_sent_emails(now: datetime) -> int:
    cutoff = now - timedelta(days=settings.PARLEY["EMAIL_RETENTION_DAYS"])
    return OutboundEmail.objects.filter(sent_at__lt=cutoff).delete()[0]


def expired_statuses(now: datetime) -> int:
    """A status past its end already shows as none; this clears it from the row as well."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(status_expires_at__lt=now)
        .update(status_text="", status_emoji="", status_expires_at=None)
    )
