"""Debian's Chromium for Playwright: where it is and how it is started here."""

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Headless, as root, and without the background traffic this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
