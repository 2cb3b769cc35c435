"""tests/harness.py: the one way tests, the benchmark, the scripts and `make run` start servers."""

import os
import sys

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
