"""Search (search/): the one query language on both engines. The table of what people search
for in a work chat runs on SQLite in the first pass of `make test` and on PostgreSQL in the
second, through `search_messages` and the same statement the page runs."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from messaging.actions.changes import delete_message, edit_message, set_pinned
from messaging.actions.memberships import add_membership
from messaging.actions.messages import send_message
from messaging.actions.rooms import create_room, join_room, leave_room
from messaging.models import ChatMessage
from search.selectors import search_messages

pytestmark = pytest.mark.django_db

CORPUS = [
    "We redeployed the app after the deployment failed",
    "Deploy at five, please",
    "Mon résumé est prêt pour le café",
    "東京タワーに行きました",
    "see foo-bar/baz for the config",
    "sess.opts is undefined again",
    "db-01.internal is down, failing over to db-02.internal",
    "the box at 10.0.3.7 answers pings",
    "MAC a1:b2:c3:d4:e5:f6 is the printer",
    "got ERR_CONN_RESET from the proxy",
    "fixed in #1234, closing",
    "unit tests pass on CI",
    "the community call moved",
    "The Who played at the party",
    "who has the keys?",
    "Straße closed; use the bypass",
]


def say(author, room, body, **kwargs):
    client_id = f"c{ChatMessage.objects.count()}"
    return send_message(author=author, room_id=room.id, body=body, client_id=client_id, **kwargs).message


def found(user, text, **kwargs) -> list[str]:
    results = search_messages(user=user, text=text, **kwargs)
    assert not results.problems, results.problems
    return [hit.message.body for hit in results.hits]


@pytest.fixture
def corpus(room, alice):
    for body in CORPUS:
        say(alice, room, body)
    return room


@pytest.mark.parametrize(
    ("text", "expected", "stemmed"),
    [
        # Partial words, anywhere in the word, folded.
        ("deploy", ["Deploy at five, please", "We redeployed the app after the deployment failed"], []),
        # PostgreSQL also finds the word's other forms (its English stem): "Deploy".
        ("DEPLOYMENT", ["We redeployed the app after the deployment failed"], ["Deploy at five, please"]),
        ("resume", ["Mon résumé est prêt pour le café"], []),
        ("RÉSUMÉ cafe", ["Mon résumé est prêt pour le café"], []),
        ("strasse", ["Straße closed; use the bypass"], []),
        # CJK: no spaces between words; two characters too.
        ("東京", ["東京タワーに行きました"], []),
        ("タワー", ["東京タワーに行きました"], []),
        # Identifiers whole and by their parts.
        ("foo-bar/baz", ["see foo-bar/baz for the config"], []),
        ("bar/baz", ["see foo-bar/baz for the config"], []),
        ("sess.opts", ["sess.opts is undefined again"], []),
        ("opts", ["sess.opts is undefined again"], []),
        ("db-01.internal", ["db-01.internal is down, failing over to db-02.internal"], []),
        ("10.0.3.7", ["the box at 10.0.3.7 answers pings"], []),
        ("0.3.7", ["the box at 10.0.3.7 answers pings"], []),
        ("a1:b2:c3:d4:e5:f6", ["MAC a1:b2:c3:d4:e5:f6 is the printer"], []),
        ("ERR_CONN_RESET", ["got ERR_CONN_RESET from the proxy"], []),
        ("conn_reset", ["got ERR_CONN_RESET from the proxy"], []),
        ("#1234", ["fixed in #1234, closing"], []),
        # Stop words and stems never lose what the literal word finds.
        ("unit", ["the community call moved", "unit tests pass on CI"], []),
        ('"unit"', ["unit tests pass on CI"], []),
        ("the who", ["who has the keys?", "The Who played at the party"], []),
        ('"the who"', ["The Who played at the party"], []),
        ('"deploy at"', ["Deploy at five, please"], []),
        ('"deploy the"', [], []),
        ("ci", ["unit tests pass on CI"], []),
        # Excluding, alternatives.
        ("deploy -redeployed", ["Deploy at five, please"], []),
        ('who -"the who"', ["who has the keys?"], []),
        ("keys OR printer", ["MAC a1:b2:c3:d4:e5:f6 is the printer", "who has the keys?"], []),
        ("the keys OR printer", ["MAC a1:b2:c3:d4:e5:f6 is the printer", "who has the keys?"], []),
        ("nothing-like-this", [], []),
    ],
)
def test_what_people_search_for_is_found_whole_and_by_its_parts(corpus, alice, text, expected, stemmed):
    if connection.vendor == "postgresql":
        expected = expected + stemmed
    assert sorted(found(alice, text)) == sorted(expected)


def problems(user, text, **kwargs) -> list[str]:
    return [problem.code for problem in search_messages(user=user, text=text, **kwargs).problems]


def test_operators_narrow_by_room_author_mention_link_pin_thread_and_date(room, alice, bob, carol):
    ops = create_room(creator=bob, name="ops")
    join_room(user=alice, room=ops)
    first = say(alice, room, "deploy notes in general")
    say(bob, ops, "deploy notes in ops, see https://example.com/runbook")
    say(carol, room, "deploy @alice please")
    pinned = say(bob, room, "deploy checklist")
    set_pinned(user=bob, room_id=room.id, seq=pinned.seq, pinned=True)
    say(carol, room, "deploy reply in its thread", thread_root=first.seq)
    old = say(bob, ops, "deploy of last year")
    ChatMessage.objects.filter(pk=old.pk).update(created_at=dt.datetime(2025, 3, 4, 12, tzinfo=dt.UTC))

    assert sorted(found(alice, "deploy in:#ops")) == [
        "deploy notes in ops, see https://example.com/runbook",
        "deploy of last year",
    ]
    assert sorted(found(alice, "deploy", room_slug="ops")) == sorted(found(alice, "deploy in:ops"))
    assert sorted(found(alice, "deploy -in:#ops")) == sorted(found(alice, "deploy in:#general"))
    assert len(found(alice, "deploy in:#ops in:#general")) == 6  # either room
    assert sorted(found(alice, "from:@bob deploy")) == sorted(
        ["deploy notes in ops, see https://example.com/runbook", "deploy checklist", "deploy of last year"]
    )
    assert found(alice, "from:me") == ["deploy notes in general"]
    assert found(alice, "FROM:@Carol in:#general -thread") == ["deploy @alice please"]
    assert found(bob, "mentions:@alice") == ["deploy @alice please"]
    assert found(alice, "mentions:@me") == ["deploy @alice please"]
    assert found(alice, "has:link") == ["deploy notes in ops, see https://example.com/runbook"]
    assert found(alice, "is:pinned") == ["deploy checklist"]
    assert sorted(found(alice, "is:thread")) == ["deploy notes in general", "deploy reply in its thread"]
    assert found(alice, "deploy before:2026-01-01") == ["deploy of last year"]
    assert found(alice, "during:2025-03") == found(alice, "on:2025-03-04") == ["deploy of last year"]
    assert (
        found(alice, "during:2025-02") == []
        and found(alice, "after:2025-03-04 in:#ops from:@bob -https") == []
    )
    assert len(found(alice, "deploy after:2025-03-04")) == 5
    assert len(found(alice, "deploy on:today")) == 5 and found(alice, "deploy on:yesterday") == []
    # The browser's zone decides where a day begins: 12:00 UTC is the 5th in Auckland.
    assert found(alice, "on:2025-03-05", zone="Pacific/Auckland") == ["deploy of last year"]


def test_the_pages_room_choice_narrows_what_in_names(room, alice, bob):
    ops = create_room(creator=alice, name="ops")
    say(alice, room, "alpha in general")
    say(alice, ops, "alpha in ops")
    assert found(alice, "alpha", room_slug="ops") == ["alpha in ops"]
    assert found(alice, "alpha in:#general in:#ops", room_slug="ops") == ["alpha in ops"]
    assert found(alice, "alpha in:#general", room_slug="ops") == []
    # The room alone lists it; an exclusion alone is not a search.
    assert found(alice, "", room_slug="ops") == ["alpha in ops"]
    assert found(alice, "-alpha", room_slug="general") == []
    assert problems(alice, "-alpha") == ["nothing_to_find"]
    assert not search_messages(user=alice, text="   ").ran and problems(alice, "") == []


def test_problems_say_what_is_wrong_and_nothing_runs(room, alice, dave):
    secret = create_room(creator=alice, name="secret", is_private=True)
    say(alice, secret, "secret deploy")
    assert problems(alice, "before:2026-13-01") == ["bad_date"]
    assert problems(alice, "during:soon is:everything has:cats") == [
        "bad_date",
        "bad_operator",
        "bad_operator",
    ]
    assert problems(alice, "from:@nobody") == ["no_such_user"]
    # A private room one is not in is answered exactly as a room that does not exist.
    unknown = search_messages(user=dave, text="deploy in:#nowhere").problems[0]
    private = search_messages(user=dave, text="deploy in:#secret").problems[0]
    assert (unknown.code, private.code) == ("no_such_room", "no_such_room")
    assert private.message.replace("secret", "nowhere") == unknown.message
    assert problems(alice, "x " * 300) == ["too_long"]
    assert problems(alice, " ".join(f"w{i}" for i in range(21))) == ["too_many_terms"]
    assert problems(alice, "-has:link") == ["bad_operator"]
    # Unknown operators are searched as text, and said so; URLs and times are just text.
    results = search_messages(user=alice, text="foo:bar https://x.y 12:30")
    assert not results.problems and [n.code for n in results.notes] == ["unknown_operator"]
    assert "foo:" in results.notes[0].message and "in:#room" in results.notes[0].message


def test_only_what_the_user_may_read_is_found(room, alice, bob, carol, dave):
    say(alice, room, "needle in a public room")
    secret = create_room(creator=alice, name="secret", is_private=True)
    add_membership(user=bob, room=secret, role="member")
    say(alice, secret, "needle in a private room")
    gone = say(alice, room, "needle that was deleted")
    delete_message(user=alice, room_id=room.id, seq=gone.seq)
    edited = say(alice, room, "needle before the edit: oldword")
    edit_message(
        user=alice, room_id=room.id, seq=edited.seq, body="needle after the edit: newword", client_id="e1"
    )

    everyone = ["needle in a public room", "needle after the edit: newword"]
    # A non-member reads public rooms (as their pages show them), never private ones.
    assert sorted(found(dave, "needle")) == sorted(everyone)
    assert sorted(found(bob, "needle")) == sorted([*everyone, "needle in a private room"])
    # Deleted messages and earlier versions are gone from search too.
    assert found(alice, "deleted") == [] and found(alice, "oldword") == []
    assert found(alice, "newword") == ["needle after the edit: newword"]
    # A member who leaves a private room no longer finds its messages.
    leave_room(user=bob, room=secret)
    assert "needle in a private room" not in found(bob, "needle")
    # Whatever the operators say.
    assert found(dave, "needle in:#general is:thread") == []
    assert sorted(found(dave, "from:@alice needle")) == sorted(everyone)


def test_pages_newest_first_by_cursor_and_best_first_by_page(room, alice):
    for i in range(45):
        say(alice, room, f"page test {i}" + (" page test" if i == 7 else ""))
    first = search_messages(user=alice, text="page test")
    assert len(first.hits) == 20 and first.more and first.next["before"] == first.hits[-1].message.pk
    second = search_messages(user=alice, text="page test", before=first.next["before"])
    third = search_messages(user=alice, text="page test", before=second.next["before"])
    bodies = [h.message.body for r in (first, second, third) for h in r.hits]
    assert len(bodies) == 45 == len(set(bodies)) and not third.more and third.next is None
    assert bodies[0].startswith("page test 44") and bodies[-1].startswith("page test 0")
    best = search_messages(user=alice, text="page", order="relevance")
    assert best.hits[0].message.body == "page test 7 page test"  # two occurrences rank first
    assert best.next == {"q": "page", "order": "relevance", "page": 2}
    assert len(search_messages(user=alice, text="page", order="relevance", page=3).hits) == 5


def test_the_snippet_marks_the_matching_parts_of_the_original_text(room, alice):
    say(alice, room, "Mon Résumé est prêt;\n" + "blah " * 20 + "voici le RÉSUMÉ final " + "more " * 60)
    (hit,) = search_messages(user=alice, text="resume final").hits
    marked = [text for text, is_match in hit.snippet if is_match]
    assert marked == ["Résumé", "RÉSUMÉ", "final"]
    assert hit.snippet[0] == ("Mon ", False) and hit.snippet[-1] == ("…", False)
    assert sum(len(text) for text, _ in hit.snippet) <= 202 and "\n" not in hit.snippet[2][0]
    say(alice, room, "x" * 300 + " needle " + "y" * 300)
    (hit,) = search_messages(user=alice, text="needle").hits
    assert hit.snippet[0] == ("…", False) and (" needle ".strip(), True) in hit.snippet


def test_the_index_follows_every_write_and_a_rebuild_restores_it(room, alice):
    from search.index import drift, rebuild

    kept = say(alice, room, "alpha bravo")
    edited = say(alice, room, "charlie")
    gone = say(alice, room, "delta")
    edit_message(user=alice, room_id=room.id, seq=edited.seq, body="echo", client_id="e2")
    delete_message(user=alice, room_id=room.id, seq=gone.seq)
    assert drift().none
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT rowid, text FROM search_fts ORDER BY rowid")
            assert cursor.fetchall() == [(kept.pk, "alpha bravo"), (edited.pk, "echo")]
            cursor.execute("DELETE FROM search_fts")  # as after a restore without the index
        assert drift().missing == 2 and found(alice, "alpha") == []
    record = rebuild(batch=1)
    assert record.finished_at is not None and record.done == 3 and record.total == 3
    assert drift().none and found(alice, "alpha") == ["alpha bravo"] and found(alice, "echo") == ["echo"]
    assert found(alice, "charlie") == found(alice, "delta") == []


def test_while_a_rebuild_runs_the_results_say_what_may_be_missing(room, alice):
    from search.models import IndexRebuild

    say(alice, room, "old news")
    record = IndexRebuild.objects.create(started_at=timezone.now(), total=10, done=4, next_below=10**6)
    results = search_messages(user=alice, text="news")
    assert [n.code for n in results.notes] == ["index_rebuilding"]
    assert "4 of 10" in results.notes[0].message and "may be missing" in results.notes[0].message
    record.finished_at = timezone.now()
    record.save()
    assert search_messages(user=alice, text="news").notes == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only: stems and similarity")
def test_postgresql_finds_other_forms_of_a_word_and_tolerates_typos(room, alice):
    say(alice, room, "the deploying went fine")
    for i in range(22):
        say(alice, room, f"kubernetes upgrade {i}")
    assert found(alice, "deployed") == ["the deploying went fine"]
    results = search_messages(user=alice, text="kubernetse")
    assert results.fuzzy and len(results.hits) == 20 and results.next["similar"] == 1
    # The next page goes on with the similar words, not with the exact ones that found nothing.
    rest = search_messages(user=alice, text="kubernetse", before=results.next["before"], similar=True)
    assert rest.fuzzy and [h.message.body for h in rest.hits] == [
        "kubernetes upgrade 1",
        "kubernetes upgrade 0",
    ]
    assert not search_messages(user=alice, text="kubernetes").fuzzy


@pytest.mark.parametrize(
    ("body", "text"),
    [("ПРИВЕТ мир", "привет"), ("Москва", "МОСКВА"), ("ΑΘΗΝΑ", "αθηνα"), ("ο λόγος", "λόγος"),
     ("ο λόγος", '"λόγος"'), ("Øresund Bridge", "oresund"), ("Æsir", "aesir"), ("Łódź", "lodz"),
     ("x² + y²", "x²"), ("我在東京工作", '"東京"'), ("我在東京工作", "東京工"), ("Ｆｕｌｌ width", "full"),
     ("İstanbul", "istanbul"), ("ﬁne", "fine"), ("Straße", "STRASSE")],
)  # fmt: skip
def test_letters_of_every_script_fold_the_same_in_the_text_and_the_query(room, alice, body, text):
    say(alice, room, body)
    say(alice, room, "something else entirely")
    assert found(alice, text) == [body]


@pytest.mark.parametrize("text", ["before:9999-12-31", "during:9999", "on:9999-12-31", "after:9999-12-31"])
def test_dates_at_the_ends_of_the_calendar_are_bad_dates_not_errors(room, alice, text):
    assert problems(alice, text) == ["bad_date"]
    assert problems(alice, "on:0001-01-01", zone="Asia/Tokyo") == ["bad_date"]


@pytest.mark.parametrize("text", ["OR", '""', '"', "\u0301", "OR OR"])
def test_a_search_that_folds_to_nothing_says_so(room, alice, text):
    assert problems(alice, text) == ["nothing_to_find"]


def test_text_that_is_not_text_is_refused(room, alice):
    assert problems(alice, "abc \ud800") == ["bad_text"]


def test_relevance_pages_end_at_the_last_page_there_is(room, alice):
    from search.selectors import MAX_PAGE

    for i in range(MAX_PAGE + 1):
        say(alice, room, f"cap {i}")
    assert search_messages(user=alice, text="cap", order="relevance", limit=1, page=MAX_PAGE - 1).more
    last = search_messages(user=alice, text="cap", order="relevance", limit=1, page=MAX_PAGE)
    assert len(last.hits) == 1 and not last.more and last.next is None


def test_a_search_no_index_can_narrow_is_stopped_in_time(room, alice, settings):
    ChatMessage.objects.bulk_create(
        ChatMessage(
            room=room, author=alice, seq=i, change=i, body=f"row {i}: abcdefghijklmnopqrs", client_id=f"b{i}"
        )
        for i in range(1, 20001)
    )
    settings.PARLEY = {**settings.PARLEY, "SEARCH_TIMEOUT_SECONDS": 0.000001}
    # Twenty one-letter words, none of them indexable, the last in no message: every row is read.
    slow = " ".join("abcdefghijklmnopqrsz")
    results = search_messages(user=alice, text=slow)
    assert [p.code for p in results.problems] == ["too_slow"] and results.hits == [] and not results.ran
    settings.PARLEY = {**settings.PARLEY, "SEARCH_TIMEOUT_SECONDS": 30.0}
    assert search_messages(user=alice, text="row 7:").ran  # and the connection still works
    if connection.vendor == "postgresql":  # the caller's transaction keeps its own timeout
        with connection.cursor() as cursor:
            cursor.execute("SHOW statement_timeout")
            assert cursor.fetchone()[0] == "0"


def test_the_sqlite_triggers_come_back_after_a_migration_rebuilt_the_table(room, alice):
    from django.core.management import call_command

    from search.index import drift
    from search.schema import missing_triggers

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's triggers")
    say(alice, room, "before the rebuild")
    edited = say(alice, room, "kumquat")
    # What Django's table rebuild on SQLite does to triggers (AlterField, AddField with a default).
    with connection.cursor() as cursor:
        for name in ("search_fts_insert", "search_fts_update", "search_fts_delete"):
            cursor.execute(f"DROP TRIGGER {name}")
    say(alice, room, "written while they were gone")
    edit_message(user=alice, room_id=room.id, seq=edited.seq, body="edited text", client_id="e9")
    assert len(missing_triggers()) == 3 and not drift().none
    call_command("migrate", verbosity=0)
    assert missing_triggers() == [] and drift().none
    assert found(alice, "gone") == ["written while they were gone"] and found(alice, "kumquat") == []
    say(alice, room, "and after")
    assert found(alice, "after") == ["and after"]


def test_newest_first_reads_the_index_in_order_instead_of_sorting_every_match(room, alice):
    from search.engines import Page, Scope, engine
    from search.query import parse

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's plan")
    query = parse("deploy", zone=dt.UTC, today=dt.date.today())
    sql, params = engine().compile(query, Scope(readable_sql="SELECT 1", readable_params=[]), Page(limit=21))
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        plan = " ".join(row[-1] for row in cursor.fetchall())
    assert "USE TEMP B-TREE" not in plan and "SCAN search_fts VIRTUAL TABLE" in plan


def test_best_match_first_ranks_the_newest_matches_only(room, alice, monkeypatch):
    from search import engines

    say(alice, room, "ranked ranked ranked")  # the best match, and the oldest
    for i in range(5):
        say(alice, room, f"ranked {i}")
    best = search_messages(user=alice, text="ranked", order="relevance")
    assert best.hits[0].message.body.startswith("ranked ranked ranked")
    monkeypatch.setattr(engines, "RANKED", 5)  # the old one is no longer among the newest five
    best = search_messages(user=alice, text="ranked", order="relevance")
    assert len(best.hits) == 5 and not any(h.message.body.startswith("ranked ranked") for h in best.hits)


def test_newest_first_in_windows_finds_the_same_pages(room, alice, monkeypatch):
    from search import selectors
    from search.engines import engine

    for i in range(45):
        say(alice, room, f"window {i}" if i % 3 else f"window {i} rare")

    def pages(text):
        seen, before = [], None
        while True:
            results = search_messages(user=alice, text=text, before=before)
            seen += [h.message.body for h in results.hits]
            if not results.more:
                return seen
            before = results.next["before"]

    plain = pages("window"), pages("rare")
    monkeypatch.setattr(engine(), "WINDOWED", True)
    monkeypatch.setattr(selectors, "NEWEST_WINDOW", 7)  # the newest 7 first, then the rest
    assert (pages("window"), pages("rare")) == plain
    assert len(plain[0]) == 45 == len(set(plain[0])) and len(plain[1]) == 15
