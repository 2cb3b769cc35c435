"""bench/report.py: every table of the markdown report has as many cells in each row as its
header has columns (a missing header once shifted every CPU column of "Every step" by one)."""

import json
from pathlib import Path

import pytest

from bench.report import issue19_targets, markdown, plot_peers

RESULTS = (
    Path(__file__).resolve().parent.parent
    / "bench"
    / "results"
    / "message-changes"
    / "after"
    / "results.json"
)


def tables(text: str) -> list[list[str]]:
    """The markdown tables of `text`, each as its lines."""
    found, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def cells(line: str) -> int:
    return line.strip().strip("|").count("|") + 1


def test_every_row_of_every_table_has_a_cell_under_each_header():
    report = markdown(json.loads(RESULTS.read_text()))
    every_step = None
    for table in tables(report):
        columns = cells(table[0])
        assert all(cells(row) == columns for row in table[1:]), table[0]
        if "server µs/delivery" in table[0] and "step" in table[0]:
            every_step = table
    assert every_step is not None, "the Every step table names its µs per delivery column"
    header = [name.strip() for name in every_step[0].strip("|").split("|")]
    first = [value.strip() for value in every_step[2].strip("|").split("|")]
    # The µs column holds a number, the CPU columns beside it percentages.
    row = dict(zip(header, first, strict=True))
    assert row["server CPU"].endswith("%") and row["pg+redis CPU"].endswith("%")
    assert float(row["server µs/delivery"].replace(",", "")) > 0


# --- The peer table, the idle table, the two-process rows and issue 19's targets --------------


def step(rate: float, members: int, *, passes: bool = True, us: float = 20.0, generator_bound: bool = False):
    offered = rate * members
    return {
        "label": "ladder",
        "members": members,
        "rate_msgs": rate,
        "offered_deliveries": offered,
        "deliveries_per_s": offered if passes else offered / 2,
        "p50_ms": 2.0,
        "p99_ms": 9.0 if passes else 400.0,
        "p999_ms": 12.0 if passes else 500.0,
        "max_ms": 15.0 if passes else 600.0,
        "lost": 0,
        "duplicates": 0,
        "out_of_order": 0,
        "errors": {},
        "send_lag_p99_ms": 1.0,
        "generator_cpu": 0.95 if generator_bound else 0.3,
        "server_cpu": 0.5,
        "server_us_per_delivery": us,
        "services_cpu": 0.0,
        "other_cpu": 0.01,
        "pass": passes and not generator_bound,
        "generator_bound": generator_bound,
        "noisy": False,
    }


def room(members: int, rates: list[float], fail: float | None, us: float, *, generator_bound: bool = False):
    steps = [step(r, members, us=us) for r in rates]
    reason = ""
    if fail:
        steps.append(step(fail, members, passes=False, us=us, generator_bound=generator_bound))
        reason = "generator saturated (95% CPU)" if generator_bound else "p99 400.0 ms"
    knee = rates[-1] if rates else None
    return {
        "steps": steps,
        "knee_rate_msgs": knee,
        "knee_deliveries_per_s": knee * members if knee else None,
        "first_fail_rate_msgs": fail,
        "first_fail_reason": reason,
        "at_fraction": None,
    }


def idle(requested: int, kib: float, per_s: float) -> dict:
    return {
        "requested": requested,
        "connected": requested,
        "failures": {},
        "connects_per_s": per_s,
        "rss_before_kib": 100_000,
        "rss_after_kib": 100_000 + int(kib * requested),
        "kib_per_connection": kib,
        "server_cpu_during_connect": 0.9,
        "generator_cpu_during_connect": 0.4,
        "ping_sample": 50,
        "ping_alive": 50,
    }


def sample_results() -> dict:
    """Two room sizes; baseline generator-bound at 10; Parley embedded, production in one and two
    processes; ejabberd ahead at 10, behind at 100; Synapse failing its first step at 100 and not
    run at 1,000; idle at 1,000 and 10,000 with Synapse's 10,000 not run."""
    configs = {
        "websockets-baseline": {
            "server": "baseline",
            "rooms": {
                "10": room(10, [25, 50, 100], 200, 10.0, generator_bound=True),
                "100": room(100, [2.5, 5, 10], 20, 12.0),
            },
        },
        "uvicorn-memory-sqlite": {
            "server": "uvicorn",
            "processes": 1,
            "rooms": {
                "10": room(10, [25, 50], 100, 18.0),
                "100": room(100, [2.5, 5, 10], 20, 30.0),
            },
        },
        "uvicorn-pubsub-postgres": {
            "server": "uvicorn",
            "processes": 1,
            "rooms": {
                "10": room(10, [25], 50, 40.0),
                "100": room(100, [2.5, 5], 10, 50.0),
            },
        },
        "uvicorn-pubsub-postgres-x2": {
            "server": "uvicorn",
            "processes": 2,
            "rooms": {
                "10": room(10, [25, 40], 50, 45.0),
                "100": room(100, [2.5, 5, 8], 10, 55.0),
            },
        },
        "ejabberd-muc": {
            "server": "ejabberd",
            "rooms": {
                "10": room(10, [25, 50, 100], 200, 15.0),
                "100": room(100, [2.5, 5], 10, 25.0),
            },
        },
        "synapse-sqlite": {
            "server": "synapse",
            "rooms": {
                "10": room(10, [25], 50, 3000.0),
                "100": room(100, [], 2.5, 2400.0),
            },
            "not_run": {"1000": "setting a room of 1,000 up takes too long"},
        },
    }
    return {
        "preset": "full",
        "started": "2026-12-01T18:00:00+00:00",
        "git_commit": "abc1234",
        "elapsed_min": 40.0,
        "command": "python -m bench.run full",
        "machine": {
            "nproc": 2,
            "cpu_model": "test",
            "memory_gib": 1,
            "kernel": "6",
            "loadavg_at_start": ["0", "0", "0"],
        },
        "versions": {"python": "3.11"},
        "cpus": {"server": [0], "generator": [1]},
        "settings": {"sizes": [10, 100]},
        "configs": configs,
        "idle": {
            "uvicorn-memory-sqlite": {"1000": idle(1000, 28.0, 450), "10000": idle(10000, 31.5, 430)},
            "ejabberd-muc": {"1000": idle(1000, 60.0, 400), "10000": idle(10000, 55.0, 390)},
            "synapse-sqlite": {
                "1000": idle(1000, 150.0, 186),
                "10000": {"requested": 10000, "not_run": "registering 10,000 users takes 8 minutes"},
            },
        },
        "profile": None,
    }


def rows_of(table: list[str]) -> list[dict[str, str]]:
    names = [c.strip() for c in table[0].strip().strip("|").split("|")]
    return [
        dict(zip(names, (c.strip() for c in line.strip().strip("|").split("|")), strict=True))
        for line in table[2:]
    ]


def test_the_report_leads_with_the_peer_table_every_configuration_at_every_size():
    report = markdown(sample_results())
    assert report.index("## Against the peers") < report.index("## Knees")
    for table in tables(report):
        assert all(cells(row) == cells(table[0]) for row in table[1:]), table[0]
    peer = next(t for t in tables(report) if "knee deliveries/s" in t[0] and "room |" in t[0][:8])
    rows = {(r["room"], r["configuration"].strip("*")): r for r in rows_of(peer)}
    assert len(rows) == 2 * 6  # every configuration at both sizes
    assert rows[("10", "websockets-baseline")]["knee deliveries/s"] == "≥ 1,000"
    assert rows[("10", "uvicorn-memory-sqlite")]["knee msg/s"] == "50.0"
    assert rows[("10", "uvicorn-memory-sqlite")]["server µs/delivery"] == "18.0"
    assert rows[("100", "ejabberd-muc")]["knee deliveries/s"] == "500"
    # Synapse failed its first step in the room of 100: no knee, below the first rate.
    assert rows[("100", "synapse-sqlite")]["knee msg/s"] == "< 2.5 msg/s"
    assert rows[("100", "synapse-sqlite")]["knee deliveries/s"] == "—"
    assert "**uvicorn-memory-sqlite**" in "\n".join(peer)  # Parley's rows stand out


def test_the_idle_table_has_both_counts_and_says_why_one_was_not_run():
    report = markdown(sample_results())
    table = next(t for t in tables(report) if "KiB/member at 10,000" in t[0])
    rows = {r["configuration"]: r for r in rows_of(table)}
    assert rows["uvicorn-memory-sqlite"]["KiB/member at 1,000"] == "28.0"
    assert rows["uvicorn-memory-sqlite"]["connects/s at 10,000"] == "430"
    assert rows["ejabberd-muc"]["KiB/member at 10,000"] == "55.0"
    assert rows["synapse-sqlite"]["KiB/member at 10,000"].startswith("not run: registering 10,000")


def test_the_two_process_rows_give_the_scaling_factor_against_one_process():
    report = markdown(sample_results())
    table = next(t for t in tables(report) if "scaling factor" in t[0])
    rows = {r["room"]: r for r in rows_of(table)}
    assert rows["10"]["one process deliveries/s"] == "250"
    assert rows["10"]["two processes deliveries/s"] == "400"
    assert rows["10"]["scaling factor"] == "1.60×"
    assert rows["100"]["scaling factor"] == "1.60×"
    assert "- room of 10: 400 vs 250 deliveries/s = 1.60× → **met**" in report


def test_issue_19_targets_are_each_marked_met_or_not_from_the_figures():
    lines = issue19_targets(sample_results())
    text = "\n".join(lines)
    # Room of 10: ejabberd's knee (1,000) is above Parley's (500); room of 100: Parley's 1,000 is
    # above ejabberd's 500 and Synapse's none; µs/delivery 30 vs 25 (ejabberd) is not ahead.
    ten = next(line for line in lines if line.startswith("- room of 10, uvicorn-memory-sqlite: knee"))
    assert "knee 500 deliveries/s vs ejabberd-muc 1,000 (0.5×), synapse-sqlite 250 (2×) → **not met**" in ten
    assert ten.endswith("µs/delivery 18.0 vs ejabberd-muc 15.0, synapse-sqlite 3,000.0 → **not met**")
    hundred = next(line for line in lines if line.startswith("- room of 100, uvicorn-memory-sqlite: knee"))
    assert "knee 1,000 deliveries/s vs ejabberd-muc 500 (2×), synapse-sqlite — → **met**" in hundred
    assert hundred.endswith("→ **not met**")  # 30 µs against ejabberd's 25
    # Two processes are not compared with the one-core peers.
    assert "room of 10, uvicorn-pubsub-postgres-x2" not in text
    assert "- room of 10, uvicorn-memory-sqlite: 18.0 vs 10.0 µs = 1.8× → **met**" in text
    assert "- room of 100, uvicorn-pubsub-postgres: 50.0 vs 12.0 µs = 4.2× → **not met**" in text
    assert (
        "- room of 10, uvicorn-memory-sqlite: 500 of ≥ 1,000 = 50% (the baseline generator-bound: "
        "its knee is higher, the share lower) → **met**"
    ) in text
    assert "- room of 100, uvicorn-pubsub-postgres: 500 of 1,000 = 50% → **met**" in text
    assert "- room of 10, uvicorn-pubsub-postgres: 250 of ≥ 1,000 = 25% (the baseline" in text
    assert "25% (the baseline generator-bound: its knee is higher, the share lower) → **not met**" in text
    assert "- room of 10: 250 of 500 = 50% → **not met**" in text  # pg+redis vs embedded, 80 %
    assert "- uvicorn-memory-sqlite, 1,000 of 1,000 connected: 28.0 KiB each → **met**" in text
    assert "- uvicorn-memory-sqlite, 10,000 of 10,000 connected: 31.5 KiB each → **not met**" in text
    assert "ejabberd-muc, 10,000" not in text  # the idle target is Parley's


def test_results_before_issue_19_still_render(tmp_path):
    old = sample_results()
    old["idle"] = {"uvicorn-memory-sqlite": idle(10000, 42.2, 433)}
    report = markdown(old)
    assert "| uvicorn-memory-sqlite | 42.2 | 433 |" in report
    assert "- uvicorn-memory-sqlite: 10,000 connected, 42.2 KiB each → **met**" in report


def test_the_peer_plot_is_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "peers.png"
    assert plot_peers(sample_results(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_peer_with_no_cpu_figure_does_not_decide_the_cpu_target():
    # Synapse fails its first step in a room of 100 and delivered nothing to measure: Parley's
    # 12 µs against ejabberd's 25 is ahead, whatever Synapse could not show.
    results = sample_results()
    results["configs"]["uvicorn-memory-sqlite"]["rooms"]["100"] = room(100, [2.5, 5, 10], 20, 12.0)
    results["configs"]["synapse-sqlite"]["rooms"]["100"] = room(100, [], 2.5, None)
    hundred = next(
        line
        for line in issue19_targets(results)
        if line.startswith("- room of 100, uvicorn-memory-sqlite: knee")
    )
    assert hundred.endswith(
        "µs/delivery 12.0 vs ejabberd-muc 25.0, synapse-sqlite — (no passing step) → **met**"
    ), hundred
