"""Notification control in Chromium: mute a room from its menu, a message arrives there and the
sidebar stays quiet (no badge, no bold) while it counts underneath; unmute from the settings page
in a second tab and the first follows live, the count back; a timed mute ends by itself in the
page; do-not-disturb from the settings page shows in the header of every tab and ends from it.

One server and one Chromium for the module (helpers in tests/browser.py), rooms of their own per
test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser import People, Tab, people_for_test
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "quiet": ["alice", "bob"],
    "elsewhere": ["alice", "bob"],
    "brief": ["alice", "bob"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-notify-settings")) as server:
        yield server


@pytest.fixture(scope="module")
def room_ids(parley_server) -> dict[str, int]:
    return parley_server.call("tests.server_data:create_rooms", rooms=ROOMS)


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def room_link(tab: Tab, room_id: int):
    return tab.page.locator(f'#sidebar a[data-room-id="{room_id}"]')


def badge_text(tab: Tab, room_id: int) -> str:
    return room_link(tab, room_id).locator(".unread-count").text_content() or ""


def post(server: LiveServer, slug: str, body: str, client_id: str) -> None:
    server.call(
        "tests.server_data:post_from_worker", author="alice", room_slug=slug, body=body, client_id=client_id
    )


def open_menu(tab: Tab):
    tab.page.locator("#notify-menu summary").click()
    panel = tab.page.get_by_role("group", name=re.compile(r"^Notifications for "))
    expect(panel).to_be_visible()
    return panel


def test_a_room_muted_from_its_menu_stays_quiet_and_counts_again_once_unmuted_from_another_tab(
    people, parley_server, room_ids
):
    quiet = room_ids["quiet"]
    bob = people.open("bob")
    bob.open_room(parley_server, "quiet")
    settings_tab = people.another_tab(bob, "bob-settings")
    settings_tab.page.goto(parley_server.url + "/notifications/settings/")
    settings_tab.expect_connected()
    row = settings_tab.page.locator(f'.notify-room[data-room-id="{quiet}"]')
    expect(row.locator(".notify-muted-text")).to_be_hidden()

    open_menu(bob).get_by_role("button", name="Until I unmute").click()

    expect(bob.page.locator("#notify-menu .notify-state")).to_have_text("Muted")
    expect(bob.page.locator("#notify-menu")).not_to_have_attribute("open", "")
    # The other tab follows at once (the room.settings frame).
    expect(row.locator(".notify-muted-text")).to_be_visible()
    expect(row.locator(".notify-muted-text")).to_have_text("Muted until you unmute")

    # Elsewhere, the muted room is marked in the sidebar as the server renders it.
    bob.open_room(parley_server, "elsewhere")
    link = room_link(bob, quiet)
    expect(link).to_have_class(re.compile(r"\bmuted-room\b"))

    post(parley_server, "quiet", "Lunch orders by noon", "q1")
    # The message arrived (the count is kept underneath) and the room stays quiet.
    expect(link.locator(".unread-count")).to_have_text("1")
    expect(link.locator(".unread-count")).to_be_hidden()
    assert link.locator(".room-name").evaluate("(n) => getComputedStyle(n).fontWeight") == "400"
    assert bob.room_badge(quiet) == 0

    # Unmuted from the settings page in the other tab: the first tab's sidebar follows live.
    row.locator('select[name="mute"]').select_option("off")
    row.get_by_role("button", name="Save").click()
    expect(row.locator(".notify-status")).to_have_text("Saved.")
    expect(row.locator(".notify-muted-text")).to_be_hidden()
    expect(link).not_to_have_class(re.compile(r"\bmuted-room\b"))
    expect(link.locator(".unread-count")).to_be_visible()
    assert bob.room_badge(quiet) == 1

    post(parley_server, "quiet", "Pizza it is", "q2")
    expect(link.locator(".unread-count")).to_have_text("2")
    assert bob.room_badge(quiet) == 2
    assert link.locator(".room-name").evaluate("(n) => getComputedStyle(n).fontWeight") == "700"
    people.assert_clean_consoles()


def test_a_timed_mute_ends_by_itself_in_the_open_page(people, parley_server, room_ids):
    brief = room_ids["brief"]
    bob = people.open("bob")
    bob.open_room(parley_server, "elsewhere")
    link = room_link(bob, brief)
    # A mute set from elsewhere (another device), ending in 10 seconds: time enough for a message
    # to arrive from another process while it lasts (starting one takes a second or two).
    token = next(c["value"] for c in bob.page.context.cookies() if c["name"] == "csrftoken")
    ends_at = datetime.now(UTC) + timedelta(seconds=10)
    end = ends_at.isoformat()
    answer = bob.page.request.post(
        f"{parley_server.url}/notifications/settings/rooms/{brief}/",
        data={"mute": end},
        headers={"Accept": "application/json", "X-CSRFToken": token, "Referer": parley_server.url + "/"},
    )
    assert answer.status == 200, answer.text()

    expect(link).to_have_class(re.compile(r"\bmuted-room\b"))
    post(parley_server, "brief", "Quick one", "b1")
    expect(link.locator(".unread-count")).to_have_text("1")
    expect(link.locator(".unread-count")).to_be_hidden()
    # No frame comes when it ends: the page's own timer ends it.
    expect(link).not_to_have_class(re.compile(r"\bmuted-room\b"), timeout=15_000)
    assert datetime.now(UTC) >= ends_at - timedelta(milliseconds=500), "the mute ended before its time"
    expect(link.locator(".unread-count")).to_be_visible()
    people.assert_clean_consoles()


def test_do_not_disturb_shows_in_every_tabs_header_and_ends_from_it(people, parley_server, room_ids):
    bob = people.open("bob")
    bob.page.goto(parley_server.url + "/notifications/settings/")
    bob.expect_connected()
    other = people.another_tab(bob, "bob-room")
    other.open_room(parley_server, "elsewhere")
    indicator = other.page.locator("#dnd-indicator")
    expect(indicator).to_be_hidden()

    form = bob.page.locator("form.dnd-form")
    form.get_by_label("For 2 hours").check()
    form.get_by_role("button", name="Turn on do not disturb").click()

    expect(bob.page.locator("#dnd-state .dnd-on")).to_be_visible()
    for tab in (bob, other):
        expect(tab.page.locator("#dnd-indicator")).to_be_visible()
        expect(tab.page.locator("#dnd-indicator .dnd-text")).to_have_text(
            re.compile(r"^Do not disturb until \S")
        )

    other.page.get_by_role("button", name="End do not disturb").click()
    for tab in (bob, other):
        expect(tab.page.locator("#dnd-indicator")).to_be_hidden()
    expect(bob.page.locator("#dnd-state .dnd-off")).to_be_visible()
    people.assert_clean_consoles()
