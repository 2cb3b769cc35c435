"""Nothing lost, stuck or reordered in the browser when the network or the server misbehaves.

A tap on a page's chat socket (tests/browser.py) plays the misbehaviour: a broadcast lost on the
way, a sync refused or never answered, a notification overtaking its message, a connection
gone while the person writes. The server is real (tests/live_server.py) and answers syncs in
batches of 5, so that catching up takes several rounds. Each test has rooms of its own.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import DROP, People, SocketTap, Tab, create_rooms, people_for_test, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

SYNC_BATCH = 5
ROOMS = {
    "refused": ["alice", "bob"],
    "unanswered": ["alice", "bob"],
    "hole": ["alice", "bob"],
    "overtaken": ["alice", "bob"],
    "offline": ["alice", "bob"],
    "flood": ["dave", "alice"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    # Flood control as in production (a burst of 20, then 5 frames a second).
    env = {"PARLEY_SYNC_BATCH_SIZE": str(SYNC_BATCH)}
    with running_server(tmp_path_factory.mktemp("browser-delivery"), env=env) as server:
        create_rooms(server, ROOMS, extra_users=("dave",))
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def shown(tab: Tab):
    """The bodies of the delivered messages, in the order the page shows them."""
    return tab.page.locator("#messages .message[data-seq] .body")


def consecutive(seqs: list[int]) -> bool:
    return seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True


def lose_first(body: str, kept: list[dict] | None = None):
    """A rule that loses the first `message.new` of `body` on its way (keeping it in `kept`)."""
    kept = [] if kept is None else kept

    def rule(frame: dict):
        if not kept and frame.get("type") == "message.new" and frame["message"]["body"] == body:
            kept.append(frame)
            return DROP
        return None

    return rule


def wait_synced(tab: Tab, tap: SocketTap) -> None:
    """The page's first sync has been answered."""
    wait_until(tab, lambda: tap.received_of("sync.done"), what="the first sync.done")


def test_a_refused_sync_is_retried_after_the_wait_and_the_room_keeps_showing_messages(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "refused")
    wait_synced(bob, tap)

    refusals: list[tuple[float, dict]] = []
    syncs: list[tuple[float, dict]] = []

    def refuse_the_first_sync(frame: dict):
        if frame.get("type") != "sync":
            return None
        syncs.append((time.monotonic(), frame))
        if refusals:
            return None
        refusals.append((time.monotonic(), frame))
        # The server's answer to a sync over the flood limit: it names the room and the frame.
        return {
            "type": "error",
            "code": "rate_limited",
            "detail": "Slow down.",
            "retry_after": 0.5,
            "room": frame["room"],
            "frame": "sync",
        }

    tap.from_page.append(refuse_the_first_sync)
    tap.from_server.append(lose_first("one"))
    alice.send("one")
    alice.send("two")  # bob's page sees the gap and syncs; that sync is refused, then retried

    expect(shown(bob)).to_have_text(["one", "two"])
    assert len(refusals) == 1
    (refused_at, refused), (retried_at, retried) = syncs[0], syncs[1]
    assert retried["after_change"] == refused["after_change"]
    assert retried_at - refused_at >= 0.45, "retried before retry_after"
    alice.send("three")
    expect(shown(bob)).to_have_text(["one", "two", "three"])
    assert consecutive(bob.seqs()), bob.seqs()
    people.assert_clean_consoles()


def test_a_sync_without_an_answer_is_sent_again_after_ten_seconds(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "unanswered")
    wait_synced(bob, tap)

    syncs: list[tuple[float, dict]] = []

    def swallow_the_first_sync(frame: dict):
        if frame.get("type") != "sync":
            return None
        syncs.append((time.monotonic(), frame))
        return DROP if len(syncs) == 1 else None

    tap.from_page.append(swallow_the_first_sync)
    tap.from_server.append(lose_first("one"))
    alice.send("one")
    alice.send("two")

    expect(shown(bob)).to_have_text(["one", "two"], timeout=15_000)
    waited = syncs[1][0] - syncs[0][0]
    assert 9.0 <= waited <= 12.0, f"the unanswered sync was sent again after {waited:.1f} s"
    assert syncs[1][1]["after_change"] == syncs[0][1]["after_change"]
    people.assert_clean_consoles()


def test_a_hole_in_seq_hides_no_later_message_and_no_sync_is_repeated(people, parley_server):
    parley_server.call(
        "tests.browser_data:store_messages", author="alice", room_slug="hole", bodies=["m1", "m2", "m3"]
    )
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "hole")
    wait_synced(bob, tap)
    expect(shown(bob)).to_have_text(["m1", "m2", "m3"])

    # While bob's page stands at 3: thirteen more messages, and the first of them (4) is gone for
    # good. More than two sync batches lie beyond the hole.
    later = [f"m{i}" for i in range(4, 17)]
    parley_server.call("tests.browser_data:store_messages", author="alice", room_slug="hole", bodies=later)
    parley_server.call("tests.browser_data:make_hole", room_slug="hole", seq=4)
    alice.send("live")

    expected = ["m1", "m2", "m3", *later[1:], "live"]
    expect(shown(bob)).to_have_text(expected, timeout=8_000)
    assert bob.seqs() == [1, 2, 3, *range(5, 18)]
    bob.page.wait_for_timeout(500)
    points = [frame["after_change"] for frame in tap.sent_of("sync")]
    # The page syncs by change position; every change here is a new message, so positions are
    # seqs. From 3 once when the page opened and once for the gap; after that, only forward.
    assert points.count(3) <= 2, points
    assert all(b > a for a, b in itertools.pairwise(points[1:])), points
    assert len(points) <= 2 + (len(later) + 1) // SYNC_BATCH + 1, points
    people.assert_clean_consoles()


def test_a_notification_that_overtakes_its_message_brings_the_message_once_and_in_order(
    people, parley_server
):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "overtaken")
    wait_synced(bob, tap)
    alice.send("before")
    expect(shown(bob)).to_have_text(["before"])
    badge = bob.badge()

    # The live message.new is held back (as behind a gap on the server); its notification is not.
    held: list[dict] = []
    tap.from_server.append(lose_first("@bob look", kept=held))
    alice.send("@bob look")

    expect(bob.page.locator("#notification-badge")).to_have_text(str(badge + 1))
    expect(shown(bob)).to_have_text(["before", "@bob look"], timeout=3_000)
    expect(bob.message("@bob look")).to_have_class(re.compile(r"\bmentions-me\b"))
    # The held frame arrives after all: nothing is shown twice.
    assert len(held) == 1
    tap.deliver(held[0])
    alice.send("after")
    expect(shown(bob)).to_have_text(["before", "@bob look", "after"])
    bob.page.wait_for_timeout(300)
    expect(shown(bob)).to_have_count(3)
    assert consecutive(bob.seqs()), bob.seqs()
    expect(bob.page.locator("#notification-badge")).to_have_text(str(badge + 1))
    people.assert_clean_consoles()


def stored_outbox(tab: Tab) -> list[list[str]]:
    """The bodies each of the page's stored outbox queues holds."""
    return tab.page.evaluate(
        """() => Object.keys(localStorage).filter(k => k.startsWith('parley.outbox.'))
                 .map(k => JSON.parse(localStorage.getItem(k)).map(e => e.body))"""
    )


def test_messages_written_offline_survive_a_reload_and_are_sent_once_in_order(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(alice.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "offline")
    alice.send("online first")
    expect(shown(bob)).to_have_text(["online first"])

    # The connection goes, and every try to get it back fails.
    tap.mode = "refuse"
    tap.close_current()
    expect(alice.page.locator("#connection-banner")).to_be_visible()
    alice.send("offline one")
    alice.send("offline two")
    pending = alice.page.locator("#messages .message.pending .body")
    expect(pending).to_have_text(["offline one", "offline two"])
    assert stored_outbox(alice) == [["offline one", "offline two"]]

    # Reloaded while still offline: the two are still there, shown as waiting.
    alice.page.reload()
    expect(pending).to_have_text(["offline one", "offline two"])
    expect(alice.page.locator("#messages .message.pending").first).to_contain_text(
        "waiting for the connection"
    )

    tap.mode = "through"
    alice.page.get_by_role("button", name="Retry now").click()
    alice.expect_connected()
    everything = ["online first", "offline one", "offline two"]
    for tab in (alice, bob):
        expect(shown(tab)).to_have_text(everything)
        assert consecutive(tab.seqs()), tab.seqs()
    expect(pending).to_have_count(0)
    assert parley_server.call("tests.browser_data:stored_bodies", room_slug="offline") == everything
    assert stored_outbox(alice) == []
    people.assert_clean_consoles(allowed=re.compile(r"WebSocket connection to .* failed"))


def test_messages_refused_by_flood_control_are_stored_in_the_order_they_were_written(people, parley_server):
    dave, alice = people.open("dave"), people.open("alice")
    tap = SocketTap(dave.page)
    for tab in (dave, alice):
        tab.open_room(parley_server, "flood")
    wait_synced(dave, tap)

    written = [f"flood {i:02d}" for i in range(1, 31)]
    dave.send_burst(written)  # 30 frames at once against a burst of 20

    for tab in (dave, alice):
        expect(shown(tab)).to_have_text(written, timeout=20_000)
    expect(dave.page.locator("#messages .message:is(.pending, .failed)")).to_have_count(0)
    assert parley_server.call("tests.browser_data:stored_bodies", room_slug="flood") == written
    refused = [f for f in tap.received_of("error") if f.get("code") == "rate_limited"]
    assert refused, "flood control never refused anything: the test did not test"
    people.assert_clean_consoles()
