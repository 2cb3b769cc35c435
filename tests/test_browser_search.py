"""Search in Chromium: the header's box lists results as one types (one request per pause, the
previous one aborted), with the matching part highlighted (accents folded); a result opens in
context (also an old message and a thread reply); `/`, Ctrl+K and Cmd+K focus the box, not
while typing elsewhere; Escape and a click outside close the list; a phone's box behind a
button; problems and notes said in the list; the shareable results page without JavaScript;
a private room one is not in never shows; both themes' contrast.

One server and one Chromium for the module (helpers in tests/browser.py); the messages searched
for are written once (tests/search_data.py), each word in one message only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser import CONTRAST_AUDIT, Tab, create_rooms, people_for_test, unnamed_controls
from tests.live_server import DEMO_PASSWORD, LiveServer, running_server

pytestmark = [pytest.mark.browser]

ROOMS = {
    "search-ops": ["alice", "bob", "carol"],
    "search-history": ["bob", "alice"],
    "search-own": ["bob", "alice"],
}


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-search")) as server:
        create_rooms(server, ROOMS)
        server.call("tests.search_data:private_room", name="search-secret", members=["alice", "carol"])
        yield server


@pytest.fixture(scope="module")
def seqs(parley_server) -> dict[str, int]:
    return parley_server.call("tests.search_data:seed_search_messages")


@pytest.fixture
def people(browser, parley_server, sessions, request, seqs):
    with people_for_test(browser, parley_server, sessions, request) as people:
        yield people


def box(tab: Tab):
    return tab.page.get_by_role("combobox", name="Search messages")


def options(tab: Tab):
    return tab.page.locator("#search-options [role=option]")


def is_search_json(request) -> bool:
    accepts = request.headers.get("accept", "")
    return urlsplit(request.url).path == "/search/" and "application/json" in accepts


def query_of(url: str) -> str:
    return parse_qs(urlsplit(url).query).get("q", [""])[0]


def search_for(tab: Tab, text: str) -> None:
    """Focus the box with `/` (from the page, not a field) and type `text` as a person does."""
    tab.page.locator("main").focus()
    tab.page.keyboard.press("/")
    expect(box(tab)).to_be_focused()
    box(tab).press_sequentially(text)


def test_typing_lists_results_with_the_accent_folded_match_highlighted(people, parley_server, seqs):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "resume")
    expect(options(bob)).to_have_count(1)
    result = options(bob).first
    # The match is the message's own text, accents and all; the rest of the snippet is plain text.
    expect(result.locator("mark")).to_have_text(["résumé"])
    expect(result.locator(".search-snippet")).to_have_text("Please send your résumé to Dana by Friday.")
    expect(result.locator(".search-option-room")).to_have_text("#search-ops")
    expect(result.locator(".search-option-author")).to_have_text("Alice")
    # Times as elsewhere in the app: the ISO instant, a short local date and time, the full one on hover.
    time = result.locator("time")
    expect(time).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    expect(time).to_have_text(re.compile(r"\d{4}.*\d:\d\d"))
    expect(time).to_have_attribute("title", re.compile(r"\d{4}"))
    expect(box(bob)).to_have_attribute("aria-expanded", "true")
    expect(bob.page.locator(".search-all")).to_have_attribute("href", re.compile(r"^/search/\?q=resume(&|$)"))
    assert unnamed_controls(bob) == []
    people.assert_clean_consoles()


def test_one_request_per_pause_and_a_slower_earlier_answer_is_aborted(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    asked, aborted, held = [], [], []
    bob.page.on("request", lambda r: is_search_json(r) and asked.append(query_of(r.url)))
    bob.page.on("requestfailed", lambda r: is_search_json(r) and aborted.append(query_of(r.url)))

    # Six keystrokes within one task: one request, after the pause.
    box(bob).evaluate(
        """(input) => {
            for (const text of ["r", "re", "res", "resu", "resum", "resume"]) {
                input.value = text;
                input.dispatchEvent(new Event("input", {bubbles: true}));
            }
        }"""
    )
    expect(options(bob)).to_have_count(1)
    bob.page.wait_for_timeout(400)
    assert asked == ["resume"]

    # An answer still on its way when the next request goes is aborted, never shown.
    def hold_first(route) -> None:
        if query_of(route.request.url) == "zeppeli" and not held:
            held.append(route)  # never answered: only the page's abort ends it
        else:
            route.continue_()

    bob.page.route(re.compile(r"/search/\?"), hold_first)
    box(bob).fill("zeppeli")
    bob.page.wait_for_timeout(300)
    assert len(held) == 1
    box(bob).fill("zeppelin")
    expect(options(bob)).to_have_count(1)
    expect(options(bob).first.locator("mark")).to_have_text(["zeppelin"])
    expect(bob.page.locator(".search-problem")).to_have_count(0)
    assert aborted == ["zeppeli"]
    assert asked[1:] == ["zeppeli", "zeppelin"]
    people.assert_clean_consoles(allowed=re.compile(r"ERR_ABORTED|net::"))


def test_arrow_keys_and_enter_open_a_result_in_its_room(people, parley_server, seqs):
    bob = people.open("bob")
    bob.page.goto(f"{parley_server.url}/")
    search_for(bob, "resume")
    expect(options(bob)).to_have_count(1)
    box(bob).press("ArrowDown")
    expect(options(bob).first).to_have_attribute("aria-selected", "true")
    expect(box(bob)).to_have_attribute("aria-activedescendant", "search-option-0")
    # Past the last result is the box again, and down once more the first.
    box(bob).press("ArrowDown")
    expect(box(bob)).not_to_have_attribute("aria-activedescendant", re.compile("."))
    box(bob).press("ArrowUp")
    expect(options(bob).first).to_have_attribute("aria-selected", "true")
    box(bob).press("Enter")
    seq = seqs["resume"]
    expect(bob.page).to_have_url(f"{parley_server.url}/rooms/search-ops/?around={seq}#m{seq}")
    bob.expect_connected()
    expect(bob.page.locator(f"#messages #m{seq}")).to_be_in_viewport()
    people.assert_clean_consoles()


def test_enter_with_nothing_chosen_opens_the_results_page(people, parley_server, seqs):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "resume")
    expect(options(bob)).to_have_count(1)
    box(bob).press("Enter")
    expect(bob.page).to_have_url(re.compile(r"/search/\?q=resume(&|$)"))
    expect(bob.page.locator("main mark")).to_have_text(["résumé"])
    expect(bob.page.locator(f'main a[href*="around={seqs["resume"]}"]').first).to_be_visible()
    # The page's times local, as the list's (the server's are in the site's zone).
    listed = bob.page.locator(".search-results time").first
    expect(listed).to_have_attribute("title", re.compile(r"\d{4}"))
    local = listed.evaluate(
        "time => new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'})"
        ".format(new Date(time.dateTime))"
    )
    expect(listed).to_have_text(local)
    people.assert_clean_consoles()


def test_the_results_page_searches_again_when_its_room_or_order_changes(people, parley_server):
    bob = people.open("bob")
    bob.page.goto(f"{parley_server.url}/search/?q=%22later+message%22")
    rooms = bob.page.locator(".search-results .search-result-room")
    expect(rooms).to_have_count(20)  # a page of the 120, from both rooms
    enhanced = bob.page.locator("main form.search-form[data-enhanced]")
    expect(enhanced).to_be_attached()  # the page's script listens to its controls
    bob.page.get_by_label("Room", exact=True).select_option("search-own")
    expect(bob.page).to_have_url(re.compile(r"[?&]room=search-own(&|$)"))
    expect(rooms).to_have_count(20)
    assert {"".join(text.split()) for text in rooms.all_text_contents()} == {"#search-own"}
    expect(enhanced).to_be_attached()  # on the page the room's change loaded
    bob.page.get_by_label("Order", exact=True).select_option("relevance")
    expect(bob.page).to_have_url(re.compile(r"[?&]order=relevance(&|$)"))
    expect(bob.page.get_by_label("Room", exact=True)).to_have_value("search-own")
    people.assert_clean_consoles()


def test_an_old_message_beyond_the_first_page_opens_in_its_room(people, parley_server, seqs):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-history")
    seq = seqs["quokka"]
    expect(bob.page.locator(f"#messages #m{seq}")).to_have_count(0)  # 60 newer ones fill the page
    search_for(bob, "quokka")
    expect(options(bob)).to_have_count(1)
    options(bob).first.click()
    expect(bob.page).to_have_url(f"{parley_server.url}/rooms/search-history/?around={seq}#m{seq}")
    bob.expect_connected()
    expect(bob.page.locator(f"#messages #m{seq}")).to_be_in_viewport()
    expect(bob.message("The quokka migration plan is in the wiki.")).to_have_count(1)
    people.assert_clean_consoles()


def test_an_old_message_opens_in_its_room_when_the_reader_wrote_some_of_the_later_ones(
    people, parley_server, seqs
):
    bob = people.open("bob")
    seq = seqs["wombat"]
    bob.page.goto(f"{parley_server.url}/rooms/search-own/?around={seq}#m{seq}")
    bob.expect_connected()
    expect(bob.page.locator("#messages .message")).to_have_count(61)
    expect(bob.page.locator(f"#messages #m{seq}")).to_be_in_viewport(timeout=2_000)


def test_a_thread_reply_opens_in_its_thread(people, parley_server, seqs):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "zeppelin")
    expect(options(bob)).to_have_count(1)
    expect(options(bob).first.locator(".search-option-tag")).to_have_text("in a thread")
    options(bob).first.click()
    root, reply = seqs["root"], seqs["reply"]
    expect(bob.page).to_have_url(re.compile(rf"/rooms/search-ops/\?thread={root}#m{reply}$"))
    bob.expect_connected()
    expect(bob.thread_panel).to_be_visible()
    expect(bob.thread_message("The zeppelin lands at noon, I will be there.")).to_be_in_viewport()
    people.assert_clean_consoles()


def test_slash_and_ctrl_k_focus_the_box_but_not_while_typing_elsewhere(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    page = bob.page
    # In the message box `/` is a slash and Ctrl+K is left alone.
    bob.composer.focus()
    page.keyboard.type("/giphy ")
    page.keyboard.press("Control+k")
    expect(bob.composer).to_be_focused()
    expect(bob.composer).to_have_value("/giphy ")
    bob.composer.fill("")

    for keys in ["/", "Control+k", "Meta+k"]:
        page.locator("main").focus()
        page.keyboard.press(keys)
        expect(box(bob)).to_be_focused()
        expect(box(bob)).to_have_value("")  # the key only focused it
    # In the box itself `/` is typed like any character.
    page.keyboard.type("a/b")
    expect(box(bob)).to_have_value("a/b")
    people.assert_clean_consoles()


def test_escape_and_a_click_outside_close_the_list(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "resume")
    expect(options(bob)).to_have_count(1)
    box(bob).press("Escape")
    popup = bob.page.locator("#search-popup")
    expect(popup).to_be_hidden()
    expect(box(bob)).to_have_attribute("aria-expanded", "false")
    expect(box(bob)).to_have_value("resume")  # the words stay; ArrowDown shows the list again
    box(bob).press("ArrowDown")
    expect(popup).to_be_visible()
    messages = bob.page.locator("#messages")
    size = messages.bounding_box()
    messages.click(position={"x": size["width"] - 20, "y": size["height"] - 20})  # clear of the list
    expect(popup).to_be_hidden()
    people.assert_clean_consoles()


def test_problems_and_notes_are_said_in_the_list(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "resume before:2026-13-01")
    expect(bob.page.locator(".search-problem")).to_have_count(1)
    expect(bob.page.locator(".search-problem")).to_contain_text("2026-13-01")
    expect(options(bob)).to_have_count(0)
    expect(bob.page.locator(".search-empty")).to_have_count(0)  # it did not run: not "No results"
    box(bob).fill("resume colour:blue")
    expect(bob.page.locator(".search-note")).to_contain_text("colour")
    box(bob).fill("nosuchwordanywhere")
    expect(bob.page.locator(".search-empty")).to_have_text("No results for “nosuchwordanywhere”.")
    expect(options(bob)).to_have_count(0)
    people.assert_clean_consoles()


def test_a_session_that_has_ended_says_to_log_in_again(people, parley_server):
    bob = people.open("bob")
    bob.open_room(parley_server, "search-ops")
    bob.page.context.clear_cookies()  # the search is sent to the log-in page
    search_for(bob, "resume")
    expect(bob.page.locator(".search-problem")).to_have_text("Log in again to search.")
    expect(options(bob)).to_have_count(0)
    people.assert_clean_consoles()


def test_a_private_room_one_is_not_in_never_appears(people, parley_server):
    carol, bob = people.open("carol"), people.open("bob")
    carol.open_room(parley_server, "search-ops")
    search_for(carol, "marmalade")
    expect(options(carol)).to_have_count(1)  # the word is there, for its members
    expect(options(carol).first.locator(".search-option-room")).to_have_text("search-secret (private)")

    bob.open_room(parley_server, "search-ops")
    search_for(bob, "marmalade")
    expect(bob.page.locator(".search-empty")).to_have_text("No results for “marmalade”.")
    expect(options(bob)).to_have_count(0)
    answer = bob.page.request.get(
        f"{parley_server.url}/search/?q=marmalade", headers={"Accept": "application/json"}
    ).json()
    assert answer["results"] == []
    page = bob.page.request.get(f"{parley_server.url}/search/?q=marmalade").text()
    assert "marmalade launch" not in page and "search-secret" not in page
    people.assert_clean_consoles()


def test_on_a_phone_the_box_opens_from_a_button_and_fits(people, parley_server, seqs):
    bob = people.open("bob", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    bob.open_room(parley_server, "search-ops")
    expect(box(bob)).to_be_hidden()
    opener = bob.page.get_by_role("link", name="Search", exact=True)
    opener.tap()
    expect(box(bob)).to_be_focused()
    box(bob).press_sequentially("resume")
    expect(options(bob)).to_have_count(1)
    popup = bob.page.locator("#search-popup").bounding_box()
    assert popup["x"] >= 0 and popup["x"] + popup["width"] <= 375
    # Nothing in the header is pushed out of the screen.
    assert bob.page.evaluate("document.documentElement.scrollWidth") <= 375
    options(bob).first.tap()
    expect(bob.page).to_have_url(re.compile(rf"\?around={seqs['resume']}#m{seqs['resume']}$"))
    bob.expect_connected()
    opener.tap()
    expect(box(bob)).to_be_focused()
    bob.page.get_by_role("button", name="Close search").tap()
    expect(box(bob)).to_be_hidden()
    expect(opener).to_be_visible()
    people.assert_clean_consoles()


def test_the_shareable_url_renders_without_javascript(browser, parley_server, seqs):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{parley_server.url}/search/?q=resume")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))  # logged out: log in first
        page.get_by_label("Username").fill("bob")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/search/\?q=resume$"))
        expect(page.locator("main mark")).to_have_text(["résumé"])
        link = page.locator(f'main a[href$="around={seqs["resume"]}#m{seqs["resume"]}"]').first
        link.click()
        expect(page).to_have_url(re.compile(rf"/rooms/search-ops/\?around={seqs['resume']}#m"))
        expect(page.locator(f"#messages #m{seqs['resume']}")).to_have_count(1)
        # The header's box is a plain form: Enter is the results page.
        page.locator("#search-box").fill("zeppelin")
        page.locator("#search-box").press("Enter")
        expect(page).to_have_url(re.compile(r"/search/\?q=zeppelin$"))
        expect(page.locator("main mark")).to_have_text(["zeppelin"])
    finally:
        context.close()


def test_without_javascript_a_phone_s_search_button_opens_the_results_page(browser, parley_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"{parley_server.url}/accounts/login/")
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("link", name="Search", exact=True).click()
        expect(page).to_have_url(re.compile(r"/search/$"))
        page.get_by_role("searchbox", name="Search messages").last.fill("marmalade")
        page.get_by_role("searchbox", name="Search messages").last.press("Enter")
        expect(page.locator("main mark")).to_have_text(["marmalade"])
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(people, parley_server, scheme):
    bob = people.open("bob", color_scheme=scheme)
    bob.open_room(parley_server, "search-ops")
    search_for(bob, "zeppelin")
    expect(options(bob)).to_have_count(1)
    failures = {"list": bob.page.evaluate(CONTRAST_AUDIT)}
    box(bob).press("ArrowDown")  # a chosen result, with its highlight
    failures["chosen"] = bob.page.evaluate(CONTRAST_AUDIT)
    box(bob).fill("resume colour:blue before:2026-13-01")
    expect(bob.page.locator(".search-problem")).to_be_visible()
    failures["problems"] = bob.page.evaluate(CONTRAST_AUDIT)
    bob.page.goto(f"{parley_server.url}/search/?q=resume")
    expect(bob.page.locator("main mark").first).to_be_visible()
    failures["results page"] = bob.page.evaluate(CONTRAST_AUDIT)
    assert {name: found for name, found in failures.items() if found} == {}
    people.assert_clean_consoles()


def test_the_json_answer_has_the_shape_the_list_reads(people, parley_server, seqs):
    bob = people.open("bob")
    answer = bob.page.request.get(
        f"{parley_server.url}/search/?q=zeppelin", headers={"Accept": "application/json"}
    ).json()
    (result,) = answer["results"]
    # A reply only in its thread links to its thread's page (the script opens it beside the room).
    assert result["url"] == f"/rooms/search-ops/threads/{seqs['root']}/#m{seqs['reply']}"
    assert result["thread_root_seq"] == seqs["root"] and result["in_room"] is False
    assert result["room"] == {"slug": "search-ops", "name": "search-ops", "is_private": False}
    assert result["author"]["username"] == "alice"
    assert "".join(text for text, _ in result["snippet"]) == "The zeppelin lands at noon, I will be there."
    assert [text for text, matched in result["snippet"] if matched] == ["zeppelin"]
    assert answer["problems"] == [] and answer["more"] is False
