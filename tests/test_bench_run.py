"""bench/run.py without running anything: the presets' options, the estimate a run (or --dry-run)
prints of its minutes from the step counts, and how a multi-process configuration is pinned."""

import pytest

from bench import run


def args_for(*argv: str):
    return run.parse_args(list(argv))[1]


def test_the_ladder_steps_of_a_room_follow_from_its_knee():
    args = args_for("full", "--duration", "4", "--drain", "3", "--recover", "6", "--refine", "1")
    config = run.CONFIGS["uvicorn-memory-sqlite"]
    # A knee of 8,000 deliveries/s in a room of 10: rungs 250 ... 8,000 pass (6), 16,000 fails,
    # one bisection, one step at 80 % of the knee.
    steps, seconds = run.room_steps(config, 10, args, 8000)
    assert steps == 6 + 1 + 1 + 1
    passing = 4 + run.STEP_OVERHEAD_S
    failing = passing + 3 + 6
    assert seconds == pytest.approx(6 * passing + failing + (passing + failing) / 2 + passing)
    # A peer gets its unmeasured warm-up first; one that fails the first rung has nothing else.
    steps, _ = run.room_steps(run.CONFIGS["synapse-sqlite"], 100, args, 0)
    assert steps == 1 + 1


def test_the_full_matrix_is_estimated_under_45_minutes_with_every_configuration():
    args = args_for("full")
    found = run.estimate(args, prior={})
    assert found["minutes"] < 45
    rooms = {(r["what"], r["size"]) for r in found["rows"]}
    for name in run.FULL_CONFIGS:
        for size in (10, 100, 1000):
            assert (name, size) in rooms
    assert {"ejabberd-muc", "synapse-sqlite", "uvicorn-pubsub-postgres-x2"} <= set(run.FULL_CONFIGS)
    assert ("ejabberd-muc idle", 10000) in rooms
    assert ("synapse-sqlite idle", 1000) in rooms
    # Synapse's 10,000 idle members are a "not run" row, not minutes.
    assert ("synapse-sqlite idle", 10000) not in rooms
    assert {("profile uvicorn-memory-sqlite", 10), ("profile uvicorn-memory-sqlite", 1000)} <= rooms
    assert found["minutes"] == pytest.approx(sum(r["seconds"] for r in found["rows"]) / 60, abs=0.05)


def test_earlier_results_set_the_step_counts(tmp_path):
    args = args_for(
        "full", "--configs", "uvicorn-memory-sqlite", "--sizes", "10", "--no-profile", "--idle", "0"
    )
    slow = run.estimate(args, prior={"uvicorn-memory-sqlite": {10: 250}})
    fast = run.estimate(args, prior={"uvicorn-memory-sqlite": {10: 64000}})
    assert slow["rows"][-1]["steps"] < fast["rows"][-1]["steps"]
    assert run.prior_knees(tmp_path / "missing.json") == {}


def test_dry_run_prints_the_estimate_and_starts_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run, "run_config", lambda *a, **k: pytest.fail("a dry run ran a configuration"))
    run.main(["full", "--dry-run", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "ejabberd-muc" in printed and "synapse-sqlite" in printed
    assert "estimated total:" in printed and "minutes" in printed
    assert not (tmp_path / "results.json").exists()


def test_options_idle_counts_and_profiles():
    args = args_for("full")
    assert args.idle == [1000, 10000]
    assert args.profile_config == "uvicorn-memory-sqlite" and args.profile_sizes == [10, 1000]
    assert args_for("full", "--idle", "0").idle == []
    assert args_for("full", "--idle", "10000,300").idle == [300, 10000]
    args = args_for("full", "--profile-size", "100", "--profile-config", "daphne-memory-sqlite")
    assert args.profile_sizes == [100] and args.profile
    assert run.profile_stem(100, [100]) == "profile"
    assert run.profile_stem(10, [10, 1000]) == "profile-10"
    with pytest.raises(SystemExit):
        args_for("full", "--profile-config", "uvicorn-pubsub-postgres")  # py-spy runs on SQLite


def test_two_processes_are_pinned_one_per_core():
    two = run.CONFIGS["uvicorn-pubsub-postgres-x2"]
    assert two.processes == 2 and two.layer == "pubsub"
    assert run.process_cpus(two, {0}, [0, 1]) == [{0}, {1}]
    assert run.process_cpus(run.CONFIGS["uvicorn-pubsub-postgres"], {0}, [0, 1]) == [{0}]


def test_a_two_process_room_is_dealt_over_both_servers_by_one_generator_process():
    class Group:
        ports = [1001, 1002]

        def cpu_seconds(self):
            return 0.0

    args = args_for("full")
    room = run.make_room(Group(), 7, [f"s{i}" for i in range(5)], args, list)
    assert [t.port for t in room.targets] == [1001, 1002]
    assert room.processes == 1 and room.senders == 5
    given = run.make_room(Group(), 7, ["a", "b"], args_for("full", "--generator-processes", "2"), list)
    assert given.processes == 2
    one = run.make_room(type("One", (Group,), {"ports": [1001]})(), 7, ["a"], args, list)
    assert [t.port for t in one.targets] == [1001]


def test_the_generator_options_reach_the_rooms_only_when_given():
    assert run.generator_kwargs(args_for("full")) == {}
    given = args_for("full", "--generator-processes", "2", "--generator-client", "websockets")
    assert run.generator_kwargs(given) == {"processes": 2, "client": "websockets"}
