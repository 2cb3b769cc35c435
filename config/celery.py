"""The Celery application of Parley's worker and beat (jobs/, docs/deploying.md).

    celery -A config worker --beat   # the embedded default (`make run` starts it)
    celery -A config worker          # production, beside one `celery -A config beat`

Settings come from config/settings.py (the `CELERY_*` names); tasks live in each app's
tasks.py. Beat sends two things: the sweep, which finds due work in the database, and the
hourly housekeeping.
"""

import os
from pathlib import Path

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# `filesystem://` is kombu's filesystem transport with atomic writes (jobs/transport.py).
TRANSPORT_ALIASES["filesystem"] = "jobs.transport:Transport"

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def make_broker_folders(options: dict) -> None:
    """kombu's filesystem transport needs its folders to exist (the embedded default)."""
    for name in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if name in options:
            Path(options[name]).mkdir(parents=True, exist_ok=True)


@app.on_after_configure.connect
def prepare_folders(sender: Celery, **kwargs) -> None:
    Path(sender.conf.beat_schedule_filename).parent.mkdir(parents=True, exist_ok=True)
    if str(sender.conf.broker_url).startswith("filesystem://"):
        make_broker_folders(sender.conf.broker_transport_options)


@app.on_after_finalize.connect
def schedule_periodic_work(sender: Celery, **kwargs) -> None:
    from django.conf import settings

    sweep_seconds = settings.PARLEY["JOBS_SWEEP_SECONDS"]
    # A sweep that waited longer than its interval is pointless: the next one is on its way.
    sender.add_periodic_task(
        sweep_seconds, sender.signature("jobs.sweep"), name="sweep", expires=sweep_seconds
    )
    sender.add_periodic_task(3600.0, sender.signature("jobs.housekeeping"), name="housekeeping", expires=3600)
