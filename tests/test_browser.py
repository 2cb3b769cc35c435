"""Two people in two browsers: what one types reaches the other, through a real server.

Playwright drives Debian's Chromium against a daphne subprocess (see tests/live_server.py) with
its own SQLite database, so these are not django_db tests. On failure, each page's screenshot
and console log and the server's output are saved under test-artifacts/.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.live_server import BASE_DIR, DEMO_PASSWORD, LiveServer, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = BASE_DIR / "test-artifacts"
TIMEOUT_MS = 5_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]


def is_missing_favicon(message) -> bool:
    """Chromium's own request for /favicon.ico, which the pages do not link; not the page's doing."""
    url = (message.location or {}).get("url", "")
    return url.endswith("/favicon.ico") and "404" in message.text


@dataclass
class Tab:
    """One person's page, with everything its console said."""

    name: str
    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self) -> None:
        def on_console(message) -> None:
            line = f"[{message.type}] {message.text}"
            if message.location and message.location.get("url"):
                line += f"  ({message.location['url']}:{message.location.get('lineNumber')})"
            self.console.append(line)
            if message.type == "error" and not is_missing_favicon(message):
                self.errors.append(line)

        def on_page_error(error) -> None:
            line = f"[pageerror] {error}"
            self.console.append(line)
            self.errors.append(line)

        self.page.on("console", on_console)
        self.page.on("pageerror", on_page_error)

    def save(self, directory: Path) -> None:
        with contextlib.suppress(Exception):
            self.page.screenshot(path=str(directory / f"{self.name}.png"), full_page=True)
        (directory / f"{self.name}.console.log").write_text("\n".join(self.console) + "\n")


@pytest.fixture
def parley_server(tmp_path) -> Iterator[LiveServer]:
    """A real Parley server with a fresh, seeded SQLite database of its own, for one test."""
    with running_server(tmp_path) as server:
        yield server


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_tab(browser) -> Iterator:
    """`open_tab("alice")`: a new browser context (its own cookies) with one watched page."""
    contexts = []

    def open_one(name: str) -> Tab:
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        tab = Tab(name=name, page=context.new_page())
        tab.watch()
        return tab

    yield open_one
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@contextlib.contextmanager
def artifacts_on_failure(test_name: str, tabs: list[Tab], server: LiveServer) -> Iterator[None]:
    try:
        yield
    except BaseException:
        directory = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
        directory.mkdir(parents=True, exist_ok=True)
        for tab in tabs:
            tab.save(directory)
        (directory / "server.log").write_text(server.output())
        raise


def log_in(tab: Tab, server: LiveServer, username: str) -> None:
    page = tab.page
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def open_room(tab: Tab, server: LiveServer, slug: str) -> None:
    tab.page.goto(f"{server.url}/rooms/{slug}/")
    expect(tab.page.locator("#connection-state")).to_have_text("Connected")


def body_is(tab: Tab, text: str):
    return tab.page.locator(".body", has_text=re.compile(rf"^{re.escape(text)}$"))


def test_a_message_typed_by_alice_reaches_bob(parley_server, open_tab, request):
    alice, bob = open_tab("alice"), open_tab("bob")
    with artifacts_on_failure(request.node.name, [alice, bob], parley_server):
        for tab in (alice, bob):
            log_in(tab, parley_server, tab.name)
            open_room(tab, parley_server, "general")

        composer = alice.page.get_by_label("Message", exact=True)
        composer.fill("Hello team")
        composer.press("Enter")

        # Alice's copy stops being pending once the server acknowledges it, or fails.
        sent = alice.page.locator("#messages .message").filter(has=body_is(alice, "Hello team"))
        expect(sent).to_have_count(1)
        expect(alice.page.locator("#messages .message.pending")).to_have_count(0)
        failed = alice.page.locator("#messages .message.failed")
        if failed.count():
            pytest.fail(f"alice's message was refused: {failed.first.inner_text()!r}")
        expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"))
        expect(composer).to_have_value("")

        received = bob.page.locator("#messages .message").filter(has=body_is(bob, "Hello team"))
        expect(received).to_have_count(1)
        expect(received.locator(".author")).to_have_text("Alice")
        expect(received).not_to_have_class(re.compile(r"\b(pending|failed)\b"))

        for tab in (alice, bob):
            assert tab.errors == [], f"{tab.name}'s console had errors:\n" + "\n".join(tab.errors)
