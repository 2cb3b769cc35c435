"""One harness for Parley's server processes: the tests, the benchmark, the scripts and `make run`.

- ``free_port()``: a TCP port on 127.0.0.1 that nothing listens on.
- ``uvicorn_command(port)``: the production command line (docs/deploying.md, the Dockerfile):
  uvicorn on uvloop and httptools, websockets-sansio, ``--ws-max-size 65536``. The Dockerfile's
  ``CMD``, docs/deploying.md, the README and deploy/parley@.service give it with ``proxy=True``
  (tests/test_deploy.py compares them); `make run` execs it; the browser and cluster tests and
  the benchmark start it.
- ``worker_command(beat=...)`` / ``beat_command()``: the task worker's and beat's (config/celery.py);
  `make run` starts a worker with beat inside beside the server.
- ``daphne_command(port)``: daphne, for the tests and benchmark configurations that still
  compare it (``manage.py runserver`` serves through it too).
- ``ServerProcess``: one such process in a session of its own, its output in a log file;
  ``start()`` waits until ``GET /healthz`` answers 200 (or, without a health path, until the
  port accepts), ``stop()`` terminates it (kills it after a few seconds), ``tail()`` reads its log.
- ``call_in_server_env(env, "tests.server_data:create_rooms", rooms=...)``: runs a function from
  a real module in a fresh Django process with a server's environment (its database) and returns
  what the function returned (JSON). Python for a server's database lives in modules, never in
  strings run through ``manage.py shell -c``.

Command line::

    python -m tests.harness serve [--host H] [--port N]   # `make run`: the production uvicorn + a worker
    python -m tests.harness command [--host H] [--port N] [--proxy]  # print that command line
    python -m tests.harness call MODULE:FUNCTION [JSON-KWARGS]  # what call_in_server_env runs

Only the standard library is imported here: `make run` uses this module with the runtime
dependencies alone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent
HOST = "127.0.0.1"
HEALTH_PATH = "/healthz"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 5.0
CALL_TIMEOUT_SECONDS = 300.0
LOG_TAIL_CHARS = 4000
# The largest frame a client may send (docs/protocol.md); uvicorn closes the socket above it.
WS_MAX_SIZE = 65536
# The last line of `python -m tests.harness call`'s output carries the result after this mark.
RESULT_MARK = "tests.harness result: "


def free_port(host: str = HOST) -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# --- Command lines ---------------------------------------------------------------------------


def uvicorn_command(
    port: int,
    host: str = HOST,
    *,
    proxy: bool = False,
    forwarded_allow_ips: str | None = None,
    log_level: str | None = None,
    executable: str | None = None,
) -> list[str]:
    """The production server's command line.

    ``proxy=True`` adds what production behind nginx needs (``--proxy-headers``; with
    ``forwarded_allow_ips`` the proxy addresses trusted beyond 127.0.0.1, "*" in the Docker
    image, whose nginx is another container); ``executable`` is ``uvicorn`` as the Dockerfile
    names it, by default this environment's.
    """
    command = [
        executable or str(BIN_DIR / "uvicorn"),
        "config.asgi:application",
        *("--host", host, "--port", str(port)),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
        # Browsers offer permessage-deflate; accepted, it compresses every frame once per
        # socket (no serialise-once) and halved the knee in a room of 100 (docs/performance.md).
        *("--ws-max-size", str(WS_MAX_SIZE), "--ws-per-message-deflate", "false", "--lifespan", "off"),
    ]
    if proxy:
        command.append("--proxy-headers")
        if forwarded_allow_ips:
            command += ["--forwarded-allow-ips", forwarded_allow_ips]
    command.append("--no-access-log")
    if log_level:
        command += ["--log-level", log_level]
    return command


def worker_command(*, beat: bool, concurrency: int = 2, executable: str | None = None) -> list[str]:
    """The task worker's command line (config/celery.py, docs/deploying.md). ``beat=True`` runs
    beat inside it: `make run` and one-worker hosts; production runs one ``beat_command()``
    beside any number of workers instead. Gossip and mingle are off: they need broadcast, which
    the embedded broker does not carry, and workers share nothing through them."""
    command = [
        executable or str(BIN_DIR / "celery"),
        *("-A", "config", "worker"),
        *("--concurrency", str(concurrency), "--loglevel", "INFO"),
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        command.append("--beat")
    return command


def beat_command(executable: str | None = None) -> list[str]:
    return [executable or str(BIN_DIR / "celery"), "-A", "config", "beat", "--loglevel", "INFO"]


def daphne_command(port: int, host: str = HOST) -> list[str]:
    return [str(BIN_DIR / "daphne"), "-b", host, "-p", str(port), "config.asgi:application"]


def server_command(server: str, port: int, host: str = HOST, **options: Any) -> list[str]:
    """``uvicorn`` (production's) or ``daphne``."""
    if server == "daphne":
        return daphne_command(port, host)
    if server == "uvicorn":
        return uvicorn_command(port, host, **options)
    raise ValueError(f"unknown server {server!r} (uvicorn or daphne)")


# --- Processes -------------------------------------------------------------------------------


def tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return text[-chars:] if text else "(no output)"


def http_status(url: str, timeout: float = 2.0) -> int | str:
    """The HTTP status of GET url, or why there was none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
        return str(error)


class ServerProcess:
    """One server process on host:port, in a session of its own, its output in ``log_path``."""

    def __init__(
        self,
        command: list[str],
        *,
        port: int,
        env: dict[str, str],
        log_path: Path,
        name: str = "The Parley server",
        host: str = HOST,
        health_path: str | None = HEALTH_PATH,
        cwd: Path = BASE_DIR,
        preexec_fn: Callable[[], None] | None = None,
    ):
        self.command = command
        self.port = port
        self.env = env
        self.log_path = Path(log_path)
        self.name = name
        self.host = host
        self.health_path = health_path
        self.cwd = cwd
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start it (again, on the same port) and wait until it is ready."""
        if self.running:
            return
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"\n--- start #{self.starts}: {shlex.join(self.command)}\n")
            log.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl+C in the terminal reaches the test run or the
                # benchmark, which then stops it.
                start_new_session=True,
                preexec_fn=self.preexec_fn,
            )
        self.wait_ready(timeout)

    def ready(self) -> tuple[bool, str]:
        """(ready?, what was seen): /healthz answered 200, or the port accepts without a path."""
        if self.health_path is None:
            return port_open(self.port, self.host), "port closed"
        status = http_status(f"{self.url}{self.health_path}")
        return status == 200, f"HTTP {status}" if isinstance(status, int) else status

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.process.returncode} before it was ready "
                    f"({shlex.join(self.command)}). Its output:\n{self.tail()}"
                )
            ok, last = self.ready()
            if ok:
                return
            time.sleep(0.1)
        self.stop()
        what = f"answer GET {self.health_path} with 200" if self.health_path else "accept connections"
        raise RuntimeError(
            f"{self.name} on {self.url} did not {what} within {timeout:.0f} s (last: {last}). "
            f"Its output:\n{self.tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Terminate it; kill it if it does not go within timeout seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return tail(self.log_path, chars)


# --- Running code against a server's database ------------------------------------------------


def call_in_server_env(
    env: dict[str, str], target: str, *, timeout: float = CALL_TIMEOUT_SECONDS, **kwargs: Any
) -> Any:
    """``module:function(**kwargs)`` in a new Django process with env; its JSON result."""
    cmd = [sys.executable, "-m", "tests.harness", "call", target, json.dumps(kwargs)]
    result = subprocess.run(
        cmd, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    lines = result.stdout.splitlines()
    if result.returncode != 0 or not lines or not lines[-1].startswith(RESULT_MARK):
        raise RuntimeError(
            f"{target}(**{kwargs!r}) failed with exit code {result.returncode}:\n"
            f"{result.stdout[-LOG_TAIL_CHARS:]}\n{result.stderr[-LOG_TAIL_CHARS:]}"
        )
    return json.loads(lines[-1].removeprefix(RESULT_MARK))


def _call(target: str, kwargs_json: str) -> None:
    module_name, _, function_name = target.partition(":")
    if not function_name:
        raise SystemExit(f"tests.harness call: {target!r} is not MODULE:FUNCTION")
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(**json.loads(kwargs_json or "{}"))
    print(RESULT_MARK + json.dumps(result), flush=True)


class _Stopped(Exception):
    """`make run` was asked to stop by a signal other than the terminal's Ctrl+C."""


def _serve(host: str, port: int) -> None:
    """`make run`: the production uvicorn and a task worker with beat inside, in the terminal's
    process group, so Ctrl+C reaches both; when one of them ends, the other is stopped too."""
    commands = {"server": uvicorn_command(port, host), "worker": worker_command(beat=True)}
    print(f"Parley is serving on http://{host}:{port}/ with a task worker (Ctrl+C stops both)", flush=True)
    for name, command in commands.items():
        print(f"  {name}: {shlex.join(command)}", flush=True)
    children = [subprocess.Popen(command, cwd=BASE_DIR) for command in commands.values()]
    interrupted = False

    def stop_children(signum, frame):
        # A SIGTERM or SIGHUP to this process alone (a supervisor, an IDE's stop button) must not
        # leave the server and the worker running: it goes on to them.
        raise _Stopped(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop_children)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
    except KeyboardInterrupt:
        interrupted = True  # the terminal's Ctrl+C reached the children as well: let them finish
    except _Stopped:
        interrupted = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
    finally:
        for child in children:
            if child.poll() is None and not interrupted:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.terminate()
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
    for name, child in zip(commands, children, strict=True):
        print(f"  {name} stopped (exit code {child.returncode})", flush=True)
    # After a Ctrl+C every ending is the one asked for (celery's warm shutdown on SIGINT exits 1).
    codes = (
        []
        if interrupted
        else [child.returncode for child in children if child.returncode not in (0, -2, -15)]
    )
    raise SystemExit(codes[0] if codes else 0)


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("serve", "command"):
        action = sub.add_parser(name)
        action.add_argument("--host", default=HOST)
        action.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        if name == "command":
            action.add_argument("--proxy", action="store_true")
    call = sub.add_parser("call")
    call.add_argument("target", help="MODULE:FUNCTION")
    call.add_argument("kwargs", nargs="?", default="{}", help="keyword arguments as a JSON object")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.action == "serve":
        _serve(args.host, args.port)
    elif args.action == "command":
        print(shlex.join(uvicorn_command(args.port, args.host, proxy=args.proxy)))
    else:
        _call(args.target, args.kwargs)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
