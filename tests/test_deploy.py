"""The deployment files agree with the settings, and production settings pass Django's checks."""

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from config.logging import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = (ROOT / "config" / "settings.py").read_text()


def settings_env_names() -> set[str]:
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', SETTINGS))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_topology():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web1", "web2", "nginx"}
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
