"""The worker's tasks: thin, each one call; what they do lives in the modules they call."""

from celery import shared_task
from django.utils import timezone

from .email import send_queued_email
from .sweeps import run_housekeeping, run_sweeps


@shared_task(name="jobs.sweep")
def sweep() -> dict[str, int]:
    return run_sweeps(timezone.now())


@shared_task(name="jobs.housekeeping")
def housekeeping() -> dict[str, int]:
    return run_housekeeping(timezone.now())


@shared_task(name="jobs.send_email")
def send_email(email_id: int) -> str:
    return send_queued_email(email_id)
