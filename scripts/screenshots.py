"""Screenshots of Parley's main pages for the README: `make screenshots`.

Starts a throwaway server (tests/live_server.py) with a small demo conversation
(tests/server_data.py), then has Chromium (tests/chromium.py) photograph the log-in page, the
room list, a room with a conversation (one message mentions the reader; one is edited, with
reactions, one pinned) and the notifications, at desktop (1280×800) and phone (390×844) width,
into docs/screenshots/; then, at desktop width, a message's actions and the reaction picker, the
edit history and the pinned list; and at both widths the room with a thread open beside it (a
full-screen view on the phone; the thread from tests/thread_data.py); at both widths search
results as one types in the header's box, and the results page at desktop width; and, at
desktop width, awareness: Carol (another browser) with a status, active, reading the room (Seen
by under Bob's newest message) and typing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.chromium import launch_chromium  # noqa: E402
from tests.live_server import DEMO_PASSWORD, running_server  # noqa: E402

OUTPUT = BASE_DIR / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}
VIEWER = "bob"


def shoot(page, name: str) -> None:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"{path.relative_to(BASE_DIR)}  {path.stat().st_size // 1024} KB")


def shoot_later(page) -> None:
    """Send later (the composer's clock) and Remind me (a message's menu)."""
    page.get_by_label("Message", exact=True).fill("Stand-up notes are in the wiki")
    page.locator(".send-later-toggle").first.click()
    shoot(page, "room-send-later-desktop")
    page.keyboard.press("Escape")
    page.locator(".send-later-toggle").first.click() if page.locator(
        ".send-later-menu"
    ).first.is_visible() else None
    page.get_by_label("Message", exact=True).fill("")
    message = page.locator(".message").last
    message.hover()
    message.get_by_role("button", name="Remind me").click()
    shoot(page, "room-remind-desktop")
    page.keyboard.press("Escape")


def shoot_changes(page) -> None:
    """Bob's own message with its actions and the reaction picker open; Alice's edited message's
    history; the pinned list."""
    own = page.locator("#messages .message.own").last
    own.hover()
    own.get_by_role("button", name="Add reaction").click()
    page.get_by_role("combobox", name="Search emoji").press_sequentially("party")
    # The whole catalogue, not the few recent ones searched while it loads.
    expect(page.get_by_text("Search results")).to_be_visible()
    shoot(page, "room-reactions-desktop")
    page.keyboard.press("Escape")
    page.locator("#messages .edited-marker").first.click()
    expect(page.locator("#versions-dialog .version")).to_have_count(2)
    shoot(page, "room-history-desktop")
    page.keyboard.press("Escape")
    page.get_by_role("button", name=re.compile(r"^Pinned messages")).click()
    expect(page.locator("#pins-panel")).to_be_visible()
    page.mouse.move(0, 0)
    shoot(page, "room-pins-desktop")
    page.keyboard.press("Escape")


def shoot_thread(page, width: str) -> None:
    """The deploy heads-up's thread, opened from its "3 replies" in the room."""
    # A click, not a tap: headless Chromium keeps a tap's highlight painted over the thread.
    page.locator("#messages .thread-summary a").first.click()
    expect(page.locator("#thread-messages .message[data-seq]")).to_have_count(4)
    page.mouse.move(0, 0)
    # The thread, seen, is read: its badge goes.
    expect(page.locator("#threads-badge")).to_be_hidden()
    shoot(page, f"room-thread-{width}")
    page.get_by_role("button", name="Back" if width == "mobile" else "Close thread").first.click()
    expect(page.locator("#thread-panel")).to_be_hidden()


def shoot_search(page, width: str) -> None:
    """ "deploy" typed in the header's box (behind its button on a phone): the results as one
    types, the words found highlighted; at desktop width also the results page Enter opens."""
    if width == "mobile":
        page.get_by_role("link", name="Search", exact=True).click()
    else:
        page.keyboard.press("/")
    box = page.get_by_role("combobox", name="Search messages")
    box.press_sequentially("deploy")
    expect(page.locator("#search-options [role=option]").first).to_be_visible()
    page.mouse.move(0, 0)
    shoot(page, f"search-{width}")
    if width == "desktop":
        box.press("Enter")
        expect(page.locator("main mark").first).to_be_visible()
        shoot(page, "search-results-desktop")
        page.go_back()
        expect(page.locator("#connection-state")).to_have_text("Connected")
    else:
        box.press("Escape")
        page.get_by_role("button", name="Close search").click()


def shoot_awareness(browser, server, page) -> None:
    """Carol, in a browser of her own, sets a status, opens #general (which reads it: "Seen by
    Carol" under Bob's newest message) and starts to type; Bob's page shows all of it."""
    server.call(
        "tests.server_data:set_status", username="carol", text="Reviewing the onboarding copy", emoji="📝"
    )
    context = browser.new_context(viewport=DESKTOP, locale="en-GB", timezone_id="UTC", color_scheme="light")
    carol = context.new_page()
    carol.goto(f"{server.url}/accounts/login/")
    carol.get_by_label("Username").fill("carol")
    carol.get_by_label("Password").fill(DEMO_PASSWORD)
    carol.get_by_role("button", name="Log in").click()
    carol.goto(f"{server.url}/rooms/general/")
    expect(carol.locator("#connection-state")).to_have_text("Connected")
    carol.mouse.click(600, 400)  # the person is there: active
    page.reload()  # the status, as the room page renders it
    expect(page.locator("#connection-state")).to_have_text("Connected")
    expect(page.locator(".seen-by")).to_contain_text("Carol")
    carol.get_by_label("Message", exact=True).press_sequentially("Sure, inline it is")
    expect(page.locator("#typing-room")).to_contain_text("Carol")
    page.mouse.move(0, 0)
    shoot(page, "room-awareness-desktop")
    context.close()


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with running_server() as server, sync_playwright() as playwright:
        server.call("tests.server_data:demo_conversation")
        server.call("tests.browser_data:demo_changes")
        server.call("tests.thread_data:demo_thread")
        server.call("tests.server_data:demo_background_work")
        browser = launch_chromium(playwright)
        for width, viewport, extra in [
            ("desktop", DESKTOP, {}),
            ("mobile", MOBILE, {"is_mobile": True, "has_touch": True, "device_scale_factor": 1}),
        ]:
            context = browser.new_context(
                viewport=viewport, locale="en-GB", timezone_id="UTC", color_scheme="light", **extra
            )
            page = context.new_page()
            page.goto(f"{server.url}/accounts/login/")
            shoot(page, f"login-{width}")
            page.get_by_label("Username").fill(VIEWER)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("#connection-state")).to_have_text("Connected")
            shoot(page, f"rooms-{width}")
            page.goto(f"{server.url}/notifications/")
            expect(page.locator("#connection-state")).to_have_text("Connected")
            shoot(page, f"notifications-{width}")
            for path, name in (
                ("/reminders/", "reminders"),
                ("/scheduled/", "scheduled"),
                ("/accounts/profile/", "profile"),
                ("/notifications/settings/", "notify-settings"),
                ("/direct/new/", "direct-new"),
            ):
                page.goto(f"{server.url}{path}")
                expect(page.locator("#connection-state")).to_have_text("Connected")
                shoot(page, f"{name}-{width}")
            # Opening the room reads it, so it comes last.
            page.goto(f"{server.url}/rooms/general/")
            expect(page.locator("#connection-state")).to_have_text("Connected")
            page.mouse.move(0, 0)
            shoot(page, f"room-{width}")
            shoot_thread(page, width)
            shoot_search(page, width)
            if width == "desktop":
                shoot_later(page)
                shoot_changes(page)
                shoot_awareness(browser, server, page)
                page.emulate_media(color_scheme="dark")
                page.get_by_label("Message", exact=True).press_sequentially("Looks good @c")
                shoot(page, "room-dark-desktop")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
