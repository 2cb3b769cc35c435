"""tests/servers.py: the throwaway PostgreSQL and Redis of the second run, and their restarts."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests import servers

ROOT = Path(__file__).resolve().parent.parent

needs_binaries = pytest.mark.skipif(
    servers.find_pg_bin_dir() is None or servers.find_redis_server() is None,
    reason="PostgreSQL or redis-server is not installed (sudo apt-get install postgresql redis-server)",
)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_servers(*cmd: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.servers", *cmd],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_binaries_are_named_with_the_install_command():
    result = run_servers(
        sys.executable,
        "-c",
        "raise SystemExit(0)",
        PARLEY_PG_BIN_DIR="/nonexistent",
        PARLEY_REDIS_SERVER="/nonexistent/redis-server",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "PostgreSQL" in line
    assert "redis-server" in line
    assert "sudo apt-get install postgresql redis-server" in line


@needs_binaries
def test_command_runs_against_both_servers_and_its_exit_code_passes_through():
    script = (
        "import os, psycopg, redis\n"
        "psycopg.connect(os.environ['DATABASE_URL'], autocommit=True).execute('CREATE DATABASE probe')\n"
        "assert redis.Redis.from_url(os.environ['REDIS_URL']).ping()\n"
        "print(os.environ['PARLEY_PG_PORT'], os.environ['PARLEY_REDIS_PORT'], os.environ['PARLEY_PG_DATA'])\n"
        "raise SystemExit(3)\n"
    )
    result = run_servers(sys.executable, "-c", script)

    assert result.returncode == 3, result.stderr
    pg_port, redis_port, pg_data = result.stdout.split()
    assert f"127.0.0.1:{pg_port}" in result.stderr
    assert f"127.0.0.1:{redis_port}" in result.stderr
    # Both servers stopped and their directory went with them.
    assert not port_open(int(pg_port))
    assert not port_open(int(redis_port))
    assert not Path(pg_data).exists()


@needs_binaries
def test_redis_stops_and_starts_again_on_the_same_port():
    with servers.start_redis() as redis:
        assert redis.ping()
        again = servers.redis_from_env(redis.env())  # how a fault test gets hold of it

        again.stop()
        assert not redis.ping()
        assert not port_open(redis.port)

        again.start()
        assert redis.ping()
        assert again.port == redis.port
    assert not redis.directory.exists()


@needs_binaries
def test_postgres_stops_and_starts_again_on_the_same_port_with_its_data():
    with servers.start_postgres() as postgres:
        with psycopg.connect(postgres.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept (value text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        again = servers.postgres_from_env(postgres.env())

        again.stop()
        assert not postgres.is_running()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres.url, connect_timeout=2)

        again.start()
        assert again.port == postgres.port
        with psycopg.connect(postgres.url) as conn:
            assert conn.execute("SELECT value FROM kept").fetchone() == ("still here",)
    assert not postgres.directory.exists()
