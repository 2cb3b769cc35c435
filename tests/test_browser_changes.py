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


def test_deleting_asks_first_and_leaves_a_tombstone_in_place_for_everyone(people, parley_server):
    alice, bob, carol = people.open("alice"), people.open("bob"), people.open("carol")
    for tab in (alice, bob, carol):
        tab.open_room(parley_server, "delete")  # alice owns the room
    bob.send("oops, wrong room")
    bob.send("keep this one")
    bob.send("and this, for now")
    first, second, third = (
        sent_seq(bob, body) for body in ("oops, wrong room", "keep this one", "and this, for now")
    )
    expect(carol.message("and this, for now")).to_have_count(1)
    # Carol may delete neither bob's messages nor anyone's but her own.
    expect(action(carol, first, "Delete")).to_have_count(0)

    # Asked first; Escape keeps the message.
    action(bob, first, "Delete").click()
    dialog = bob.page.get_by_role("alertdialog", name="Delete your message?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("oops, wrong room")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    bob.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(item(bob, first).locator(".body")).to_have_text("oops, wrong room")
    assert state(parley_server, "delete", first)["deleted"] is False

    # By keyboard: Tab to Delete, Enter.
    action(bob, first, "Delete").click()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    bob.page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Delete")).to_be_focused()
    bob.page.keyboard.press("Enter")
    for tab in (alice, bob, carol):
        expect(item(tab, first)).to_have_class(re.compile(r"\bdeleted\b"))
        expect(item(tab, first).locator(".body")).to_have_text("Message deleted")
        assert tab.seqs() == [first, second, third], tab.name  # in its place: no hole
    expect(item(bob, first)).to_be_focused()
    expect(item(bob, first).locator(".message-actions")).to_have_count(0)

    # The room's owner deletes somebody else's message.
    action(alice, second, "Delete").click()
    dialog = alice.page.get_by_role("alertdialog", name="Delete Bob’s message?")
    dialog.get_by_role("button", name="Delete").click()
    for tab in (alice, bob, carol):
        expect(item(tab, second).locator(".body")).to_have_text("Message deleted")
        expect(tab.page.locator("#messages .message .body")).to_have_text(
            ["Message deleted", "Message deleted", "and this, for now"]
        )
    for seq in (first, second):
        assert state(parley_server, "delete", seq) == {
            "body": "",
            "deleted": True,
            "edited": False,
            "pinned_by": None,
            "revisions": 0,
            "reactions": [],
        }
    # A reload shows the same tombstones, rendered by the server.
    carol.page.reload()
    carol.expect_connected()
    expect(carol.page.locator("#messages .message.deleted .body")).to_have_text(["Message deleted"] * 2)
    people.assert_clean_consoles()


def test_reacting_by_mouse_and_keyboard_toggles_counts_and_says_who(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    catalogue_requests: list[str] = []
    bob.page.on("request", lambda r: catalogue_requests.append(r.url) if "/emoji.json" in r.url else None)
    for tab in (alice, bob):
        tab.open_room(parley_server, "react")
    alice.send("react to me")
    seq = sent_seq(alice, "react to me")
    expect(bob.message("react to me")).to_have_count(1)

    # Bob, by mouse: the picker, a search by name, a click.
    action(bob, seq, "Add reaction").click()
    picker = bob.page.get_by_role("dialog", name="Add a reaction")
    expect(picker).to_be_visible()
    search = picker.get_by_role("combobox", name="Search emoji")
    expect(search).to_be_focused()
    search.fill("thumbs")
    picker.get_by_role("option", name="thumbs up", exact=True).click()
    expect(picker).to_be_hidden()
    for tab in (alice, bob):
        expect(reaction(tab, seq, "👍")).to_have_text("👍1")
    expect(reaction(bob, seq, "👍")).to_have_attribute("aria-pressed", "true")
    expect(reaction(alice, seq, "👍")).to_have_attribute("aria-pressed", "false")
    expect(reaction(alice, seq, "👍")).to_have_accessible_name("👍 1: Bob")
    expect(reaction(alice, seq, "👍")).to_have_attribute("data-who", "Bob reacted with 👍")

    # Alice joins in with a click on the reaction itself.
    reaction(alice, seq, "👍").click()
    for tab in (alice, bob):
        expect(reaction(tab, seq, "👍")).to_have_text("👍2")
    expect(reaction(bob, seq, "👍")).to_have_accessible_name("👍 2: you and Alice")
    expect(reaction(alice, seq, "👍")).to_have_attribute("aria-pressed", "true")

    # Bob, by keyboard alone: to the message, Tab to its actions, search by alias, Enter.
    item(bob, seq).focus()
    expect(item(bob, seq).get_by_role("button", name="Add reaction")).to_be_visible()
    for _ in range(6):
        bob.page.keyboard.press("Tab")
        if bob.page.evaluate("document.activeElement.dataset.action") == "react":
            break
    expect(item(bob, seq).get_by_role("button", name="Add reaction")).to_be_focused()
    bob.page.keyboard.press("Enter")
    expect(search).to_be_focused()
    bob.page.keyboard.type("tada")
    expect(picker.get_by_role("option").first).to_have_attribute("aria-selected", "true")
    expect(picker.get_by_role("option").first).to_have_text("🎉")
    bob.page.keyboard.press("Enter")
    expect(reaction(alice, seq, "🎉")).to_have_text("🎉1")
    expect(item(bob, seq).get_by_role("button", name="Add reaction")).to_be_focused()
    # The reactions in the order each was first used.
    expect(item(alice, seq).locator(".reaction")).to_have_text(["👍2", "🎉1"])

    # Recently used come first next time, without searching; Escape closes, focus comes back.
    bob.page.keyboard.press("Enter")
    expect(picker.locator(".emoji-heading")).to_have_text("Recently used")
    expect(picker.get_by_role("option")).to_have_text(["🎉", "👍"])
    bob.page.keyboard.press("Escape")
    expect(picker).to_be_hidden()
    expect(item(bob, seq).get_by_role("button", name="Add reaction")).to_be_focused()

    # A keyboard toggle of one's own reaction takes it back.
    reaction(bob, seq, "👍").focus()
    bob.page.keyboard.press("Enter")
    for tab in (alice, bob):
        expect(reaction(tab, seq, "👍")).to_have_text("👍1")
    expect(reaction(bob, seq, "👍")).to_have_attribute("aria-pressed", "false")
    expect(reaction(bob, seq, "👍")).to_be_focused()
    assert state(parley_server, "react", seq)["reactions"] == [["🎉", "bob"], ["👍", "alice"]]

    # Reloaded, the server's page shows the same reactions in the same order.
    alice.page.reload()
    alice.expect_connected()
    expect(item(alice, seq).locator(".reaction")).to_have_text(["👍1", "🎉1"])
    expect(reaction(alice, seq, "👍")).to_have_attribute("aria-pressed", "true")
    assert len(catalogue_requests) == 1, catalogue_requests  # fetched once, when first needed
    people.assert_clean_consoles()


def edit(tab: Tab, seq: int, body: str) -> None:
    """Edit one's own message by its Edit button and wait until the server has it."""
    action(tab, seq, "Edit").click()
    editor = item(tab, seq).get_by_label("Edit message")
    editor.fill(body)
    editor.press("Enter")
    expect(item(tab, seq).locator(".body")).to_have_text(body)


def test_the_edit_history_shows_each_version_with_the_words_that_changed(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "history")
    alice.send("the quick fox jumps")
    seq = sent_seq(alice, "the quick fox jumps")
    edit(alice, seq, "the quick brown fox jumps")
    edit(alice, seq, "the slow brown fox jumps high")

    marker = item(bob, seq).get_by_role("button", name=re.compile(r"^\(edited\)"))
    expect(marker).to_have_accessible_name("(edited) show the earlier versions")
    marker.click()
    dialog = bob.page.get_by_role("dialog", name="Edit history")
    expect(dialog).to_be_visible()
    versions = dialog.locator(".version")
    expect(versions).to_have_count(3)
    expect(versions.locator(".version-head strong")).to_have_text(["Original", "Edit 1", "Current"])
    expect(versions.nth(0)).to_contain_text("written by Alice")
    expect(versions.nth(1)).to_contain_text("edited by Alice")
    expect(versions.nth(0).locator(".version-body")).to_have_text("the quick fox jumps")
    # What each edit changed, word by word: added words in <ins>, removed ones in <del>.
    expect(versions.nth(1).locator("ins")).to_have_text(["brown "])
    expect(versions.nth(1).locator("del")).to_have_count(0)
    expect(versions.nth(2).locator("del")).to_have_text(["quick"])
    expect(versions.nth(2).locator("ins")).to_have_text(["slow", " high"])
    # Said in words too, for screen readers.
    expect(versions.nth(2).locator(".version-body")).to_have_text(
        "the [removed: quick][added: slow] brown fox jumps[added:  high]"
    )
    bob.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(marker).to_be_focused()
    people.assert_clean_consoles()


def test_where_only_managers_see_earlier_versions_a_member_is_told_so(people, parley_server):
    parley_server.call(
        "tests.browser_data:set_room_policy", room_slug="history-hidden", history_visible_to="managers"
    )
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "history-hidden")  # alice owns it
    bob.send("bob's first try")
    seq = sent_seq(bob, "bob's first try")
    edit(bob, seq, "bob's second try")

    item(bob, seq).get_by_role("button", name=re.compile(r"^\(edited\)")).click()
    dialog = bob.page.get_by_role("dialog", name="Edit history")
    expect(dialog.locator(".versions-status")).to_contain_text("only the owner and admins")
    expect(dialog.locator(".version")).to_have_count(0)
    bob.page.keyboard.press("Escape")

    item(alice, seq).get_by_role("button", name=re.compile(r"^\(edited\)")).click()
    dialog = alice.page.get_by_role("dialog", name="Edit history")
    expect(dialog.locator(".version-body")).to_have_text(
        ["bob's first try", "bob's [removed: first][added: second] try"]
    )
    people.assert_clean_consoles()
