"""The chat in Chromium as a person uses it: grouping, links, the composer, unread counts,
keyboard use, labels, colour contrast and pages without JavaScript.

Same set-up as tests/test_browser.py (helpers in tests/browser.py): one server and one
Chromium for the module, rooms of its own per test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import (
    CONTRAST_AUDIT,
    MOBILE,
    UNNAMED_CONTROLS,
    SocketTap,
    Tab,
    create_rooms,
    log_in,
    people_for_test,
    set_visible,
    wait_until,
)
from tests.live_server import DEMO_PASSWORD, LiveServer, running_server

# Without a Chromium the `browser` fixture fails, saying what is missing (tests/chromium.py).
pytestmark = [pytest.mark.browser]

ROOMS = {
    "grouping": ["alice", "bob"],
    "picker": ["alice", "bob", "carol", "dave"],
    "drafts": ["alice", "bob"],
    "drafts-other": ["alice"],
    "retry": ["alice", "bob"],
    "unread-a": ["alice", "bob"],
    "unread-b": ["alice", "bob"],
    "unread-c": ["alice"],
    "keyboard": ["alice", "bob"],
    "contrast": ["alice", "bob"],
    "history": ["alice", "bob"],
    "sidebar": ["carol", "bob"],
    "membership": ["carol", "bob"],
    "around": ["carol", "bob"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-ui")) as server:
        create_rooms(server, ROOMS, extra_users=("dave",))
        server.call("tests.server_data:seed_browser_ui_messages")
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def classes(tab: Tab) -> list[tuple[str, bool]]:
    """(body, continued?) for each message, in order."""
    return tab.page.locator("#messages .message").evaluate_all(
        "items => items.map(i => [i.querySelector('.body').textContent, i.classList.contains('continued')])"
    )


def test_messages_are_grouped_by_author_and_day_with_local_times_and_safe_links(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob", timezone_id="Asia/Tokyo")
    for tab in (alice, bob):
        tab.open_room(parley_server, "grouping")
    for text in ("one", "two", "three"):
        alice.send(text)
    expect(bob.message("three")).to_have_count(1)
    bob.send("four")
    expect(alice.message("four")).to_have_count(1)
    alice.send("five: see https://example.com/path_(x)?q=1. Not javascript:alert(1)")
    expect(bob.message("five: see https://example.com/path_(x)?q=1. Not javascript:alert(1)")).to_have_count(
        1
    )

    expected = [
        ["Three days ago, first", False],
        ["Three days ago, two minutes later", True],
        ["one", False],
        ["two", True],
        ["three", True],
        ["four", False],
        ["five: see https://example.com/path_(x)?q=1. Not javascript:alert(1)", False],
    ]
    for tab in (alice, bob):
        assert classes(tab) == expected, tab.name
    # The page the server renders gets the same treatment.
    bob.page.reload()
    bob.expect_connected()
    assert classes(bob) == expected

    dividers = bob.page.locator("#messages .day-divider")
    expect(dividers).to_have_count(2)
    expect(dividers.nth(1)).to_have_text("Today")
    assert re.search(r"\d{4}", dividers.nth(0).inner_text()) and "day" in dividers.nth(0).inner_text()

    link = bob.message("five: see https://example.com/path_(x)?q=1. Not javascript:alert(1)").locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_text("https://example.com/path_(x)?q=1")
    expect(link).to_have_attribute("href", "https://example.com/path_(x)?q=1")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")

    # Own messages are marked for their author only; times are local, with the full date on hover.
    expect(alice.message("one")).to_have_class(re.compile(r"\bown\b"))
    expect(bob.message("one")).not_to_have_class(re.compile(r"\bown\b"))
    time = bob.message("four").locator("time")
    expected_text = bob.page.evaluate(
        "iso => new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit'})"
        ".format(new Date(iso))",
        time.get_attribute("datetime"),
    )
    expect(time).to_have_text(expected_text)
    assert re.search(r"\d{4}", time.get_attribute("title") or "")
    people.assert_clean_consoles()


def test_mention_picker_completes_members_by_keyboard_and_mouse(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "picker")
    page, box = alice.page, alice.composer
    listbox = page.get_by_role("listbox", name="Members to mention")
    options = listbox.get_by_role("option")

    box.press_sequentially("Hi @")
    expect(listbox).to_be_visible()
    expect(options).to_have_count(3)  # bob, carol, dave: not oneself
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(0).get_attribute("id"))
    box.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    box.press("ArrowUp")
    box.press("ArrowUp")
    expect(options.nth(2)).to_have_attribute("aria-selected", "true")  # wrapped around
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Hi @")

    box.press_sequentially("ca")
    expect(options).to_have_count(1)
    expect(options.nth(0)).to_contain_text("@carol")
    box.press("Enter")  # picks; does not send
    expect(box).to_have_value("Hi @carol ")
    box.press_sequentially("and @B")
    expect(options).to_have_count(1)
    box.press("Tab")
    expect(box).to_have_value("Hi @carol and @bob ")
    expect(box).to_be_focused()
    box.press_sequentially("@")
    options.filter(has_text="@dave").click()
    expect(box).to_have_value("Hi @carol and @bob @dave ")
    expect(box).to_be_focused()
    expect(page.locator("#messages .message")).to_have_count(0)

    box.press_sequentially("see you")
    box.press("Enter")
    sent = alice.message("Hi @carol and @bob @dave see you")
    expect(sent.locator(".mention")).to_have_text(["@carol", "@bob", "@dave"])
    expect(box).to_have_value("")
    people.assert_clean_consoles()


def test_composer_grows_makes_new_lines_and_keeps_a_draft_across_reloads(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "drafts")
    box = alice.composer
    height = box.bounding_box()["height"]
    box.press_sequentially("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    box.press("Shift+Enter")
    box.press_sequentially("line three")
    expect(box).to_have_value("line one\nline two\nline three")
    assert box.bounding_box()["height"] > height * 1.5  # grew, through CSSOM, which the CSP allows

    alice.page.reload()
    alice.expect_connected()
    expect(box).to_have_value("line one\nline two\nline three")
    alice.open_room(parley_server, "drafts-other")
    expect(box).to_have_value("")  # drafts are per room
    alice.open_room(parley_server, "drafts")
    expect(box).to_have_value("line one\nline two\nline three")

    alice.page.get_by_role("button", name="Send").click()
    expect(alice.message("line one\nline two\nline three")).to_have_count(1)
    expect(box).to_have_value("")
    alice.page.reload()
    alice.expect_connected()
    expect(box).to_have_value("")
    people.assert_clean_consoles()


def test_a_refused_message_offers_retry_which_resends_it_with_the_same_client_id(people, parley_server):
    alice, bob = people.open("alice"), people.open("bob")
    sent: list[dict] = []

    def route(ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") == "message.send":
                sent.append(frame)
                # The first try of each message is refused, as a server would refuse a bad frame.
                if [f["client_id"] for f in sent].count(frame["client_id"]) == 1:
                    refusal = {
                        "type": "error",
                        "code": "bad_request",
                        "detail": "Refused by the test.",
                        "client_id": frame["client_id"],
                    }
                    ws.send(json.dumps(refusal))
                    return
            server.send(message)

        ws.on_message(from_page)

    alice.page.route_web_socket(re.compile(r"/ws/chat/$"), route)
    for tab in (alice, bob):
        tab.open_room(parley_server, "retry")

    alice.send("try, try again")
    failed = alice.message("try, try again")
    expect(failed).to_have_class(re.compile(r"\bfailed\b"))
    expect(failed).to_contain_text("Not sent: Refused by the test.")
    failed.get_by_role("button", name="Retry").click()
    expect(failed).not_to_have_class(re.compile(r"\b(failed|pending)\b"))
    expect(failed).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    expect(bob.message("try, try again")).to_have_count(1)
    assert [f["body"] for f in sent] == ["try, try again"] * 2
    assert sent[0]["client_id"] == sent[1]["client_id"]

    alice.send("never mind")
    expect(alice.message("never mind")).to_have_class(re.compile(r"\bfailed\b"))
    alice.message("never mind").get_by_role("button", name="Discard").click()
    expect(alice.message("never mind")).to_have_count(0)
    expect(alice.message("try, try again")).to_have_count(1)
    people.assert_clean_consoles()


def test_unread_counts_in_the_sidebar_follow_messages_reads_and_membership(people, parley_server):
    bob = people.open("bob")
    alice = people.open("alice")
    bob.open_room(parley_server, "unread-a")
    alice.open_room(parley_server, "unread-b")

    def count(tab: Tab, slug: str):
        return tab.page.locator(f'#sidebar a[href="/rooms/{slug}/"] .unread-count')

    alice.send("news in b")
    alice.send("more news in b")
    expect(count(bob, "unread-b")).to_have_text("2")
    expect(count(bob, "unread-b")).to_be_visible()
    expect(count(bob, "unread-b")).to_have_attribute("aria-label", "2 unread")
    expect(count(bob, "unread-a")).to_be_hidden()

    # Bob reads b in a second tab: the first tab's count clears through the room.read echo.
    second = people.another_tab(bob, "bob-second-tab")
    second.open_room(parley_server, "unread-b")
    expect(count(bob, "unread-b")).to_be_hidden()

    # A message in the room the first tab shows, while that tab is in the background: not read.
    set_visible(bob, False)
    alice.open_room(parley_server, "unread-a")
    alice.send("are you there?")
    expect(bob.message("are you there?")).to_have_count(1)
    expect(count(second, "unread-a")).to_have_text("1")
    expect(bob.page).to_have_title(re.compile(r"^\(1\) "))
    # Back to the tab, scrolled to the bottom: read, and every tab knows.
    set_visible(bob, True)
    expect(count(second, "unread-a")).to_be_hidden()
    expect(bob.page).not_to_have_title(re.compile(r"^\("))

    # Added to a room while the page is open: it appears; removed: it goes.
    alice.open_room(parley_server, "unread-c")
    alice.page.get_by_label("Add member by username").fill("bob")
    alice.page.get_by_role("button", name="Add", exact=True).click()
    new_room = bob.page.locator("#sidebar").get_by_role("link", name="unread-c")
    expect(new_room).to_be_visible()
    alice.page.get_by_role("button", name="Remove bob").click()
    expect(new_room).to_have_count(0)
    people.assert_clean_consoles()


def sidebar_link(tab: Tab, name: str):
    return tab.page.locator("#sidebar a[data-room-id]").filter(
        has=tab.page.locator(".room-name", has_text=re.compile(rf"^{re.escape(name)}$"))
    )


def markup(link) -> str:
    """A link's HTML with runs of whitespace made one space: what a person and a reader get."""
    return re.sub(r"\s+", " ", link.evaluate("a => a.outerHTML"))


def test_a_room_joined_live_looks_and_reads_as_the_server_renders_it(people, parley_server):
    carol, bob = people.open("carol"), people.open("bob")
    bob.open_room(parley_server, "sidebar")
    for name, private in (("zz-public", False), ("zz-secret", True)):
        parley_server.call("tests.browser_data:create_room", owner="carol", name=name, private=private)
        carol.open_room(parley_server, name)
        carol.page.get_by_label("Add member by username").fill("bob")
        carol.page.get_by_role("button", name="Add", exact=True).click()

    public, secret = sidebar_link(bob, "zz-public"), sidebar_link(bob, "zz-secret")
    expect(secret).to_have_count(1)
    expect(public).to_have_count(1)
    # The padlock and the words a screen reader says, as for the rooms the page came with.
    expect(secret.locator(".room-sigil svg")).to_have_count(1)
    expect(secret).to_have_accessible_name(re.compile(r"^private room\s*zz-secret"))
    expect(public.locator(".room-sigil")).to_have_text("#")
    expect(public.locator(".visually-hidden")).to_have_count(0)
    live = {name: markup(link) for name, link in (("zz-public", public), ("zz-secret", secret))}
    bob.page.reload()
    bob.expect_connected()
    rendered = {name: markup(sidebar_link(bob, name)) for name in live}
    assert live == rendered
    people.assert_clean_consoles()


def test_the_composer_is_off_with_a_reason_while_removed_and_back_on_rejoining(people, parley_server):
    carol, bob = people.open("carol"), people.open("bob")
    for tab in (carol, bob):
        tab.open_room(parley_server, "membership")
    send = bob.page.get_by_role("button", name="Send")

    carol.page.get_by_role("button", name="Remove bob").click()
    reason = bob.page.locator("#composer .composer-status")
    expect(reason).to_have_text("You are no longer a member of this room.")
    expect(reason).to_be_visible()
    expect(bob.composer).to_be_disabled()
    expect(send).to_be_disabled()
    carol.expect_connected()  # her page came back from the removal: its composer is the script's
    carol.send("said while bob was out")
    expect(carol.message("said while bob was out")).to_have_attribute("data-seq", re.compile(r"^\d+$"))

    carol.page.get_by_label("Add member by username").fill("bob")
    carol.page.get_by_role("button", name="Add", exact=True).click()
    expect(bob.composer).to_be_enabled()
    expect(send).to_be_enabled()
    expect(reason).to_have_count(0)
    # What was said meanwhile is fetched; writing works again.
    expect(bob.message("said while bob was out")).to_have_count(1)
    bob.send("back again")
    expect(carol.message("back again")).to_have_count(1)
    expect(bob.message("back again")).to_have_attribute("data-seq", re.compile(r"^\d+$"))
    people.assert_clean_consoles()


def test_opening_an_old_message_reads_nothing_until_the_reader_reaches_the_bottom(people, parley_server):
    bodies = [f"around {i:03d}" for i in range(1, 121)]
    parley_server.call("tests.browser_data:store_messages", author="carol", room_slug="around", bodies=bodies)
    bob = people.open("bob")
    tap = SocketTap(bob.page)
    bob.page.goto(f"{parley_server.url}/rooms/around/?around=10#m10")
    bob.expect_connected()
    # Everything after the page's history arrives below it; the view stays at message 10.
    expect(bob.page.locator("#messages .message")).to_have_count(120)
    expect(bob.page.locator("#m10")).to_be_in_viewport()
    bob.page.wait_for_timeout(800)
    assert tap.sent_of("room.read") == []
    assert parley_server.call("tests.browser_data:read_pointer", username="bob", room_slug="around") == 0

    # At the bottom, in a visible tab: read up to the last message shown, and only then.
    bob.page.locator("#messages .message").last.scroll_into_view_if_needed()
    wait_until(bob, lambda: tap.sent_of("room.read"), what="room.read")
    assert [f["seq"] for f in tap.sent_of("room.read")] == [120]
    wait_until(
        bob,
        lambda: (
            parley_server.call("tests.browser_data:read_pointer", username="bob", room_slug="around") == 120
        ),
        what="the read pointer at 120",
    )
    people.assert_clean_consoles()


def test_keyboard_alone_reaches_and_sends_and_every_control_has_a_name(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "keyboard")
    page = alice.page
    expect(page.locator("#messages")).to_have_attribute("aria-live", "polite")

    unnamed = page.evaluate(UNNAMED_CONTROLS)
    assert unnamed == []

    # From the top of the page, Tab by Tab, to the message box; then Enter sends.
    page.locator("body").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "message-input":
            break
    expect(alice.composer).to_be_focused()
    page.keyboard.type("Sent with the keyboard alone")
    page.keyboard.press("Enter")
    expect(alice.message("Sent with the keyboard alone")).to_have_count(1)

    # On a phone, the room list opens from its button and closes with Escape, focus following.
    page.set_viewport_size(MOBILE)
    toggle = page.get_by_role("button", name="Rooms")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#sidebar").get_by_role("link", name="keyboard")).to_be_visible()
    assert page.evaluate("document.getElementById('sidebar').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    people.assert_clean_consoles()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(people, parley_server, browser, scheme):
    bob = people.open("bob", color_scheme=scheme)
    bob.open_room(parley_server, "contrast")
    bob.composer.press_sequentially("@a")  # the mention list, open, with a selected option
    failures = {"room": bob.page.evaluate(CONTRAST_AUDIT)}
    bob.composer.fill("")
    for name, path in [("rooms", "/"), ("notifications", "/notifications/"), ("new room", "/rooms/new/")]:
        bob.page.goto(parley_server.url + path)
        failures[name] = bob.page.evaluate(CONTRAST_AUDIT)
    anonymous = browser.new_context(color_scheme=scheme)
    try:
        page = anonymous.new_page()
        page.goto(parley_server.url + "/accounts/login/")
        failures["log in"] = page.evaluate(CONTRAST_AUDIT)
    finally:
        anonymous.close()
    assert {name: found for name, found in failures.items() if found} == {}
    people.assert_clean_consoles()


def test_older_messages_load_in_order_with_one_day_separator(people, parley_server):
    alice = people.open("alice")
    alice.open_room(parley_server, "history")
    expect(alice.page.locator("#messages .message")).to_have_count(50)
    alice.page.get_by_role("button", name="Load earlier messages").click()
    expect(alice.page.locator("#messages .message")).to_have_count(60)
    assert alice.seqs() == list(range(1, 61))
    expect(alice.page.locator("#messages .day-divider")).to_have_count(1)
    expect(alice.page.get_by_role("button", name="Load earlier messages")).to_have_count(0)
    people.assert_clean_consoles()


def test_history_and_the_room_list_work_without_javascript(browser, parley_server):
    context = browser.new_context(java_script_enabled=False, viewport=MOBILE)
    try:
        tab = Tab(name="no-js", page=context.new_page())
        log_in(tab, parley_server, "bob")
        page = tab.page
        expect(page.locator(".room-cards").get_by_role("link", name="history")).to_be_visible()
        # The sidebar is part of the page, not a drawer that only a script could open.
        expect(page.get_by_role("button", name="Rooms")).to_be_hidden()
        page.goto(parley_server.url + "/rooms/history/")
        expect(page.locator("#sidebar").get_by_role("link", name="history")).to_be_visible()
        expect(page.locator("#messages .message")).to_have_count(50)
        expect(page.locator("#messages .message .body").last).to_have_text("history 60")
        expect(page.locator("#messages .message .author").last).to_have_text("Bob")
    finally:
        context.close()


def test_a_wrong_password_is_announced_on_the_log_in_page(browser, parley_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(parley_server.url + "/accounts/login/")
        page.get_by_label("Username").fill("alice")
        page.get_by_label("Password").fill(DEMO_PASSWORD + "-wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    finally:
        context.close()
