"""A real Parley server in a subprocess, for the browser tests.

`LiveServer` runs `config.asgi:application` under uvicorn with production's command line
(tests/harness.py; daphne on request) on a free local port, with its own fresh SQLite file,
migrated and seeded with the demo data (alice, bob and carol, password `parley-demo`, all
three in the room `general`). It is a separate process with its own
database, so the tests that use it are not `django_db` tests and never touch the database
pytest-django sets up.

`LiveServer(..., worker=True)` runs a task worker beside it as `make run` does (tests/worker.py),
with its short test intervals; `env={"EMAIL_URL": mailbox.url}` sends its email to a
tests/mailbox.py server.

`stop()` and `start()` may be called again and again: the server comes back on the same port
with the same database file, which is what a restart test needs.

A test module wraps `running_server(tmp_path)` in a fixture; see tests/test_browser.py. Data
for the server's database is written by functions in tests/server_data.py, through
`server.call("tests.server_data:create_rooms", rooms=...)`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.harness import (
    BASE_DIR,
    HOST,
    LOG_TAIL_CHARS,
    ServerProcess,
    call_in_server_env,
    free_port,
    server_command,
)
from tests.worker import TEST_WORKER_ENV, WorkerProcess

__all__ = ["BASE_DIR", "DEMO_PASSWORD", "HOST", "LiveServer", "free_port", "running_server"]

DEMO_PASSWORD = "parley-demo"
START_TIMEOUT_SECONDS = 20.0
SETUP_TIMEOUT_SECONDS = 120.0


def server_env(sqlite_path: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # The server always runs on its own SQLite file and the in-memory channel layer, even in the
    # PostgreSQL + Redis run: a DATABASE_URL would point it at the database pytest-django is
    # creating and flushing for the other tests, and a REDIS_URL would share channel groups (and
    # the cache) with them. One server process needs neither; the Redis and PostgreSQL
    # configuration has its own tests.
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SQLITE_PATH": str(sqlite_path),
            "DEBUG": "true",
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "PORT": str(port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


class LiveServer(ServerProcess):
    """One Parley process (uvicorn as in production, or daphne) on `self.url`, with its own
    SQLite database unless ``env`` names another."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        server: str = "uvicorn",
        worker: bool = False,
    ):
        self.server = server
        self.directory = Path(directory)
        self.db_path = self.directory / "db.sqlite3"
        port = port or free_port()
        if worker:
            env = {**TEST_WORKER_ENV, "PARLEY_SITE_URL": f"http://{HOST}:{port}", **(env or {})}
        super().__init__(
            server_command(server, port, HOST),
            port=port,
            env=server_env(self.db_path, port, env),
            log_path=self.directory / "server.log",
            name=f"The Parley server ({server})",
        )
        # `make run`'s second process: a task worker with beat inside, on the same database and
        # (the filesystem) broker, started and stopped with the server.
        self.worker = WorkerProcess(self.env, self.directory / "worker.log") if worker else None

    # --- setup ---------------------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        """Run a management command against this server's database; its output, or a clear error."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"`manage.py {' '.join(args)}` failed with exit code {result.returncode}:\n"
                f"{result.stdout[-LOG_TAIL_CHARS:]}\n{result.stderr[-LOG_TAIL_CHARS:]}"
            )
        return result.stdout

    def call(self, target: str, **kwargs: Any) -> Any:
        """``module:function(**kwargs)`` against this server's database (see tests/server_data.py)."""
        return call_in_server_env(self.env, target, timeout=SETUP_TIMEOUT_SECONDS, **kwargs)

    def prepare(self) -> None:
        """A fresh database: migrated, with the demo users and room."""
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")

    # --- process -------------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start the server (on the same port and database as before) and wait until it is healthy;
        then its worker, if it has one."""
        super().start(timeout)
        if self.worker is not None:
            self.worker.start(timeout=60)

    def stop(self, timeout: float = 5.0) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=15)
        super().stop(timeout)

    def wait_healthy(self, timeout: float) -> None:
        self.wait_ready(timeout)

    def output(self) -> str:
        return self.tail(chars=100_000)


@contextlib.contextmanager
def running_server(directory: Path | None = None, **kwargs) -> Iterator[LiveServer]:
    """A prepared, started server, stopped on exit; in a temporary directory unless one is given."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="parley-live-")))
        server = LiveServer(directory, **kwargs)
        server.prepare()
        stack.callback(server.stop)
        server.start()
        yield server
