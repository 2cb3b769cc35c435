"""Helpers for the browser tests: people in their own browsers, their tabs, and a tap on a tab's
chat socket.

`People` opens a browser (context) per person, logged in once per module; `Tab` is one page with
what a person does and sees, and everything its console said. `SocketTap` sits between a page and
the server on the chat socket: it records every frame both ways, and a test can drop, hold or
answer frames, refuse or cut connections, to play a network or a server misbehaving.

Playwright calls the tap's handlers while the test waits in Playwright (an `expect`,
`page.wait_for_timeout`), never during `time.sleep`: tests that use a tap wait through the page.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, WebSocketRoute, expect

from tests.live_server import BASE_DIR, DEMO_PASSWORD, LiveServer

ARTIFACTS = BASE_DIR / "test-artifacts"
TIMEOUT_MS = 5_000
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
CHAT_SOCKET = re.compile(r"/ws/chat/$")


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

    def send_burst(self, texts: list[str]) -> None:
        """Write and send each of `texts` within one task of the page, as fast as nobody types.

        One Playwright call per message takes as long as the browser's round trip, which on a
        slow machine spreads the sends thinner than any rate limit: a burst must not depend on it.
        """
        self.composer.evaluate(
            """(box, texts) => {
                for (const text of texts) {
                    box.value = text;
                    box.dispatchEvent(new Event("input", {bubbles: true}));
                    const enter = {key: "Enter", bubbles: true, cancelable: true};
                    box.dispatchEvent(new KeyboardEvent("keydown", enter));
                }
            }""",
            texts,
        )

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

    # --- threads -------------------------------------------------------------------------------

    @property
    def thread_panel(self):
        return self.page.locator("#thread-panel")

    @property
    def reply_box(self):
        return self.page.get_by_label("Reply", exact=True)

    def reply(self, text: str, *, also_in_room: bool = False) -> None:
        """Write `text` in the open thread's reply box (ticking "Also send to the room") and send."""
        if also_in_room:
            self.thread_panel.get_by_label(re.compile(r"Also send to")).check()
        self.reply_box.fill(text)
        self.reply_box.press("Enter")

    def thread_message(self, text: str):
        """The message in the open thread panel whose whole body is `text`."""
        body = self.page.locator(".body", has_text=re.compile(rf"^{re.escape(text)}$"))
        return self.page.locator("#thread-messages .message").filter(has=body)

    def thread_bodies(self) -> list[str]:
        return self.page.locator("#thread-messages .message .body").all_text_contents()

    def threads_badge(self) -> int:
        """The header's count of followed threads with unread replies (0 while hidden)."""
        badge = self.page.locator("#threads-badge")
        return int(badge.text_content() or 0) if badge.is_visible() else 0

    def room_badge(self, room_id: int) -> int:
        """A room's unread count in the sidebar (0 while hidden)."""
        badge = self.page.locator(f'#sidebar a[data-room-id="{room_id}"] .unread-count')
        return int(badge.text_content() or 0) if badge.is_visible() else 0


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


def set_visible(tab: Tab, visible: bool) -> None:
    """What switching to another tab does to a page: Chromium cannot do it headless, so pretend."""
    state = "visible" if visible else "hidden"
    tab.page.evaluate(
        f"""() => {{
            Object.defineProperty(document, 'visibilityState', {{value: '{state}', configurable: true}});
            document.dispatchEvent(new Event('visibilitychange'));
        }}"""
    )


def set_focused(tab: Tab, focused: bool) -> None:
    """What another window in front of the browser does to a visible page: it loses the focus.
    Playwright keeps every page focused, so pretend (document.hasFocus, and the blur/focus event)."""
    tab.page.evaluate(
        """(focused) => {
            document.hasFocus = () => focused;
            window.dispatchEvent(new Event(focused ? 'focus' : 'blur'));
        }""",
        focused,
    )


def presence_dot(tab: Tab, username: str):
    """The presence dot of a member in the room's member list."""
    return tab.page.locator("#members li").filter(has_text=f"@{username}").locator(".presence")


def wait_until(
    tab: Tab, condition: Callable[[], bool], *, timeout_ms: float = TIMEOUT_MS, what: str = ""
) -> None:
    """Poll `condition` while the page (and a tap on it) keeps running; fail after the timeout."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_ms:.0f} ms waiting for {what or condition}")
        tab.page.wait_for_timeout(50)


# A rule sees each frame (parsed) going one way; it returns None to let it through, DROP to let it
# vanish, or a frame (dict) to answer the sender with instead of passing it on.
DROP = "drop"
Rule = Callable[[dict], "str | dict | None"]


@dataclass
class Connection:
    """One connection attempt of the page's socket, as the tap saw it."""

    at: float  # time.monotonic() when the page opened it
    route: WebSocketRoute
    refused_with: int | None = None
    # This connection's frames alone (a cut connection's server side may still be receiving).
    sent: list[dict] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)


class SocketTap:
    """Between a page's chat socket and the server: records and, on request, misbehaves.

    `mode` decides what a new connection gets: "through" (to the server), "refuse" (closed with
    `refuse_code` before it opens), "flap" (opens, then closed with `refuse_code` at the page's
    first frame, as a server that accepts and then drops), "blackhole" (opens; nothing reaches the
    server and nothing comes back).
    """

    def __init__(self, page: Page, *, mode: str = "through", refuse_code: int = 1012):
        self.mode = mode
        self.refuse_code = refuse_code
        self.connections: list[Connection] = []
        self.sent: list[dict] = []  # page → server, in order (also the ones a rule stopped)
        self.received: list[dict] = []  # server → page, as the server sent them
        self.from_page: list[Rule] = []
        self.from_server: list[Rule] = []
        self.lock = threading.Lock()
        page.route_web_socket(CHAT_SOCKET, self._route)

    # --- what the test reads ------------------------------------------------------------------

    def sent_of(self, frame_type: str) -> list[dict]:
        with self.lock:
            return [f for f in self.sent if f.get("type") == frame_type]

    def received_of(self, frame_type: str) -> list[dict]:
        with self.lock:
            return [f for f in self.received if f.get("type") == frame_type]

    @property
    def current(self) -> WebSocketRoute | None:
        return self.connections[-1].route if self.connections else None

    # --- what the test does -------------------------------------------------------------------

    def close_current(self, code: int = 1012) -> None:
        """Cut the page's current connection, as a server restart would."""
        if self.current is not None:
            self.current.close(code=code, reason="closed by the test")

    def deliver(self, frame: dict) -> None:
        """Hand the page a frame on its current connection, as if the server sent it now."""
        assert self.current is not None, "the page has no connection"
        self.current.send(json.dumps(frame))

    # --- the route ----------------------------------------------------------------------------

    def _route(self, ws: WebSocketRoute) -> None:
        connection = Connection(at=time.monotonic(), route=ws)
        self.connections.append(connection)
        mode = self.mode
        if mode == "refuse":
            connection.refused_with = self.refuse_code
            ws.close(code=self.refuse_code, reason="refused by the test")
            return
        server = ws.connect_to_server() if mode == "through" else None

        def page_sent(message: str | bytes) -> None:
            frame = _parse(message)
            with self.lock:
                self.sent.append(frame)
                connection.sent.append(frame)
            if mode == "flap":
                connection.refused_with = self.refuse_code
                ws.close(code=self.refuse_code, reason="dropped by the test")
                return
            if server is None:
                return
            verdict = _judge(self.from_page, frame)
            if verdict is None:
                server.send(message)
            elif verdict != DROP:
                ws.send(json.dumps(verdict))

        def server_sent(message: str | bytes) -> None:
            frame = _parse(message)
            with self.lock:
                self.received.append(frame)
                connection.received.append(frame)
            verdict = _judge(self.from_server, frame)
            if verdict is None:
                ws.send(message)
            elif verdict != DROP:
                server.send(json.dumps(verdict))

        ws.on_message(page_sent)
        if server is not None:
            server.on_message(server_sent)


def _parse(message: str | bytes) -> dict:
    try:
        frame = json.loads(message)
    except ValueError:
        return {"type": None, "raw": message}
    return frame if isinstance(frame, dict) else {"type": None, "raw": frame}


def _judge(rules: list[Rule], frame: dict):
    for rule in list(rules):
        verdict = rule(frame)
        if verdict is not None:
            return verdict
    return None


# Every control a person can reach, that has no name a screen reader could say.
UNNAMED_CONTROLS = """() => Array.from(document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), textarea, select, [role=option], '
      + '[tabindex]:not([tabindex="-1"])'))
    .filter(el => {
      const labelled = (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') || '').split(' ')
             .some(id => document.getElementById(id)?.textContent.trim())
        || Array.from(el.labels || []).some(l => l.textContent.trim())
        || (el.textContent || '').trim() || (el.getAttribute('title') || '').trim()
        || el.querySelector('img[alt]:not([alt=""])');
      return !labelled;
    }).map(el => el.outerHTML.slice(0, 120))"""


def unnamed_controls(tab: Tab) -> list[str]:
    return tab.page.evaluate(UNNAMED_CONTROLS)


# Every visible piece of text against what is actually behind it (backgrounds blended up the
# tree), WCAG 2.x contrast: 4.5:1, or 3:1 for large text. Also the composer's placeholder.
CONTRAST_AUDIT = """
() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, bottom) => ({
    r: top.r * top.a + bottom.r * (1 - top.a),
    g: top.g * top.a + bottom.g * (1 - top.a),
    b: top.b * top.a + bottom.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (x, y) => {
    const [a, b] = [luminance(x), luminance(y)].sort((p, q) => q - p);
    return (a + 0.05) / (b + 0.05);
  };
  const background = (element) => {
    const layers = [];
    for (let el = element; el; el = el.parentElement) {
      const colour = parse(getComputedStyle(el).backgroundColor);
      if (colour && colour.a > 0) layers.push(colour);
      if (colour && colour.a === 1) break;
    }
    let result = parse(getComputedStyle(document.documentElement).backgroundColor);
    if (!result || result.a < 1) result = matchMedia('(prefers-color-scheme: dark)').matches
      ? { r: 18, g: 18, b: 18, a: 1 } : { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const failures = [];
  const check = (element, colour, what) => {
    const style = getComputedStyle(element);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const bg = background(element);
    const value = ratio(over(colour, bg), bg);
    if (value < (large ? 3 : 4.5)) {
      const text = (element.textContent || '').trim().slice(0, 40);
      const behind = `rgb(${Math.round(bg.r)}, ${Math.round(bg.g)}, ${Math.round(bg.b)})`;
      failures.push(
        `${value.toFixed(2)} ${what}: ${element.tagName}.${element.className} "${text}"`
        + ` ${style.color} on ${behind}`
      );
    }
  };
  for (const element of document.body.querySelectorAll('*')) {
    const hasText = Array.from(element.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    if (!hasText || ['SCRIPT', 'STYLE', 'OPTION'].includes(element.tagName)) continue;
    if (!element.checkVisibility({ opacityProperty: true, visibilityProperty: true })) continue;
    const rect = element.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) continue;
    if (element.closest('[aria-hidden=true]:not(.avatar), :disabled')) continue;
    check(element, parse(getComputedStyle(element).color), 'text');
  }
  for (const field of document.querySelectorAll('textarea[placeholder], input[placeholder]')) {
    if (!field.checkVisibility()) continue;
    check(field, parse(getComputedStyle(field, '::placeholder').color), 'placeholder');
  }
  return failures;
}
"""
