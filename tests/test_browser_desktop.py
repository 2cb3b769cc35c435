"""Desktop notifications in Chromium (static/js/desktop.js), against a real server: a hidden
tab pops a mention and a direct message, one notification per conversation, from one tab of
several; clicking one opens the message in context; the "all" level pops a plain message; a mute
and do not disturb (in the database as the page loads, then live by the settings' frames)
silence them; the permission is asked on a click in the settings, never on page load.

Headless Chromium shows no notification, and never hides a page: an init script wraps
`window.Notification` to record what the page constructs (still calling the real one), and the
tests play a hidden tab by overriding `document.visibilityState` (tests/browser.py `set_visible`;
a second page brought to the front leaves the first "visible" in headless Chromium).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import People, SocketTap, Tab, create_rooms, people_for_test, set_visible, wait_until
from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "pops": ["alice", "bob"],
    "loud": ["alice", "bob"],
    "quiet": ["alice", "bob"],
    "calm": ["alice", "dora"],
    "asks": ["alice", "erin"],
}
EXTRA_USERS = ("dora", "erin")

# Records every notification the page makes (and whether it was closed), then makes the real one
# too, so the page runs as it would; `__permissionAsked` counts requestPermission calls, and
# `__undecided` plays a browser that has not asked yet (headless has decided: denied), which says
# yes when asked. The tone's oscillators are counted.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  window.__permissionAsked = 0;
  window.__tones = 0;
  class Recorded {
    constructor(title, options = {}) {
      this.title = title;
      this.body = options.body || "";
      this.tag = options.tag || "";
      this.closed = false;
      this.at = performance.timeOrigin + performance.now(); // comparable across tabs
      this.onclick = null;
      this.onclose = null;
      window.__notifications.push(this);
      try { this.real = new Real(title, options); } catch { this.real = null; }
    }
    close() { this.closed = true; this.real?.close(); }
    static get permission() { return window.__undecided || (Real ? Real.permission : "denied"); }
    static requestPermission() {
      window.__permissionAsked += 1;
      if (window.__undecided) window.__undecided = "granted";
      return Promise.resolve(Recorded.permission);
    }
  }
  window.Notification = Recorded;
  const oscillator = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    window.__tones += 1;
    return oscillator.call(this);
  };
})();
"""
SHOWN = "window.__notifications.map(({title, body, tag, closed, at}) => ({title, body, tag, closed, at}))"


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-desktop")) as server:
        create_rooms(server, ROOMS, extra_users=EXTRA_USERS)
        yield server


@pytest.fixture
def people(browser, parley_server, sessions, request) -> Iterator[People]:
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def recording(tab: Tab) -> Tab:
    tab.page.context.add_init_script(RECORD_NOTIFICATIONS)  # its other tabs too
    return tab


def open_hidden(tab: Tab, server: LiveServer, path: str = "/") -> Tab:
    """The page loaded, connected, then hidden (another tab in front)."""
    tab.page.goto(server.url + path)
    tab.expect_connected()
    set_visible(tab, False)
    return tab


def shown(tab: Tab) -> list[dict]:
    return tab.page.evaluate(SHOWN)


def showing(tabs: list[Tab]) -> dict[str, str]:
    """What is on the desktop: per tag, the newest notification's body, whichever tab made it
    (the browser replaces one of the same tag from any tab of the site)."""
    made = sorted((n for tab in tabs for n in shown(tab)), key=lambda n: n["at"])
    return {n["tag"]: n["body"] for n in made}


def seq_of(tab: Tab, text: str) -> int:
    item = tab.message(text)
    expect(item).to_have_count(1)
    return int(item.get_attribute("data-seq"))


def test_a_mention_and_a_direct_message_pop_once_per_conversation_from_one_hidden_tab(people, parley_server):
    direct = parley_server.call("tests.desktop_data:create_direct", usernames=["alice", "bob"])
    bob = recording(people.open("bob", permissions=["notifications"]))
    bob_too = people.another_tab(bob, "bob-second-tab")  # the same browser: its init script too
    open_hidden(bob, parley_server)
    bob_too.page.goto(parley_server.url + "/rooms/general/")
    bob_too.expect_connected()
    alice = people.open("alice")
    alice.open_room(parley_server, "pops")

    # While one of bob's tabs is in front, he is looking at Parley: nothing pops, in any tab.
    alice.send("@bob while you look")
    expect(bob.page.locator("#notification-badge")).to_have_text("1")
    bob.page.wait_for_timeout(600)
    assert shown(bob) == [] and shown(bob_too) == []

    set_visible(bob_too, False)
    alice.send("@bob first")
    alice.send("@bob second")
    expect(bob.page.locator("#notification-badge")).to_have_text("3")
    alice.open_room(parley_server, direct["slug"])
    alice.send("hi bob")
    alice.send("are you there?")
    room_tag = f"parley-room-{parley_server.call('tests.server_data:room_id', slug='pops')}"
    direct_tag = f"parley-room-{direct['id']}"
    expected = {room_tag: "@bob second", direct_tag: "are you there?"}
    try:
        wait_until(bob, lambda: showing([bob, bob_too]) == expected, timeout_ms=10_000)
    except AssertionError:
        raise AssertionError(f"shown: {shown(bob)} and {shown(bob_too)}, not {expected}") from None
    bob.page.wait_for_timeout(600)
    everything = shown(bob) + shown(bob_too)
    # Each message once, in one tab or the other, never in both: four, two per conversation.
    assert sorted(n["body"] for n in everything) == ["@bob first", "@bob second", "are you there?", "hi bob"]
    titles = {n["tag"]: n["title"] for n in everything}
    assert titles == {room_tag: "Alice in #pops", direct_tag: "Alice"}
    # A tab replaces its own: of each conversation, one is open at a time.
    for tab in (bob, bob_too):
        open_tags = [n["tag"] for n in shown(tab) if not n["closed"]]
        assert len(open_tags) == len(set(open_tags))

    # The mention's click opens its message in the room, and marks it read.
    owner = next(tab for tab in (bob, bob_too) if "@bob second" in [n["body"] for n in shown(tab)])
    owner.page.evaluate("window.__notifications.find(n => n.body === '@bob second').onclick()")
    expect(owner.page).to_have_url(re.compile(r"/rooms/pops/\?around=\d+#m\d+$"))
    expect(owner.message("@bob second")).to_be_visible()
    # Three mentions and the two direct messages (each a notification), less the one opened.
    expect(owner.page.locator("#notification-badge")).to_have_text("4")

    # A direct message's opens it in its conversation (the clicked tab's record went with its
    # page: the next one is clicked).
    owner.expect_connected()
    set_visible(owner, False)
    alice.send("one more thing")
    wait_until(
        bob,
        lambda: any("one more thing" in [n["body"] for n in shown(tab)] for tab in (bob, bob_too)),
        what="the next direct message",
    )
    dm_seq = seq_of(alice, "one more thing")
    owner = next(tab for tab in (bob, bob_too) if "one more thing" in [n["body"] for n in shown(tab)])
    owner.page.evaluate("window.__notifications.find(n => n.body === 'one more thing').onclick()")
    expect(owner.page).to_have_url(re.compile(rf"/rooms/{direct['slug']}/\?around={dm_seq}#m{dm_seq}$"))
    expect(owner.message("one more thing")).to_be_visible()
    people.assert_clean_consoles()


def test_the_all_level_pops_a_plain_message_and_a_mute_silences_it(people, parley_server):
    parley_server.call("tests.desktop_data:set_room_prefs", username="bob", slug="loud", notify_level="all")
    parley_server.call(
        "tests.desktop_data:set_room_prefs",
        username="bob",
        slug="quiet",
        notify_level="all",
        muted_minutes=60,
    )
    bob = recording(people.open("bob", permissions=["notifications"]))
    tap = SocketTap(bob.page)
    open_hidden(bob, parley_server)
    alice = people.open("alice")
    alice.open_room(parley_server, "quiet")
    alice.send("nobody hears this")
    alice.open_room(parley_server, "loud")
    alice.send("plain news")
    wait_until(bob, lambda: [n["body"] for n in shown(bob)] == ["plain news"], what="the all-level popup")
    assert shown(bob)[0]["title"] == "Alice in #loud"
    # Deleted, its text leaves the desktop too.
    parley_server.call(
        "tests.desktop_data:delete_message", username="alice", slug="loud", seq=seq_of(alice, "plain news")
    )
    wait_until(bob, lambda: shown(bob)[0]["closed"], what="the deleted message's notification closed")

    # A mention by name still reaches a muted room's member.
    alice.open_room(parley_server, "quiet")
    alice.send("@bob in the quiet room")
    wait_until(bob, lambda: len(shown(bob)) == 2, what="the mention in the muted room")
    assert [n["body"] for n in shown(bob)] == ["plain news", "@bob in the quiet room"]

    # Muted live, from another device: the settings' frame.
    loud = parley_server.call("tests.server_data:room_id", slug="loud")
    parley_server.call(
        "tests.desktop_data:send_frame",
        username="bob",
        frame={
            "type": "room.settings",
            "room": loud,
            "notify_level": "all",
            "muted_until": "9999-12-31T00:00:00+00:00",
        },
    )
    wait_until(bob, lambda: len(tap.received_of("room.settings")) == 1, what="the room.settings frame")
    alice.open_room(parley_server, "loud")
    alice.send("muted news")
    alice.send("@bob muted but named")
    wait_until(bob, lambda: len(shown(bob)) == 3, what="the mention in the muted room")
    bob.page.wait_for_timeout(600)
    assert [n["body"] for n in shown(bob)] == ["plain news", "@bob in the quiet room", "@bob muted but named"]
    people.assert_clean_consoles()


def test_do_not_disturb_silences_everything_and_ends_live(people, parley_server):
    parley_server.call("tests.desktop_data:set_user_prefs", username="dora", dnd_minutes=60, sound=True)
    dora = recording(people.open("dora", permissions=["notifications"]))
    tap = SocketTap(dora.page)
    open_hidden(dora, parley_server)
    alice = people.open("alice")
    alice.open_room(parley_server, "calm")

    alice.send("@dora during do not disturb")
    # Made as ever (the badge counts it), and nothing pops up or sounds.
    expect(dora.page.locator("#notification-badge")).to_have_text("1")
    dora.page.wait_for_timeout(600)
    assert shown(dora) == []
    assert dora.page.evaluate("window.__tones") == 0

    # DND ends on the server (its notifications alert again) and every tab is told.
    parley_server.call("tests.desktop_data:set_user_prefs", username="dora", dnd_minutes=None, sound=True)
    parley_server.call(
        "tests.desktop_data:send_frame",
        username="dora",
        frame={
            "type": "notify.settings",
            "dnd_until": None,
            "desktop_notifications": True,
            "notification_sound": True,
        },
    )
    wait_until(dora, lambda: len(tap.received_of("notify.settings")) == 1, what="the end of do not disturb")
    alice.send("@dora after it")
    wait_until(dora, lambda: [n["body"] for n in shown(dora)] == ["@dora after it"], what="the popup")
    assert dora.page.evaluate("window.__tones") == 1

    # Back in do not disturb, from another device; then desktop notifications turned off.
    parley_server.call(
        "tests.desktop_data:send_frame",
        username="dora",
        frame={
            "type": "notify.settings",
            "dnd_until": "2999-01-01T09:00:00+00:00",
            "desktop_notifications": True,
            "notification_sound": True,
        },
    )
    wait_until(dora, lambda: len(tap.received_of("notify.settings")) == 2, what="do not disturb again")
    alice.send("@dora during it again")
    expect(dora.page.locator("#notification-badge")).to_have_text("3")
    parley_server.call(
        "tests.desktop_data:send_frame",
        username="dora",
        frame={
            "type": "notify.settings",
            "dnd_until": None,
            "desktop_notifications": False,
            "notification_sound": False,
        },
    )
    wait_until(dora, lambda: len(tap.received_of("notify.settings")) == 3, what="desktop notifications off")
    alice.send("@dora with them off")
    expect(dora.page.locator("#notification-badge")).to_have_text("4")
    dora.page.wait_for_timeout(600)
    assert [n["body"] for n in shown(dora)] == ["@dora after it"]
    people.assert_clean_consoles()


def test_the_permission_is_asked_on_the_settings_click_never_on_page_load(people, parley_server):
    erin = recording(people.open("erin"))
    erin.page.add_init_script("window.__undecided = 'default';")
    # The settings page is another branch's (notifications/settings.html includes this section):
    # here the section, rendered by the server, is put into a page that has loaded, and enhanced
    # as main.js enhances it; its endpoint is answered as it answers.
    section = parley_server.call("tests.desktop_data:render_desktop_settings", username="erin")
    posted: list[str] = []

    def endpoint(route) -> None:
        posted.append(route.request.post_data or "")
        route.fulfill(
            status=200,
            content_type="application/json",
            body='{"desktop_notifications": true, "notification_sound": true}',
        )

    erin.page.route(re.compile(r"/notifications/settings/desktop/$"), endpoint)

    # Pages load, a room and another: nothing is asked.
    erin.open_room(parley_server, "asks")
    erin.page.goto(parley_server.url + "/notifications/")
    erin.expect_connected()
    assert erin.page.evaluate("window.__permissionAsked") == 0
    erin.page.evaluate(
        """async (html) => {
            document.getElementById("main").insertAdjacentHTML("beforeend", html);
            const { enhanceDesktopSettings } = await import("/static/js/desktop.js");
            enhanceDesktopSettings(document.getElementById("desktop-settings"));
        }""",
        section,
    )
    settings = erin.page.locator("#desktop-settings")
    expect(settings.locator("[data-permission-state]")).to_have_text("Not allowed yet in this browser.")
    enable = settings.get_by_role("button", name="Enable desktop notifications")
    expect(enable).to_be_visible()
    assert erin.page.evaluate("window.__permissionAsked") == 0

    enable.click()
    expect(settings.locator("[data-permission-state]")).to_have_text("Allowed in this browser.")
    expect(enable).to_be_hidden()
    assert erin.page.evaluate("window.__permissionAsked") == 1

    # A change saves at once, with the endpoint's fields.
    settings.get_by_label("Play a sound with them").check()
    expect(settings.locator("[data-saved]")).to_have_text("Saved.")
    assert posted == ["desktop_notifications=true&notification_sound=true"]
    settings.get_by_label("Show desktop notifications").uncheck()
    expect(settings.locator("[data-saved]")).to_have_text("Saved.")
    assert posted[1] == "desktop_notifications=false&notification_sound=true"
    # Answered: nothing more is asked.
    assert erin.page.evaluate("window.__permissionAsked") == 1
    people.assert_clean_consoles()
