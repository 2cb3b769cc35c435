"""Accounts by email in a real browser: sign up with an address, open the verification link from
the email the worker sent to a real SMTP server, then forget the password and set a new one with
the link from the next email, and log in with it.

One Parley server with its task worker (LiveServer(worker=True), as `make run` starts them),
sending through Django's SMTP backend to tests/mailbox.py's server; Chromium via the `browser`
fixture. The links are the emails' own, absolute (PARLEY_SITE_URL is the server's address).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.browser import TIMEOUT_MS, Tab
from tests.live_server import LiveServer, running_server
from tests.mailbox import Mailbox, html_of, text_of

pytestmark = [pytest.mark.browser]

FIRST_PASSWORD = "first passphrase 2026"
NEW_PASSWORD = "second passphrase 2027"
VERIFY_LINK = re.compile(r"https?://[^\s\"<>]+/accounts/email/verify/[^\s\"<>/]+/")
RESET_LINK = re.compile(r"https?://[^\s\"<>]+/accounts/password/reset/[^\s\"<>/]+/[^\s\"<>/]+/")
# The worker sweeps every 0.5 s in tests; an email is usually there in well under a second.
EMAIL_TIMEOUT_SECONDS = 30


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory, smtp_server: Mailbox) -> Iterator[LiveServer]:
    with running_server(
        tmp_path_factory.mktemp("browser-accounts"), worker=True, env={"EMAIL_URL": smtp_server.url}
    ) as server:
        yield server


@pytest.fixture
def tab(browser, parley_server, request) -> Iterator[Tab]:
    """A fresh browser, logged out, whose screenshot, console and the server's and worker's logs
    are saved under test-artifacts/ if the test fails."""
    from tests.browser import ARTIFACTS

    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(name="erin", page=context.new_page())
    tab.watch()
    failures_before = request.session.testsfailed
    yield tab
    if request.session.testsfailed > failures_before:
        directory = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
        directory.mkdir(parents=True, exist_ok=True)
        tab.save(directory)
        (directory / "server.log").write_text(parley_server.output())
        if parley_server.worker is not None:
            (directory / "worker.log").write_text(parley_server.worker.tail(chars=100_000))
    context.close()


def the_link(mailbox: Mailbox, count: int, pattern: re.Pattern, server: LiveServer) -> str:
    """The one link of the `count`th email, the same in its plain text and its HTML."""
    message = mailbox.wait_for(count, timeout=EMAIL_TIMEOUT_SECONDS)[count - 1]
    [link] = set(pattern.findall(text_of(message)))
    assert link in html_of(message)
    assert link.startswith(server.url + "/")
    return link


def log_in(tab: Tab, server: LiveServer, username: str, password: str) -> None:
    page = tab.page
    page.goto(f"{server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def test_verify_the_address_then_reset_the_password_with_the_link_from_the_email(tab, parley_server, mailbox):
    page, server = tab.page, parley_server

    # Sign up, offering an address.
    page.goto(f"{server.url}/accounts/signup/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Display name").fill("Erin E.")
    page.get_by_label("Email (optional)").fill("erin@example.com")
    page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    page.get_by_label("Password confirmation").fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".flash")).to_contain_text("We sent a link to erin@example.com")

    # The verification email, sent by the worker, verifies the address.
    [verification] = mailbox.wait_for(1, timeout=EMAIL_TIMEOUT_SECONDS)
    assert verification["To"] == "erin@example.com"
    assert verification["Subject"] == "Verify your email address for Parley"
    page.goto(the_link(mailbox, 1, VERIFY_LINK, server))
    expect(page.get_by_role("heading", name="Your email is verified")).to_be_visible()
    page.goto(f"{server.url}/accounts/profile/")
    expect(page.locator("#email-state")).to_contain_text("erin@example.com")
    expect(page.locator("#email-state .email-verified")).to_have_text("Verified")

    # Log out, and forget the password.
    page.locator(".logout-form").get_by_role("button").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    page.get_by_label("Email").fill("Erin@Example.com")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    # The reset email's link sets a new password.
    reset = mailbox.wait_for(2, timeout=EMAIL_TIMEOUT_SECONDS)[1]
    assert reset["To"] == "erin@example.com" and reset["Subject"] == "Reset your Parley password"
    link = the_link(mailbox, 2, RESET_LINK, server)
    page.goto(link)
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    expect(page.get_by_role("heading", name="Your new password is set")).to_be_visible()

    # The link works once; the old password no longer does, the new one does.
    page.goto(link)
    expect(page.get_by_role("heading", name="This reset link does not work")).to_be_visible()
    log_in(tab, server, "erin", FIRST_PASSWORD)
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator(".form-errors")).to_be_visible()
    log_in(tab, server, "erin", NEW_PASSWORD)
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator(".who")).to_contain_text("Erin E.")
    tab.page.wait_for_timeout(300)
    assert len(mailbox.messages()) == 2  # each email once
    assert tab.errors == [], "\n".join(tab.errors)


def test_a_reset_for_an_unverified_address_sends_nothing_and_says_the_same(tab, parley_server, mailbox):
    page, server = tab.page, parley_server
    page.goto(f"{server.url}/accounts/signup/")
    page.get_by_label("Username").fill("fred")
    page.get_by_label("Email (optional)").fill("fred@example.com")
    page.get_by_label("Password", exact=True).fill(FIRST_PASSWORD)
    page.get_by_label("Password confirmation").fill(FIRST_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    mailbox.wait_for(1, timeout=EMAIL_TIMEOUT_SECONDS)  # the verification email, left unopened
    page.locator(".logout-form").get_by_role("button").click()

    answers = []
    for address in ("fred@example.com", "nobody@example.com"):
        page.goto(f"{server.url}/accounts/password/reset/")
        page.get_by_label("Email").fill(address)
        page.get_by_role("button", name="Email me a reset link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        answers.append((page.url, page.locator("main").inner_text()))
    assert answers[0] == answers[1]
    page.wait_for_timeout(2_000)  # four sweeps of the worker
    assert [str(m["Subject"]) for m in mailbox.messages()] == ["Verify your email address for Parley"]
    assert tab.errors == [], "\n".join(tab.errors)
