"""What bench/broker_latency.py's worker runs: tasks that write down when they started.

The worker loads this module with ``celery -A config worker --include bench.broker_tasks``; it is
imported before the worker connects, so ``BENCH_BROKER_CONF`` (JSON: Celery setting names, e.g.
``{"broker_transport_options": {"polling_interval": 1.0}}``) changes what config/settings.py
would give the broker. Each task appends one line, ``n started-at pid``, to the file named by
``BENCH_BROKER_LOG`` (one short ``O_APPEND`` write: lines from the pool's processes do not mix).

`write_steadily` is the app writing beside the broker: it runs in a Django process of its own
(tests/harness.py's ``call_in_server_env``) and stores messages through the real
``post_message`` at a steady rate, timing each.
"""

from __future__ import annotations

import json
import os
import time

from config.celery import app

if os.environ.get("BENCH_BROKER_CONF"):
    for name, value in json.loads(os.environ["BENCH_BROKER_CONF"]).items():
        setattr(app.conf, name, value)


def record(n: int, what: str = "start") -> None:
    line = f"{n} {what} {time.time():.6f} {os.getpid()}\n".encode()
    fd = os.open(os.environ["BENCH_BROKER_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


@app.task(name="bench.broker.started", ignore_result=True)
def started(n: int) -> None:
    record(n)


@app.task(name="bench.broker.hold", ignore_result=True)
def hold(n: int, seconds: float) -> None:
    """Starts, then holds its worker process (acknowledged late: the broker still has it)."""
    record(n)
    time.sleep(seconds)
    record(n, "done")


def write_steadily(rate: float, seconds: float) -> dict:
    """Messages stored one by one at `rate` a second for `seconds`: each one's latency (ms)."""
    from django.contrib.auth import get_user_model

    from messaging.actions.messages import post_message
    from messaging.actions.rooms import create_room

    author = get_user_model().objects.create_user(username=f"writer{os.getpid()}", password="x")
    room = create_room(creator=author, name=f"bench-writes-{os.getpid()}")
    latencies, errors = [], []
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        began = time.monotonic()
        try:
            post_message(author=author, room_id=room.id, body=f"steady {n}", client_id=f"w{n}")
        except Exception as error:  # a locked database is the finding, not a crash
            errors.append(f"{type(error).__name__}: {error}")
            continue
        latencies.append((time.monotonic() - began) * 1000)
    return {"latencies_ms": latencies, "errors": errors}
