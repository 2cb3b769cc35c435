"""Reminders in Chromium, against a real server with its task worker (LiveServer(worker=True), as
`make run` starts them): "Remind me" from the message menu, the reminder on /reminders/, and at
its time the badge and a desktop notification that opens the message; cancelling on the page.

The page's `window.Notification` is wrapped by an init script that records what the page
constructs (headless Chromium shows nothing): the test asserts on that record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import People, create_rooms, people_for_test, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {"remind": ["alice", "bob"], "cancel": ["alice", "bob"], "ask": ["alice", "bob"]}

RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  window.__permissionAsked = 0;
  class Recorded {
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body || "";
      this.tag = options.tag || "";
      this.onclick = null;
      window.__notifications.push(this);
    }
    close() {}
    // Headless Chromium has decided already (denied) unless granted: `undecided` plays a
    // browser that has not asked yet, and says yes when asked.
    static get permission() { return window.__undecided || (Real ? Real.permission : "denied"); }
    static requestPermission() {
      window.__permissionAsked += 1;
      if (window.__undecided) window.__undecided = "granted";
      return Promise.resolve(Recorded.permission);
    }
  }
  window.Notification = Recorded;
})();
"""

# A datetime-local value `seconds` from now, in the page's own time zone.
LOCAL_TIME_AHEAD = """(seconds) => {
  const at = new Date(Date.now() + seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  const day = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}`;
  return `${day}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}"""
TIME_IN_LOCALE = "(at) => new Intl.DateTimeFormat(undefined, {hour: 'numeric', minute: '2-digit'})\
.format(new Date(at))"


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-reminders"), worker=True) as server:
        create_rooms(server, ROOMS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def open_bob(people: People, server: LiveServer, slug: str, *, granted: bool):
    tab = people.open("bob", permissions=["notifications"] if granted else [])
    if not granted:
        tab.page.add_init_script("window.__undecided = 'default';")
    tab.page.add_init_script(RECORD_NOTIFICATIONS)
    tab.open_room(server, slug)
    return tab


def reminders_json(tab, server: LiveServer) -> dict:
    return tab.page.request.get(server.url + "/reminders/", headers={"Accept": "application/json"}).json()


def open_remind_menu(tab, text: str):
    message = tab.message(text)
    expect(message).to_have_count(1)
    message.hover()
    message.get_by_role("button", name="Remind me").click()
    menu = tab.page.get_by_role("dialog", name="Remind me about this message")
    expect(menu).to_be_visible()
    return menu


def test_a_reminder_set_from_the_message_menu_arrives_as_a_notification_that_opens_the_message(
    people, parley_server
):
    text = "Send the invoice to Acme"
    seq = parley_server.call(
        "tests.server_data:post_message", author="alice", room_slug="remind", body=text, client_id="r1"
    )
    bob = open_bob(people, parley_server, "remind", granted=True)
    badge_before = bob.badge()

    menu = open_remind_menu(bob, text)
    at = bob.page.evaluate(LOCAL_TIME_AHEAD, 4)
    menu.get_by_label("At a time of your choice").fill(at)
    menu.get_by_role("button", name="Set").click()

    # The time as the browser's locale writes it ("14:20", "2:20 PM").
    shown_at = bob.page.evaluate(TIME_IN_LOCALE, at)
    expect(bob.page.locator("#reminder-toast")).to_have_text(f"I’ll remind you at {shown_at}.")
    # Granted already: nothing to ask.
    assert bob.page.evaluate("window.__permissionAsked") == 0

    bob.page.goto(parley_server.url + "/reminders/")
    bob.expect_connected()
    pending = bob.page.locator("#reminder-list .reminder")
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text(text)
    expect(pending).to_contain_text("#remind")

    # The worker's sweep delivers it (due in 4 s, swept every 0.5 s), live to this tab.
    wait_until(
        bob,
        lambda: len(reminders_json(bob, parley_server)["delivered"]) == 1,
        timeout_ms=20_000,
        what="the worker",
    )
    expect(bob.page.locator("#notification-badge")).to_have_text(str(badge_before + 1), timeout=10_000)
    # The page moves it to "Delivered recently" by itself.
    expect(bob.page.locator(".reminders-delivered .reminder")).to_contain_text(text)
    expect(pending).to_have_count(0)
    wait_until(
        bob, lambda: bob.page.evaluate("window.__notifications.length") == 1, what="the desktop notification"
    )
    shown = bob.page.evaluate("window.__notifications.map(n => ({title: n.title, body: n.body}))")
    assert shown == [{"title": "Reminder", "body": f"Alice: {text}"}]

    # Its click opens the message in context (and marks it read).
    bob.page.evaluate("window.__notifications[0].onclick()")
    expect(bob.page).to_have_url(re.compile(rf"/rooms/remind/\?around={seq}#m{seq}$"))
    expect(bob.message(text)).to_be_visible()
    wait_until(bob, lambda: bob.badge() == badge_before, what="the reminder read once opened")

    bob.page.goto(parley_server.url + "/notifications/")
    expect(bob.page.locator(".notification").first).to_contain_text(f"Reminder: {text} in #remind")
    bob.page.goto(parley_server.url + "/reminders/")
    expect(bob.page.locator(".reminders-delivered .reminder")).to_contain_text(text)
    people.assert_clean_consoles()


def test_a_pending_reminder_is_cancelled_on_the_reminders_page(people, parley_server):
    text = "Book the meeting room"
    parley_server.call(
        "tests.server_data:post_message", author="alice", room_slug="cancel", body=text, client_id="c1"
    )
    bob = open_bob(people, parley_server, "cancel", granted=True)

    open_remind_menu(bob, text).get_by_role("button", name="In 1 hour").click()
    expect(bob.page.locator("#reminder-toast")).to_have_text(re.compile(r"I’ll remind you (at|tomorrow at) "))

    bob.page.goto(parley_server.url + "/reminders/")
    entry = bob.page.locator("#reminder-list .reminder").filter(has_text=text)
    expect(entry).to_have_count(1)
    entry.get_by_role("button", name="Cancel this reminder").click()
    expect(entry).to_have_count(0)
    expect(bob.page.locator("#reminder-toast")).to_have_text("Reminder cancelled.")
    bob.page.reload()
    expect(bob.page.locator("#reminder-list .reminder").filter(has_text=text)).to_have_count(0)
    people.assert_clean_consoles()


def test_the_permission_is_asked_on_the_click_that_sets_a_reminder_never_on_load(people, parley_server):
    text = "Renew the certificate"
    parley_server.call(
        "tests.server_data:post_message", author="alice", room_slug="ask", body=text, client_id="a1"
    )
    bob = open_bob(people, parley_server, "ask", granted=False)
    assert bob.page.evaluate("Notification.permission") == "default"
    assert bob.page.evaluate("window.__permissionAsked") == 0

    open_remind_menu(bob, text).get_by_role("button", name="Tomorrow at 9:00").click()

    expect(bob.page.locator("#reminder-toast")).to_have_text(re.compile(r"I’ll remind you tomorrow at 9:00"))
    assert bob.page.evaluate("window.__permissionAsked") == 1
    # Answered: the next reminder asks nothing.
    open_remind_menu(bob, text).get_by_role("button", name="In 20 minutes").click()
    expect(bob.page.locator("#reminder-toast")).to_have_text(re.compile(r"I’ll remind you (at|tomorrow at) "))
    assert bob.page.evaluate("window.__permissionAsked") == 1
    people.assert_clean_consoles()
