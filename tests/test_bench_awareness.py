"""bench/loadgen.py's awareness modes (`awareness`, `bench/run.py --awareness on,off`) against real
Parley servers: with awareness on the members behave as browsers (typing.start before each
message, room.read once a second, presence.set active) and the server's typing, receipts and
read pointers follow; with it off the members are silent and nothing comes back; the awareness
frames are counted by type, never read as deliveries.

One SQLite file set up as the benchmark sets it up (bench/procs.py, bench/setup_db.py: a room of
six members with sessions), served by two uvicorn processes with production settings: one with
PARLEY_PRESENCE/TYPING/READ_RECEIPTS = 1, one with them = 0 (bench/run.py's awareness_env)."""

import contextlib
import json
import sqlite3
import time

import orjson
import pytest

from awareness.serializers import presence_changed_frame, receipts_changed_frame, typing_frame
from bench import generator, loadgen, presence_fanout, procs, quiet, report, run
from messaging.serializers import message_new_frame, room_read_frame

pytestmark = pytest.mark.timeout(120)

MEMBERS = 6


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    work = tmp_path_factory.mktemp("bench-awareness")
    database = work / "db.sqlite3"
    env = procs.parley_env(database_url=None, sqlite_path=database, redis_url=None, layer="")
    procs.manage(env, "migrate", "--noinput")
    procs.manage(env, "-m", "bench.setup_db", "--rooms", str(MEMBERS), "--out", str(work / "setup.json"))
    room = json.loads((work / "setup.json").read_text())["rooms"][str(MEMBERS)]
    started = {}
    try:
        for mode in ("on", "off"):
            port = procs.free_port()
            server = procs.Server(
                f"parley-{mode}",
                procs.uvicorn_cmd(port),
                {**env, **run.awareness_env(mode)},
                work / f"server-{mode}.log",
                None,
                port=port,
                health_path="/healthz",
            )
            server.start()
            started[mode] = server
        yield started, room, database
    finally:
        for server in started.values():
            server.stop()


def read_pointers(database, room_id: int) -> list[int]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT last_read_seq FROM messaging_membership WHERE room_id = ? ORDER BY user_id", (room_id,)
        ).fetchall()
    return [seq for (seq,) in rows]


def last_seq(database, room_id: int) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT last_seq FROM messaging_chatroom WHERE id = ?", (room_id,)).fetchone()[0]


def make_room(server, room, *, mode, processes=1) -> loadgen.Room:
    load = loadgen.Room(
        loadgen.Target(procs.HOST, server.port),
        room["id"],
        room["sessions"],
        senders=3,
        server_cpu=server.cpu_seconds,
        services_cpu=lambda: 0.0,
        processes=processes,
        awareness=mode,
    )
    load.awareness_settle = 0.5
    return load


async def wait_for(predicate, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        await loadgen.asyncio.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("processes", [1, 2])
async def test_members_on_behave_as_browsers_and_the_servers_typing_and_receipts_follow(servers, processes):
    started, room, database = servers
    load = make_room(started["on"], room, mode="on", processes=processes)
    await load.connect()
    try:
        result = await load.run_step(10.0, 2.0, 5.0, "test")
        end = last_seq(database, room["id"])
        # Every member says it read the newest message within about a second of receiving it.
        assert await wait_for(lambda: read_pointers(database, room["id"]) == [end] * MEMBERS)
    finally:
        await load.close()

    # The deliveries are counted exactly as without awareness: the awareness frames are not any.
    assert result["messages_sent"] == 20 and result["deliveries"] == result["expected_deliveries"] == 120
    assert (result["lost"], result["duplicates"], result["out_of_order"]) == (0, 0, 0)
    assert result["errors"] == {} and result["unacknowledged"] == 0
    # Each message had its typing.start; the server relayed starts to the five others (the
    # throttle bounds them, never above one a message), and no stop when the message was sent:
    # the others drop the typer on the message itself.
    frames = result["other_frames"]
    assert result["typing_sent"] == 20
    assert 0 < frames["typing.started"] <= 20 * (MEMBERS - 1)
    assert frames["typing.started"] % (MEMBERS - 1) == 0
    assert "typing.stopped" not in frames
    # room.read: each member at most once a second (the step lasts about 2 s), each answered;
    # the receipts of a room of six reach its members, at most one frame a second per member.
    assert MEMBERS <= result["reads_sent"] <= MEMBERS * 4
    assert frames["room.read"] == result["reads_sent"]
    assert 0 < frames["receipts.changed"] <= MEMBERS * 4
    assert result["awareness_frames"] == sum(frames.values())
    assert result["server_us_per_any_frame"] < result["server_us_per_delivery"]


async def test_members_off_are_silent_and_a_server_with_awareness_off_sends_none(servers):
    started, room, _ = servers
    load = make_room(started["off"], room, mode="off")
    await load.connect()
    try:
        result = await load.run_step(10.0, 1.0, 5.0, "test")
    finally:
        await load.close()
    assert load.browser is None
    assert result["deliveries"] == result["expected_deliveries"] == 10 * MEMBERS
    assert (result["typing_sent"], result["reads_sent"], result["presence_sent"]) == (0, 0, 0)
    assert result["other_frames"] == {} and result["awareness_frames"] == 0 and result["errors"] == {}


async def test_reads_only_move_the_pointers_and_a_server_with_receipts_off_sends_no_receipts(servers):
    started, room, database = servers
    load = make_room(started["off"], room, mode="reads")
    await load.connect()
    try:
        result = await load.run_step(10.0, 2.0, 5.0, "test")
        end = last_seq(database, room["id"])
        assert await wait_for(lambda: read_pointers(database, room["id"]) == [end] * MEMBERS)
    finally:
        await load.close()
    assert result["deliveries"] == result["expected_deliveries"] == 20 * MEMBERS
    assert result["typing_sent"] == 0 and result["presence_sent"] == 0 and result["reads_sent"] >= MEMBERS
    assert result["other_frames"] == {"room.read": result["reads_sent"]}


async def test_noreads_members_type_and_say_active_but_never_move_their_read_pointers(servers):
    started, room, database = servers
    before = read_pointers(database, room["id"])
    load = make_room(started["on"], room, mode="noreads")
    await load.connect()
    try:
        result = await load.run_step(10.0, 1.5, 5.0, "test")
        await loadgen.asyncio.sleep(1.2)  # a reading member would have said so by now
    finally:
        await load.close()
    assert result["typing_sent"] == result["messages_sent"] == 15 and result["reads_sent"] == 0
    assert result["other_frames"]["typing.started"] > 0 and "room.read" not in result["other_frames"]
    # Only the senders' pointers moved (a member's own message is read by its author).
    after = read_pointers(database, room["id"])
    assert after[3:] == before[3:] and after[:3] != before[:3]


def test_awareness_frames_are_counted_by_type_from_their_first_bytes():
    user = type("U", (), {"id": 3, "username": "bob", "shown_name": "Bob"})()
    frames = {
        "typing.started": typing_frame(7, None, user, started=True, expires_in=6),
        "typing.stopped": typing_frame(7, 40, user, started=False, expires_in=0),
        "presence.changed": presence_changed_frame({"id": 3, "state": "away", "last_active_at": None}),
        "receipts.changed": receipts_changed_frame(7, [{"user": {"id": 3}, "seq": 5}]),
        "room.read": room_read_frame(7, 5, 0),
    }
    for kind, text in frames.items():
        assert generator.awareness_kind(text.encode()) == kind
    message = {"id": 1, "room": 7, "seq": 2, "change": 2, "body": "1|5|x", "client_id": "c"}
    for other in (
        message_new_frame(message).encode(),
        orjson.dumps({"type": "error", "code": "bad_request"}),
        orjson.dumps({"type": "presence.state", "users": []}),
        b'{"type":"typing.started',  # no closing quote in reach: not one
    ):
        assert generator.awareness_kind(other) is None

    load = loadgen.Room(
        loadgen.Target("127.0.0.1", 1),
        7,
        [None, None],
        senders=1,
        server_cpu=lambda: 0.0,
        services_cpu=lambda: 0.0,
        processes=1,
        awareness="on",
    )
    load.sockets = [None, None]
    load.read_seq = [0, 0]
    step = load.new_step(1, 10.0, 1.0, "x")
    for text in frames.values():
        load._deliver_reading(1, text.encode(), 10)
    load._deliver_reading(0, orjson.dumps({"type": "error", "code": "not_member"}), 10)
    load._deliver_reading(1, message_new_frame(message).encode(), 10)
    assert step.other_frames == dict.fromkeys(frames, 1)
    assert step.errors == {"not_member": 1} and step.delivered == 1 and load.read_seq == [0, 2]
    with pytest.raises(ValueError, match="awareness"):
        loadgen.Room(
            loadgen.Target("127.0.0.1", 1), 7, [None], senders=1, server_cpu=float, services_cpu=float,
            awareness="sometimes",
        )  # fmt: skip


def test_the_awareness_option_runs_each_parley_configuration_per_mode_and_the_baseline_once():
    args = run.parse_args(
        ["full", "--configs", "websockets-baseline,uvicorn-memory-sqlite", "--awareness", "on,off"]
    )[1]
    assert args.awareness_modes == ["on", "off"]
    parley, baseline = run.CONFIGS["uvicorn-memory-sqlite"], run.CONFIGS["websockets-baseline"]
    assert run.awareness_modes(parley, args) == ["on", "off"]
    assert run.awareness_modes(baseline, args) == [None]
    assert run.awareness_modes(run.CONFIGS["ejabberd-muc"], args) == [None]
    assert [run.variant_name(parley.name, 0.0, "all", m) for m in args.awareness_modes] == [
        "uvicorn-memory-sqlite awareness-on",
        "uvicorn-memory-sqlite awareness-off",
    ]
    assert run.variant_name(parley.name, 0.5, "all", "on") == "uvicorn-memory-sqlite threads-0.5 awareness-on"
    assert run.variant_name(parley.name, 0.0) == "uvicorn-memory-sqlite"  # without the option: as before
    assert run.awareness_env("on") == {
        "PARLEY_PRESENCE": "1",
        "PARLEY_TYPING": "1",
        "PARLEY_READ_RECEIPTS": "1",
    }
    assert set(run.awareness_env("off").values()) == set(run.awareness_env("reads").values()) == {"0"}
    assert run.awareness_env("noreads") == run.awareness_env("on")
    assert run.awareness_env(None) == {}
    variant = run.argparse.Namespace(**vars(args))
    variant.awareness = "on"
    assert run.generator_kwargs(variant)["awareness"] == "on"
    variant.awareness = None
    assert "awareness" not in run.generator_kwargs(variant)
    rows = [r["what"] for r in run.estimate(args)["rows"] if r["size"] == 10 and r["steps"] > 1]
    assert rows == [
        "websockets-baseline",
        "uvicorn-memory-sqlite awareness-on",
        "uvicorn-memory-sqlite awareness-off",
    ]
    for wrong in ("on,sometimes", "on,on", ""):
        with pytest.raises(SystemExit):
            run.parse_args(["full", "--configs", "uvicorn-memory-sqlite", "--awareness", wrong])
    with pytest.raises(SystemExit):  # nothing to run it on
        run.parse_args(["full", "--configs", "websockets-baseline", "--awareness", "on,off"])


def test_waiting_for_quiet_stops_at_the_first_quiet_window_or_at_the_limit():
    readings = iter([0.9, 0.6, 0.1, 0.9])
    found = quiet.wait_for_quiet(60, window=0.0, measure=lambda _: next(readings), log=lambda _: None)
    assert found["quiet"] and found["other_cpu"] == 0.1
    found = quiet.wait_for_quiet(0.0, window=0.0, measure=lambda _: 0.9, log=lambda _: None)
    assert not found["quiet"] and found["other_cpu"] == 0.9
    assert quiet.others_cpu(0.05) >= 0.0


def test_the_report_puts_on_and_off_side_by_side_at_the_same_rates():
    def step(rate, us, passed=True, **extra):
        return {
            "label": "ladder",
            "rate_msgs": rate,
            "server_us_per_delivery": us,
            "pass": passed,
            "lost": 0,
            "generator_bound": False,
            "messages_sent": 10,
            "generator_cpu": 0.1,
            "generator_us_per_delivery": 5.0,
            "other_cpu": 0.0,
            "server_us_per_any_frame": us / 3,
            **extra,
        }

    on_steps = [
        step(25, 90.0, typing_sent=10, reads_sent=5, other_frames={"typing.started": 90, "room.read": 5}),
        step(50, 100.0, passed=False),
    ]
    results = {
        "configs": {
            "uvicorn-memory-sqlite awareness-on": {
                "awareness": "on",
                "rooms": {"10": {"knee_rate_msgs": 25.0, "steps": on_steps}},
            },
            "uvicorn-memory-sqlite awareness-off": {
                "awareness": "off",
                "rooms": {"10": {"knee_rate_msgs": 50.0, "steps": [step(25, 45.0), step(50, 40.0)]}},
            },
        }
    }
    rows = report.awareness_comparison(results)
    assert (
        len(rows) == 1 and rows[0]["modes"] == ["off", "on"] and rows[0]["knee"] == {"off": 50.0, "on": 25.0}
    )
    table = report.awareness_tables(results)
    assert "## Awareness: on against off" in table
    assert "| knee msg/s | 50.0 | 25.0 | 0.50 |" in table
    assert "| 25 | 45.0 | 90.0 | 2.00 |" in table and "| 50 | 40.0 | 100.0 ✗ | 2.50 |" in table
    sent = [
        line for line in table if line.startswith("| uvicorn-memory-sqlite awareness-on | 10 | ladder | 25 |")
    ]
    assert len(sent) == 1 and "| 10 | 5 | 0 | room.read 5, typing.started 90 | 9.5 |" in sent[0]
    assert report.awareness_tables({"configs": {"x": {"rooms": {}}}}) == []


# picows comes with the benchmark's requirements, not the tests' (CI has only websockets): the
# fan-out measurement must work on whichever client is there.
CLIENTS = [
    "websockets",
    pytest.param("picows", marks=pytest.mark.skipif(generator.picows is None, reason="picows not installed")),
]


@pytest.mark.parametrize("client", CLIENTS)
async def test_the_presence_fanout_reaches_every_peer_once_and_coalesces_a_flapping_tab(servers, client):
    started, room, _ = servers
    await loadgen.asyncio.sleep(2.2)  # the earlier tests' members' presence, coalesced, is out
    args = run.argparse.Namespace(
        repeats=1, coalesce=2.0, timeout=10.0, flaps=6, flap_every=0.1, connect_concurrency=10, client=client
    )
    found = await presence_fanout.measure(started["on"], {"rooms": {str(MEMBERS): room}}, MEMBERS, args)
    assert found["client"] == client
    assert found["peers"] == MEMBERS - 1 and found["subject_user_id"] == room["user_ids"][0]
    (away,) = found["repeats"]
    assert away["frames_per_peer"] == [1]  # every peer heard the subject go away, once
    assert 0 < away["first_ms"] <= away["p50_ms"] <= away["all_ms"] < 10_000
    assert away["server_cpu_us_raw"] > 0 and found["median"]["all_ms"] == away["all_ms"]
    # Six changes in 0.6 s: each peer gets the first at once and the latest after the interval.
    assert 1 <= found["flap"]["frames_per_peer"][0] <= found["flap"]["frames_per_peer"][1] <= 2
    assert "| **median** |" in presence_fanout.markdown(
        {**found, "config": "x", "git_commit": "y", "started": "z", "cpus": {"server": [0], "generator": [1]},
         "loadavg": "0", "command": "c"}
    )  # fmt: skip
