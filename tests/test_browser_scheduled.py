"""Scheduled messages in Chromium, against a real server with its task worker
(LiveServer(worker=True), as `make run` starts them): "Send later" from the composer, the room's
"N scheduled" line, the message listed on /scheduled/, and at its time the message arriving live
in every member's open room, once; cancelling on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import People, create_rooms, people_for_test, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {"later": ["alice", "bob"], "cancelled": ["alice", "bob"], "thread-later": ["alice", "bob"]}

# A datetime-local value `seconds` from now, in the page's own time zone.
LOCAL_TIME_AHEAD = """(seconds) => {
  const at = new Date(Date.now() + seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return `${day}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}"""
# Long enough to list it on /scheduled/ first, and to see it is not sent early.
AHEAD_SECONDS = 8


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-scheduled"), worker=True) as server:
        create_rooms(server, ROOMS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def send_later_menu(tab):
    composer = tab.page.locator("#composer")
    composer.locator("summary.send-later-toggle").click()
    menu = composer.get_by_role("group", name="Send later")
    expect(menu).to_be_visible()
    return menu


def test_a_message_scheduled_from_the_composer_is_listed_then_arrives_live_once(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "later")
    bob = people.open("bob")
    bob.open_room(parley_server, "later")
    text = "Stand-up notes are in the doc, @bob"

    alice.composer.fill(text)
    menu = send_later_menu(alice)
    expect(menu.get_by_role("button", name="In 1 hour")).to_be_visible()
    expect(menu.get_by_role("button", name="Tomorrow at 9:00")).to_be_visible()
    expect(menu.get_by_role("button", name="Next Monday at 9:00")).to_be_visible()
    menu.get_by_label("Custom time").fill(alice.page.evaluate(LOCAL_TIME_AHEAD, AHEAD_SECONDS))
    menu.get_by_role("button", name="Schedule").click()

    status = alice.page.locator(".send-later-status")
    expect(status).to_contain_text(re.compile(r"^Scheduled for .+ — see Scheduled$"))
    expect(status.get_by_role("link", name="see Scheduled")).to_have_attribute(
        "href", "/scheduled/?room=later"
    )
    expect(alice.composer).to_have_value("")
    expect(menu).to_be_hidden()
    indicator = alice.page.locator("#scheduled-indicator")
    expect(indicator).to_have_text(re.compile(r"^\s*1 scheduled\s*$"))
    # Not sent now: nothing in either room.
    assert alice.bodies() == [] and bob.bodies() == []

    # Listed on its own page (another tab of alice's), in the room's filter.
    listing = people.another_tab(alice, "alice-list")
    listing.page.goto(parley_server.url + "/scheduled/?room=later")
    pending = listing.page.locator("#scheduled-pending .scheduled-item")
    expect(pending).to_have_count(1)
    expect(pending.get_by_label("Message")).to_have_value(text)
    expect(pending).to_contain_text("later")

    # At its time, the worker stores it (the database first, to tell a worker that did not send
    # from a delivery that did not arrive) and it shows live in both open rooms.
    later_room = room_id(parley_server, "later")
    wait_until(
        bob,
        lambda: parley_server.call("tests.server_data:stored_seqs", room=later_room) == [1],
        timeout_ms=30_000,
        what="the worker to send the scheduled message",
    )
    for tab in (alice, bob):
        expect(tab.message(text)).to_have_count(1, timeout=15_000)
    expect(indicator).to_be_hidden()
    bob.page.wait_for_timeout(2_000)  # a few more sweeps
    assert bob.bodies().count(text) == 1 and alice.bodies().count(text) == 1
    assert parley_server.call("tests.server_data:stored_seqs", room=later_room) == [1]

    listing.page.reload()
    expect(listing.page.locator("#scheduled-pending .scheduled-item")).to_have_count(0)
    expect(listing.page.locator("#scheduled-sent .scheduled-item")).to_contain_text(text)
    people.assert_clean_consoles()


def test_a_scheduled_message_cancelled_on_the_page_is_never_sent(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "cancelled")
    text = "This one is not needed after all"

    alice.composer.fill(text)
    send_later_menu(alice).get_by_role("button", name="In 1 hour").click()
    expect(alice.page.locator("#scheduled-indicator")).to_have_text(re.compile(r"^\s*1 scheduled\s*$"))

    alice.page.get_by_role("link", name="1 scheduled").click()
    expect(alice.page).to_have_url(re.compile(r"/scheduled/\?room=cancelled$"))
    item = alice.page.locator("#scheduled-pending .scheduled-item")
    expect(item).to_have_count(1)
    # The time it shows is the browser's own: an hour from now, to the minute.
    shown = item.locator('input[type="datetime-local"]').input_value()
    assert (
        alice.page.evaluate("(value) => Math.abs(new Date(value) - (Date.now() + 3600e3))", shown) < 120_000
    )
    item.get_by_role("button", name="Cancel this scheduled message").click()
    expect(item).to_have_count(0)
    expect(alice.page.locator("#pending-title .count")).to_have_text("0")

    alice.page.reload()
    expect(alice.page.locator("#scheduled-pending .scheduled-item")).to_have_count(0)
    expect(alice.page.locator("#scheduled-pending")).to_contain_text("Nothing is waiting")
    people.assert_clean_consoles()


def test_a_reply_scheduled_from_the_thread_panel_arrives_in_its_thread(people, parley_server):
    seq = parley_server.call(
        "tests.server_data:post_message",
        author="alice",
        room_slug="thread-later",
        body="Who reviews?",
        client_id="q",
    )
    bob = people.open("bob")
    bob.open_room(parley_server, "thread-later")
    root = bob.page.locator(f"#messages #m{seq}")
    root.hover()
    root.get_by_role("button", name="Reply in thread", exact=True).click()
    expect(bob.thread_panel).to_be_visible()
    text = "I will, after lunch"

    bob.reply_box.fill(text)
    form = bob.page.locator("#thread-composer")
    form.locator("summary.send-later-toggle").click()
    menu = form.get_by_role("group", name="Send later")
    menu.get_by_label("Custom time").fill(bob.page.evaluate(LOCAL_TIME_AHEAD, 4))
    menu.get_by_role("button", name="Schedule").click()

    expect(form.locator(".send-later-status")).to_contain_text(
        re.compile(r"^Scheduled for .+ — see Scheduled$")
    )
    expect(bob.reply_box).to_have_value("")
    expect(bob.thread_message(text)).to_have_count(1, timeout=30_000)
    assert bob.bodies() == ["Who reviews?"]  # only in its thread
    people.assert_clean_consoles()


def room_id(server: LiveServer, slug: str) -> int:
    return server.call("tests.server_data:room_id", slug=slug)
