"""The composer's warning in Chromium: a message that would notify more than
NOTIFY_WARNING_PEOPLE people asks first ("This will notify 20 people", Send anyway / Cancel),
with the server's exact number; one whose @room/@here its author may not use says it will be
plain text, and after sending the server's `mention.refused` says why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import People, create_rooms, people_for_test
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-group-mentions")) as server:
        server.call("tests.group_data:crowd_room", name="crowd", owner="alice", members=20)
        create_rooms(server, {"strict": ["alice", "bob"]})
        server.call("tests.group_data:set_group_mentions_by", slug="strict", rule="managers")
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def test_a_message_notifying_many_asks_first_with_the_exact_number(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "crowd")
    alice.send("@room the deploy is at five")
    dialog = alice.page.get_by_role("alertdialog", name="Confirm sending")
    expect(dialog).to_contain_text("This will notify 20 people.")
    # Cancel: nothing sent, the text stays to be changed.
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(alice.composer).to_have_value("@room the deploy is at five")
    assert alice.bodies() == []
    # Send anyway: sent, as it was written.
    alice.composer.press("Enter")
    dialog.get_by_role("button", name="Send anyway").click()
    expect(alice.message("@room the deploy is at five")).to_have_count(1)
    expect(alice.message("@room the deploy is at five")).not_to_have_class("pending")
    expect(alice.composer).to_have_value("")
    # A message that notifies nobody goes at once.
    alice.send("plain words")
    expect(alice.message("plain words")).to_have_count(1)
    expect(dialog).to_have_count(0)
    people.assert_clean_consoles()


def test_a_group_mention_one_may_not_use_is_said_to_be_plain_text_before_and_after(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "strict")
    bob.send("@here anyone?")
    dialog = bob.page.get_by_role("alertdialog", name="Confirm sending")
    expect(dialog).to_contain_text("only the owner and admins can notify everyone")
    expect(dialog).to_contain_text("@here will be sent as plain text.")
    expect(dialog).not_to_contain_text("This will notify")
    dialog.get_by_role("button", name="Send anyway").click()
    expect(bob.message("@here anyone?")).to_have_count(1)
    notice = bob.page.locator(".mention-notice")
    expect(notice).to_have_text(
        "In this room only the owner and admins can notify everyone with @here. It was sent as plain text."
    )
    # The next message clears it.
    bob.send("thanks")
    expect(notice).to_have_count(0)
    people.assert_clean_consoles()


def test_the_picker_offers_room_and_here(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "strict")
    alice.composer.press_sequentially("hi @he")
    option = alice.page.get_by_role("option", name="Notify everyone online now")
    expect(option).to_be_visible()
    option.click()
    expect(alice.composer).to_have_value("hi @here ")
