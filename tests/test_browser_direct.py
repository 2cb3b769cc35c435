"""Direct messages in Chromium: starting one from a member's name, the other person seeing it
appear in their sidebar's Direct messages live with its unread count, then the message; the
same conversation again from a message's author; a group conversation from the New message
picker; a muted room's count staying quiet while a `room.settings` frame says so, and coming
back when a timed mute ends.

Same set-up as tests/test_browser_threads.py (helpers in tests/browser.py): one server and one
Chromium for the module, rooms and people of their own per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser import SocketTap, Tab, create_rooms, people_for_test, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "dm-start": ["ivy", "jay"],
    "dm-author": ["kim", "lee"],
    "dm-group": ["mia", "ned", "oli"],
    "dm-muted": ["pat", "quinn"],
}
EXTRA_USERS = ("ivy", "jay", "kim", "lee", "mia", "ned", "oli", "pat", "quinn")


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-direct")) as server:
        create_rooms(server, ROOMS, extra_users=EXTRA_USERS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def direct_link(tab: Tab, name: str):
    return tab.page.locator("#sidebar .direct-links a[data-direct]").filter(has_text=name)


def direct_badge(tab: Tab, name: str):
    return direct_link(tab, name).locator(".unread-count")


def test_a_dm_started_from_a_members_name_reaches_the_other_live_with_its_unread_count(people, parley_server):
    ivy, jay = people.open("ivy"), people.open("jay")
    ivy.open_room(parley_server, "dm-start")
    # Jay is elsewhere: the rooms page, with its sidebar.
    jay.page.goto(parley_server.url + "/")
    jay.expect_connected()
    expect(jay.page.locator("#sidebar .empty-directs")).to_have_text("No conversations yet.")

    ivy.page.locator("#members").get_by_role("button", name="Message Jay").click()
    expect(ivy.page).to_have_url(re.compile(r"/rooms/dm-[0-9a-f]{16}/$"))
    expect(ivy.page).to_have_title("Jay · Parley")
    expect(ivy.page.locator("#room-title")).to_contain_text("Jay")
    # A conversation has no membership management.
    expect(ivy.page.get_by_role("button", name="Leave room")).to_have_count(0)
    expect(ivy.page.get_by_label("Add member by username")).to_have_count(0)
    ivy.expect_connected()
    expect(direct_link(ivy, "Jay")).to_have_attribute("aria-current", "page")

    # Jay's sidebar shows the new conversation at once, named for him, before any message.
    expect(direct_link(jay, "Ivy")).to_have_count(1)
    expect(jay.page.locator("#sidebar .empty-directs")).to_have_count(0)
    ivy.send("hi jay, got a minute?")
    expect(ivy.message("hi jay, got a minute?")).to_have_attribute("data-seq", "1")
    expect(direct_badge(jay, "Ivy")).to_have_text("1")
    expect(direct_link(jay, "Ivy")).to_have_class(re.compile(r"\bhas-unread\b"))
    ivy.send("it is about friday")
    expect(direct_badge(jay, "Ivy")).to_have_text("2")

    direct_link(jay, "Ivy").click()
    expect(jay.page).to_have_title("Ivy · Parley")
    jay.expect_connected()
    expect(jay.message("hi jay, got a minute?")).to_have_count(1)
    expect(jay.message("it is about friday")).to_have_count(1)
    expect(direct_badge(jay, "Ivy")).to_be_hidden()
    # Live both ways in the conversation.
    jay.send("sure, call me")
    expect(ivy.message("sure, call me")).to_have_count(1)
    people.assert_clean_consoles()


def test_the_same_conversation_again_from_a_messages_author(people, parley_server):
    kim, lee = people.open("kim"), people.open("lee")
    for tab in (kim, lee):
        tab.open_room(parley_server, "dm-author")
    lee.send("who has the keys?")
    expect(kim.message("who has the keys?")).to_have_count(1)
    kim.message("who has the keys?").locator(".author").click()
    kim.page.locator(".person-menu").get_by_role("button", name="Message Lee").click()
    expect(kim.page).to_have_url(re.compile(r"/rooms/dm-[0-9a-f]{16}/$"))
    first = kim.page.url
    kim.expect_connected()
    kim.send("I have them")
    expect(kim.message("I have them")).to_have_count(1)

    # From the member list this time: the same conversation, its history there.
    kim.open_room(parley_server, "dm-author")
    kim.page.locator("#members").get_by_role("button", name="Message Lee").click()
    expect(kim.page).to_have_url(first)
    expect(kim.message("I have them")).to_have_count(1)
    expect(kim.page.locator("#sidebar .direct-links a[data-direct]")).to_have_count(1)
    people.assert_clean_consoles()


def test_a_group_conversation_from_the_new_message_picker(people, parley_server):
    mia, ned = people.open("mia"), people.open("ned")
    ned.page.goto(parley_server.url + "/")
    ned.expect_connected()
    mia.page.goto(parley_server.url + "/")
    mia.page.get_by_role("link", name="New message").click()
    expect(mia.page).to_have_title("New message · Parley")
    mia.expect_connected()
    mia.page.get_by_label("Find people").fill("ned")
    expect(mia.page.locator(".direct-person:visible")).to_have_count(1)
    mia.page.get_by_label("Find people").press("Enter")  # ticks the one person left
    mia.page.get_by_label("Find people").fill("oli")
    mia.page.get_by_role("checkbox", name=re.compile("Oli")).check()
    expect(mia.page.locator("#direct-picker-status")).to_have_text("2 people chosen.")
    mia.page.get_by_role("button", name="Start conversation").click()
    expect(mia.page).to_have_title("Ned, Oli · Parley")
    mia.expect_connected()
    expect(mia.page.locator("#members-title")).to_contain_text("People")
    mia.send("lunch, all three of us?")
    expect(direct_link(ned, "Mia, Oli")).to_have_count(1)
    expect(direct_badge(ned, "Mia, Oli")).to_have_text("1")
    people.assert_clean_consoles()


def test_a_muted_room_keeps_its_count_quiet_until_its_mute_ends(people, parley_server):
    pat, quinn = people.open("pat"), people.open("quinn")
    tap = SocketTap(quinn.page)  # to know when the settings frames have arrived
    pat.open_room(parley_server, "dm-muted")
    quinn.page.goto(parley_server.url + "/")
    quinn.expect_connected()
    room_id = parley_server.call("tests.server_data:room_id", slug="dm-muted")
    link = quinn.page.locator(f'#sidebar a[data-room-id="{room_id}"]')
    pat.send("first")
    expect(link.locator(".unread-count")).to_have_text("1")

    # The settings frames as the preferences action sends them (the PREFS branch): muted for an
    # hour, then, while muted, a mute that ends in 8 s (a call takes a second or two).
    mute = "tests.direct_data:send_room_settings"
    in_an_hour = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    parley_server.call(mute, username="quinn", room=room_id, muted_until=in_an_hour)
    expect(link).to_have_class(re.compile(r"\bmuted-room\b"))
    expect(link.locator(".unread-count")).to_be_hidden()
    pat.send("second")
    expect(pat.message("second")).to_have_attribute("data-seq", "2")
    quinn.page.wait_for_timeout(300)
    expect(link.locator(".unread-count")).to_be_hidden()
    expect(link).not_to_have_class(re.compile(r"\bhas-unread\b"))
    ends = datetime.now(UTC) + timedelta(seconds=8)
    parley_server.call(mute, username="quinn", room=room_id, muted_until=ends.isoformat())
    wait_until(quinn, lambda: len(tap.received_of("room.settings")) == 2, what="the second settings frame")
    assert datetime.now(UTC) < ends - timedelta(seconds=1), "the call took too long to see the mute on"
    expect(link).to_have_class(re.compile(r"\bmuted-room\b"))
    expect(link.locator(".unread-count")).to_be_hidden()
    # The mute ends by itself: the count (both messages) is back, with no frame.
    expect(link.locator(".unread-count")).to_be_visible(timeout=15_000)
    expect(link.locator(".unread-count")).to_have_text("2")
    expect(link).to_have_class(re.compile(r"\bhas-unread\b"))
    expect(link).not_to_have_class(re.compile(r"\bmuted-room\b"))
    people.assert_clean_consoles()
