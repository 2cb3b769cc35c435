"""bench/search_corpus.py and bench/search_bench.py on a tiny corpus in the test database (SQLite
in the first pass, PostgreSQL in the second): the rows are what sending writes (seqs gap-free per
room, `change` = seq, the room's positions matching), the mix is the stated one, and the bench's
runner gives figures for every query class, with hits, and the index's size."""

import random
import re
import unicodedata

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Max, Min

from bench import search_bench, search_corpus
from messaging.models import ChatMessage, ChatRoom, Membership

pytestmark = pytest.mark.timeout(120)

SPEC = search_corpus.Spec(messages=4000, rooms=30, users=300, rooms_per_user=6, seed=3)
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")


@pytest.fixture
def corpus(db):
    return search_corpus.generate(SPEC, log=lambda _: None)


def test_each_room_has_gap_free_seqs_from_one_and_its_positions_match(corpus):
    rooms = {room.id: room for room in ChatRoom.objects.filter(id__in=[r["id"] for r in corpus["rooms"]])}
    per_room = ChatMessage.objects.values("room_id").annotate(n=Count("id"), low=Min("seq"), high=Max("seq"))
    assert sum(row["n"] for row in per_room) == SPEC.messages == ChatMessage.objects.count()
    for row in per_room:
        room = rooms[row["room_id"]]
        assert (row["low"], row["high"]) == (1, row["n"])  # unique (room, seq): so 1..n, no gap
        assert room.last_seq == room.last_change == row["n"]
    assert not ChatMessage.objects.exclude(change=F("seq")).exists()
    assert sum(room["messages"] for room in corpus["rooms"]) == SPEC.messages


def test_ids_and_times_rise_together_across_rooms(corpus):
    times = list(ChatMessage.objects.order_by("id").values_list("created_at", flat=True))
    assert times == sorted(times)
    assert (
        len({room for room in ChatMessage.objects.order_by("id").values_list("room_id", flat=True)[:200]}) > 5
    )


def test_the_mix_is_the_stated_one(corpus):
    n = SPEC.messages
    kinds = corpus["counts"]["kinds"]
    # Each kind's share within a few standard deviations of what Spec says (4,000 messages).
    for kind, share in [
        ("cjk", SPEC.cjk_share),
        ("accent", SPEC.accent_share),
        ("link", SPEC.link_share),
        ("mention", SPEC.mention_share),
    ]:
        assert 0.5 * share * n < kinds[kind] < 1.6 * share * n, (kind, kinds[kind])
    assert 0.5 * SPEC.identifier_share * n < kinds["identifier"] < 2 * SPEC.identifier_share * n
    bodies = list(ChatMessage.objects.values_list("body", flat=True))
    cjk = sum(1 for body in bodies if CJK.search(body))
    accented = sum(
        1 for body in bodies if any(unicodedata.combining(c) for c in unicodedata.normalize("NFD", body))
    )
    links = sum(1 for body in bodies if "https://" in body)
    assert cjk == kinds["cjk"]
    assert accented >= kinds["accent"]  # accented words, and a few Korean syllables decompose too
    assert links == kinds["link"]
    assert any("db-" in body and ".internal" in body for body in bodies)
    # Zipf: the most frequent word is in far more messages than the 200th.
    words = sorted(corpus["candidates"]["words"], key=lambda wc: -wc[1])
    assert words[0][1] > 20 * words[199][1]


def test_authors_and_the_mentioned_are_members_and_a_tenth_of_the_rooms_are_private(corpus):
    members = set(Membership.objects.values_list("room_id", "user_id"))
    assert all(pair in members for pair in ChatMessage.objects.values_list("room_id", "author_id"))
    mentions = ChatMessage.mentioned_users.through.objects.values_list("chatmessage__room_id", "user_id")
    assert len(mentions) == corpus["counts"]["mentions"] > 0
    assert all(pair in members for pair in mentions)
    assert ChatRoom.objects.filter(is_private=True).count() == round(SPEC.rooms * SPEC.private_share)
    per_user = Membership.objects.values("user_id").annotate(n=Count("id")).values_list("n", flat=True)
    assert SPEC.rooms_per_user - 5 <= sum(per_user) / len(per_user) <= SPEC.rooms_per_user + 5


def test_the_text_is_the_same_for_the_same_seed():
    members = [(1, "ann.lee"), (2, "bo.kim")]
    first = search_corpus.TextMaker(SPEC, random.Random(5))
    second = search_corpus.TextMaker(SPEC, random.Random(5))
    assert [first.message(members) for _ in range(300)] == [second.message(members) for _ in range(300)]


def test_the_runner_gives_figures_for_every_class_with_hits(corpus):
    figures = search_bench.run_classes(corpus, k=4, class_budget=20, say=lambda _: None)
    assert figures["user"]["rooms"] >= 1 and figures["user"]["private_rooms"] >= 1
    assert set(figures["classes"]) == {name for name, _, _ in search_bench.CLASSES}
    for name, entry in figures["classes"].items():
        assert entry["ran"] == entry["queries"] >= 1, name
        assert 0 < entry["p50_ms"] <= entry["p95_ms"] <= entry["p99_ms"] <= entry["max_ms"], name
        assert entry["problems"] == [], name
        assert entry["median_hits"] > 0, name  # the queries are drawn from what the corpus holds
        assert entry["slowest"]["plan"], name
    size = search_bench.index_size()
    assert size["search_index_bytes"] > 0
    assert size["database_bytes"] > size["search_index_bytes"]
    assert search_bench.engine_version().startswith(
        {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[connection.vendor]
    )


def test_the_markdown_has_a_row_per_class_and_the_index_size(corpus):
    figures = search_bench.run_classes(
        corpus, k=2, class_budget=10, classes=["common", "cjk"], say=lambda _: None
    )
    figures |= {
        "index": search_bench.index_size(),
        "engine": "SQLite 3",
        "load_seconds": 1.0,
        "reused_corpus": False,
    }
    results = {
        "spec": corpus["spec"],
        "started_at": "now",
        "commit": "abc",
        "machine": "2 cores",
        "k": 2,
        "engines": {"sqlite": figures},
    }
    text = search_bench.markdown(results)
    assert "| common: a frequent work word" in text and "| cjk:" in text
    assert "search index on disk" in text


@pytest.mark.django_db
def test_a_deferred_index_is_built_afterwards_and_finds_what_a_kept_one_would():
    from search.index import drift
    from search.selectors import search_messages

    manifest = search_corpus.generate(
        search_corpus.Spec(messages=600, rooms=5, users=20, rooms_per_user=3),
        log=lambda _: None,
        defer_index=True,
    )
    assert manifest["timings"]["index_afterwards"] > 0
    assert drift().none
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'search_fts_insert'"
            )
        else:
            cursor.execute("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'search!_%' ESCAPE '!'")
        assert cursor.fetchone()[0] >= 1
    user = get_user_model().objects.get(pk=search_bench.bench_user(manifest)["id"])
    word = next(w for w, n in sorted(manifest["candidates"]["words"], key=lambda wc: -wc[1]) if len(w) >= 4)
    assert search_messages(user=user, text=word).hits
