"""The sweep: every piece of due work, found in the database, every JOBS_SWEEP_SECONDS.

Each app registers what it does (in its AppConfig.ready): a function of `now` that does all its
work due by then, idempotent, and safe to run in two workers at once. The broker's wake-ups make
most work start at once; the sweep is what makes it certain.
"""

import logging
from collections.abc import Callable
from datetime import datetime

logger = logging.getLogger(__name__)

Sweep = Callable[[datetime], int]
_sweeps: dict[str, Sweep] = {}
_last: dict[str, Sweep] = {}
_housekeeping: dict[str, Sweep] = {}


def register(name: str, function: Sweep, *, last: bool = False) -> None:
    """`last`: after every other sweep (sending email, which a slow SMTP server can hold up)."""
    (_last if last else _sweeps)[name] = function


def register_housekeeping(name: str, function: Sweep) -> None:
    """Hourly: deleting what is old (sessions, read notifications, sent emails ...)."""
    _housekeeping[name] = function


def run_sweeps(now: datetime) -> dict[str, int]:
    return _run({**_sweeps, **_last}, now)


def run_housekeeping(now: datetime) -> dict[str, int]:
    return _run(_housekeeping, now)


def _run(functions: dict[str, Sweep], now: datetime) -> dict[str, int]:
    """Each in turn; one that fails is logged and leaves the others their turn."""
    done: dict[str, int] = {}
    for name, function in functions.items():
        try:
            done[name] = function(now)
        except Exception:
            logger.exception("The %s sweep failed; the next one tries again", name)
            done[name] = -1
    return done
