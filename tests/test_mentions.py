"""The @mention grammar and how mentions resolve to room members."""

import json
from pathlib import Path

import pytest

from messaging.actions.messages import post_message
from messaging.mentions import MAX_MENTIONS, parse_mentions


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ("@bob hi", ["bob"]),
        ("hi @bob", ["bob"]),
        ("hi @Bob!", ["bob"]),
        ("(@bob) and @carol.", ["bob", "carol"]),
        ("@bob, @carol: @dave; @erin? @frank!", ["bob", "carol", "dave", "erin", "frank"]),
        ("mail bob@example.com now", []),
        ("@bob.smith said", ["bob.smith"]),
        ("@bob.smith.", ["bob.smith"]),
        ("@first.last+tag-x_y", ["first.last+tag-x_y"]),
        ("@@bob", ["bob"]),
        ("@bob.@carol", ["bob", "carol"]),
        ("@ alone", []),
        ("@bob @BOB @bob", ["bob"]),
        ("line one\n@bob line two", ["bob"]),
        ("@zoë is here", ["zoë"]),
        ("", []),
    ],
)
def test_mention_grammar(body, names):
    assert parse_mentions(body) == names


def test_mention_grammar_matches_the_table_the_client_is_checked_against():
    cases = json.loads((Path(__file__).parent / "mention_cases.json").read_text())
    assert len(cases) >= 25
    for case in cases:
        assert parse_mentions(case["body"]) == case["mentions"], case["body"]


def test_mentions_are_capped():
    body = " ".join(f"@user{i}" for i in range(MAX_MENTIONS + 20))
    assert len(parse_mentions(body)) == MAX_MENTIONS


@pytest.mark.django_db
def test_mentions_resolve_case_insensitively_to_members_only(room, alice, bob, carol, dave):
    posted = post_message(
        author=alice, room_id=room.id, body="@BOB @Carol @dave @alice @ghost", client_id="c1"
    )
    assert posted.mentions == ["bob", "carol"]
    assert sorted(posted.mentioned_user_ids) == sorted([bob.id, carol.id])
    assert set(posted.message.mentioned_users.all()) == {bob, carol}


@pytest.mark.django_db
def test_post_message_query_count_does_not_grow_with_mentions(
    room, alice, make_user, django_assert_max_num_queries
):
    from messaging.models import Membership

    people = [make_user(f"person{i}") for i in range(20)]
    Membership.objects.bulk_create([Membership(user=p, room=room) for p in people])
    body = " ".join(f"@{p.username}" for p in people)
    # The same 10 whatever the number mentioned: (savepoint, seq bump, insert, author's read
    # pointer, savepoint, resolve, link, pending-notification row, release, release); in
    # production the outer savepoint is BEGIN/COMMIT.
    with django_assert_max_num_queries(10):
        posted = post_message(author=alice, room_id=room.id, body=body, client_id="many")
    assert len(posted.mentions) == 20


@pytest.mark.django_db
def test_plain_message_is_one_round_trip_for_seq_and_one_insert(room, alice, django_assert_max_num_queries):
    # savepoint, seq bump (with the membership check), insert, author's read pointer, release
    with django_assert_max_num_queries(5):
        post_message(author=alice, room_id=room.id, body="no mentions", client_id="plain")
