"""Server processes for the benchmark: each pinned to its cores, with a raised file limit.

A `Server` is one process under test (Parley on daphne or uvicorn, or the baseline), started
with `os.sched_setaffinity` and `RLIMIT_NOFILE` set before exec, its output in a log file. It
reads its own RSS and CPU time from /proc, which is all the benchmark asks of it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
NOFILE = 65536
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Flood control off for the benchmark: the senders run far above a person's rate on purpose.
# One key per benchmark run: the sessions bench/setup_db.py signs must verify in every server.
SECRET_KEY = "bench-" + secrets.token_hex(24)
NO_FLOOD_CONTROL = {"PARLEY_RATE_BURST": "1000000000", "PARLEY_RATE_PER_SECOND": "1000000000"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


class Server:
    """One server process under test."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, cpus: set[int] | None):
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log_path = log_path
        self.cpus = cpus
        self.process: subprocess.Popen | None = None
        self.port = int(cmd[cmd.index("--port") + 1]) if "--port" in cmd else int(cmd[cmd.index("-p") + 1])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _preexec(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)
        raise_nofile()

    def start(self, health_path: str | None, timeout: float = 30.0) -> None:
        with self.log_path.open("a") as log:
            log.write(f"\n--- {' '.join(self.cmd)}\n")
            log.flush()
            self.process = subprocess.Popen(
                self.cmd,
                cwd=BASE_DIR,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._preexec,  # no threads run in the orchestrator here
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            if self._healthy(health_path):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become healthy in {timeout:.0f}s:\n{self.tail()}")

    def _healthy(self, health_path: str | None) -> bool:
        if health_path is None:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                return sock.connect_ex((HOST, self.port)) == 0
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.port}{health_path}", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds([self.pid])

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


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
    # The production command of docs/deploying.md (minus --proxy-headers: no proxy here).
    return [str(VENV_BIN / "daphne"), "-b", HOST, "-p", str(port), "config.asgi:application"]


def uvicorn_cmd(port: int) -> list[str]:
    return [
        str(VENV_BIN / "uvicorn"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets-sansio",
        "--lifespan",
        "off",
        "--no-access-log",
        "--log-level",
        "warning",
        "config.asgi:application",
    ]


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
