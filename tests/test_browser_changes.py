"""Messages that change, in Chromium: editing in place (also with ↑), deleting after a
confirmation, reactions by mouse and keyboard, the edit history, the pinned list, each seen live
by another member, and a tab that was offline coming back to all of it in one sync.

Same set-up as tests/test_browser_ui.py (helpers in tests/browser.py): one server and one
Chromium for the module, rooms of their own per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import DROP, SocketTap, Tab, create_rooms, people_for_test, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "edit": ["alice", "bob"],
    "delete": ["alice", "bob", "carol"],
    "react": ["alice", "bob"],
    "history": ["alice", "bob"],
    "history-hidden": ["alice", "bob"],
    "pins": ["alice", "bob"],
    "pins-far": ["alice", "bob"],
    "pins-managers": ["carol", "bob"],
    "offline": ["alice", "bob"],
    "lost": ["alice", "bob"],
    "removed": ["alice", "bob"],
    "phone": ["alice", "bob"],
    "names": ["alice", "bob"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    # Fast senders: the tests change many messages in a row.
    env = {"PARLEY_RATE_BURST": "200", "PARLEY_RATE_PER_SECOND": "100"}
    with running_server(tmp_path_factory.mktemp("browser-changes"), env=env) as server:
        create_rooms(server, ROOMS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def state(server: LiveServer, slug: str, seq: int) -> dict:
    return server.call("tests.browser_data:message_state", room_slug=slug, seq=seq)


def item(tab: Tab, seq: int):
    return tab.page.locator(f"#messages #m{seq}")


def action(tab: Tab, seq: int, name: str):
    """A message's action button, after hovering the message as a mouse user does."""
    message = item(tab, seq)
    message.hover()
    return message.get_by_role("button", name=name, exact=True)


def sent_seq(tab: Tab, body: str) -> int:
    message = tab.message(body)
    expect(message).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    return int(message.get_attribute("data-seq"))


def reaction(tab: Tab, seq: int, emoji: str):
    return item(tab, seq).locator(f'.reaction[data-emoji="{emoji}"]')


def test_editing_in_place_saves_with_enter_and_the_other_member_sees_it_live(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(alice.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "edit")
    alice.send("helo wrld")
    seq = sent_seq(alice, "helo wrld")
    expect(bob.message("helo wrld")).to_have_count(1)
    # Only the author is offered Edit.
    expect(action(bob, seq, "Edit")).to_have_count(0)

    # The server's answer is held back for a moment: the edit shows as saving until it comes.
    held: list[dict] = []

    def hold_updates(frame: dict):
        if frame.get("type") == "message.updated" and not held:
            held.append(frame)
            return DROP
        return None

    tap.from_server.append(hold_updates)
    action(alice, seq, "Edit").click()
    editor = item(alice, seq).get_by_label("Edit message")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("helo wrld")
    editor.fill("hello world")
    editor.press("Enter")
    expect(item(alice, seq).locator(".edit-status")).to_have_text("Saving…")
    expect(editor).to_have_attribute("readonly", "")
    wait_until(alice, lambda: held, what="the held message.updated")
    tap.from_server.remove(hold_updates)
    tap.deliver(held[0])
    expect(item(alice, seq).locator(".edit-form")).to_have_count(0)
    for tab in (alice, bob):
        expect(item(tab, seq).locator(".body")).to_have_text("hello world")
        expect(item(tab, seq).get_by_role("button", name=re.compile(r"^\(edited\)"))).to_be_visible()
    assert state(parley_server, "edit", seq) | {"reactions": None} == {
        "body": "hello world",
        "deleted": False,
        "edited": True,
        "pinned_by": None,
        "revisions": 1,
        "reactions": None,
    }
    assert [f["seq"] for f in tap.sent_of("message.edit")] == [seq]
    people.assert_clean_consoles()


def test_up_arrow_in_the_empty_composer_edits_the_last_own_message_and_escape_cancels(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "edit")
    alice.send("first of mine")
    bob.send("bob in between")
    alice.send("last of mine")
    last = sent_seq(alice, "last of mine")
    expect(alice.message("bob in between")).to_have_count(1)

    # Escape: nothing changes, the focus is back in the composer.
    alice.composer.press("ArrowUp")
    editor = item(alice, last).get_by_label("Edit message")
    expect(editor).to_be_focused()
    editor.press("End")
    editor.press_sequentially(" (typo)")
    editor.press("Escape")
    expect(item(alice, last).locator(".edit-form")).to_have_count(0)
    expect(item(alice, last).locator(".body")).to_have_text("last of mine")
    expect(alice.composer).to_be_focused()

    # ↑ with text in the box moves the caret, as ever; in the empty box it edits.
    alice.composer.fill("draft")
    alice.composer.press("ArrowUp")
    expect(item(alice, last).locator(".edit-form")).to_have_count(0)
    alice.composer.fill("")
    alice.composer.press("ArrowUp")
    editor.press("ControlOrMeta+a")
    editor.press_sequentially("last of mine, corrected")
    editor.press("Enter")
    for tab in (alice, bob):
        expect(item(tab, last).locator(".body")).to_have_text("last of mine, corrected")
    expect(alice.composer).to_be_focused()
    assert state(parley_server, "edit", last)["body"] == "last of mine, corrected"
    people.assert_clean_consoles()


def test_a_refused_edit_says_why_and_stays_open_to_try_again(people, parley_server):
    alice = people.open("alice")
    tap = SocketTap(alice.page)
    alice.open_room(parley_server, "edit")
    alice.send("edit me later")
    seq = sent_seq(alice, "edit me later")

    def too_late(frame: dict):
        if frame.get("type") != "message.edit":
            return None
        return {
            "type": "error",
            "code": "too_late",
            "detail": "The time for editing this message has passed.",
            "frame": "message.edit",
            "room": frame["room"],
            "seq": frame["seq"],
            "client_id": frame["client_id"],
        }

    tap.from_page.append(too_late)
    action(alice, seq, "Edit").click()
    editor = item(alice, seq).get_by_label("Edit message")
    editor.fill("edited too late")
    editor.press("Enter")
    refusal = item(alice, seq).get_by_role("alert")
    expect(refusal).to_have_text("Not saved: The time for editing this message has passed.")
    expect(editor).not_to_have_attribute("readonly", "")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("edited too late")

    # Trying again once the server takes it: saved.
    tap.from_page.remove(too_late)
    editor.press("Enter")
    expect(item(alice, seq).locator(".body")).to_have_text("edited too late")
    assert state(parley_server, "edit", seq)["body"] == "edited too late"
    people.assert_clean_consoles()
