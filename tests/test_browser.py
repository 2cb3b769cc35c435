"""Two or three people in separate browsers, talking through a real server: the QA scenarios.

Playwright drives Chromium (tests/chromium.py) against a uvicorn subprocess (see
tests/live_server.py) with its own SQLite database, so these are not django_db tests. One server
and one Chromium serve the whole module; each test has rooms of its own, so tests do not see
each other's messages, and badge counts are compared with what they were when the test began. On
failure, each page's screenshot and console log and the server's output are saved under
test-artifacts/.

The helpers (`Tab`, `People` …) are in tests/browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import MOBILE, People, Tab, create_rooms, people_for_test
from tests.live_server import LiveServer, running_server

# Typing fast on purpose: far more frames than the default 20-frame burst.
FAST_SENDERS = {"PARLEY_RATE_BURST": "1000", "PARLEY_RATE_PER_SECOND": "1000"}
# What Chromium logs, as errors, while the server is down: expected in the restart test only.
SOCKET_REFUSED = re.compile(r"WebSocket connection to .* failed|ERR_CONNECTION_REFUSED")

# Without a Chromium the `browser` fixture fails, saying what is missing (tests/chromium.py).
pytestmark = [pytest.mark.browser]


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
