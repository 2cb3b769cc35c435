"""Awareness in Chromium, as the other person sees it: a member's presence dot turns active, away
and offline as they come, hide the tab and go; "Bob is typing…" under the room's and the thread's
composer, gone when Bob stops, sends or goes quiet; "Seen by" under one's own newest message once
the others have read it (and a count opening the list in a bigger room); a status set on the
profile page beside the name, live; "Appear offline" shows a person offline to the others; and the
read pointer moves only in a focused, visible tab.

Same set-up as tests/test_browser_threads.py (helpers in tests/browser.py): one server for the
module, with short presence times (the server reads them from the environment), rooms and people
of their own per test where a test changes a person's settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import (
    CONTRAST_AUDIT,
    DROP,
    SocketTap,
    Tab,
    create_rooms,
    people_for_test,
    presence_dot,
    set_focused,
    set_visible,
    unnamed_controls,
    wait_until,
)
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "aware-presence": ["alice", "bob"],
    "aware-typing": ["alice", "bob", "carol"],
    "aware-seen": ["alice", "bob", "carol"],
    "aware-focus": ["alice", "bob"],
    "aware-status": ["alice", "ivan"],
    "aware-invisible": ["alice", "judy"],
    "aware-private": ["alice", "kate"],
    "aware-contrast-light": ["carol", "bob"],
    "aware-contrast-dark": ["carol", "bob"],
}
# Those whose settings a test changes have rooms of their own.
EXTRA_USERS = ("ivan", "judy", "kate", "leo")
# How long the server waits before it says a change (coalescing), and after it stops hearing
# from a process: short, so the dots move within a test's patience.
PRESENCE_ENV = {
    "PARLEY_PRESENCE_COALESCE_SECONDS": "0.2",
    "PARLEY_PRESENCE_TTL_SECONDS": "5",
    "PARLEY_PRESENCE_IDLE_SECONDS": "60",
}
# Each dot must change within this (the coalescing window, a round trip, a slow machine).
CHANGE_MS = 6_000


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-awareness"), env=PRESENCE_ENV) as server:
        create_rooms(server, ROOMS, extra_users=EXTRA_USERS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def room_id(server: LiveServer, slug: str) -> int:
    return server.call("tests.server_data:room_id", slug=slug)


def typing_line(tab: Tab):
    return tab.page.locator("#typing-room")


def thread_typing_line(tab: Tab):
    return tab.page.locator("#typing-thread")


def seen_by(tab: Tab):
    return tab.page.locator("#messages .seen-by")


def member_status(tab: Tab, username: str):
    return tab.page.locator("#members li").filter(has_text=f"@{username}").locator(".member-status")


def sent_seq(tab: Tab, body: str) -> int:
    message = tab.message(body)
    expect(message).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    return int(message.get_attribute("data-seq"))


def test_a_members_dot_turns_active_away_and_offline_as_they_come_hide_the_tab_and_go(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    alice.open_room(parley_server, "aware-presence")
    dot = presence_dot(alice, "bob")
    expect(dot).to_have_attribute("data-state", "offline")
    expect(dot).to_have_attribute("aria-label", re.compile(r"^Bob: Offline"))

    bob.open_room(parley_server, "aware-presence")
    bob.composer.click()
    expect(dot).to_have_attribute("data-state", "active", timeout=CHANGE_MS)
    expect(dot).to_have_attribute("aria-label", "Bob: Active")
    expect(dot).to_have_attribute("title", "Active")
    # Bob sees himself as the others do, and Alice, who is here too.
    expect(presence_dot(bob, "alice")).to_have_attribute("data-state", "active")
    expect(presence_dot(bob, "bob")).to_have_attribute("data-state", "active")

    # Another tab in front of the room: away, for Alice, soon.
    set_visible(bob, False)
    expect(dot).to_have_attribute("data-state", "away", timeout=CHANGE_MS)
    expect(dot).to_have_attribute("aria-label", "Bob: Away")
    set_visible(bob, True)
    bob.composer.click()
    expect(dot).to_have_attribute("data-state", "active", timeout=CHANGE_MS)

    # The mention picker says who is around too.
    alice.composer.press_sequentially("@bo")
    option = alice.page.get_by_role("option", name=re.compile(r"^Bob @bob ?, Active$"))
    expect(option.locator(".presence")).to_have_attribute("data-state", "active")
    alice.composer.fill("")

    # Bob's message carries his dot on its avatar too.
    bob.send("back again")
    expect(alice.message("back again").locator(".avatar")).to_have_attribute("data-presence", "active")

    # Bob closes his only tab: offline, with when he was last here.
    bob.page.close()
    expect(dot).to_have_attribute("data-state", "offline", timeout=CHANGE_MS)
    expect(dot).to_have_attribute(
        "aria-label", re.compile(r"^Bob: Offline · last active (just now|1 minute ago)$")
    )
    # The dot is one stop for the keyboard, and says it (a tooltip as well as the label).
    dot.focus()
    expect(dot).to_be_focused()
    assert unnamed_controls(alice) == []
    people.assert_clean_consoles()


def test_is_typing_shows_under_the_composer_it_is_written_in_and_clears_when_they_stop_or_send(
    people, parley_server
):
    alice, bob, carol = people.open("alice"), people.open("bob"), people.open("carol")
    alice_tap, bob_tap = SocketTap(alice.page), SocketTap(bob.page)
    for tab in (alice, bob, carol):
        tab.open_room(parley_server, "aware-typing")
    room = room_id(parley_server, "aware-typing")

    bob.composer.press_sequentially("hel")
    expect(typing_line(alice)).to_have_text("Bob is typing…")
    expect(typing_line(carol)).to_have_text("Bob is typing…")
    expect(typing_line(alice)).to_have_attribute("aria-live", "polite")
    carol.composer.press_sequentially("hi")
    expect(typing_line(alice)).to_have_text("Bob and Carol are typing…")
    expect(typing_line(bob)).to_have_text("Carol is typing…")  # never oneself

    # Carol empties her box; Bob sends: the line clears for each.
    carol.composer.fill("")
    expect(typing_line(alice)).to_have_text("Bob is typing…")
    bob.composer.press_sequentially("lo")
    bob.composer.press("Enter")
    expect(alice.message("hello")).to_have_count(1)
    expect(typing_line(alice)).to_have_text("")
    # Five keys well within 3 s: one start; sending made one stop.
    assert bob_tap.sent_of("typing.start") == [{"type": "typing.start", "room": room}]
    assert bob_tap.sent_of("typing.stop") == [{"type": "typing.stop", "room": room}]

    # In a thread: under the thread's composer, not the room's.
    root = sent_seq(alice, "hello")
    for tab in (alice, bob):
        tab.message("hello").hover()
        tab.message("hello").get_by_role("button", name="Reply in thread", exact=True).click()
        expect(tab.thread_panel).to_be_visible()
    # The server takes one start per person per room every 2.5 s (TYPING_THROTTLE_SECONDS),
    # whichever of its conversations: Bob's thread starts after that.
    bob.page.wait_for_timeout(2_600)
    bob.reply_box.press_sequentially("a reply")
    expect(thread_typing_line(alice)).to_have_text("Bob is typing…")
    expect(typing_line(alice)).to_have_text("")
    assert bob_tap.sent_of("typing.start")[-1] == {"type": "typing.start", "room": room, "thread_root": root}

    # Bob's stop never reaches Alice (lost): the line still clears, after the start's expires_in.
    alice_tap.from_server.append(lambda frame: DROP if frame.get("type") == "typing.stopped" else None)
    bob.reply_box.fill("")
    expect(thread_typing_line(alice)).to_have_text("", timeout=CHANGE_MS + 2_000)
    started = [f for f in alice_tap.received_of("typing.started") if f.get("thread_root") == root]
    assert started and started[-1]["expires_in"] > 0
    people.assert_clean_consoles()


def test_seen_by_appears_under_my_newest_message_as_the_others_open_the_room(people, parley_server):
    alice = people.open("alice")
    alice_tap = SocketTap(alice.page)
    alice.open_room(parley_server, "aware-seen")
    alice.send("did you see the plan?")
    first = sent_seq(alice, "did you see the plan?")
    alice.page.wait_for_timeout(300)
    expect(seen_by(alice)).to_have_count(0)  # nobody has read it

    bob = people.open("bob")
    bob.open_room(parley_server, "aware-seen")
    expect(alice.message("did you see the plan?").locator(".seen-by")).to_have_text("Seen by Bob")
    carol = people.open("carol")
    carol.open_room(parley_server, "aware-seen")
    expect(alice.message("did you see the plan?").locator(".seen-by")).to_have_text("Seen by Bob, Carol")

    # A newer message of mine takes the line; the two, still looking, read it at once.
    alice.send("and the budget?")
    second = sent_seq(alice, "and the budget?")
    assert second == first + 1
    expect(alice.message("and the budget?").locator(".seen-by")).to_have_text("Seen by Bob, Carol")
    expect(seen_by(alice)).to_have_count(1)
    # In a bigger room, more than three readers make a count that opens the list.
    others = [
        {"user": {"id": 90_000 + n, "username": f"u{n}", "display_name": f"Reader {n}"}, "seq": second}
        for n in range(3)
    ]
    alice_tap.deliver(
        {"type": "receipts.changed", "room": room_id(parley_server, "aware-seen"), "reads": others}
    )
    toggle = seen_by(alice).get_by_role("button", name="Seen by 5")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(seen_by(alice).locator(".seen-by-list li")).to_have_text(
        ["Bob", "Carol", "Reader 0", "Reader 1", "Reader 2"]
    )
    alice.page.keyboard.press("Escape")
    expect(seen_by(alice).locator(".seen-by-list")).to_be_hidden()
    assert unnamed_controls(alice) == []
    people.assert_clean_consoles()


def test_the_read_pointer_moves_only_while_the_tab_is_focused_and_visible(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    bob_tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "aware-focus")
    alice.send("before the blur")
    before = sent_seq(bob, "before the blur")
    wait_until(bob, lambda: any(f["seq"] == before for f in bob_tap.sent_of("room.read")), what="room.read")

    # Another window in front of Bob's browser: the message is on his screen but not before him.
    set_focused(bob, False)
    wait_until(
        bob,
        lambda: bob_tap.sent_of("presence.set")[-1:] == [{"type": "presence.set", "state": "away"}],
        what="away",
    )
    alice.send("while bob looks away")
    unseen = sent_seq(bob, "while bob looks away")
    bob.page.wait_for_timeout(1_000)  # twice the read debounce
    assert [f["seq"] for f in bob_tap.sent_of("room.read")] == [before]
    expect(bob.page).to_have_title(re.compile(r"^\(1\) "))

    set_focused(bob, True)
    wait_until(bob, lambda: any(f["seq"] == unseen for f in bob_tap.sent_of("room.read")), what="room.read")
    assert bob_tap.sent_of("presence.set")[-1] == {"type": "presence.set", "state": "active"}
    expect(bob.page).not_to_have_title(re.compile(r"^\("))
    people.assert_clean_consoles()


def test_a_status_set_on_the_profile_page_shows_beside_the_name_live_and_goes_when_cleared(
    people, parley_server
):
    alice, ivan = people.open("alice"), people.open("ivan")
    alice_tap = SocketTap(alice.page)
    alice.open_room(parley_server, "aware-status")
    status = member_status(alice, "ivan")
    expect(status).to_be_hidden()

    ivan.page.goto(f"{parley_server.url}/accounts/profile/")
    ivan.page.get_by_label("Emoji").fill("📅")
    ivan.page.get_by_label("What are you up to?").fill("In a meeting")
    ivan.page.get_by_label("Clear after").select_option("1h")
    ivan.page.get_by_role("button", name="Save status").click()
    expect(ivan.page.locator("#status-now")).to_contain_text("Your status: 📅 In a meeting, until")
    expect(status).to_be_visible()
    expect(status).to_have_text(re.compile(r"^📅 In a meeting, until "))
    expect(status).to_have_attribute("title", re.compile(r"^In a meeting, until "))

    ivan.page.get_by_role("button", name="Clear status").click()
    expect(ivan.page.locator("#status-now")).to_have_text("No status set.")
    expect(status).to_be_hidden()

    # A status ends at its expiry with no frame from the server: the page drops it by itself.
    ivan_id = int(presence_dot(alice, "ivan").get_attribute("data-presence-for"))
    soon = alice.page.evaluate("() => new Date(Date.now() + 1500).toISOString()")
    brb = {"text": "Back soon", "emoji": "☕", "expires_at": soon}
    alice_tap.deliver({"type": "user.status", "user": {"id": ivan_id, "status": brb}})
    expect(status).to_have_text(re.compile(r"^☕ Back soon"))
    expect(status).to_be_hidden(timeout=4_000)
    people.assert_clean_consoles()


def test_appear_offline_shows_a_person_offline_to_the_others_while_they_are_here(people, parley_server):
    alice, judy = people.open("alice"), people.open("judy")
    for tab in (alice, judy):
        tab.open_room(parley_server, "aware-invisible")
    judy.composer.click()
    dot = presence_dot(alice, "judy")
    expect(dot).to_have_attribute("data-state", "active", timeout=CHANGE_MS)

    settings = people.another_tab(judy, "judy-profile")
    settings.page.goto(f"{parley_server.url}/accounts/profile/")
    settings.page.get_by_label("Appear offline (invisible)").check()
    settings.page.get_by_role("button", name="Save privacy settings").click()
    expect(settings.page.get_by_label("Appear offline (invisible)")).to_be_checked()
    # Judy's room tab is open and she is typing in it: offline for Alice, as anyone who left
    # (a "last active" from before, if any: nothing sets her apart).
    judy.composer.click()
    expect(dot).to_have_attribute("data-state", "offline", timeout=CHANGE_MS)
    expect(dot).to_have_attribute("aria-label", re.compile(r"^Judy: Offline( · last active .+)?$"))
    # Judy sees herself as the others do, and why.
    judy.page.reload()
    judy.expect_connected()
    own = presence_dot(judy, "judy")
    expect(own).to_have_attribute("data-state", "offline")
    expect(own).to_have_attribute("aria-label", "Judy: Invisible: others see you offline")

    settings.page.get_by_label("Appear offline (invisible)").uncheck()
    settings.page.get_by_role("button", name="Save privacy settings").click()
    judy.composer.click()
    expect(dot).to_have_attribute("data-state", re.compile(r"^(active|away)$"), timeout=CHANGE_MS)
    people.assert_clean_consoles()


def test_who_does_not_share_their_read_state_is_not_seen_reading_and_sees_no_one_read(people, parley_server):
    alice, kate = people.open("alice"), people.open("kate")
    alice_tap = SocketTap(alice.page)
    settings = kate.page
    settings.goto(f"{parley_server.url}/accounts/profile/")
    settings.get_by_label("Share my read state (see who read my messages)").uncheck()
    settings.get_by_role("button", name="Save privacy settings").click()
    expect(settings.get_by_label("Share my read state (see who read my messages)")).not_to_be_checked()

    alice.open_room(parley_server, "aware-private")
    alice.send("kate, a question")
    kate_tap = SocketTap(kate.page)
    kate.open_room(parley_server, "aware-private")
    seq = sent_seq(kate, "kate, a question")
    wait_until(
        kate, lambda: any(f["seq"] == seq for f in kate_tap.sent_of("room.read")), what="Kate's room.read"
    )
    # Kate has read it, but Alice is not told so.
    alice.page.wait_for_timeout(1_500)  # over the receipts' coalescing interval
    expect(seen_by(alice)).to_have_count(0)
    reads = [r for f in alice_tap.received_of("receipts.changed") for r in f["reads"]]
    assert [r for r in reads if r["user"]["username"] != "alice"] == []

    # Nor does Kate see Alice read her answer.
    kate.send("an answer")
    expect(alice.message("an answer")).to_have_count(1)
    states = kate_tap.received_of("receipts.state")
    assert states and all(f["shared"] is False and f["reads"] == [] for f in states)
    kate.page.wait_for_timeout(1_500)
    expect(seen_by(kate)).to_have_count(0)
    people.assert_clean_consoles()


def test_the_profile_forms_work_without_javascript(people, parley_server):
    leo = people.open("leo", java_script_enabled=False)
    page = leo.page
    page.goto(f"{parley_server.url}/accounts/profile/")
    page.get_by_label("Emoji").fill("🔬")
    page.get_by_label("What are you up to?").fill("In the lab")
    page.get_by_label("Clear after").select_option("never")
    page.get_by_role("button", name="Save status").click()
    expect(page).to_have_url(re.compile(r"/accounts/profile/$"))
    expect(page.locator("#status-now")).to_have_text("Your status: 🔬 In the lab")
    expect(page.get_by_label("What are you up to?")).to_have_value("In the lab")

    page.get_by_label("Appear offline (invisible)").check()
    page.get_by_label("Share my read state (see who read my messages)").uncheck()
    page.get_by_role("button", name="Save privacy settings").click()
    expect(page.get_by_label("Appear offline (invisible)")).to_be_checked()
    expect(page.get_by_label("Share my read state (see who read my messages)")).not_to_be_checked()
    page.get_by_label("Appear offline (invisible)").uncheck()
    page.get_by_role("button", name="Save privacy settings").click()
    expect(page.get_by_label("Appear offline (invisible)")).not_to_be_checked()
    expect(page.get_by_label("Share my read state (see who read my messages)")).not_to_be_checked()

    page.get_by_role("button", name="Clear status").click()
    expect(page.locator("#status-now")).to_have_text("No status set.")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_what_awareness_writes_is_readable_in_both_themes(people, parley_server, scheme):
    carol, bob = people.open("carol", color_scheme=scheme), people.open("bob")
    for tab in (carol, bob):
        tab.open_room(parley_server, f"aware-contrast-{scheme}")
    carol.send("contrast check")
    expect(carol.message("contrast check").locator(".seen-by")).to_have_text("Seen by Bob")
    bob.composer.press_sequentially("typing")
    expect(typing_line(carol)).to_have_text("Bob is typing…")
    expect(presence_dot(carol, "bob")).to_have_attribute("data-state", "active", timeout=CHANGE_MS)
    failures = {"room": carol.page.evaluate(CONTRAST_AUDIT)}
    carol.page.goto(f"{parley_server.url}/accounts/profile/")
    failures["profile"] = carol.page.evaluate(CONTRAST_AUDIT)
    assert unnamed_controls(carol) == []
    assert failures == {"room": [], "profile": []}
    people.assert_clean_consoles()
