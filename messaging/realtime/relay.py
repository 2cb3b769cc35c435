"""Events from the task worker to the servers' sockets when no channel layer joins them.

On the embedded default each process's channel layer is in memory, its own: what the worker
publishes (a scheduled message, a reminder, the notifications they make) would reach no socket.
There the worker's outlet writes its events to the database instead (`write`), and each
server's hub reads what is new every RELAY_SECONDS (`read_after`) and hands it to its sockets
as if the layer had carried it. With Redis the worker publishes through the layer like any
process, and nothing here runs. Rows are deleted by the hourly housekeeping after
KEEP_SECONDS. A relayed event that is missed (a server restarting) is what any lost layer
event is: the clients fill the gap (sync, the hub's audit).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import close_old_connections

logger = logging.getLogger(__name__)

KEEP_SECONDS = 300
READ_BATCH = 500

_writing = False
# One thread (and database connection) per server for the reads, off the send path's thread.
executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parley-relay")


def write_to_database() -> None:
    """This process publishes through the database (the worker, with an in-memory layer)."""
    global _writing
    _writing = True


def writing() -> bool:
    return _writing


def write(event: dict) -> None:
    from ..models import RelayedEvent

    try:
        RelayedEvent.objects.create(event=event)
    except Exception:
        logger.exception("Could not relay a %s event to the servers", event.get("type"))


def newest_id() -> int:
    from ..models import RelayedEvent

    close_old_connections()
    return RelayedEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def read_after(cursor: int) -> tuple[list[dict], int]:
    """The events written after `cursor`, oldest first, and the new cursor."""
    from ..models import RelayedEvent

    close_old_connections()
    rows = list(
        RelayedEvent.objects.filter(pk__gt=cursor).order_by("pk").values_list("pk", "event")[:READ_BATCH]
    )
    return [event for _, event in rows], rows[-1][0] if rows else cursor


def prune(now: datetime) -> int:
    from ..models import RelayedEvent

    return RelayedEvent.objects.filter(created_at__lt=now - timedelta(seconds=KEEP_SECONDS)).delete()[0]
