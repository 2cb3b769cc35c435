"""Which Chromium the browser tests and scripts/screenshots.py drive, and how it is started.

First found wins:

1. ``PARLEY_CHROMIUM``: the browser binary to use (any Chromium or Chrome), and nothing else
   is looked at.
2. Playwright's own Chromium (``python -m playwright install chromium``; `make test` tries it
   once after installing the test dependencies): the build this Playwright release is made for.
3. The system's: ``chromium``, ``chromium-browser``, ``google-chrome``, ``google-chrome-stable``,
   ``chrome`` on PATH, then the usual install places (Debian's /usr/bin/chromium, the snap's,
   macOS's /Applications).

If none is there, ``ChromiumMissing`` says exactly what was looked for and how to get one; the
browser tests fail with that message (they are never skipped silently).

    python -m tests.chromium           # which one would be used, or what is missing (exit 1)
    python -m tests.chromium install   # try Playwright's download unless one is already there
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ENV_VARIABLE = "PARLEY_CHROMIUM"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SYSTEM_PLACES = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
INSTALL_TIMEOUT_SECONDS = 900
# Headless, also as root (no sandbox there), and without the background traffic a closed
# network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


class ChromiumMissing(RuntimeError):
    """No Chromium to drive; the message names what was looked for and how to get one."""


def playwright_chromium(playwright=None) -> Path | None:
    """Playwright's own Chromium, if it has been downloaded (asks the running Playwright if
    one is given: a second one cannot start in the same thread)."""
    if playwright is None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            return None
        with sync_playwright() as started:
            path = Path(started.chromium.executable_path)
    else:
        path = Path(playwright.chromium.executable_path)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def system_chromium() -> Path | None:
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for place in SYSTEM_PLACES:
        if os.access(place, os.X_OK):
            return Path(place)
    return None


def find_chromium(playwright=None) -> tuple[Path, str]:
    """(the browser binary, where it came from); ChromiumMissing if there is none."""
    named = os.environ.get(ENV_VARIABLE)
    if named:
        if os.access(named, os.X_OK) and Path(named).is_file():
            return Path(named), ENV_VARIABLE
        raise ChromiumMissing(f"{ENV_VARIABLE}={named} is not an executable file.")
    managed = playwright_chromium(playwright)
    if managed is not None:
        return managed, "Playwright's download"
    system = system_chromium()
    if system is not None:
        return system, "the system's"
    raise ChromiumMissing(
        "No Chromium for the browser tests: Playwright's own has not been downloaded "
        f"(`{Path(sys.executable).name} -m playwright install chromium` failed or was not run: it "
        "needs the internet), none of "
        + ", ".join(SYSTEM_NAMES)
        + " is on PATH, and none of "
        + ", ".join(SYSTEM_PLACES)
        + " exists. Do one of: run `.venv/bin/python -m playwright "
        "install chromium`; install Chromium or Chrome (Debian/Ubuntu: apt-get install chromium); "
        f"or set {ENV_VARIABLE} to a Chromium or Chrome binary."
    )


def launch_chromium(playwright):
    """A headless Chromium for this Playwright, found as above."""
    executable, _ = find_chromium(playwright)
    return playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)


def install() -> int:
    """Playwright's download, unless a Chromium is named or Playwright's is already there.

    Not fatal when it fails (no internet): the system's is used then, or the browser tests fail
    with ChromiumMissing's message.
    """
    if os.environ.get(ENV_VARIABLE) or playwright_chromium() is not None:
        return 0
    command = [sys.executable, "-m", "playwright", "install", "chromium"]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS, check=False
        )
        failed = result.returncode != 0
        why = (result.stderr or result.stdout).strip().splitlines()[:1]
    except (OSError, subprocess.TimeoutExpired) as error:
        failed, why = True, [str(error)]
    if failed:
        system = system_chromium()
        fallback = f"the browser tests use the system's, {system}" if system else "no Chromium found either"
        print(f"tests/chromium.py: Playwright could not download Chromium ({' '.join(why)}); {fallback}.")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        return install()
    try:
        executable, source = find_chromium()
    except ChromiumMissing as missing:
        print(f"tests/chromium.py: {missing}", file=sys.stderr)
        return 1
    print(f"{executable} ({source})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
