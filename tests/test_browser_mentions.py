"""The client's @mention grammar (static/js/mentions.js) against the shared table of cases,
tests/mention_cases.json, which the server's grammar (messaging/mentions.py) is checked against
too (tests/test_mentions.py). Run in Chromium, where the client runs: its regular expressions
and lower-casing are the browser's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import LiveServer, running_server

pytestmark = [pytest.mark.browser]

CASES = json.loads((Path(__file__).parent / "mention_cases.json").read_text())

# In a page of the server, so the modules load as the app loads them.
RUN_CASES = """
async (cases) => {
  const { parseMentions } = await import('/static/js/mentions.js');
  const { renderBody } = await import('/static/js/messages.js');
  return cases.map(({ body, mentions }) => {
    const container = document.createElement('div');
    renderBody(container, body, { mentions });
    const chips = Array.from(container.querySelectorAll('.mention'), (chip) => chip.textContent);
    return { body, parsed: parseMentions(body), chips, text: container.textContent };
  });
}
"""


@pytest.fixture(scope="module")
def parley_server(tmp_path_factory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("browser-mentions")) as server:
        yield server


@pytest.fixture(scope="module")
def results(browser, parley_server) -> list[dict]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(parley_server.url + "/accounts/login/")
        return page.evaluate(RUN_CASES, CASES)
    finally:
        context.close()


def test_the_table_covers_the_grammar():
    bodies = [case["body"] for case in CASES]
    assert len(CASES) >= 25
    assert len(set(bodies)) == len(bodies)
    for needed in ("@@bob", "@bob.@carol", "bob@example.com", "@Émile", "@BOB"):
        assert any(needed in body for body in bodies), needed
    assert any(len(case["mentions"]) == 50 for case in CASES)


def test_the_client_parses_every_case_of_the_shared_table(results):
    wrong = [
        (r["body"], r["parsed"], case["mentions"])
        for r, case in zip(results, CASES, strict=True)
        if r["parsed"] != case["mentions"]
    ]
    assert wrong == []


def test_the_client_marks_exactly_the_mentioned_names_and_keeps_the_text(results):
    for result, case in zip(results, CASES, strict=True):
        assert result["text"] == case["body"]
        if "://" in case["body"]:
            continue  # inside a URL the link wins: the whole URL is one link, no chip
        marked = list(dict.fromkeys(chip[1:].lower() for chip in result["chips"]))
        assert marked == case["mentions"], case["body"]
        assert all(chip.startswith("@") for chip in result["chips"])
