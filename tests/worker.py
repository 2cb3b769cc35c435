"""A real task worker (celery, with beat inside) for the tests, as `make run` starts it.

`WorkerProcess(env, log_path)` runs tests/harness.py's `worker_command()` in a session of its
own and waits for Celery's "ready." line; `kill()` SIGKILLs its whole process group (the main
process and its pool children, as the OOM killer or `systemctl kill` would); `start()` again
brings it back with the same environment.

`worker_env(directory)` is the environment of a worker for the database pytest-django
set up (the SQLite file, or the PostgreSQL test database) with the broker of the pass: kombu's
filesystem transport in `directory` on the first, the pass's Redis on the second.
`in_process_broker(env)` points this process's Celery app at the same broker, so what the test
queues, that worker runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.celery import make_broker_folders
from tests.harness import ServerProcess, worker_command

READY = re.compile(r"celery@\S+ ready\.")
# What the workers of the tests run with: sweeps often, and short leases and retries, so
# that the faults tried heal in seconds (the production defaults are in config/settings.py).
TEST_WORKER_ENV = {
    "PARLEY_JOBS_SWEEP_SECONDS": "0.5",
    "PARLEY_EMAIL_LEASE_SECONDS": "3",
    "PARLEY_EMAIL_RETRY_SECONDS": "0.5",
    "PARLEY_EMAIL_MAX_ATTEMPTS": "3",
    "PARLEY_SITE_URL": "http://testserver",
    "LOG_LEVEL": "INFO",
}


def _end_with_the_test_run() -> None:
    """In the worker's process, before exec: a SIGTERM when the process that started it dies (a
    test run killed by a timeout runs no finalizer), so no worker is left sweeping a deleted
    test database for ever, costing later runs CPU. Linux only (prctl PR_SET_PDEATHSIG)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class WorkerProcess(ServerProcess):
    def __init__(self, env: dict[str, str], log_path: Path, *, beat: bool = True, concurrency: int = 2):
        super().__init__(
            worker_command(beat=beat, concurrency=concurrency),
            port=0,
            env=env,
            log_path=log_path,
            name="The task worker",
            health_path=None,
            preexec_fn=_end_with_the_test_run,
        )

    def ready(self) -> tuple[bool, str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return False, "no log yet"
        current = text.rpartition(f"--- start #{self.starts}:")[2]
        return READY.search(current) is not None, "not ready yet"

    def kill(self) -> None:
        """SIGKILL, without a chance to hand back what it holds."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def worker_env(directory: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.db import connection

    env = dict(os.environ)
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(name)
    else:
        url = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(url._replace(path=f"/{name}"))
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "PARLEY_JOBS_DIR": str(directory / "jobs"),
            **TEST_WORKER_ENV,
            **(extra or {}),
        }
    )
    return env


def broker_of(env: dict[str, str]) -> tuple[str, dict]:
    """The broker URL and transport options a process with `env` uses (config/settings.py)."""
    url = env.get("CELERY_BROKER_URL") or env.get("REDIS_URL") or "filesystem://"
    if url.startswith("filesystem://"):
        folder = str(Path(env["PARLEY_JOBS_DIR"]) / "queue")
        return url, {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "processed_folder": str(Path(env["PARLEY_JOBS_DIR"]) / "processed"),
            "control_folder": str(Path(env["PARLEY_JOBS_DIR"]) / "control"),
            "store_processed": False,
        }
    from django.conf import settings

    return url, dict(settings.REDIS_BROKER_OPTIONS) if url.startswith("redis") else {}


@contextlib.contextmanager
def in_process_broker(env: dict[str, str]) -> Iterator[None]:
    from config.celery import app

    saved = app.conf.broker_url, app.conf.broker_transport_options
    url, options = broker_of(env)
    make_broker_folders(options)
    use_broker(url, options)
    try:
        yield
    finally:
        use_broker(*saved)


def use_broker(url: str, options: dict) -> None:
    """This process's Celery app sends to this broker from now on."""
    from config.celery import app

    app.conf.broker_url = url
    app.conf.broker_transport_options = options
    # Pooled connections and producers to the broker used before.
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def another_session_holding(postgresql_statement: str, params: tuple = ()) -> Iterator[None]:
    """Another database session holding a lock, as a slow writer would, for a fault test to kill
    the worker while it waits: on PostgreSQL `postgresql_statement` in an open transaction (a
    table or row lock), on SQLite the database's one write lock (the worker then waits at the
    start of its write transaction)."""
    import sqlite3

    from django.db import connection

    settings_dict = connection.settings_dict
    if connection.vendor == "postgresql":
        import psycopg

        holder = psycopg.connect(
            host=settings_dict["HOST"],
            port=settings_dict["PORT"],
            user=settings_dict["USER"],
            password=settings_dict["PASSWORD"],
            dbname=settings_dict["NAME"],
        )
        holder.execute(postgresql_statement, params)
    else:
        holder = sqlite3.connect(settings_dict["NAME"], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def a_session_waits_on_a_lock(query_start: str) -> bool:
    """PostgreSQL: whether a session's statement starting so waits on a lock now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [query_start.replace("%", "%%") + "%"],
        )
        return cursor.fetchone()[0] > 0
