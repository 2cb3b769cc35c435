"""Waking the worker after a commit: a hint, never the only record of the work.

What a task does is found in the database again by the sweep, so a broker that is down or slow
costs a delay (at most the sweep's interval, once it is back), never the work, and never the
request that committed it.
"""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)

_in_worker = False


def from_worker() -> None:
    """This process is a worker: its sweeps do what it queues, so it wakes nobody."""
    global _in_worker
    _in_worker = True


def wake(task_name: str, *args) -> None:
    if _in_worker:
        return
    from config.celery import app

    try:
        app.send_task(task_name, args=args)
    except Exception:
        logger.warning(
            "Could not hand %s%r to the worker; the sweep will find it", task_name, args, exc_info=True
        )


def wake_on_commit(task_name: str, *args) -> None:
    transaction.on_commit(lambda: wake(task_name, *args))
