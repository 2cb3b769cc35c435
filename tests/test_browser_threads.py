"""Threads in Chromium: "Reply in thread" opens a panel beside the room with the root and its
replies, live at every member; "Also send to the room"; the root's "N replies" live (deletes
too); the Threads page's unread counts; a phone's full-screen thread with Back; and three tabs of
one person through a busy room and thread, every count back to exactly zero after reading.

Same set-up as tests/test_browser_changes.py (helpers in tests/browser.py): one server and one
Chromium for the module, rooms of their own per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import (
    CONTRAST_AUDIT,
    DROP,
    MOBILE,
    SocketTap,
    Tab,
    create_rooms,
    people_for_test,
    set_visible,
    unnamed_controls,
    wait_until,
)
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "thread-live": ["alice", "bob"],
    "thread-also": ["alice", "bob"],
    "thread-delete": ["alice", "bob"],
    "thread-phone": ["alice", "bob"],
    "thread-keys": ["alice", "hal"],
    "thread-outage": ["alice", "bob"],
    "thread-around": ["alice", "bob"],
    "thread-slow": ["alice", "bob"],
    "thread-contrast-light": ["carol", "bob"],
    "thread-contrast-dark": ["carol", "bob"],
    "thread-draft": ["alice", "bob"],
    "thread-follow": ["erin", "bob"],
    "thread-view": ["gwen", "bob"],
    "thread-busy": ["frank", "bob"],
    "thread-elsewhere": ["frank", "bob"],
}
# The tests that count every badge of a person have a person of their own: threads followed in
# the module's other tests would count too.
EXTRA_USERS = ("erin", "frank", "gwen", "hal")


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    # Fast senders: the busy room sends many messages in a row.
    env = {"PARLEY_RATE_BURST": "200", "PARLEY_RATE_PER_SECOND": "100"}
    with running_server(tmp_path_factory.mktemp("browser-threads"), env=env) as server:
        create_rooms(server, ROOMS, extra_users=EXTRA_USERS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def room_id(server: LiveServer, slug: str) -> int:
    return server.call("tests.server_data:room_id", slug=slug)


def item(tab: Tab, seq: int):
    return tab.page.locator(f"#messages #m{seq}")


def sent_seq(tab: Tab, body: str) -> int:
    message = tab.message(body)
    expect(message).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    return int(message.get_attribute("data-seq"))


def reply_seq(tab: Tab, body: str) -> int:
    message = tab.thread_message(body)
    expect(message).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    return int(message.get_attribute("data-seq"))


def open_thread(tab: Tab, seq: int) -> None:
    """Hover the message and choose "Reply in thread", as a mouse user does."""
    message = item(tab, seq)
    message.hover()
    message.get_by_role("button", name="Reply in thread", exact=True).click()
    expect(tab.thread_panel).to_be_visible()
    expect(tab.page.locator(f"#thread-messages #m{seq}")).to_have_count(1)


def summary(tab: Tab, seq: int):
    return item(tab, seq).locator(".thread-summary")


def test_reply_in_thread_opens_the_panel_and_the_other_member_sees_replies_live(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    bob_tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "thread-live")
    alice.send("shall we ship on friday?")
    root = sent_seq(alice, "shall we ship on friday?")
    expect(bob.message("shall we ship on friday?")).to_have_count(1)

    open_thread(bob, root)
    expect(bob.reply_box).to_be_focused()
    expect(bob.page).to_have_url(re.compile(rf"\?thread={root}$"))
    bob.reply("friday works for me")
    first = reply_seq(bob, "friday works for me")
    assert first == root + 1  # a reply is a message of the room: the room's next seq
    # Alice's timeline does not show the reply; her root says "1 reply", with who and when.
    expect(summary(alice, root)).to_contain_text("1 reply")
    expect(summary(alice, root).locator('.avatar[data-username="bob"]')).to_have_count(1)
    expect(summary(alice, root).locator(".thread-last time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-")
    )
    assert alice.bodies() == ["shall we ship on friday?"]
    assert bob.bodies() == ["shall we ship on friday?"]

    summary(alice, root).get_by_role("link").click()
    expect(alice.thread_message("friday works for me")).to_have_count(1)
    assert alice.thread_bodies() == ["shall we ship on friday?", "friday works for me"]
    alice.reply("great, friday it is")
    # Bob's panel gets Alice's reply live, and both roots count two.
    expect(bob.thread_message("great, friday it is")).to_have_count(1)
    assert bob.thread_bodies() == ["shall we ship on friday?", "friday works for me", "great, friday it is"]
    for tab in (alice, bob):
        expect(summary(tab, root).locator(".thread-count")).to_have_text("2 replies")
        expect(summary(tab, root).locator(".avatar")).to_have_count(2)

    # The timeline skips the thread's seqs and goes on: the next message of the room is shown
    # in order without waiting for the seqs it does not show.
    sync_frames_before = len(bob_tap.sent_of("sync"))
    alice.send("back in the room")
    after = sent_seq(bob, "back in the room")
    assert after == root + 3
    assert bob.seqs() == [root, after]
    assert len(bob_tap.sent_of("sync")) == sync_frames_before  # no gap was seen: nothing to fetch
    assert unnamed_controls(bob) == []
    assert bob_tap.received_of("error") == []  # every frame the page sent was one the server takes

    # Closing the panel gives the room its width back; the address forgets the thread.
    bob.thread_panel.get_by_role("button", name="Close thread").click()
    expect(bob.thread_panel).to_be_hidden()
    expect(bob.page).not_to_have_url(re.compile(r"thread="))
    people.assert_clean_consoles()


def test_also_send_to_the_room_shows_the_reply_in_the_timeline_with_a_link_to_its_thread(
    people, parley_server
):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "thread-also")
    alice.send("the release notes are up")
    root = sent_seq(alice, "the release notes are up")
    open_thread(bob, root)
    bob.reply("typo in the second line", also_in_room=True)
    reply = reply_seq(bob, "typo in the second line")
    # Unticked again after sending: the next reply stays in the thread.
    expect(bob.thread_panel.get_by_label(re.compile(r"Also send to"))).not_to_be_checked()
    bob.reply("and a missing comma")
    reply_seq(bob, "and a missing comma")

    shown = alice.message("typo in the second line")
    expect(shown).to_have_count(1)
    expect(shown.locator(".thread-note")).to_contain_text("replied to a thread")
    expect(alice.message("and a missing comma")).to_have_count(0)
    assert alice.seqs() == [root, reply]
    expect(summary(alice, root).locator(".thread-count")).to_have_text("2 replies")
    shown.get_by_role("link", name="View thread").click()
    expect(alice.thread_panel).to_be_visible()
    expect(alice.thread_message("and a missing comma")).to_have_count(1)
    assert alice.thread_bodies() == [
        "the release notes are up",
        "typo in the second line",
        "and a missing comma",
    ]
    people.assert_clean_consoles()


def test_deleting_a_reply_counts_down_live_and_a_deleted_root_keeps_its_replies_link(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "thread-delete")
    alice.send("root to be deleted")
    root = sent_seq(alice, "root to be deleted")
    open_thread(bob, root)
    bob.reply("reply one")
    bob.reply("reply two")
    two = reply_seq(bob, "reply two")
    expect(summary(alice, root).locator(".thread-count")).to_have_text("2 replies")
    # Alice wrote the root: both replies are unread for her, on her Threads page too.
    listing = people.another_tab(alice, "alice-threads")
    listing.page.goto(f"{parley_server.url}/threads/")
    listing.expect_connected()
    here = room_id(parley_server, "thread-delete")
    expect(entry(listing, root, here).locator(".thread-unread")).to_have_text("2")

    message = bob.page.locator(f"#thread-messages #m{two}")
    message.hover()
    message.get_by_role("button", name="Delete", exact=True).click()
    bob.page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(message.locator(".body")).to_have_text("Message deleted")
    for tab in (alice, bob):
        expect(summary(tab, root).locator(".thread-count")).to_have_text("1 reply")
    # A deleted reply is no longer an unread one.
    expect(entry(listing, root, here).locator(".thread-unread")).to_have_text("1")
    expect(entry(listing, root, here).locator(".thread-entry-meta")).to_contain_text("1 reply")

    item(alice, root).hover()
    item(alice, root).get_by_role("button", name="Delete", exact=True).click()
    alice.page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    for tab in (alice, bob):
        expect(item(tab, root).locator(".body")).to_have_text("Message deleted")
        expect(summary(tab, root).locator(".thread-count")).to_have_text("1 reply")
    # Bob's open panel shows the tombstone root above the reply that is left.
    expect(bob.page.locator(f"#thread-messages #m{root} .body")).to_have_text("Message deleted")
    bob.thread_panel.get_by_role("button", name="Close thread").click()
    summary(bob, root).get_by_role("link").click()
    expect(bob.thread_message("reply one")).to_have_count(1)
    assert bob.thread_bodies() == ["Message deleted", "reply one", "Message deleted"]
    people.assert_clean_consoles()


def test_on_a_phone_the_thread_is_a_full_screen_view_and_back_returns_to_the_room(people, parley_server):
    alice = people.open("alice")
    bob = people.open("bob", viewport=MOBILE, is_mobile=True, has_touch=True)
    for tab in (alice, bob):
        tab.open_room(parley_server, "thread-phone")
    alice.send("lunch at noon?")
    root = sent_seq(alice, "lunch at noon?")
    expect(bob.message("lunch at noon?")).to_have_count(1)

    # A tap shows the message's actions, as for the others; "Reply in thread" opens the thread.
    item(bob, root).locator(".body").tap()
    item(bob, root).get_by_role("button", name="Reply in thread", exact=True).tap()
    panel = bob.thread_panel
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    header = bob.page.locator(".site-header").bounding_box()
    assert box["x"] == 0 and box["width"] == MOBILE["width"]
    assert box["y"] == header["height"] and box["y"] + box["height"] == MOBILE["height"]
    expect(bob.reply_box).to_be_visible()
    bob.reply("yes, the usual place")
    expect(summary(alice, root).locator(".thread-count")).to_have_text("1 reply")
    # The thread covers the room: Close is for wide screens, Back is the way out here.
    expect(panel.get_by_role("button", name="Close thread")).to_be_hidden()
    panel.get_by_role("button", name=re.compile(r"^Back")).tap()
    expect(panel).to_be_hidden()
    expect(bob.composer).to_be_visible()
    expect(summary(bob, root).locator(".thread-count")).to_have_text("1 reply")

    # The browser's (or the phone's) Back closes a thread opened from the room, too.
    summary(bob, root).get_by_role("link").tap()
    expect(bob.thread_message("yes, the usual place")).to_have_count(1)
    bob.page.go_back()
    expect(panel).to_be_hidden()
    expect(bob.page).to_have_url(re.compile(r"/rooms/thread-phone/$"))
    scroll_width = bob.page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= MOBILE["width"]
    people.assert_clean_consoles()


def test_a_reply_waits_in_the_outbox_and_the_thread_keeps_its_own_draft(people, parley_server):
    alice = people.open("alice")
    tap = SocketTap(alice.page)
    alice.open_room(parley_server, "thread-draft")
    alice.send("a root for drafts")
    root = sent_seq(alice, "a root for drafts")
    open_thread(alice, root)
    alice.reply_box.fill("half a reply")
    alice.composer.fill("half a room message")
    alice.page.reload()
    alice.expect_connected()
    # The thread opens again from the address, each box with its own draft.
    expect(alice.thread_panel).to_be_visible()
    expect(alice.reply_box).to_have_value("half a reply")
    expect(alice.composer).to_have_value("half a room message")

    # Offline: the reply waits, survives a reload, and is sent once the connection is back.
    tap.mode = "refuse"
    tap.close_current()
    expect(alice.page.locator("#connection-state")).not_to_have_text("Connected")
    alice.reply_box.fill("sent while offline")
    alice.reply_box.press("Enter")
    pending = alice.page.locator("#thread-messages .message.pending")
    expect(pending.locator(".body")).to_have_text("sent while offline")
    expect(pending.locator(".send-state")).to_have_text("waiting for the connection…")
    stored = alice.page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('parley.outbox.alice.'))"
    )
    assert stored == [f"parley.outbox.alice.{room_id(parley_server, 'thread-draft')}.t{root}"]
    alice.page.reload()
    expect(alice.thread_message("sent while offline")).to_have_count(1)
    tap.mode = "through"
    alice.page.evaluate("() => window.dispatchEvent(new Event('online'))")
    alice.expect_connected(timeout=15_000)
    sent = reply_seq(alice, "sent while offline")
    assert sent == root + 1
    sends = [f for f in tap.sent_of("message.send") if f["body"] == "sent while offline"]
    assert sends and all(f["thread_root"] == root and f["also_in_room"] is False for f in sends)
    assert len({f["client_id"] for f in sends}) == 1  # resent as the same message, stored once
    assert alice.bodies() == ["a root for drafts"]
    expect(summary(alice, root).locator(".thread-count")).to_have_text("1 reply")
    assert (
        alice.page.evaluate(
            "() => Object.keys(localStorage).filter(k => k.startsWith('parley.outbox.alice.'))"
        )
        == []
    )
    people.assert_clean_consoles(allowed=re.compile(r"WebSocket"))


# The highest value each badge showed since `watch_badges` (a badge that went up and back down
# between two looks would otherwise go unseen).
WATCH_BADGES = """() => {
  window.badgePeaks = {};
  for (const id of ['notification-badge', 'threads-badge']) {
    const badge = document.getElementById(id);
    const note = () => {
      const shown = badge.hidden ? 0 : Number(badge.textContent || 0);
      window.badgePeaks[id] = Math.max(window.badgePeaks[id] || 0, shown);
    };
    note();
    const watched = { attributes: true, childList: true, characterData: true, subtree: true };
    new MutationObserver(note).observe(badge, watched);
  }
}"""


def badge_peaks(tab: Tab) -> dict:
    return tab.page.evaluate("() => window.badgePeaks")


def test_following_muting_and_reading_a_thread_drive_its_badges_exactly(people, parley_server):
    erin, bob = people.open("erin"), people.open("bob")
    erin_tap = SocketTap(erin.page)
    for tab in (erin, bob):
        tab.open_room(parley_server, "thread-follow")
    erin.send("who has the keys?")
    root = sent_seq(erin, "who has the keys?")
    open_thread(bob, root)
    bob.reply("I do")
    # Erin wrote the root: she follows it, one thread unread, one reply notification.
    expect(erin.page.locator("#threads-badge")).to_have_text("1")
    expect(erin.page.locator("#notification-badge")).to_have_text("1")
    bob.reply("in the top drawer")
    expect(summary(erin, root).locator(".thread-count")).to_have_text("2 replies")
    # Still one thread and one notification (it stands for both replies): nothing counted twice.
    wait_until(
        erin, lambda: len(erin_tap.received_of("notification.new")) == 2, what="the updated notification"
    )
    assert erin.threads_badge() == 1 and erin.badge() == 1

    summary(erin, root).get_by_role("link").click()
    panel = erin.thread_panel
    expect(panel.get_by_role("button", name="Unfollow")).to_be_visible()
    expect(erin.page.locator("#threads-badge")).to_be_hidden()
    expect(erin.page.locator("#notification-badge")).to_be_hidden()
    rid = room_id(parley_server, "thread-follow")
    last_read = erin_tap.sent_of("thread.read")[-1]
    assert {k: last_read[k] for k in ("room", "root", "seq")} == {"room": rid, "root": root, "seq": root + 2}
    # Reading the thread is not reading the room: no room.read for the replies.
    assert {f["seq"] for f in erin_tap.sent_of("room.read")} <= {root}

    # With the thread open and in sight, a reply is read at once: no badge goes up, even briefly.
    erin.page.evaluate(WATCH_BADGES)
    bob.reply("bring them back by five")
    expect(erin.thread_message("bring them back by five")).to_have_count(1)
    wait_until(
        erin,
        lambda: any(f["seq"] == root + 3 for f in erin_tap.sent_of("thread.read")),
        what="thread.read of the new reply",
    )
    erin.page.wait_for_timeout(500)
    assert badge_peaks(erin) == {"notification-badge": 0, "threads-badge": 0}

    # Muted: followed, but nothing counts; unmuted and unfollowed: the same, by choice.
    panel.get_by_role("button", name="Mute").click()
    expect(panel.get_by_role("button", name="Unmute")).to_be_visible()
    panel.get_by_role("button", name="Close thread").click()
    bob.reply("muted one")
    expect(summary(erin, root).locator(".thread-count")).to_have_text("4 replies")
    erin.page.wait_for_timeout(500)
    assert badge_peaks(erin) == {"notification-badge": 0, "threads-badge": 0}
    summary(erin, root).get_by_role("link").click()
    wait_until(
        erin,
        lambda: any(f["seq"] == root + 4 for f in erin_tap.sent_of("thread.read")),
        what="thread.read of the muted reply",
    )
    panel.get_by_role("button", name="Unmute").click()
    panel.get_by_role("button", name="Unfollow").click()
    expect(panel.get_by_role("button", name="Follow", exact=True)).to_be_visible()
    expect(panel.get_by_role("button", name="Mute")).to_be_hidden()
    erin.page.evaluate(WATCH_BADGES)
    panel.get_by_role("button", name="Close thread").click()
    bob.reply("nobody follows this one")
    expect(summary(erin, root).locator(".thread-count")).to_have_text("5 replies")
    erin.page.wait_for_timeout(500)
    assert badge_peaks(erin) == {"notification-badge": 0, "threads-badge": 0}
    # After a reload too: the server counted nothing either.
    erin.page.reload()
    erin.expect_connected()
    erin.page.wait_for_timeout(300)
    assert erin.threads_badge() == 0 and erin.badge() == 0
    assert erin_tap.received_of("error") == []
    people.assert_clean_consoles()


def entry(tab: Tab, root: int, room: int | None = None):
    """The Threads page's entry for the thread of `root` (in `room`, when the person follows
    threads of that seq in several rooms)."""
    in_room = f'[data-room="{room}"]' if room is not None else ""
    return tab.page.locator(f'#thread-list .thread-entry[data-root="{root}"]{in_room}')


def entry_unread(tab: Tab, root: int) -> int:
    badge = entry(tab, root).locator(".thread-unread")
    return int(badge.text_content() or 0) if badge.is_visible() else 0


def entry_roots(tab: Tab) -> list[int]:
    return [
        int(r)
        for r in tab.page.locator("#thread-list .thread-entry").evaluate_all(
            "es => es.map(e => e.dataset.root)"
        )
    ]


def read_answered(tap: SocketTap, expected: dict) -> bool:
    """Whether the server has answered a thread.read with the thread in that state."""
    return any(
        all(frame["thread"].get(key) == value for key, value in expected.items())
        for frame in tap.received_of("thread.read")
    )


def test_the_threads_view_lists_followed_threads_live_and_reading_one_counts_it_down_to_zero(
    people, parley_server
):
    gwen, bob = people.open("gwen"), people.open("bob")
    tap = SocketTap(gwen.page)
    for tab in (gwen, bob):
        tab.open_room(parley_server, "thread-view")
    gwen.send("plan for q3")
    first = sent_seq(gwen, "plan for q3")
    bob.send("who reviews the budget?")
    second = sent_seq(gwen, "who reviews the budget?")
    open_thread(gwen, second)
    gwen.reply("I can")  # replying follows the thread, read up to her own reply
    expect(summary(bob, second).locator(".thread-count")).to_have_text("1 reply")

    gwen.page.goto(f"{parley_server.url}/threads/")
    gwen.expect_connected()
    expect(entry(gwen, second)).to_have_count(1)
    assert entry_unread(gwen, second) == 0 and gwen.threads_badge() == 0

    # Bob answers in Gwen's own thread: it is followed (she wrote its root) and shows up, live.
    open_thread(bob, first)
    bob.reply("draft attached")
    expect(entry(gwen, first).locator(".thread-unread")).to_have_text("1")
    expect(gwen.page.locator("#threads-badge")).to_have_text("1")
    assert entry_roots(gwen) == [first, second]  # newest activity first
    bob.thread_panel.get_by_role("button", name="Close thread").click()
    open_thread(bob, second)
    bob.reply("thanks, Monday then")
    expect(entry(gwen, second).locator(".thread-unread")).to_have_text("1")
    expect(gwen.page.locator("#threads-badge")).to_have_text("2")
    assert entry_roots(gwen) == [second, first]
    bob.reply("and bring the numbers")
    expect(entry(gwen, second).locator(".thread-unread")).to_have_text("2")
    expect(entry(gwen, second).locator(".thread-entry-meta")).to_contain_text("3 replies")

    # Opening one opens its room with the thread beside it, and reads it.
    entry(gwen, second).get_by_role("link").click()
    expect(gwen.page).to_have_url(re.compile(rf"/rooms/thread-view/\?thread={second}$"))
    expect(gwen.thread_message("and bring the numbers")).to_have_count(1)
    read = {"root": second, "unread": 0}
    wait_until(gwen, lambda: read_answered(tap, read), what="the server's thread.read")
    expect(gwen.page.locator("#threads-badge")).to_have_text("1")
    gwen.page.go_back()
    gwen.expect_connected()
    expect(entry(gwen, second)).to_have_count(1)
    expect(entry(gwen, second).locator(".thread-unread")).to_be_hidden()
    assert entry_unread(gwen, first) == 1
    entry(gwen, first).get_by_role("link").click()
    expect(gwen.thread_message("draft attached")).to_have_count(1)
    wait_until(
        gwen, lambda: read_answered(tap, {"root": first, "unread": 0}), what="the server's thread.read"
    )
    expect(gwen.page.locator("#threads-badge")).to_be_hidden()
    gwen.page.goto(f"{parley_server.url}/threads/")
    gwen.expect_connected()
    expect(entry(gwen, first)).to_have_count(1)
    gwen.page.wait_for_timeout(300)  # threads.state has come: the live list stands
    assert [entry_unread(gwen, root) for root in (first, second)] == [0, 0]
    assert gwen.threads_badge() == 0 and gwen.badge() == 0
    expect(gwen.page.locator("#thread-list .thread-entry.unread")).to_have_count(0)
    assert unnamed_controls(gwen) == []
    people.assert_clean_consoles()


def every_count(tabs: list[Tab], busy_room: int, entry_tab: Tab, root: int) -> dict:
    """Every count a person sees: the sidebar's for the busy room (in the tab on another room),
    the Threads and notification badges of each tab, the thread's unread on the Threads page."""
    return {
        "room": tabs[1].room_badge(busy_room),
        "threads": [tab.threads_badge() for tab in tabs],
        "notifications": [tab.badge() for tab in tabs],
        "thread": entry_unread(entry_tab, root),
    }


def test_three_tabs_through_a_busy_room_and_thread_every_count_returns_to_exactly_zero(people, parley_server):
    busy = room_id(parley_server, "thread-busy")
    in_room = people.open("frank", label="frank-room")
    elsewhere = people.another_tab(in_room, "frank-elsewhere")
    listing = people.another_tab(in_room, "frank-threads")
    bob = people.open("bob")
    in_room.open_room(parley_server, "thread-busy")
    bob.open_room(parley_server, "thread-busy")
    in_room.send("release checklist")
    root = sent_seq(in_room, "release checklist")
    open_thread(in_room, root)
    elsewhere.open_room(parley_server, "thread-elsewhere")
    listing.page.goto(f"{parley_server.url}/threads/")
    listing.expect_connected()
    tabs = [in_room, elsewhere, listing]
    expect(bob.message("release checklist")).to_have_count(1)
    open_thread(bob, root)

    # Frank's room tab is in the background: it reads nothing while Bob is busy in room and thread.
    set_visible(in_room, False)
    room_news = thread_news = also_sent = 0
    for i in range(16):
        if i % 2 == 0:
            bob.send(f"room message {i}")
            room_news += 1
        else:
            also = i % 5 == 1
            bob.reply(f"thread reply {i}", also_in_room=also)
            thread_news += 1
            also_sent += also
    expect(bob.thread_message("thread reply 15")).to_have_attribute("data-seq", str(root + 16))
    assert (room_news, thread_news, also_sent) == (8, 8, 2)
    expect(listing.page.locator("#threads-badge")).to_have_text("1")
    expect(entry(listing, root).locator(".thread-unread")).to_have_text(str(thread_news))
    expect(elsewhere.page.locator(f'#sidebar a[data-room-id="{busy}"] .unread-count')).to_have_text(
        str(room_news + also_sent)  # thread-only replies are not the room's news
    )
    for tab in tabs:
        expect(tab.page.locator("#notification-badge")).to_have_text("1")  # one for the thread
    assert every_count(tabs, busy, listing, root) == {
        "room": 10,
        "threads": [1, 1, 1],
        "notifications": [1, 1, 1],
        "thread": 8,
    }
    # The room tab's timeline: the root, Bob's room messages and the two replies sent to it.
    assert len(in_room.seqs()) == 1 + room_news + also_sent

    # Reading the room clears the room, not the thread.
    in_room.thread_panel.get_by_role("button", name="Close thread").click()
    set_visible(in_room, True)
    expect(elsewhere.page.locator(f'#sidebar a[data-room-id="{busy}"] .unread-count')).to_be_hidden()
    in_room.page.wait_for_timeout(800)
    assert every_count(tabs, busy, listing, root) == {
        "room": 0,
        "threads": [1, 1, 1],
        "notifications": [1, 1, 1],
        "thread": 8,
    }

    # Reading the thread clears the thread and its notification in every tab, not the room's.
    summary(in_room, root).get_by_role("link").click()
    expect(in_room.thread_message("thread reply 15")).to_have_count(1)
    for tab in tabs:
        expect(tab.page.locator("#threads-badge")).to_be_hidden()
        expect(tab.page.locator("#notification-badge")).to_be_hidden()
    expect(entry(listing, root).locator(".thread-unread")).to_be_hidden()
    zero = {"room": 0, "threads": [0, 0, 0], "notifications": [0, 0, 0], "thread": 0}
    assert every_count(tabs, busy, listing, root) == zero

    # Busy again while Frank reads both, room and thread side by side: it all stays read.
    for i in range(8):
        if i % 2:
            bob.reply(f"live reply {i}", also_in_room=i == 3)
        else:
            bob.send(f"live message {i}")
    expect(in_room.thread_message("live reply 7")).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(in_room.message("live message 6")).to_have_count(1)
    in_room.page.wait_for_timeout(1000)  # the reads (debounced) and their echoes
    assert every_count(tabs, busy, listing, root) == zero

    # None sticks: what the server renders on a reload says the same.
    for tab in tabs:
        tab.page.reload()
        tab.expect_connected()
    expect(entry(listing, root)).to_have_count(1)
    in_room.page.wait_for_timeout(500)
    assert every_count(tabs, busy, listing, root) == zero
    people.assert_clean_consoles()


def test_by_keyboard_a_reply_with_a_completed_mention_then_edited_and_reacted_to_live(people, parley_server):
    alice, hal = people.open("alice"), people.open("hal")
    for tab in (alice, hal):
        tab.open_room(parley_server, "thread-keys")
    hal.send("keyboard root")
    root = sent_seq(alice, "keyboard root")

    # The message, then Tab into its actions: "Reply in thread" is one of them.
    item(alice, root).focus()
    alice.page.keyboard.press("Tab")
    alice.page.keyboard.press("Tab")
    expect(item(alice, root).get_by_role("button", name="Reply in thread")).to_be_focused()
    alice.page.keyboard.press("Enter")
    expect(alice.reply_box).to_be_focused()
    alice.reply_box.press_sequentially("thanks @ha")
    option = alice.thread_panel.get_by_role("option", name=re.compile(r"@hal"))
    expect(option).to_be_visible()
    alice.reply_box.press("Enter")
    expect(alice.reply_box).to_have_value("thanks @hal ")
    alice.reply_box.press_sequentially("for this")
    alice.reply_box.press("Enter")
    reply = reply_seq(alice, "thanks @hal for this")
    expect(alice.page.locator(f"#thread-messages #m{reply} .mention")).to_have_text("@hal")
    # Escape leaves the thread, back to the message it was opened from.
    alice.reply_box.press("Escape")
    expect(alice.thread_panel).to_be_hidden()
    expect(item(alice, root)).to_be_focused()

    # Hal is mentioned in the reply: a mention notification, and he follows the thread.
    expect(hal.page.locator("#notification-badge")).to_have_text("1")
    summary(hal, root).get_by_role("link").click()
    mine = hal.page.locator(f"#thread-messages #m{reply}")
    expect(mine.locator(".mention.me")).to_have_text("@hal")
    expect(hal.thread_panel.get_by_role("button", name="Unfollow")).to_be_visible()
    mine.hover()
    mine.get_by_role("button", name="Add reaction").click()
    hal.page.get_by_role("option", name="thumbs up").click()
    summary(alice, root).get_by_role("link").click()
    theirs = alice.page.locator(f"#thread-messages #m{reply}")
    expect(theirs.locator(".reaction")).to_have_text("👍1")
    theirs.hover()
    theirs.get_by_role("button", name="Edit", exact=True).click()
    editor = theirs.get_by_label("Edit message")
    editor.fill("thanks @hal for this, really")
    editor.press("Enter")
    expect(mine.locator(".body")).to_have_text("thanks @hal for this, really")
    expect(mine.locator(".reaction")).to_have_text("👍1")
    assert unnamed_controls(alice) == []
    people.assert_clean_consoles()


def test_a_refused_reply_offers_retry_and_replies_missed_offline_arrive_with_the_sync(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    alice_tap, bob_tap = SocketTap(alice.page), SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "thread-outage")
    alice.send("outage root")
    root = sent_seq(alice, "outage root")
    open_thread(alice, root)
    expect(bob.message("outage root")).to_have_count(1)
    open_thread(bob, root)

    def refuse_replies(frame: dict):
        if frame.get("type") != "message.send" or "thread_root" not in frame:
            return None
        return {
            "type": "error",
            "code": "bad_request",
            "detail": "Refused by the test.",
            "frame": "message.send",
            "room": frame["room"],
            "client_id": frame["client_id"],
        }

    alice_tap.from_page.append(refuse_replies)
    alice.reply("first try")
    failed = alice.page.locator("#thread-messages .message.failed")
    expect(failed.locator(".send-state")).to_have_text("Not sent: Refused by the test.")
    alice_tap.from_page.remove(refuse_replies)
    failed.get_by_role("button", name="Retry").click()
    assert reply_seq(alice, "first try") == root + 1
    expect(bob.thread_message("first try")).to_have_count(1)

    # Bob's connection drops; meanwhile the thread and the room go on.
    bob_tap.mode = "refuse"
    bob_tap.close_current()
    expect(bob.page.locator("#connection-state")).not_to_have_text("Connected")
    alice.reply("while you were out")
    alice.reply("and a second one", also_in_room=True)
    alice.send("room news meanwhile")
    sent_seq(alice, "room news meanwhile")
    bob_tap.mode = "through"
    bob.page.evaluate("() => window.dispatchEvent(new Event('online'))")
    bob.expect_connected(timeout=15_000)
    expect(bob.thread_message("and a second one")).to_have_count(1)
    assert bob.thread_bodies() == ["outage root", "first try", "while you were out", "and a second one"]
    expect(summary(bob, root).locator(".thread-count")).to_have_text("3 replies")
    expect(bob.message("room news meanwhile")).to_have_count(1)
    assert bob.bodies() == ["outage root", "and a second one", "room news meanwhile"]
    assert bob_tap.sent_of("sync")  # it came with the room's sync, in the room's change order
    people.assert_clean_consoles(allowed=re.compile(r"WebSocket"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_thread_panel_and_the_threads_page_meet_wcag_contrast(people, parley_server, scheme):
    carol, bob = people.open("carol", color_scheme=scheme), people.open("bob")
    slug = f"thread-contrast-{scheme}"
    for tab in (carol, bob):
        tab.open_room(parley_server, slug)
    carol.send("a root with a thread")
    root = sent_seq(carol, "a root with a thread")
    open_thread(bob, root)
    bob.reply("a reply in the room too", also_in_room=True)
    bob.reply("a reply in the thread")
    expect(summary(carol, root).locator(".thread-count")).to_have_text("2 replies")
    carol.page.mouse.move(0, 0)
    failures = {"room": carol.page.evaluate(CONTRAST_AUDIT)}
    summary(carol, root).get_by_role("link").click()
    expect(carol.thread_message("a reply in the thread")).to_have_count(1)
    carol.reply_box.press_sequentially("@b")
    expect(carol.thread_panel.get_by_role("option")).to_have_count(1)
    carol.page.mouse.move(0, 0)
    failures["panel"] = carol.page.evaluate(CONTRAST_AUDIT)
    carol.reply_box.fill("")
    bob.reply("one more, unread for carol")
    carol.page.goto(f"{parley_server.url}/threads/")
    carol.expect_connected()
    expect(entry(carol, root, room_id(parley_server, slug))).to_have_count(1)
    failures["threads"] = carol.page.evaluate(CONTRAST_AUDIT)
    carol.page.goto(f"{parley_server.url}/notifications/")
    failures["notifications"] = carol.page.evaluate(CONTRAST_AUDIT)
    assert {name: found for name, found in failures.items() if found} == {}
    assert unnamed_controls(carol) == []
    people.assert_clean_consoles()


def test_opening_one_thread_after_another_then_closing_returns_to_the_room(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "thread-live")
    alice.send("first of two roots")
    alice.send("second of two roots")
    first, second = (sent_seq(alice, body) for body in ("first of two roots", "second of two roots"))
    open_thread(alice, first)
    open_thread(alice, second)
    assert alice.thread_bodies() == ["second of two roots"]
    expect(alice.page).to_have_url(re.compile(rf"\?thread={second}$"))
    alice.thread_panel.get_by_role("button", name="Close thread").click()
    # Not back to the first thread: the room, as before either was opened.
    expect(alice.thread_panel).to_be_hidden()
    expect(alice.page).to_have_url(re.compile(r"/rooms/thread-live/$"))
    alice.page.wait_for_timeout(300)
    expect(alice.thread_panel).to_be_hidden()
    people.assert_clean_consoles()


def test_a_page_opened_at_an_old_message_fills_in_past_thread_only_replies_and_stays_live(
    people, parley_server
):
    store = "tests.browser_data:store_messages"
    old = parley_server.call(
        store, author="bob", room_slug="thread-around", bodies=[f"old {i}" for i in range(70)]
    )
    root = old[-1]
    hidden = parley_server.call(
        "tests.thread_data:store_replies",
        author="bob",
        room_slug="thread-around",
        root_seq=root,
        bodies=["only in the thread 1", "only in the thread 2"],
    )
    shown = parley_server.call(
        "tests.thread_data:store_replies",
        author="bob",
        room_slug="thread-around",
        root_seq=root,
        bodies=["also in the room"],
        also_in_room=True,
    )
    hidden += parley_server.call(
        "tests.thread_data:store_replies",
        author="bob",
        room_slug="thread-around",
        root_seq=root,
        bodies=["only in the thread 3"],
    )
    newest = parley_server.call(store, author="bob", room_slug="thread-around", bodies=["newest of the room"])
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(alice.page)
    alice.page.goto(f"{parley_server.url}/rooms/thread-around/?around={old[9]}#m{old[9]}")
    alice.expect_connected()
    # The rest of the room by seq, then its change order: every message of the timeline, in
    # order, none of the thread-only replies, and the root's count.
    expect(alice.message("newest of the room")).to_have_count(1)
    timeline = [*old, *shown, *newest]
    wait_until(alice, lambda: alice.seqs() == timeline, what="the whole timeline")
    expect(summary(alice, root).locator(".thread-count")).to_have_text("4 replies")
    assert not set(hidden) & set(alice.seqs())
    bob.open_room(parley_server, "thread-around")
    bob.send("live after the thread")
    live = sent_seq(alice, "live after the thread")
    assert live == newest[0] + 1
    assert alice.seqs() == [*timeline, live]
    # It settles: a handful of syncs, not one after another for seqs the timeline skips.
    alice.page.wait_for_timeout(500)
    assert len(tap.sent_of("sync")) <= 6, tap.sent_of("sync")
    alice.page.locator("#messages").evaluate("list => list.scrollTop = list.scrollHeight")
    wait_until(alice, lambda: any(f["seq"] == live for f in tap.sent_of("room.read")), what="room.read")
    people.assert_clean_consoles()


def test_a_reply_written_while_the_thread_loads_is_shown_once(people, parley_server):
    alice = people.open("alice")
    tap = SocketTap(alice.page)
    alice.open_room(parley_server, "thread-slow")
    alice.send("a thread slow to load")
    root = sent_seq(alice, "a thread slow to load")
    # The thread's replies are slow to come, and so is the server's echo of the reply.
    requests, echoes = [], []
    alice.page.route(re.compile(r"/threads/\d+/replies/"), lambda route: requests.append(route))

    def hold_the_echo(frame: dict):
        # The reply's echo and its root's new count (whose gap would send a sync for the echo).
        if frame.get("type") in ("message.new", "message.updated"):
            echoes.append(frame)
            return DROP
        return None

    def no_sync(frame: dict):
        return DROP if frame.get("type") == "sync" else None

    tap.from_server.append(hold_the_echo)
    tap.from_page.append(no_sync)
    open_thread(alice, root)
    wait_until(alice, lambda: requests, what="the replies request")
    alice.reply("typed while loading")
    wait_until(alice, lambda: echoes, what="the held echo")
    requests[0].continue_()
    expect(alice.page.locator("#thread-status")).to_have_text("")
    # Loaded (the answer has the reply, stored) before the echo: the reply once, not once more
    # for the outbox's entry still waiting for its echo.
    expect(alice.thread_message("typed while loading")).to_have_count(1)
    expect(alice.page.locator("#thread-messages .message")).to_have_count(2)
    alice.page.wait_for_timeout(200)
    expect(alice.page.locator("#thread-messages .message")).to_have_count(2)
    tap.from_server.remove(hold_the_echo)
    tap.from_page.remove(no_sync)
    for frame in echoes:
        tap.deliver(frame)
    expect(alice.thread_message("typed while loading")).to_have_attribute("data-seq", str(root + 1))
    expect(alice.page.locator("#thread-messages .message")).to_have_count(2)
    assert alice.thread_bodies() == ["a thread slow to load", "typed while loading"]
    people.assert_clean_consoles()
