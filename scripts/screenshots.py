"""Screenshots of Parley's main pages for the README: `make screenshots`.

Starts a throwaway server (tests/live_server.py) with a small demo conversation, then has
Debian's Chromium photograph the log-in page, the room list, a room with a conversation (one
message mentions the reader) and the notifications, at desktop (1280×800) and phone (390×844)
width, into docs/screenshots/.
"""

from __future__ import annotations

import sys
import textwrap
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

# Yesterday and this morning in #general, two other rooms with news, mentions of the viewer.
DEMO_CONVERSATION = textwrap.dedent(
    """
    from datetime import timedelta
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from messaging import services
    from messaging.models import ChatMessage, ChatRoom
    from notifications.services import notify_mentions

    User = get_user_model()
    people = {}
    for username, name in [("alice", "Alice Chen"), ("bob", "Bob Okafor"), ("carol", "Carol Díaz")]:
        user = User.objects.get(username=username)
        user.display_name = name
        user.save(update_fields=["display_name"])
        people[username] = user
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    today = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)

    def say(room, author, body, at):
        posted = services.post_message(
            author=author, room_id=room.id, body=body, client_id=f"demo-{room.slug}-{room.last_seq}"
        )
        ChatMessage.objects.filter(pk=posted.message.pk).update(created_at=at)
        notify_mentions(message=posted.message, recipient_ids=posted.mentioned_user_ids)
        room.refresh_from_db()

    general = ChatRoom.objects.get(slug="general")
    general.description = "Company-wide news and chatter"
    general.save(update_fields=["description"])
    design = services.create_room(creator=alice, name="design", description="Pixels, fonts and flows")
    release = services.create_room(creator=alice, name="release-planning", is_private=True)
    services.create_room(creator=carol, name="random", description="Cats, lunch, everything else")
    services.join_room(user=bob, room=design)
    services.add_member(actor=alice, room=release, username="bob")
    services.join_room(user=carol, room=design)

    minutes = lambda day, h, m: day.replace(hour=h, minute=m)
    say(general, carol, "Release notes for 2.3 are up: https://example.com/releases/2.3",
        minutes(yesterday, 16, 40))
    say(general, alice, "Thanks Carol! I will read them tonight.", minutes(yesterday, 16, 42))
    say(general, alice, "Morning all!", minutes(today, 9, 12))
    say(general, alice, "Stand-up moved to 10:30 today, same room.", minutes(today, 9, 13))
    say(general, bob, "Works for me.", minutes(today, 9, 20))
    say(general, carol, "@bob can you review the onboarding copy before lunch? The draft is in the wiki.",
        minutes(today, 9, 31))
    say(general, bob, "On it. @carol do you want comments inline or in the doc?", minutes(today, 9, 33))
    say(general, carol, "Inline, please.", minutes(today, 9, 34))
    say(general, alice, "Heads-up: deploy at 14:00, expect a short blip.\\nPing me if anything looks off.",
        minutes(today, 9, 40))
    say(design, carol, "New empty states are in Figma.", minutes(today, 8, 50))
    say(design, alice, "Love the illustrations.", minutes(today, 8, 55))
    say(design, carol, "Thanks! Feedback welcome until Friday.", minutes(today, 9, 2))
    say(release, alice, "@bob when can we cut 2.4?", minutes(today, 9, 45))
    """
)


def shoot(page, name: str) -> None:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"{path.relative_to(BASE_DIR)}  {path.stat().st_size // 1024} KB")


def main() -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with running_server() as server, sync_playwright() as playwright:
        server.manage("shell", "-c", DEMO_CONVERSATION)
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
            # Opening the room reads it, so it comes last.
            page.goto(f"{server.url}/rooms/general/")
            expect(page.locator("#connection-state")).to_have_text("Connected")
            page.mouse.move(0, 0)
            shoot(page, f"room-{width}")
            if width == "desktop":
                page.emulate_media(color_scheme="dark")
                page.get_by_label("Message", exact=True).press_sequentially("Looks good @c")
                shoot(page, "room-dark-desktop")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
