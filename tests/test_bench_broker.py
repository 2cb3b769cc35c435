"""bench/broker_latency.py in a tiny mode against a real worker on the filesystem broker (its own
SQLite file in a temporary directory): every phase's tasks ran exactly once (or, if the worker
exited on its own and was started again, none twice and no more lost than it held), the figures are
there and plausible, and the SIGKILLed worker's task is reported for what the filesystem
transport does with it (gone with the worker; the database's sweep finds the work again)."""

import json

import pytest

from bench import broker_latency

pytestmark = pytest.mark.timeout(60)

TASKS, BURST = 20, 20


def test_tiny_run_on_the_filesystem_broker_runs_every_task_once(tmp_path):
    broker_latency.main(
        [
            *("--brokers", "filesystem-0.1", "--rounds", "1", "--no-baseline"),
            *("--tasks", str(TASKS), "--gap", "0.03", "--burst", str(BURST), "--burst-timeout", "20"),
            *(
                "--idle-seconds",
                "1",
                "--write-rate",
                "10",
                "--write-seconds",
                "1.5",
                "--redelivery-wait",
                "1",
            ),
            *("--out", str(tmp_path)),
        ]
    )
    results = json.loads((tmp_path / "results.json").read_text())
    [run] = results["runs"]
    assert run["broker"] == "filesystem-0.1"
    # A worker that exits on its own (celery/kombu#1551: it read a message file before its sender
    # wrote it) loses that message and the ones it held (2 processes, prefetch 1); the benchmark
    # starts it again and counts the exit. Nothing runs twice, whatever happens.
    lost_at_most = 3 * len(run["crashes"])
    expected = {"latency": TASKS, "throughput": BURST, "writes": run["writes"]["sent"]}
    for phase, sent in expected.items():
        assert sent > 0, phase
        assert run[phase]["sent"] == sent and run[phase]["duplicates"] == 0, phase
        assert run[phase]["missing"] <= lost_at_most, (phase, run["crashes"])
        assert run[phase]["ran_once"] == sent - run[phase]["missing"], phase
    latency = run["latency"]["ms"]
    assert (
        latency["n"] == TASKS - run["latency"]["missing"]
        and 0 < latency["p50"] <= latency["p95"] <= latency["max"] < 5000
    )
    assert run["throughput"]["tasks_per_s"] > 0
    assert 0 <= run["idle_cpu"]["share_of_core"] < 0.5 and run["idle_cpu"]["processes"] >= 2
    # 10 writes a second for 1.5 s, none failed.
    assert run["writes"]["write_ms"]["n"] == 15 and run["writes"]["write_errors"] == []
    # The filesystem transport deleted the message when it handed it to the worker: it is lost.
    assert run["sigkill"]["starts"] == 1 and run["sigkill"]["outcome"].startswith("not redelivered")
    assert run["sigkill"]["worker_runs_new_tasks_after"] is True
    summary = results["summary"]["filesystem-0.1"]
    assert summary["not_once"] <= 3 * lost_at_most and summary["runs"] == 1
    assert "| filesystem-0.1 |" in (tmp_path / "results.md").read_text()
