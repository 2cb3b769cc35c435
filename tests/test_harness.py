"""tests/harness.py: the one way tests, the benchmark, the scripts and `make run` start servers."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests import harness


def test_a_server_that_exits_before_it_is_ready_is_reported_with_its_output(tmp_path):
    command = [sys.executable, "-c", "print('cannot bind, giving up', flush=True); raise SystemExit(3)"]
    server = harness.ServerProcess(
        command, port=harness.free_port(), env=dict(os.environ), log_path=tmp_path / "log"
    )

    with pytest.raises(RuntimeError) as failure:
        server.start(timeout=10)

    assert "exited with code 3 before it was ready" in str(failure.value)
    assert "cannot bind, giving up" in str(failure.value)
    assert not server.running


def test_start_waits_until_the_port_accepts_and_stop_frees_it(tmp_path):
    port = harness.free_port()
    serve = (
        "import socket, time; time.sleep(0.5); s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    )
    server = harness.ServerProcess(
        [sys.executable, "-c", serve],
        port=port,
        env=dict(os.environ),
        log_path=tmp_path / "log",
        health_path=None,
    )
    server.start(timeout=10)
    try:
        assert server.running
        assert harness.port_open(port)
    finally:
        server.stop()
    assert not server.running
    assert not harness.port_open(port)
    assert f"--- start #1: {sys.executable} -c" in server.tail()


def test_call_returns_what_the_function_returned_and_reports_its_error():
    env = dict(os.environ)
    port = harness.call_in_server_env(env, "tests.harness:free_port", host="127.0.0.1")
    assert isinstance(port, int) and 1024 <= port <= 65535

    with pytest.raises(RuntimeError) as failure:
        harness.call_in_server_env(env, "tests.harness:free_port", host="256.0.0.1")
    assert "tests.harness:free_port(**{'host': '256.0.0.1'}) failed with exit code 1" in str(failure.value)
    assert "Traceback" in str(failure.value)


def test_the_uvicorn_command_line_is_productions():
    command = harness.uvicorn_command(8001)
    assert command[1:] == [
        "config.asgi:application",
        *("--host", "127.0.0.1", "--port", "8001"),
        *("--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio"),
        *("--ws-max-size", "65536", "--ws-per-message-deflate", "false"),
        *("--lifespan", "off", "--no-access-log"),
    ]
    assert harness.uvicorn_command(8001, proxy=True)[-2:] == ["--proxy-headers", "--no-access-log"]


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_make_run_serves_with_a_worker_and_ctrl_c_stops_both(tmp_path, stop):
    """`make run`'s last step: the server and a task worker with beat; a Ctrl+C in the terminal
    (SIGINT to its process group), or a SIGTERM to the command alone (a supervisor, an IDE's stop
    button), stops both, and nothing is left running."""
    from tests.live_server import server_env

    port = harness.free_port()
    env = server_env(tmp_path / "db.sqlite3", port)
    migrate = [sys.executable, "manage.py", "migrate", "--no-input"]
    subprocess.run(migrate, cwd=harness.BASE_DIR, env=env, check=True, capture_output=True)
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.harness", "serve", "--port", str(port)],
        cwd=harness.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        output = ""
        while time.monotonic() < deadline:
            output = (tmp_path / "run.log").read_text()
            if harness.http_status(f"http://127.0.0.1:{port}/healthz") == 200 and re.search(
                r"celery@\S+ ready", output
            ):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the server and the worker were not both up within 60 s:\n{output[-3000:]}")
        assert "with a task worker (Ctrl+C stops both)" in output
        assert len(group_members(process.pid)) >= 3, "the harness, uvicorn and the worker (with its pool)"
        if stop == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while (left := group_members(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        listing = subprocess.run(
            ["ps", "-o", "pid,args", "-g", str(process.pid)], capture_output=True, text=True
        )
        assert left == [], f"still running after Ctrl+C:\n{listing.stdout}"
        assert not harness.port_open(port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def group_members(group: int) -> list[str]:
    return subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
