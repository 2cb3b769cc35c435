"""`make test`'s two passes side by side: the embedded default (SQLite, in-memory layer) and
PostgreSQL + Redis (tests/servers.py), one process each, so the run takes the longer pass's time
on a machine with two cores instead of the sum (issue 16 brought the sum near CI's 20 minutes).

The passes share nothing: each test database, server, worker and browser profile is in a
temporary directory of its own and every server listens on a free port. Each line of output
says which pass wrote it; the exit status fails when either pass failed.

    python -m tests.both_passes [pytest arguments for both passes]
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time

PASSES = {
    "sqlite": [sys.executable, "-m", "pytest"],
    "servers": [sys.executable, "-m", "tests.servers", sys.executable, "-m", "pytest"],
}


def _end_with_this_run() -> None:
    """In each pass's process: a SIGTERM when this runner dies (CI's timeout kills the runner,
    not its children). Linux only (prctl PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _relay(name: str, stream, lock: threading.Lock, tail: list[str]) -> None:
    for line in iter(stream.readline, ""):
        with lock:
            sys.stdout.write(f"[{name}] {line}")
            sys.stdout.flush()
        tail.append(line)
        del tail[:-3]


def main(arguments: list[str]) -> int:
    lock = threading.Lock()
    started = time.monotonic()
    runs: dict[str, tuple[subprocess.Popen, threading.Thread, list[str]]] = {}
    for name, command in PASSES.items():
        process = subprocess.Popen(
            [*command, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_end_with_this_run,
        )
        tail: list[str] = []
        relay = threading.Thread(target=_relay, args=(name, process.stdout, lock, tail), daemon=True)
        relay.start()
        runs[name] = (process, relay, tail)
    try:
        codes = {name: process.wait() for name, (process, _, _) in runs.items()}
    except KeyboardInterrupt:
        for process, _, _ in runs.values():
            process.send_signal(signal.SIGINT)
        codes = {name: process.wait() for name, (process, _, _) in runs.items()}
    for _, relay, _ in runs.values():
        relay.join(timeout=5)
    print(f"\nBoth passes in {time.monotonic() - started:.0f} s:")
    for name, (_, _, tail) in runs.items():
        summary = tail[-1].strip() if tail else "(no output)"
        print(f"  {name}: exit {codes[name]}: {summary}")
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
