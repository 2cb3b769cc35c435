"""Server processes for the benchmark: each pinned to its cores, with a raised file limit.

A `Server` is one process under test (Parley on uvicorn or daphne, or the baseline): the test
harness's `ServerProcess` (tests/harness.py: the same command lines, start and wait for
/healthz as the tests and production use), started with `os.sched_setaffinity` and
`RLIMIT_NOFILE` set before exec. It reads its own RSS and CPU time from /proc, which is all the
benchmark asks of it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from tests import harness
from tests.harness import BASE_DIR, HOST, free_port

__all__ = ["BASE_DIR", "HOST", "Server", "free_port"]

VENV_BIN = Path(sys.executable).parent
NOFILE = 65536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Flood control off for the benchmark: the senders run far above a person's rate on purpose.
# One key per benchmark run: the sessions bench/setup_db.py signs must verify in every server.
SECRET_KEY = "bench-" + secrets.token_hex(24)
NO_FLOOD_CONTROL = {"PARLEY_RATE_BURST": "1000000000", "PARLEY_RATE_PER_SECOND": "1000000000"}


def raise_nofile(limit: int = NOFILE) -> int:
    """Raise this process's RLIMIT_NOFILE: the hard limit too where allowed (CAP_SYS_RESOURCE),
    else the soft limit up to the hard one. The soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(limit, soft), max(limit, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def proc_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of these processes (all their threads); gone ones count 0."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    """The pid and its descendants (PostgreSQL's backends, for instance)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


@contextlib.contextmanager
def affinity(cpus: set[int] | None):
    """Run the block (and whatever it starts) on these cpus, then go back."""
    if not cpus:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class Server(harness.ServerProcess):
    """One server process under test, on its cpus, with a raised file limit."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        log_path: Path,
        cpus: set[int] | None,
        *,
        port: int,
        health_path: str | None = harness.HEALTH_PATH,
    ):
        super().__init__(
            cmd,
            port=port,
            env=env,
            log_path=log_path,
            name=name,
            health_path=health_path,
            preexec_fn=self._preexec,
        )
        self.cpus = cpus

    def _preexec(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)
        raise_nofile()

    @property
    def ports(self) -> list[int]:
        return [self.port]

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds([self.pid])


class ServerGroup:
    """Several server processes of one configuration (e.g. two uvicorn processes, one per core,
    sharing PostgreSQL and Redis), measured as one server: CPU and RSS summed, a port each."""

    def __init__(self, servers: list[Server]):
        self.servers = servers

    @property
    def pid(self) -> int:
        return self.servers[0].pid

    @property
    def port(self) -> int:
        return self.servers[0].port

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    def start(self) -> None:
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers:
            with contextlib.suppress(Exception):
                server.stop()

    def rss_kib(self) -> int:
        return sum(server.rss_kib() for server in self.servers)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds([server.pid for server in self.servers])


def set_affinity(pids: Iterable[int], cpus: set[int]) -> None:
    """Move running processes (PostgreSQL's postmaster and backends) to these cpus; gone ones are
    skipped. What the postmaster forks from now on inherits it."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)


def parley_env(
    *, database_url: str | None, sqlite_path: Path | None, redis_url: str | None, layer: str
) -> dict:
    """The server's environment: production settings, flood control off, nothing inherited that
    would point it at another database or Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_LAYER_KIND", "SQLITE_PATH", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "SECRET_KEY": SECRET_KEY,
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **NO_FLOOD_CONTROL,
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if sqlite_path:
        env["SQLITE_PATH"] = str(sqlite_path)
    if redis_url:
        env["REDIS_URL"] = redis_url
        env["CHANNEL_LAYER_KIND"] = layer
    return env


def daphne_cmd(port: int) -> list[str]:
    return harness.daphne_command(port, HOST)


def uvicorn_cmd(port: int) -> list[str]:
    # Production's command line (docs/deploying.md), --ws-max-size included; warnings only.
    return harness.uvicorn_command(port, HOST, log_level="warning")


def baseline_cmd(port: int) -> list[str]:
    return [sys.executable, "-m", "bench.baseline_server", "--host", HOST, "--port", str(port)]


def manage(env: dict, *args: str, timeout: float = 600) -> str:
    """A management command (or `-m module`) against a server's database, with its environment."""
    cmd = [sys.executable, *args] if args[0] == "-m" else [sys.executable, "manage.py", *args]
    result = subprocess.run(
        cmd, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout
