"""bench/loadgen.py's thread replies (`thread_share`) against a real Parley server: the replies
are stored as replies to the roots the generator posted, the roots' counts grow by as many, and
the deliveries are still counted exactly, each root's `message.updated` apart from them.

One uvicorn process on 127.0.0.1 with production settings and its own SQLite file, set up as the
benchmark sets it up (bench/procs.py, bench/setup_db.py): a room of six members with sessions."""

import contextlib
import json
import sqlite3
import time

import orjson
import pytest

from bench import generator, loadgen, procs, report, run
from messaging.serializers import message_new_frame, message_updated_frame

pytestmark = pytest.mark.timeout(120)

MEMBERS = 6


@pytest.fixture(scope="module")
def parley(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench-threads")
    database = work / "db.sqlite3"
    env = procs.parley_env(database_url=None, sqlite_path=database, redis_url=None, layer="")
    procs.manage(env, "migrate", "--noinput")
    procs.manage(env, "-m", "bench.setup_db", "--rooms", str(MEMBERS), "--out", str(work / "setup.json"))
    room = json.loads((work / "setup.json").read_text())["rooms"][str(MEMBERS)]
    port = procs.free_port()
    server = procs.Server(
        "parley", procs.uvicorn_cmd(port), env, work / "server.log", None, port=port, health_path="/healthz"
    )
    server.start()
    try:
        yield server, room, database
    finally:
        server.stop()


def query(database, sql: str, *params):
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute(sql, params).fetchall()


def positions(database, room_id: int) -> tuple[int, int]:
    """The room's last seq and last change position."""
    return query(database, "SELECT last_seq, last_change FROM messaging_chatroom WHERE id = ?", room_id)[0]


@pytest.mark.parametrize(("processes", "repliers"), [(1, "all"), (2, "all"), (1, "own")])
async def test_half_the_sends_are_stored_as_replies_and_every_delivery_is_counted_once(
    parley, processes, repliers
):
    server, room, database = parley
    load = loadgen.Room(
        loadgen.Target(procs.HOST, server.port),
        room["id"],
        room["sessions"],
        senders=3,
        server_cpu=server.cpu_seconds,
        services_cpu=lambda: 0.0,
        processes=processes,
        thread_share=0.5,
        thread_roots=2,
        thread_repliers=repliers,
    )
    await load.connect()
    try:
        seq0, change0 = positions(database, room["id"])
        result = await load.run_step(40.0, 0.5, 5.0, "test")
        seq1, change1 = positions(database, room["id"])
    finally:
        await load.close()
    replies = sum(loadgen.is_reply(i, 0.5) for i in range(20))
    assert 8 <= replies <= 12  # 40 msg/s for 0.5 s: about half of the 20

    # What the server stored: the step's 20 messages, its replies to the roots (two; "own": one
    # per sender, by it), hidden from the room's timeline; each root counts the replies it was sent.
    roots = 2 if repliers == "all" else 3
    assert len(load.roots) == roots and load.roots == sorted(load.roots)
    stored = query(
        database,
        "SELECT m.client_id, r.seq, m.in_room FROM messaging_chatmessage m "
        "LEFT JOIN messaging_chatmessage r ON r.id = m.thread_root_id WHERE m.client_id LIKE ?",
        f"{load.token}.1.%",
    )
    assert len(stored) == 20 and seq1 - seq0 == 20
    by_index = {int(client_id.rsplit(".", 1)[1]): (root, in_room) for client_id, root, in_room in stored}
    replies_of = [0, 0, 0]  # by sender (message i is sender i % 3's)
    expected: dict[int, int] = {}
    for i in range(20):
        expected_root = None
        if loadgen.is_reply(i, 0.5):
            expected_root = load.roots[loadgen.reply_root(i % 3, replies_of[i % 3], roots, repliers)]
            replies_of[i % 3] += 1
            expected[expected_root] = expected.get(expected_root, 0) + 1
        assert by_index[i] == (expected_root, 0 if expected_root else 1)
    counts = dict(
        query(
            database,
            "SELECT seq, reply_count FROM messaging_chatmessage WHERE room_id = ? AND seq IN "
            f"({', '.join('?' * roots)})",
            room["id"],
            *load.roots,
        )
    )
    assert {seq: n for seq, n in counts.items() if n} == expected and sum(counts.values()) == replies
    if repliers == "own":  # every reply's author wrote its root
        assert query(
            database,
            "SELECT COUNT(*) FROM messaging_chatmessage m JOIN messaging_chatmessage r "
            "ON r.id = m.thread_root_id WHERE m.client_id LIKE ? AND r.author_id != m.author_id",
            f"{load.token}.1.%",
        ) == [(0,)]

    # What the generator counted: every message.new once at each member, the replies among them,
    # and each root change of the step (its change positions beyond the messages') at every member.
    root_changes = (change1 - change0) - (seq1 - seq0)
    assert 1 <= root_changes <= replies
    assert result["messages_sent"] == 20 and result["replies_sent"] == replies
    assert result["deliveries"] == result["expected_deliveries"] == 20 * MEMBERS
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)
    assert result["errors"] == {} and result["unacknowledged"] == 0
    assert result["root_updates_per_member"] == [root_changes, root_changes]
    assert result["root_updates"] == root_changes * MEMBERS
    assert result["server_us_per_frame"] < result["server_us_per_delivery"]
    # Replies in threads others follow notify them; in one's own thread nobody.
    assert ("notification.new" in result["other_frames"]) == (repliers == "all")
    # Nothing in the counts fails the step (its latency, on a shared machine, is not this test's).
    assert not loadgen.uneven_updates(result), loadgen.fail_reason(result)


def test_a_root_update_is_counted_apart_and_never_read_as_a_delivery():
    load = loadgen.Room(
        loadgen.Target("127.0.0.1", 1),
        7,
        [None, None],
        senders=1,
        server_cpu=lambda: 0.0,
        services_cpu=lambda: 0.0,
        processes=1,
        thread_share=0.5,
    )
    load.sockets = [None, None]
    step = load.new_step(1, 10.0, 1.0, "x")
    root = {"id": 9, "room": 7, "seq": 3, "change": 12, "body": "1|5|a root", "client_id": "c"}
    updated = orjson.dumps({"type": "message.updated", "message": root})
    assert generator.is_update_of(updated, generator.room_needle(7))
    assert not generator.is_update_of(updated, generator.room_needle(70))
    load._deliver(1, updated, 10)
    load._deliver(0, updated.replace(b'"room":7', b'"room":70'), 10)  # another room's
    load._deliver(0, orjson.dumps({"type": "notification.new"}), 10)
    assert step.delivered == 0 and step.updates == [0, 1]
    assert step.other_frames == {"notification.new": 1}


def test_only_parley_configurations_take_thread_replies():
    args = run.parse_args(["full", "--configs", "uvicorn-memory-sqlite", "--thread-share", "0,0.5"])[1]
    assert args.thread_shares == [0.0, 0.5]
    assert [run.variant_name("uvicorn-memory-sqlite", s) for s in args.thread_shares] == [
        "uvicorn-memory-sqlite",
        "uvicorn-memory-sqlite threads-0.5",
    ]
    for other in ("websockets-baseline", "ejabberd-muc", "synapse-sqlite"):
        with pytest.raises(SystemExit):
            run.parse_args(["full", "--configs", f"uvicorn-memory-sqlite,{other}", "--thread-share", "0.5"])
    with pytest.raises(ValueError, match="Parley"):
        loadgen.PeerRoom(None, 2, senders=1, server_cpu=float, services_cpu=float, thread_share=0.5)
    with pytest.raises(SystemExit):
        run.parse_args(["full", "--configs", "uvicorn-memory-sqlite", "--thread-share", "1.5"])


def test_a_member_missing_a_root_update_fails_the_step():
    step = loadgen.Step(1, 2, 1, 10.0, 1.0, "x", thread_share=0.5)
    for member in (0, 1):
        for seq in range(1, 11):
            step.record(member, seq, 1_000_000, "", 0)
    step.replies, step.updates = 5, [5, 4]
    result = step.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)
    assert result["lost"] == 0 and result["root_updates"] == 9
    assert result["server_us_per_delivery"] == 5000.0 and result["server_us_per_frame"] == round(1e5 / 29, 1)
    assert not result["pass"]
    assert "root updates uneven (4 to 5 per member)" in loadgen.fail_reason(result)
    step.updates = [5, 5]
    assert step.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)["pass"]


def test_the_report_lists_the_steps_with_replies_with_their_root_updates():
    step = loadgen.Step(1, 2, 1, 10.0, 1.0, "ladder", thread_share=0.5)
    for member in (0, 1):
        for seq in range(1, 11):
            step.record(member, seq, 1_000_000, "", 0)
    step.replies, step.updates = 5, [4, 4]
    step.other_frames["notification.new"] = 3
    threads = step.summary(wall=1.0, generator_cpu=0.1, server_cpu=0.1, services_cpu=0.0, other_cpu=0.0)
    plain = dict(threads, replies_sent=0)
    results = {
        "configs": {
            "uvicorn-memory-sqlite": {"rooms": {"100": {"steps": [plain]}}},
            "uvicorn-memory-sqlite threads-0.5": {"rooms": {"100": {"steps": [threads]}}},
        }
    }
    table = report.thread_table(results)
    assert table[1] == "## Thread replies"
    rows = [line for line in table if line.startswith("| uvicorn")]
    assert len(rows) == 1 and rows[0].count("|") == table[3].count("|")
    assert "| 5 | 4 | 0.80 | 5,000.0 | 3,571.4 | notification.new 3 | pass |" in rows[0]
    assert report.thread_table({"configs": {"x": {"rooms": {"10": {"steps": [plain]}}}}}) == []


def test_a_reply_is_read_cheaply_as_any_delivery_and_its_root_update_is_not_one():
    """A reply's message.new as the server writes it (thread fields at the end) gives the cheap
    reading what JSON gives; the root's message.updated (a generator body too) is no delivery."""
    author = {"id": 5, "username": "x", "display_name": 'a "body":"9|9|" | x'}
    due = time.monotonic_ns()
    reply = {
        "id": 78,
        "room": 7,
        "seq": 43,
        "change": 44,
        "author": author,
        "body": f"3|{due}|{loadgen.PAD}",
        "created_at": "2026-12-01T00:00:00+00:00",
        "client_id": "abcd1234.3.18",
        "mentions": [],
        "edited_at": None,
        "deleted": False,
        "reactions": [],
        "pinned": None,
        "thread_root": 40,
        "in_room": False,
        "thread": None,
    }
    data = message_new_frame(reply).encode()
    needle = generator.room_needle(7)
    assert generator.parse_new(data, needle, True) == (43, 3, due, b"abcd1234.3.18")
    assert not generator.is_update_of(data, needle)
    root = dict(reply, seq=40, change=45, thread_root=None, in_room=True, body=f"0|0|root {loadgen.PAD}")
    root["thread"] = {"reply_count": 1, "last_reply_at": "2026-12-01T00:00:00+00:00", "repliers": [author]}
    updated = message_updated_frame(root).encode()
    assert generator.parse_new(updated, needle, True) is None
    assert generator.is_update_of(updated, needle)
