"""A real Parley server in a subprocess, for the browser tests.

`LiveServer` runs `config.asgi:application` under uvicorn (the production server; daphne on
request, as `make run` serves it) on a free local port, with its own fresh
SQLite file, migrated and seeded with the demo data (alice, bob and carol, password
`parley-demo`, all three in the room `general`). It is a separate process with its own
database, so the tests that use it are not `django_db` tests and never touch the database
pytest-django sets up.

`stop()` and `start()` may be called again and again: the server comes back on the same port
with the same database file, which is what a restart test needs.

A test module wraps `running_server(tmp_path)` in a fixture; see tests/test_browser.py.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_PASSWORD = "parley-demo"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 5.0
SETUP_TIMEOUT_SECONDS = 120.0
LOG_TAIL_CHARS = 4000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


def server_command(server: str, host: str, port: int) -> list[str]:
    """The production command (docs/deploying.md) for uvicorn; `make run`'s for daphne."""
    bin_dir = Path(sys.executable).parent
    if server == "daphne":
        return [str(bin_dir / "daphne"), "-b", host, "-p", str(port), "config.asgi:application"]
    return [
        str(bin_dir / "uvicorn"),
        "config.asgi:application",
        *("--host", host, "--port", str(port)),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
        *("--ws-max-size", "65536", "--lifespan", "off", "--no-access-log"),
    ]


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return text[-chars:] if text else "(no output)"


class LiveServer:
    """One daphne process serving Parley on `self.url`, with its own SQLite database."""

    def __init__(
        self,
        directory: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        server: str = "uvicorn",
    ):
        self.server = server
        self.directory = Path(directory)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.db_path = self.directory / "db.sqlite3"
        self.log_path = self.directory / "server.log"
        self.env = server_env(self.db_path, self.port, env)
        self.process: subprocess.Popen | None = None
        self.starts = 0

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

    def prepare(self) -> None:
        """A fresh database: migrated, with the demo users and room."""
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")

    # --- process -------------------------------------------------------------------------------

    @property
    def command(self) -> list[str]:
        return server_command(self.server, HOST, self.port)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start the server (on the same port and database as before) and wait until it is healthy."""
        if self.running:
            return
        self.starts += 1
        with self.log_path.open("a") as log:
            log.write(f"\n--- start #{self.starts}: {' '.join(self.command)}\n")
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal reaches pytest, which stops it.
                start_new_session=True,
            )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"The Parley server exited with code {self.process.returncode} before it was "
                    f"healthy. Its output:\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last_error = f"HTTP {error.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = str(error)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"The Parley server on {self.url} did not answer GET /healthz with 200 within "
            f"{timeout:.0f} s (last: {last_error}). Its output:\n{tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Terminate the server; kill it if it does not go within a few seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self) -> None:
        self.stop()
        self.start()

    def output(self) -> str:
        return tail(self.log_path, chars=100_000)


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
