"""Tasks that fail for good are kept where a site admin sees them (admin: Failed tasks)."""

import logging
import traceback as tb

logger = logging.getLogger(__name__)


def record_failure(
    sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **extra
) -> None:
    from .models import FailedTask

    try:
        FailedTask.objects.create(
            task_name=getattr(sender, "name", str(sender))[:200],
            task_id=task_id or "",
            arguments=repr({"args": args, "kwargs": kwargs})[:4000],
            error=f"{type(exception).__name__}: {exception}"[:4000],
            traceback=str(einfo) if einfo else "".join(tb.format_exception(exception))[-20000:],
        )
    except Exception:
        logger.exception("Could not record the failure of task %s", task_id)
