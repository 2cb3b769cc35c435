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

from tests.browser import (
    CONTRAST_AUDIT,
    DROP,
    MOBILE,
    SocketTap,
    Tab,
    create_rooms,
    people_for_test,
    unnamed_controls,
    wait_until,
)
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
    "no-script": ["alice", "bob"],
    "contrast-light": ["alice", "bob"],
    "contrast-dark": ["alice", "bob"],
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

    # Asked first; Escape keeps the message, and the focus goes back to Delete.
    action(bob, first, "Delete").click()
    bob.page.mouse.move(0, 0)
    dialog = bob.page.get_by_role("alertdialog", name="Delete your message?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("oops, wrong room")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    bob.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(item(bob, first).get_by_role("button", name="Delete")).to_be_focused()
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

    # Bob, by keyboard alone (the mouse away: nothing hovered): to the message, Tab to its
    # actions, search by alias, Enter.
    bob.page.mouse.move(0, 0)
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


def pins_toggle(tab: Tab):
    return tab.page.get_by_role("button", name=re.compile(r"^Pinned messages \d+$"))


def test_the_pinned_list_counts_lists_and_opens_pinned_messages_live(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "pins")
    for body in ("agenda: ship it", "lunch?", "the build is green"):
        alice.send(body)
    agenda, green = sent_seq(alice, "agenda: ship it"), sent_seq(alice, "the build is green")
    expect(bob.message("the build is green")).to_have_count(1)
    expect(pins_toggle(alice)).to_have_accessible_name("Pinned messages 0")

    action(bob, agenda, "Pin").click()
    expect(item(alice, agenda).locator(".pin-mark")).to_have_text("Pinned by Bob")
    expect(item(bob, agenda).locator(".pin-mark")).to_have_text("Pinned by you")
    action(alice, green, "Pin").click()
    for tab in (alice, bob):
        expect(pins_toggle(tab)).to_have_accessible_name("Pinned messages 2")

    # The panel: newest pin first; Escape closes it and gives the focus back.
    toggle = pins_toggle(bob)
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    panel = bob.page.locator("#pins-panel")
    expect(panel.locator(".pin-body")).to_have_text(["the build is green", "agenda: ship it"])
    expect(panel.locator(".pin-by")).to_have_text(["Pinned by Alice", "Pinned by you"])
    expect(panel.get_by_role("link").first).to_be_focused()
    bob.page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(toggle).to_be_focused()

    # Opening one that is loaded scrolls to it and puts the focus on it.
    bob.page.locator("#messages").evaluate("list => { list.scrollTop = list.scrollHeight; }")
    toggle.click()
    panel.get_by_role("link", name=re.compile("agenda: ship it")).click()
    expect(item(bob, agenda)).to_be_focused()
    expect(item(bob, agenda)).to_be_in_viewport()
    assert bob.page.url.endswith("/rooms/pins/")  # no page load

    # An edit shows in the list; unpinning (or deleting) takes it off, for everyone.
    edit(alice, green, "the build is green again")
    alice.page.get_by_role("button", name=re.compile(r"^Pinned messages")).click()
    expect(alice.page.locator("#pins-panel .pin-body")).to_have_text(
        ["the build is green again", "agenda: ship it"]
    )
    alice.page.keyboard.press("Escape")
    action(alice, agenda, "Unpin").click()
    for tab in (alice, bob):
        expect(pins_toggle(tab)).to_have_accessible_name("Pinned messages 1")
    expect(item(bob, agenda).locator(".pin-mark")).to_have_count(0)
    assert state(parley_server, "pins", green)["pinned_by"] == "alice"
    assert state(parley_server, "pins", agenda)["pinned_by"] is None

    # The server renders the same list.
    bob.page.reload()
    bob.expect_connected()
    expect(pins_toggle(bob)).to_have_accessible_name("Pinned messages 1")
    expect(bob.page.locator("#pins-panel .pin-body")).to_have_text(["the build is green again"])
    people.assert_clean_consoles()


def test_a_pinned_message_above_the_loaded_page_opens_the_room_around_it(people, parley_server):
    bodies = [f"far {i:02d}" for i in range(1, 61)]
    parley_server.call("tests.browser_data:store_messages", author="bob", room_slug="pins-far", bodies=bodies)
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "pins-far")
    expect(alice.page.locator("#messages .message")).to_have_count(50)  # 11 … 60
    bob.page.get_by_role("button", name="Load earlier messages").click()
    expect(bob.page.locator("#messages .message")).to_have_count(60)
    action(bob, 1, "Pin").click()

    # Alice's page does not show message 1, but its pin reaches her list.
    expect(pins_toggle(alice)).to_have_accessible_name("Pinned messages 1")
    expect(item(alice, 1)).to_have_count(0)
    pins_toggle(alice).click()
    alice.page.locator("#pins-panel").get_by_role("link", name=re.compile("far 01")).click()
    expect(alice.page).to_have_url(re.compile(r"/rooms/pins-far/\?around=1#m1$"))
    alice.expect_connected()
    expect(item(alice, 1)).to_be_in_viewport()
    expect(item(alice, 1).locator(".pin-mark")).to_have_text("Pinned by Bob")
    people.assert_clean_consoles()


def test_where_only_managers_pin_members_are_not_offered_pin(people, parley_server):
    parley_server.call("tests.browser_data:set_room_policy", room_slug="pins-managers", pins_by="managers")
    carol, bob = people.open("carol"), people.open("bob")
    for tab in (carol, bob):
        tab.open_room(parley_server, "pins-managers")  # carol owns it
    bob.send("pin me, carol")
    seq = sent_seq(bob, "pin me, carol")
    expect(action(bob, seq, "Add reaction")).to_be_visible()
    expect(action(bob, seq, "Pin")).to_have_count(0)
    action(carol, seq, "Pin").click()
    expect(pins_toggle(bob)).to_have_accessible_name("Pinned messages 1")
    people.assert_clean_consoles()


def test_an_offline_tab_comes_back_to_the_edit_the_tombstone_and_the_reaction_in_one_sync(
    people, parley_server
):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "offline")
    for body in ("one", "two", "three"):
        alice.send(body)
    one, two, three = (sent_seq(alice, body) for body in ("one", "two", "three"))
    expect(bob.message("three")).to_have_count(1)

    # Bob's connection goes, and every try to get it back fails, while alice changes everything.
    tap.mode = "refuse"
    tap.close_current()
    expect(bob.page.locator("#connection-banner")).to_be_visible()
    edit(alice, one, "one, edited")
    action(alice, two, "Delete").click()
    alice.page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(item(alice, two)).to_have_class(re.compile(r"\bdeleted\b"))
    action(alice, three, "Add reaction").click()
    alice.page.get_by_role("option", name="thumbs up").click()
    expect(reaction(alice, three, "👍")).to_have_text("👍1")
    alice.send("four")
    four = sent_seq(alice, "four")
    # Bob's page heard nothing of it.
    expect(item(bob, one).locator(".body")).to_have_text("one")
    expect(item(bob, four)).to_have_count(0)

    attempts = len(tap.connections)
    tap.mode = "through"
    bob.page.get_by_role("button", name="Retry now").click()
    bob.expect_connected()
    expect(item(bob, one).locator(".body")).to_have_text("one, edited")
    expect(item(bob, one).get_by_role("button", name=re.compile(r"^\(edited\)"))).to_be_visible()
    expect(item(bob, two).locator(".body")).to_have_text("Message deleted")
    expect(reaction(bob, three, "👍")).to_have_accessible_name("👍 1: Alice")
    expect(item(bob, four).locator(".body")).to_have_text("four")
    assert bob.seqs() == [one, two, three, four]
    # One sync, by change position, from where the page stood; its answer: the four messages
    # that changed, each once, as they now are.
    # (Only the new connection's frames: the cut one's server side may still be hearing some.)
    back = [c for c in tap.connections[attempts:] if c.refused_with is None]
    assert len(back) == 1
    syncs = [f for f in back[0].sent if f.get("type") == "sync"]
    assert len(syncs) == 1, syncs
    assert "after_seq" not in syncs[0]
    answer = back[0].received
    done = [f for f in answer if f.get("type") == "sync.done"]
    assert len(done) == 1 and done[0]["has_more"] is False, done
    # Four changes: the edit, the delete, the reaction and the new message.
    assert done[0]["last_change"] == syncs[0]["after_change"] + 4
    updated = [f["message"]["seq"] for f in answer if f.get("type") == "message.updated"]
    assert updated == [one, two, three, four]
    people.assert_clean_consoles(allowed=re.compile(r"WebSocket connection to .* failed"))


def test_a_lost_change_is_noticed_by_the_next_one_and_fetched_by_change(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    tap = SocketTap(bob.page)
    for tab in (alice, bob):
        tab.open_room(parley_server, "lost")
    alice.send("react here")
    alice.send("edit here")
    reacted, edited = sent_seq(alice, "react here"), sent_seq(alice, "edit here")
    expect(bob.message("edit here")).to_have_count(1)
    wait_until(bob, lambda: tap.received_of("sync.done"), what="the first sync.done")
    position = int(item(bob, edited).get_attribute("data-change"))

    lost: list[dict] = []

    def lose_the_first_update(frame: dict):
        if frame.get("type") == "message.updated" and not lost:
            lost.append(frame)
            return DROP
        return None

    tap.from_server.append(lose_the_first_update)
    action(alice, reacted, "Add reaction").click()
    alice.page.get_by_role("option", name="thumbs up").click()
    expect(reaction(alice, reacted, "👍")).to_have_count(1)
    wait_until(bob, lambda: lost, what="the lost reaction")
    expect(reaction(bob, reacted, "👍")).to_have_count(0)

    # The next change jumps one position ahead: the page asks for what it missed.
    edit(alice, edited, "edited here")
    expect(reaction(bob, reacted, "👍")).to_have_text("👍1")
    expect(item(bob, edited).locator(".body")).to_have_text("edited here")
    assert [f["after_change"] for f in tap.sent_of("sync") if "after_change" in f][-1] == position
    assert lost[0]["message"]["change"] == position + 1
    people.assert_clean_consoles()


def test_notifications_of_a_deleted_message_leave_the_list_and_the_badge(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    alice.open_room(parley_server, "removed")
    alice.send("@bob please look")
    alice.send("@bob and this one stays")
    gone = sent_seq(alice, "@bob please look")
    bob.page.goto(f"{parley_server.url}/notifications/")
    bob.expect_connected()
    entries = bob.page.locator("#notification-list .notification")
    expect(entries.filter(has_text="please look")).to_have_count(1)
    expect(entries.filter(has_text="and this one stays")).to_have_count(1)
    count, badge = entries.count(), bob.badge()
    assert badge >= 2

    action(alice, gone, "Delete").click()
    alice.page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    expect(entries).to_have_count(count - 1)
    expect(entries.filter(has_text="please look")).to_have_count(0)
    expect(bob.page.locator("#notification-badge")).to_have_text(str(badge - 1))
    expect(bob.page.locator("#notification-badge")).to_have_attribute("aria-label", f"{badge - 1} unread")
    people.assert_clean_consoles()


def no_sideways_scroll(tab: Tab) -> bool:
    return tab.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def inside_the_screen(tab: Tab, locator) -> bool:
    box = locator.bounding_box()
    width = tab.page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_on_a_phone_a_tap_shows_the_actions_and_everything_fits_390_px(people, parley_server):
    alice = people.open("alice", viewport=MOBILE, is_mobile=True, has_touch=True)
    bob = people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "phone")
    bob.send("a long message from bob, long enough to wrap on a narrow screen at least once or twice")
    alice.send("mine, on a phone")
    seq = sent_seq(alice, "mine, on a phone")
    theirs = sent_seq(
        alice, "a long message from bob, long enough to wrap on a narrow screen at least once or twice"
    )

    item(alice, seq).locator(".body").tap()
    actions = item(alice, seq).locator(".message-actions")
    expect(actions).to_be_visible()
    assert inside_the_screen(alice, actions)
    for name in ("Add reaction", "Edit", "Pin", "Delete"):
        button = actions.get_by_role("button", name=name, exact=True)
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box["width"] >= 30 and box["height"] >= 30, (name, box)  # big enough for a finger

    actions.get_by_role("button", name="Add reaction").tap()
    picker = alice.page.get_by_role("dialog", name="Add a reaction")
    expect(picker).to_be_visible()
    assert inside_the_screen(alice, picker)
    picker.get_by_role("option").first.tap()
    expect(item(bob, seq).locator(".reaction")).to_have_count(1)

    item(alice, seq).locator(".body").tap()
    item(alice, seq).get_by_role("button", name="Edit", exact=True).tap()
    editor = item(alice, seq).get_by_label("Edit message")
    assert inside_the_screen(alice, editor)
    editor.fill("mine, edited on a phone")
    item(alice, seq).get_by_role("button", name="Save").tap()
    expect(item(bob, seq).locator(".body")).to_have_text("mine, edited on a phone")

    item(alice, theirs).locator(".body").tap()
    item(alice, theirs).get_by_role("button", name="Pin", exact=True).tap()
    pins_toggle(alice).tap()
    panel = alice.page.locator("#pins-panel")
    expect(panel).to_be_visible()
    assert inside_the_screen(alice, panel)
    assert no_sideways_scroll(alice)
    people.assert_clean_consoles()


def test_every_control_of_changed_messages_has_a_name(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    for tab in (alice, bob):
        tab.open_room(parley_server, "names")
    alice.send("named things")
    seq = sent_seq(alice, "named things")
    edit(alice, seq, "named things, edited")
    action(bob, seq, "Add reaction").click()
    bob.page.get_by_role("option", name="thumbs up").click()
    action(bob, seq, "Pin").click()
    expect(pins_toggle(alice)).to_have_accessible_name("Pinned messages 1")

    item(alice, seq).hover()
    action(alice, seq, "Edit").click()  # an open editor too
    assert unnamed_controls(alice) == []
    alice.page.keyboard.press("Escape")
    action(alice, seq, "Add reaction").click()  # the picker, open
    assert unnamed_controls(alice) == []
    alice.page.keyboard.press("Escape")
    action(alice, seq, "Delete").click()  # the confirmation
    assert unnamed_controls(alice) == []
    alice.page.keyboard.press("Escape")
    item(alice, seq).get_by_role("button", name=re.compile(r"^\(edited\)")).click()
    expect(alice.page.locator("#versions-dialog .version")).to_have_count(2)
    assert unnamed_controls(alice) == []
    alice.page.keyboard.press("Escape")
    pins_toggle(alice).click()
    assert unnamed_controls(alice) == []
    alice.page.keyboard.press("Escape")

    # The list is one Tab stop, the newest message: arrow keys move between messages, Tab goes
    # on into the actions of the one moved to; Shift+Tab from the composer lands on the newest.
    alice.send("second")
    alice.send("third")
    second, third = sent_seq(alice, "second"), sent_seq(alice, "third")
    tabbable = alice.page.locator("#messages .message[tabindex='0']")
    expect(tabbable).to_have_count(1)
    expect(tabbable).to_have_attribute("data-seq", str(third))
    item(alice, third).focus()
    alice.page.keyboard.press("ArrowUp")
    expect(item(alice, second)).to_be_focused()
    alice.page.keyboard.press("Home")
    expect(item(alice, seq)).to_be_focused()
    alice.page.keyboard.press("ArrowDown")
    expect(item(alice, second)).to_be_focused()
    expect(tabbable).to_have_attribute("data-seq", str(second))
    alice.page.keyboard.press("Tab")
    expect(item(alice, second).get_by_role("button", name="Add reaction")).to_be_focused()
    alice.composer.focus()
    alice.page.keyboard.press("Shift+Tab")
    expect(item(alice, third)).to_be_focused()
    people.assert_clean_consoles()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_reactions_tombstones_dialogs_and_the_pinned_list_meet_wcag_contrast(people, parley_server, scheme):
    alice, bob = people.open("alice"), people.open("bob", color_scheme=scheme)
    slug = f"contrast-{scheme}"
    for tab in (alice, bob):
        tab.open_room(parley_server, slug)
    alice.send("to be deleted")
    alice.send("to be edited")
    alice.send("@bob a mention with reactions")
    gone, edited, mention = (
        sent_seq(alice, body) for body in ("to be deleted", "to be edited", "@bob a mention with reactions")
    )
    edit(alice, edited, "edited, and pinned")
    action(alice, gone, "Delete").click()
    alice.page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    for seq in (edited, mention):
        action(bob, seq, "Add reaction").click()
        bob.page.get_by_role("option", name="thumbs up").click()  # bob's own: highlighted
        action(alice, seq, "Add reaction").click()
        alice.page.get_by_role("option", name="red heart").click()
    action(alice, edited, "Pin").click()
    expect(reaction(bob, mention, "❤️")).to_have_count(1)
    expect(item(bob, gone).locator(".body")).to_have_text("Message deleted")
    bob.page.mouse.move(0, 0)

    failures = {"room": bob.page.evaluate(CONTRAST_AUDIT)}
    action(bob, mention, "Add reaction").click()
    bob.page.get_by_role("combobox", name="Search emoji").fill("face")
    failures["picker"] = bob.page.evaluate(CONTRAST_AUDIT)
    bob.page.keyboard.press("Escape")
    item(bob, edited).get_by_role("button", name=re.compile(r"^\(edited\)")).click()
    expect(bob.page.locator("#versions-dialog .version")).to_have_count(2)
    failures["history"] = bob.page.evaluate(CONTRAST_AUDIT)
    bob.page.keyboard.press("Escape")
    pins_toggle(bob).click()
    failures["pins"] = bob.page.evaluate(CONTRAST_AUDIT)
    bob.page.keyboard.press("Escape")
    bob.send("mine, to delete")
    action(bob, sent_seq(bob, "mine, to delete"), "Delete").click()
    failures["delete"] = bob.page.evaluate(CONTRAST_AUDIT)
    bob.page.keyboard.press("Escape")
    assert {name: found for name, found in failures.items() if found} == {}
    people.assert_clean_consoles()


def test_without_javascript_the_page_shows_the_same_state_and_links_to_edit_and_delete(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "no-script")
    alice = people.open("alice", java_script_enabled=False)
    bob.send("bob's, edited and reacted to")
    edited = sent_seq(bob, "bob's, edited and reacted to")
    edit(bob, edited, "bob's, edited and reacted to (edited)")
    action(bob, edited, "Add reaction").click()
    bob.page.get_by_role("option", name="thumbs up").click()
    action(bob, edited, "Pin").click()
    expect(item(bob, edited).locator(".pin-mark")).to_have_count(1)

    page = alice.page
    page.goto(f"{parley_server.url}/rooms/no-script/")
    expect(item(alice, edited).locator(".edited-marker")).to_have_text("(edited)")
    expect(item(alice, edited).locator(".reaction")).to_have_text("👍 1")
    expect(item(alice, edited).locator(".pin-mark")).to_have_text("Pinned by Bob")
    # Alice owns the room: she may delete bob's message, not edit it.
    expect(item(alice, edited).get_by_role("link")).to_have_text(["Delete this message"])

    # Alice writes, edits and deletes with forms; bob's page sees each change live.
    page.locator("#message-input").fill("alice without a script")
    page.get_by_role("button", name="Send").click()
    own = sent_seq(alice, "alice without a script")
    item(alice, own).get_by_role("link", name="Edit your message").click()
    page.get_by_role("textbox", name="Message").fill("alice without a script, edited")
    page.get_by_role("button", name="Save").click()
    expect(item(bob, own).locator(".body")).to_have_text("alice without a script, edited")
    expect(item(alice, own).locator(".edited-marker")).to_have_text("(edited)")
    item(alice, own).get_by_role("link", name="Delete this message").click()
    page.get_by_role("button", name="Delete for everyone").click()
    expect(item(alice, own).locator(".body")).to_have_text("Message deleted")
    expect(item(bob, own).locator(".body")).to_have_text("Message deleted")
    people.assert_clean_consoles()
