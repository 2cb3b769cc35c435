"""Waiting for a quiet machine before a measurement (`bench/run.py --wait-quiet SECONDS`).

On a machine shared with other people's tests a step can run while their browsers and servers
take a core. The ladder reruns a failing step that ran noisy (loadgen.NOISY_RETRIES); this waits
before a configuration starts until other processes' CPU (the whole machine's busy time from
/proc/stat, less this process's own) has stayed under `threshold` of a core for `window`
seconds, or gives up after `max_wait` seconds and says so: the run goes on either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.loadgen import cpu_seconds, machine_busy_seconds

QUIET_THRESHOLD = 0.25  # of one core: loadgen.NOISY_OTHER_CPU
QUIET_WINDOW_S = 5.0


def others_cpu(seconds: float, *, sleep: Callable[[float], None] = time.sleep) -> float:
    """Other processes' CPU over the next `seconds`, as a share of one core."""
    busy0, own0, wall0 = machine_busy_seconds(), cpu_seconds(), time.monotonic()
    sleep(seconds)
    wall = time.monotonic() - wall0
    return max(0.0, (machine_busy_seconds() - busy0) - (cpu_seconds() - own0)) / wall


def wait_for_quiet(
    max_wait: float,
    *,
    threshold: float = QUIET_THRESHOLD,
    window: float = QUIET_WINDOW_S,
    measure: Callable[[float], float] = others_cpu,
    log: Callable[[str], None] = print,
) -> dict:
    """Wait (up to `max_wait` seconds) for a `window` with other CPU under `threshold`:
    {"waited_s", "other_cpu" (the last window's), "quiet" (whether one was found)}."""
    started = time.monotonic()
    other = measure(window)
    while other >= threshold and time.monotonic() - started + window <= max_wait:
        other = measure(window)
    waited = round(time.monotonic() - started, 1)
    quiet = other < threshold
    if quiet:
        log(f"  quiet: other processes at {other:.0%} of a core (waited {waited:.0f} s)")
    else:
        log(f"  not quiet after {waited:.0f} s: other processes at {other:.0%} of a core; going on")
    return {"waited_s": waited, "other_cpu": round(other, 3), "quiet": quiet}
