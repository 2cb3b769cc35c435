"""`/search/` over HTTP: the page (no JavaScript needed, the URL is the search), the JSON the
header's box reads, and the refusals, each with its code."""

import pytest

from messaging.actions.messages import send_message
from messaging.actions.rooms import create_room
from messaging.actions.threads import follow_thread  # noqa: F401 (threads exist: replies are searched)

pytestmark = pytest.mark.django_db


@pytest.fixture
def said(room, alice):
    root = send_message(author=alice, room_id=room.id, body="Le résumé <b>is</b> ready", client_id="s1")
    send_message(
        author=alice, room_id=room.id, body="a résumé reply", client_id="s2", thread_root=root.message.seq
    )
    return root.message


def test_the_results_page_renders_the_search_with_the_matches_marked(client, room, alice, said):
    client.force_login(alice)
    response = client.get("/search/", {"q": "resume"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    # The message's own markup is text; the match is marked in the original spelling.
    assert "Le <mark>résumé</mark> &lt;b&gt;is&lt;/b&gt; ready" in page
    assert (
        f'href="/rooms/{room.slug}/?around=1#m1"' in page
        and f'href="/rooms/{room.slug}/threads/1/#m2"' in page
    )
    assert 'value="resume"' in page and "in a thread" in page
    assert client.get("/search/", {"q": "zzz"}).content.decode().count("No messages you can read match") == 1


def test_the_json_is_what_the_box_shows(client, room, alice, said):
    client.force_login(alice)
    body = client.get("/search/", {"q": "résumé reply"}, headers={"Accept": "application/json"}).json()
    (hit,) = body["results"]
    assert hit["snippet"] == [["a ", False], ["résumé", True], [" ", False], ["reply", True]]
    assert hit["room"] == {"slug": room.slug, "name": room.name, "is_private": False}
    assert hit["author"] == {"username": "alice", "display_name": "Alice"}
    assert (hit["seq"], hit["thread_root_seq"], hit["in_room"]) == (2, 1, False)
    assert hit["url"] == f"/rooms/{room.slug}/threads/1/#m2"  # a reply only in its thread
    assert body["more"] is False and body["next"] is None and body["problems"] == [] and body["notes"] == []
    assert client.get("/search/", {"q": "resume", "format": "json"}).json()["query"] == "resume"


def test_a_reply_found_by_search_opens_in_its_thread(client, room, alice, said):
    client.force_login(alice)
    hit = client.get("/search/", {"q": "reply", "format": "json"}).json()["results"][0]
    response = client.get(hit["url"])
    assert response.status_code == 200 and 'id="m2"' in response.content.decode()


def test_the_next_page_link_carries_the_search(client, room, alice):
    for i in range(25):
        send_message(author=alice, room_id=room.id, body=f"item {i}", client_id=f"i{i}")
    client.force_login(alice)
    first = client.get("/search/", {"q": "item", "format": "json"}).json()
    assert len(first["results"]) == 20 and first["more"]
    second = client.get(first["next"] + "&format=json").json()
    assert [r["seq"] for r in second["results"]] == [5, 4, 3, 2, 1] and second["next"] is None
    assert 'rel="next"' in client.get("/search/", {"q": "item"}).content.decode()


def test_problems_are_shown_and_answered_with_their_codes(client, room, alice, dave):
    create_room(creator=alice, name="hidden", is_private=True)
    client.force_login(dave)
    body = client.get("/search/", {"q": "x in:#hidden before:2026-02-30", "format": "json"}).json()
    assert [p["code"] for p in body["problems"]] == ["bad_date", "no_such_room"] and body["results"] == []
    page = client.get("/search/", {"q": "x in:#hidden"}).content.decode()
    assert "This search cannot run" in page and "No room “#hidden” that you can read." in page
    # The room dropdown lists the rooms one can read, never a private one of others.
    assert "#hidden" not in page.split('id="search-page-room"')[1].split("</select>")[0]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"q": "x" * 501}, "bad_request"), ({"q": "x", "order": "random"}, "bad_request"),
     ({"q": "x", "before": "²"}, "bad_request"), ({"q": "x", "page": "0"}, "bad_request"),
     ({"q": "a\x00b"}, "bad_request"), ({"q": "x", "room": "ops\x00"}, "bad_request")],
)  # fmt: skip
def test_malformed_requests_are_refused_with_a_code(client, alice, params, code):
    client.force_login(alice)
    response = client.get("/search/", {**params, "format": "json"})
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize(
    "zone", ["America", "../../etc/passwd", "x" * 5000, "/etc/localtime", "Mars/Olympus"]
)
def test_a_zone_that_is_none_falls_back_to_the_sites(client, alice, zone):
    client.force_login(alice)
    response = client.get("/search/", {"q": "x on:today", "tz": zone, "format": "json"})
    assert response.status_code == 200 and response.json()["problems"] == []


def test_search_needs_a_login_and_writes_nothing(client, alice):
    response = client.get("/search/", {"q": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(alice)
    assert client.post("/search/", {"q": "x"}).status_code == 405


def test_a_shared_url_that_is_malformed_gets_the_400_page_not_json(client, alice):
    client.force_login(alice)
    response = client.get("/search/", {"q": "x" * 501})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert "at most 500 characters" in response.content.decode()
