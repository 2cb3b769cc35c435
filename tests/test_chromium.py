"""tests/chromium.py: which Chromium the browser tests drive, and what they say without one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import chromium

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """No PARLEY_CHROMIUM, no Playwright download, nothing on PATH or in the usual places."""
    monkeypatch.delenv(chromium.ENV_VARIABLE, raising=False)
    monkeypatch.setattr(chromium, "playwright_chromium", lambda playwright=None: None)
    monkeypatch.setattr(chromium, "SYSTEM_PLACES", (str(tmp_path / "nowhere" / "chromium"),))
    path = tmp_path / "bin"
    path.mkdir()
    monkeypatch.setenv("PATH", str(path))
    return path


def executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_without_any_chromium_the_message_names_what_is_missing_and_how_to_get_it(bare_machine):
    with pytest.raises(chromium.ChromiumMissing) as missing:
        chromium.find_chromium()
    message = str(missing.value)
    assert "Playwright's own has not been downloaded" in message
    for name in chromium.SYSTEM_NAMES:
        assert name in message
    assert "python -m playwright install chromium" in message
    assert "apt-get install chromium" in message
    assert "set PARLEY_CHROMIUM" in message


def test_a_chromium_on_path_is_found_by_any_of_its_names(bare_machine):
    found = executable(bare_machine / "google-chrome")
    assert chromium.find_chromium() == (found, "the system's")


def test_playwrights_own_download_comes_before_the_systems(bare_machine, monkeypatch, tmp_path):
    executable(bare_machine / "chromium")
    (tmp_path / "chrome-linux").mkdir()
    managed = executable(tmp_path / "chrome-linux" / "chrome")
    monkeypatch.setattr(chromium, "playwright_chromium", lambda playwright=None: managed)
    assert chromium.find_chromium() == (managed, "Playwright's download")


def test_parley_chromium_wins_and_a_wrong_one_is_named(bare_machine, monkeypatch, tmp_path):
    executable(bare_machine / "chromium")
    named = executable(tmp_path / "my-chrome")
    monkeypatch.setenv("PARLEY_CHROMIUM", str(named))
    assert chromium.find_chromium() == (named, "PARLEY_CHROMIUM")

    monkeypatch.setenv("PARLEY_CHROMIUM", str(tmp_path / "not-there"))
    with pytest.raises(chromium.ChromiumMissing, match=r"PARLEY_CHROMIUM=.*not-there is not an executable"):
        chromium.find_chromium()


def test_browser_tests_fail_rather_than_skip_without_chromium():
    # The first browser test of a module, in a run of its own on the embedded database.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["PARLEY_CHROMIUM"] = "/nonexistent/chromium"
    test = (
        "tests/test_browser_ui.py::"
        + "test_messages_are_grouped_by_author_and_day_with_local_times_and_safe_links"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", test],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "PARLEY_CHROMIUM=/nonexistent/chromium is not an executable file" in result.stdout
    assert "1 error" in result.stdout
    assert "skipped" not in result.stdout
