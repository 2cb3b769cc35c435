"""Parley with JavaScript off, in Chromium: reading works, and the composer really posts.

Before, Send did a GET to `?body=…`: the text landed in the address bar, the history and the
access log, and was not sent. Now the composer is a POST form with a CSRF token that goes
through the same action as the socket, so members with the page open get it live.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.live_server import DEMO_PASSWORD, running_server

TIMEOUT_MS = 5_000

# Chromium comes from the `browser` fixture (tests/conftest.py, tests/chromium.py).
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("no-js")) as live:
        yield live


def logged_in_page(browser, server, username: str, *, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    return context, page


def test_without_javascript_send_posts_the_message_and_members_get_it_live(browser, server):
    room_url = f"{server.url}/rooms/general/"
    bob_context, bob = logged_in_page(browser, server, "bob", javascript=True)
    alice_context, alice = logged_in_page(browser, server, "alice", javascript=False)
    try:
        bob.goto(room_url)
        expect(bob.locator("#connection-state")).to_have_text("Connected", timeout=TIMEOUT_MS)
        alice.goto(room_url)
        text = f"sent without a script {uuid.uuid4().hex[:8]}"
        requests = []
        alice.on("request", lambda request: requests.append((request.method, request.url)))
        alice.locator("#message-input").fill(text)
        alice.get_by_role("button", name="Send").click()

        expect(alice.locator("#messages .message .body").last).to_have_text(text, timeout=TIMEOUT_MS)
        assert "body=" not in alice.url and alice.url.startswith(room_url) and re.search(r"#m\d+$", alice.url)
        assert ("POST", f"{server.url}/rooms/general/messages/") in requests
        assert not [url for method, url in requests if "body=" in url]
        expect(bob.locator("#messages .message .body").last).to_have_text(text, timeout=TIMEOUT_MS)
        # The composer of the new page carries a new client_id: the next message is a new one.
        second = f"and a second {uuid.uuid4().hex[:8]}"
        alice.locator("#message-input").fill(second)
        alice.get_by_role("button", name="Send").click()
        expect(alice.locator("#messages .message .body").last).to_have_text(second, timeout=TIMEOUT_MS)
        expect(bob.locator("#messages .message .body").last).to_have_text(second, timeout=TIMEOUT_MS)
        assert alice.locator("#messages .message .body", has_text=text).count() == 1
    finally:
        alice_context.close()
        bob_context.close()


def test_without_javascript_a_refused_message_says_why(browser, server):
    context, page = logged_in_page(browser, server, "carol", javascript=False)
    try:
        page.goto(f"{server.url}/rooms/general/")
        count = page.locator("#messages .message").count()
        # `required` stops an empty box in the browser; blanks get past it and the server says no.
        page.locator("#message-input").fill("   ")
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".flash-error")).to_have_text("Your message was not sent: The message is empty.")
        assert page.locator("#messages .message").count() == count
    finally:
        context.close()
