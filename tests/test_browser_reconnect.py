"""How a tab gets its connection back: the backoff, its cap and reset, the browser's own signals,
and what each close code the server uses makes the client do (the table in static/js/socket.js
and docs/protocol.md, "Client behaviour").

A tap on the page's socket (tests/browser.py) plays the server going away, refusing, or
accepting and dropping at once; the pages come from a real server (tests/live_server.py).
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import People, SocketTap, Tab, create_rooms, people_for_test, set_visible, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {"reconnect": ["alice", "bob"]}
# Backoff cap plus what a busy machine adds to a timer and a connection.
CAP_SECONDS = 5.0
SLACK_SECONDS = 0.6


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-reconnect")) as server:
        create_rooms(server, ROOMS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def connected_tab(people: People, server: LiveServer) -> tuple[Tab, SocketTap]:
    alice = people.open("alice")
    tap = SocketTap(alice.page)
    alice.open_room(server, "reconnect")
    return alice, tap


def attempts_since(tap: SocketTap, since: float) -> list[float]:
    return [c.at for c in tap.connections if c.at >= since]


def banner(tab: Tab):
    return tab.page.locator("#connection-banner")


# Chromium's console line for a socket closed before it opened.
SOCKET_FAILED = re.compile(r"WebSocket connection to .* failed")


def test_reconnect_waits_double_from_a_quarter_second_up_to_five_seconds_with_jitter(browser, parley_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(parley_server.url + "/accounts/login/")
        low, high, slow = page.evaluate(
            """async () => {
                const socket = await import('/static/js/socket.js');
                const attempts = Array.from({ length: 12 }, (_, attempt) => attempt);
                return [
                  attempts.map((attempt) => socket.reconnectDelay(attempt, () => 0)),
                  attempts.map((attempt) => socket.reconnectDelay(attempt, () => 0.999999)),
                  [socket.slowDelay(() => 0), socket.slowDelay(() => 0.999999)],
                ];
            }"""
        )
    finally:
        context.close()
    assert high == [500, 1000, 2000, 4000] + [5000] * 8
    assert low == [h // 2 for h in high]  # jitter: anywhere in the upper half of the ceiling
    assert slow == [24000, 30000]


def test_a_server_that_accepts_and_drops_at_once_is_tried_less_and_less_often(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    # From now on every connection opens and is dropped as soon as the page says anything.
    tap.mode, tap.refuse_code = "flap", 1011
    dropped_at = time.monotonic()
    tap.close_current(1011)
    alice.page.wait_for_timeout(6_000)
    tries = attempts_since(tap, dropped_at)
    # 0.25–0.5 s, then 0.5–1, 1–2, 2–4 s: at most four tries in six seconds. Resetting the
    # backoff whenever a socket opens would try every 0.25–0.5 s (twelve and more).
    assert 2 <= len(tries) <= 5, [round(t - dropped_at, 2) for t in tries]
    waits = [b - a for a, b in itertools.pairwise([dropped_at, *tries])]
    assert max(waits) <= CAP_SECONDS + SLACK_SECONDS, waits

    # The server is fine again: back within the cap.
    tap.mode = "through"
    back_at = time.monotonic()
    alice.expect_connected(timeout=(CAP_SECONDS + SLACK_SECONDS + 1) * 1000)
    assert time.monotonic() - back_at <= CAP_SECONDS + SLACK_SECONDS + 1

    # Healthy for ten seconds: the next loss is retried from the bottom of the backoff again.
    alice.page.wait_for_timeout(10_500)
    lost_at = time.monotonic()
    tap.close_current(1012)
    wait_until(alice, lambda: attempts_since(tap, lost_at), timeout_ms=2_000, what="a reconnect")
    assert attempts_since(tap, lost_at)[0] - lost_at <= 0.5 + SLACK_SECONDS
    alice.expect_connected()
    people.assert_clean_consoles()


def test_every_wait_stays_under_the_cap_through_a_long_outage(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    tap.mode = "refuse"
    down_at = time.monotonic()
    tap.close_current(1012)
    alice.page.wait_for_timeout(12_000)
    tap.mode = "through"
    alice.expect_connected(timeout=(CAP_SECONDS + SLACK_SECONDS + 1) * 1000)
    tries = attempts_since(tap, down_at)
    waits = [b - a for a, b in itertools.pairwise([down_at, *tries])]
    # 16 s and 30 s waits before: a server back from a 10 s outage waited 13.9 s for its tabs.
    assert max(waits) <= CAP_SECONDS + SLACK_SECONDS, [round(w, 2) for w in waits]
    assert len(tries) <= 8, [round(w, 2) for w in waits]
    people.assert_clean_consoles(allowed=SOCKET_FAILED)


def wait_for_a_long_retry(tab: Tab) -> None:
    """Offline long enough that the next try is seconds away."""
    expect(banner(tab)).to_contain_text(re.compile(r"Retrying in [3-9] s"), timeout=10_000)


def test_back_online_or_back_to_the_tab_it_reconnects_at_once(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    tap.mode = "refuse"
    tap.close_current(1012)
    wait_for_a_long_retry(alice)
    tap.mode = "through"
    alice.page.evaluate("window.dispatchEvent(new Event('online'))")
    alice.expect_connected(timeout=1_000)
    expect(banner(alice)).to_be_hidden()

    # Lost again while the tab is in the background: seen again, it tries at once.
    tap.mode = "refuse"
    tap.close_current(1012)
    wait_for_a_long_retry(alice)
    set_visible(alice, False)
    tap.mode = "through"
    set_visible(alice, True)
    alice.expect_connected(timeout=1_000)
    people.assert_clean_consoles(allowed=SOCKET_FAILED)


def test_too_many_open_tabs_is_said_in_the_banner_and_retried_slowly(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    tap.close_current(4409)
    expect(banner(alice)).to_be_visible()
    expect(banner(alice)).to_contain_text(re.compile(r"Too many open tabs\. Retrying in (2[4-9]|30) s"))
    expect(alice.page.locator("#connection-state")).to_have_text(
        "Offline: too many open tabs, retrying automatically"
    )
    tries = len(tap.connections)
    alice.page.wait_for_timeout(2_000)
    assert len(tap.connections) == tries, "retried within seconds"
    alice.page.get_by_role("button", name="Retry now").click()
    alice.expect_connected()
    expect(banner(alice)).to_be_hidden()
    people.assert_clean_consoles()


def test_flood_frame_size_and_far_behind_closes_reconnect_and_sync(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    for code in (4429, 4413, 1009, 4503):
        closed_at, sent_before = time.monotonic(), len(tap.sent)
        tap.close_current(code)
        wait_until(
            alice,
            lambda since=closed_at: attempts_since(tap, since),
            timeout_ms=6_000,
            what=f"a try after {code}",
        )
        alice.expect_connected()
        # Every reconnect syncs the open room.
        wait_until(
            alice,
            lambda since=sent_before: any(f.get("type") == "sync" for f in tap.sent[since:]),
            what=f"a sync after {code}",
        )
    people.assert_clean_consoles()


def test_a_session_that_ended_goes_to_the_log_in_page(people, parley_server):
    alice, tap = connected_tab(people, parley_server)
    # (A still-valid session is sent on from the log-in page to the room list.)
    with alice.page.expect_request(re.compile(r"/accounts/login/$")):
        tap.close_current(4401)
    people.assert_clean_consoles()
