"""Two or three people in separate browsers, talking through a real server: the QA scenarios.

Playwright drives Chromium (tests/chromium.py) against a uvicorn subprocess (see
tests/live_server.py) with its own SQLite database, so these are not django_db tests. One server
and one Chromium serve the whole module; each test has rooms of its own, so tests do not see
each other's messages, and badge counts are compared with what they were when the test began. On
failure, each page's screenshot and console log and the server's output are saved under
test-artifacts/.

The helpers here (`Tab`, `People`, `launch_chromium` …) are shared with tests/test_browser_ui.py.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.live_server import BASE_DIR, DEMO_PASSWORD, LiveServer, running_server

ARTIFACTS = BASE_DIR / "test-artifacts"
TIMEOUT_MS = 5_000
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
# Typing fast on purpose: far more frames than the default 20-frame burst.
FAST_SENDERS = {"PARLEY_RATE_BURST": "1000", "PARLEY_RATE_PER_SECOND": "1000"}
# What Chromium logs, as errors, while the server is down: expected in the restart test only.
SOCKET_REFUSED = re.compile(r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED")

# Without a Chromium the `browser` fixture fails, saying what is missing (tests/chromium.py).
pytestmark = [pytest.mark.browser]


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

    # --- what a person does and sees -------------------------------------------------------------

    @property
    def composer(self):
        return self.page.get_by_label("Message", exact=True)

    def send(self, text: str, *, typed: bool = False) -> None:
        """Write `text` in the message box and press Enter."""
        if typed:
            self.composer.press_sequentially(text)
        else:
            self.composer.fill(text)
        self.composer.press("Enter")

    def message(self, text: str):
        """The message (the list item) whose whole body is `text`."""
        body = self.page.locator(".body", has_text=re.compile(rf"^{re.escape(text)}$"))
        return self.page.locator("#messages .message").filter(has=body)

    def bodies(self) -> list[str]:
        return self.page.locator("#messages .message .body").all_text_contents()

    def seqs(self) -> list[int]:
        return [
            int(s)
            for s in self.page.locator("#messages .message[data-seq]").evaluate_all(
                "items => items.map(item => item.dataset.seq)"
            )
        ]

    def badge(self) -> int:
        """The header's unread notification count (0 while the badge is hidden)."""
        badge = self.page.locator("#notification-badge")
        return int(badge.text_content() or 0) if badge.is_visible() else 0

    def expect_connected(self, timeout: float = TIMEOUT_MS) -> None:
        expect(self.page.locator("#connection-state")).to_have_text("Connected", timeout=timeout)

    def open_room(self, server: LiveServer, slug: str) -> None:
        self.page.goto(f"{server.url}/rooms/{slug}/")
        self.expect_connected()


def log_in(tab: Tab, server: LiveServer, username: str) -> None:
    page = tab.page
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


class People:
    """Browser contexts for the demo people, each logged in once per module (cookies reused)."""

    def __init__(self, browser: Browser, server: LiveServer, sessions: dict[str, dict]):
        self.browser = browser
        self.server = server
        self.sessions = sessions
        self.tabs: list[Tab] = []
        self.contexts = []

    def open(
        self, username: str, *, viewport: dict | None = None, label: str | None = None, **options
    ) -> Tab:
        """A new browser (context) for `username`, already logged in, with one watched page."""
        if username not in self.sessions:
            self.sessions[username] = self._log_in(username)
        context = self.browser.new_context(
            storage_state=self.sessions[username], viewport=viewport or DESKTOP, **options
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return self._watch(label or username, context.new_page())

    def another_tab(self, tab: Tab, label: str) -> Tab:
        """A second page in the same browser as `tab`: the same person, another tab."""
        return self._watch(label, tab.page.context.new_page())

    def _watch(self, label: str, page: Page) -> Tab:
        tab = Tab(name=label, page=page)
        tab.watch()
        self.tabs.append(tab)
        return tab

    def _log_in(self, username: str) -> dict:
        context = self.browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        try:
            tab = Tab(name=username, page=context.new_page())
            log_in(tab, self.server, username)
            return context.storage_state()
        finally:
            context.close()

    def assert_clean_consoles(self, allowed: re.Pattern | None = None) -> None:
        for tab in self.tabs:
            errors = [e for e in tab.errors if not (allowed and allowed.search(e))]
            assert errors == [], f"{tab.name}'s console had errors:\n" + "\n".join(errors)

    def save_artifacts(self, test_name: str) -> Path:
        directory = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
        directory.mkdir(parents=True, exist_ok=True)
        for tab in self.tabs:
            tab.save(directory)
        (directory / "server.log").write_text(self.server.output())
        return directory

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()


@contextlib.contextmanager
def people_for_test(browser: Browser, server: LiveServer, sessions: dict, request) -> Iterator[People]:
    """`People` for one test; their screenshots and consoles are saved if the test failed."""
    people = People(browser, server, sessions)
    failures_before = request.session.testsfailed
    try:
        yield people
    finally:
        # The call phase's report is counted before fixtures are torn down.
        if request.session.testsfailed > failures_before:
            people.save_artifacts(request.node.name)
        people.close()


def create_rooms(server: LiveServer, rooms: dict[str, list[str]], extra_users: tuple[str, ...] = ()) -> None:
    """Rooms (by name; the slug is the name) owned by their first member, in one process."""
    server.call("tests.server_data:create_rooms", rooms=rooms, extra_users=list(extra_users))


# --- fixtures: one server and one Chromium for the module --------------------------------------

ROOMS = {
    "plain": ["alice", "bob", "carol"],
    "mention": ["alice", "bob", "carol"],
    "several": ["alice", "bob", "carol"],
    "unknown": ["alice", "bob", "carol"],
    "rapid": ["alice", "bob", "carol"],
    "restart": ["alice", "bob", "carol"],
    "markup": ["alice", "bob"],
    "mobile": ["alice", "bob"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-qa"), env=FAST_SENDERS) as server:
        create_rooms(server, ROOMS, extra_users=("dave",))
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def everyone_in(people: People, slug: str, names=("alice", "bob", "carol")) -> list[Tab]:
    tabs = [people.open(name) for name in names]
    for tab in tabs:
        tab.open_room(people.server, slug)
    return tabs


def wait_for_quiet(seconds: float = 0.6) -> None:
    """Long enough for a frame that should not come (a notification for someone else) to arrive."""
    time.sleep(seconds)


# --- the QA scenarios ---------------------------------------------------------------------------


def test_a_plain_message_appears_for_everyone(people):
    alice, bob, carol = everyone_in(people, "plain")
    alice.send("Hello team")

    # Alice's copy stops being pending once the server acknowledges it, or fails.
    sent = alice.message("Hello team")
    expect(sent).to_have_count(1)
    expect(alice.page.locator("#messages .message.pending")).to_have_count(0)
    failed = alice.page.locator("#messages .message.failed")
    if failed.count():
        pytest.fail(f"alice's message was refused: {failed.first.inner_text()!r}")
    expect(sent).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(sent).to_have_class(re.compile(r"\bown\b"))
    expect(alice.composer).to_have_value("")

    for tab in (bob, carol):
        received = tab.message("Hello team")
        expect(received).to_have_count(1)
        expect(received.locator(".author")).to_have_text("Alice")
        expect(received).not_to_have_class(re.compile(r"\b(pending|failed|own|mentions-me)\b"))
    people.assert_clean_consoles()


def test_a_mention_appears_for_everyone_and_raises_only_the_mentioned_badge(people):
    alice, bob, carol = everyone_in(people, "mention")
    before = {tab.name: tab.badge() for tab in (alice, bob, carol)}
    alice.send("@bob can you review the draft?")

    for tab in (alice, bob, carol):
        expect(tab.message("@bob can you review the draft?")).to_have_count(1)
    expect(bob.page.locator("#notification-badge")).to_have_text(str(before["bob"] + 1))
    expect(bob.message("@bob can you review the draft?")).to_have_class(re.compile(r"\bmentions-me\b"))
    expect(bob.message("@bob can you review the draft?").locator(".mention.me")).to_have_text("@bob")
    expect(carol.message("@bob can you review the draft?").locator(".mention")).to_have_text("@bob")
    wait_for_quiet()
    assert (alice.badge(), carol.badge()) == (before["alice"], before["carol"])
    expect(carol.message("@bob can you review the draft?")).not_to_have_class(re.compile(r"mentions-me"))
    people.assert_clean_consoles()


def test_several_mentions_raise_each_mentioned_badge_once(people):
    alice, bob, carol = everyone_in(people, "several")
    before = {tab.name: tab.badge() for tab in (alice, bob, carol)}
    text = "@bob and @carol: stand-up in 5, @bob please bring the numbers."
    alice.send(text)

    for tab in (alice, bob, carol):
        expect(tab.message(text)).to_have_count(1)
        expect(tab.message(text).locator(".mention")).to_have_text(["@bob", "@carol", "@bob"])
    for tab in (bob, carol):
        expect(tab.page.locator("#notification-badge")).to_have_text(str(before[tab.name] + 1))
        expect(tab.message(text)).to_have_class(re.compile(r"\bmentions-me\b"))
    wait_for_quiet()
    assert [tab.badge() for tab in (alice, bob, carol)] == [
        before["alice"],
        before["bob"] + 1,
        before["carol"] + 1,
    ]
    people.assert_clean_consoles()


def test_an_unknown_mention_is_delivered_to_everyone_and_notifies_nobody(people):
    alice, bob, carol = everyone_in(people, "unknown")
    before = [tab.badge() for tab in (alice, bob, carol)]
    # nobody does not exist; dave exists but is not in the room.
    text = "Has anyone seen @nobody or @dave today?"
    alice.send(text)

    for tab in (alice, bob, carol):
        message = tab.message(text)
        expect(message).to_have_count(1)
        expect(message).not_to_have_class(re.compile(r"\b(pending|failed|mentions-me)\b"))
        expect(message.locator(".mention")).to_have_count(0)
    wait_for_quiet()
    assert [tab.badge() for tab in (alice, bob, carol)] == before
    people.assert_clean_consoles()


def test_a_rapid_exchange_shows_every_message_once_in_order_for_everyone(people):
    alice, bob, carol = everyone_in(people, "rapid")
    per_person = 15
    for i in range(1, per_person + 1):
        alice.send(f"alice says {i:02d}", typed=True)
        bob.send(f"bob says {i:02d}", typed=True)

    sent = {f"{name} says {i:02d}" for name in ("alice", "bob") for i in range(1, per_person + 1)}
    for tab in (alice, bob, carol):
        expect(tab.page.locator("#messages .message:not(.pending)")).to_have_count(
            2 * per_person, timeout=15_000
        )
    orders = {}
    for tab in (alice, bob, carol):
        bodies = tab.bodies()
        assert sorted(bodies) == sorted(sent), f"{tab.name} shows {bodies}"
        seqs = tab.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + 2 * per_person)), f"{tab.name}: seq {seqs}"
        # Each person's own messages keep the order they were typed in.
        for name in ("alice", "bob"):
            own = [b for b in bodies if b.startswith(name)]
            assert own == sorted(own), f"{tab.name} shows {name}'s messages as {own}"
        orders[tab.name] = bodies
    assert orders["alice"] == orders["bob"] == orders["carol"]
    expect(alice.page.locator("#messages .message.failed")).to_have_count(0)
    people.assert_clean_consoles()


def test_pages_reconnect_after_a_server_restart_with_nothing_missing_or_doubled(people, parley_server):
    alice, bob = everyone_in(people, "restart", names=("alice", "bob"))
    alice.send("before the restart")
    expect(bob.message("before the restart")).to_have_count(1)

    parley_server.stop()
    for tab in (alice, bob):
        banner = tab.page.locator("#connection-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(re.compile(r"Connection lost|Reconnecting"))
    expect(alice.page.locator("#connection-banner")).to_contain_text(re.compile(r"Retrying in \d+ s"))
    # While the server is down: carol writes (straight into the database, as another server
    # process of the cluster would) and alice types a message that has to wait.
    parley_server.call(
        "tests.server_data:post_message",
        author="carol",
        room_slug="restart",
        body="while it was down",
        client_id="down-1",
    )
    alice.send("typed while offline")
    expect(alice.message("typed while offline")).to_have_class(re.compile(r"\bpending\b"))
    parley_server.start()

    for tab in (alice, bob):
        tab.expect_connected(timeout=20_000)
        expect(tab.page.locator("#connection-banner")).to_be_hidden()
    # Resent by itself on reconnecting, with the client_id it was first sent with.
    expect(alice.message("typed while offline")).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    bob.send("after the restart")
    expected = ["before the restart", "while it was down", "typed while offline", "after the restart"]
    for tab in (alice, bob):
        expect(tab.page.locator("#messages .message:not(.pending) .body")).to_have_text(expected)
        seqs = tab.seqs()
        assert seqs == list(range(seqs[0], seqs[0] + len(expected))), f"{tab.name}: seq {seqs}"
    people.assert_clean_consoles(allowed=SOCKET_REFUSED)


def test_markup_in_a_message_is_shown_as_text_and_never_runs(people, parley_server):
    alice, bob = everyone_in(people, "markup", names=("alice", "bob"))
    payloads = [
        '<img src=x onerror="window.__pwned = 1">',
        "<script>window.__pwned = 2</script>",
        '<a href="javascript:window.__pwned = 3">click</a> javascript:window.__pwned=4',
        "<b>bold</b> &amp; <i>italic</i> https://example.com/<img/src=x>",
    ]
    for payload in payloads:
        alice.send(payload)
    for tab in (alice, bob):
        for payload in payloads:
            expect(tab.message(payload)).to_have_count(1)
    # The same messages rendered by the server, then enhanced by the client.
    bob.page.reload()
    bob.expect_connected()
    for tab in (alice, bob):
        assert tab.bodies()[-len(payloads) :] == payloads
        assert tab.page.evaluate("window.__pwned") is None
        assert tab.page.locator("#messages .message :is(img, script, b, i, iframe)").count() == 0
        hrefs = tab.page.locator("#messages .message a").evaluate_all("links => links.map(a => a.href)")
        assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    people.assert_clean_consoles()


def test_the_room_is_usable_on_a_phone(people, parley_server):
    alice = people.open("alice", viewport=MOBILE, is_mobile=True, has_touch=True)
    bob = people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "mobile")
    page = alice.page
    # Nothing sticks out sideways; the composer is on screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= MOBILE["width"]
    expect(alice.composer).to_be_in_viewport()
    # The room list hides behind a labelled button.
    rooms_link = page.locator("#sidebar").get_by_role("link", name="mobile")
    expect(rooms_link).to_be_hidden()
    toggle = page.get_by_role("button", name="Rooms")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(rooms_link).to_be_visible()
    page.keyboard.press("Escape")
    expect(rooms_link).to_be_hidden()

    alice.composer.tap()
    alice.send("Sent from my phone")
    expect(bob.message("Sent from my phone")).to_have_count(1)
    bob.send("Received, phone person")
    message = alice.message("Received, phone person")
    expect(message).to_be_in_viewport()
    box = message.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= MOBILE["width"]

    # Down to 360 px, no page is wider than the screen.
    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/rooms/mobile/", "/", "/notifications/", "/rooms/new/", "/accounts/profile/"):
        page.goto(parley_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    people.assert_clean_consoles()
