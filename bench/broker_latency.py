"""The task broker, measured: each broker kombu offers Parley side by side, with a real worker.

    python -m bench.broker_latency                           # every broker, 3 rounds, bench/results/broker/
    python -m bench.broker_latency --brokers filesystem-0.1,redis --rounds 1 --tasks 100 --out /tmp/b

For each broker (BROKERS) a throwaway SQLite database is migrated in a temporary directory and a
real worker (tests/worker.py's `WorkerProcess`: `celery -A config worker`, concurrency 2, no
beat, plus ``--include bench.broker_tasks``) runs against it. This process sends the tasks and
measures, in this order:

- latency: `--tasks` tasks sent one at a time with a random gap around `--gap` seconds (random,
  so that the sends do not keep step with a polling interval); enqueue → task start.
- throughput: `--burst` tasks sent at once; from the first send until the last one started.
- idle CPU: the worker's processes' CPU time over `--idle-seconds` with nothing to do.
- app writes: a Django process (bench/broker_tasks.py's `write_steadily`) stores messages through
  `post_message` at `--write-rate` a second while tasks are sent at the same rate; the writes'
  latency, and the tasks'. The "none" run is the same writer with no worker and no broker: what a
  write costs without a broker beside it.
- SIGKILL: a task that holds its worker process; once it started the worker's process group is
  SIGKILLed and the worker started again; whether the task runs again within `--redelivery-wait`
  seconds.

Every task writes one line when it starts (bench/broker_tasks.py); a phase's figures count the
tasks that started twice or never. Rounds run the brokers in turn (round 1: all, round 2: all ...),
so that other processes' load on a shared machine falls on all of them; each run notes the other
processes' CPU and the load average. Results: results.json (every figure, every run) and
results.md (medians over the rounds) in --out.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis as redis_client
from celery import Celery

from bench.loadgen import machine_busy_seconds
from bench.procs import proc_cpu_seconds
from tests.harness import BASE_DIR, call_in_server_env
from tests.servers import start_redis
from tests.worker import WorkerProcess, broker_of

PHASE_TIMEOUT_S = 20.0
# Task numbers by phase: one log holds them all.
WARMUP, LATENCY, BURST, WRITES, HELD = -1000, 0, 100_000, 200_000, 900_000


@dataclass(frozen=True)
class Broker:
    name: str
    what: str
    # The worker's broker URL; "{dir}" is the run's directory, "{redis}" the private Redis.
    url: str
    # Celery settings the worker runs with instead of config/settings.py's (bench/broker_tasks.py).
    conf: dict | None = None
    polling_interval: float | None = None
    # How often an idle worker looks for a task (0: the broker pushes); the latency phase's gap
    # is at least this, so that the tasks measure the wake-up, not a queue behind it.
    polls_every: float = 0.0
    # More of the worker's command line (what a setting read before the module loads needs).
    worker_args: tuple[str, ...] = ()


# kombu 5.7's SQLAlchemy transport hands every transport option to SQLAlchemy's create_engine(),
# which refuses the ones it does not know: neither config/settings.py's visibility_timeout nor a
# polling_interval can be given, so it polls at kombu's default, 1.0 s. Remote control off as on
# the filesystem broker (a second queue to poll).
SQLA_CONF = {"broker_transport_options": {}, "worker_enable_remote_control": False}

BROKERS = {
    broker.name: broker
    for broker in [
        Broker(
            "filesystem-0.1", "kombu filesystem, polling 0.1 s (Parley's embedded default)", "filesystem://"
        ),
        Broker(
            "filesystem-1.0",
            "kombu filesystem, polling 1.0 s (kombu's default)",
            "filesystem://",
            polling_interval=1.0,
            polls_every=1.0,
        ),
        Broker(
            "sqla-separate",
            "kombu SQLAlchemy, its own SQLite file, polling 1.0 s",
            "sqla+sqlite:///{dir}/broker.sqlite3",
            conf=SQLA_CONF,
            polls_every=1.0,
        ),
        Broker(
            "sqla-same-file",
            "kombu SQLAlchemy on the app's SQLite file, polling 1.0 s",
            "sqla+sqlite:///{dir}/app.sqlite3",
            conf=SQLA_CONF,
            polls_every=1.0,
        ),
        Broker(
            "filesystem-0.1-prefetch8",
            "kombu filesystem, polling 0.1 s, worker_prefetch_multiplier 8 (Parley: 1)",
            "filesystem://",
            worker_args=("--prefetch-multiplier", "8"),
            polls_every=0.1,
        ),
        Broker("redis", "Redis (production), a private redis-server", "{redis}"),
        Broker(
            "redis-vt5",
            "Redis, visibility_timeout 5 s and a restore scan each second (Parley: 3600 s, kombu's"
            " scan each 10 s x 10): kombu's redelivery of a lost task, shown",
            "{redis}",
            conf={
                "broker_transport_options": {
                    "visibility_timeout": 5,
                    "unacked_restore_interval": 1,
                    "unacked_restore_throttle": 1,
                }
            },
        ),
    ]
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def stats_ms(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(values),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
    }


def group_pids(pgid: int) -> list[int]:
    """The processes of a process group (the worker: its main process and its pool)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    pids.append(int(entry.name))
    return pids


class TaskLog:
    """The lines the tasks wrote: {n: [start times]}, read again as it grows."""

    def __init__(self, path: Path):
        self.path = path
        self.path.touch()

    def starts(self) -> dict[int, list[float]]:
        seen: dict[int, list[float]] = {}
        for line in self.path.read_text().splitlines():
            n, what, at, _pid = line.split()
            if what == "start":
                seen.setdefault(int(n), []).append(float(at))
        return seen

    def wait_for(self, numbers: list[int], timeout: float = PHASE_TIMEOUT_S) -> dict[int, list[float]]:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.starts()
            if all(n in seen for n in numbers) or time.monotonic() > deadline:
                return seen
            time.sleep(0.02)


def counted(numbers: list[int], seen: dict[int, list[float]]) -> dict:
    return {
        "sent": len(numbers),
        "ran_once": sum(len(seen.get(n, [])) == 1 for n in numbers),
        "missing": sum(n not in seen for n in numbers),
        "duplicates": sum(len(seen.get(n, [])) > 1 for n in numbers),
    }


class Run:
    """One broker, once: its directory, database, worker and sending side."""

    def __init__(self, broker: Broker, directory: Path, template_db: Path, redis_url: str | None, args):
        self.broker, self.directory, self.args = broker, directory, args
        directory.mkdir(parents=True)
        self.db = directory / "app.sqlite3"
        copy_database(template_db, self.db)
        url = broker.url.format(dir=directory, redis=redis_url or "")
        self.env = base_env(self.db, directory / "jobs")
        self.env["CELERY_BROKER_URL"] = url
        send_url, send_options = broker_of(self.env)
        conf = dict(broker.conf or {})
        if broker.polling_interval is not None:
            conf["broker_transport_options"] = {
                **(send_options if url.startswith("filesystem://") else {}),
                "polling_interval": broker.polling_interval,
            }
        if url.startswith("sqla"):
            send_options = {}  # kombu hands these to SQLAlchemy's create_engine
        if conf:
            self.env["BENCH_BROKER_CONF"] = json.dumps(conf)
        self.tasks = TaskLog(directory / "tasks.log")
        self.env["BENCH_BROKER_LOG"] = str(self.tasks.path)
        for option in ("data_folder_in", "processed_folder", "control_folder"):
            if option in send_options:
                Path(send_options[option]).mkdir(parents=True, exist_ok=True)
        self.sender = Celery("bench-broker", broker=send_url, set_as_current=False)
        self.sender.conf.broker_transport_options = send_options
        self.sender.conf.task_ignore_result = True
        self.worker = WorkerProcess(self.env, directory / "worker.log", beat=False, concurrency=2)
        self.worker.command += ["--include", "bench.broker_tasks", *broker.worker_args]
        # A worker that exits on its own is started again at once (as systemd's Restart=always
        # would), and the exit is counted: kombu's filesystem transport can read a message file
        # its sender has created but not yet written, and the worker ends on the empty JSON
        # (celery/kombu#1551).
        self.crashes: list[dict] = []
        self.phase = "start"
        self.supervising = threading.Lock()
        self.watching = threading.Event()

    def watch(self) -> None:
        while self.watching.is_set():
            with self.supervising:
                process = self.worker.process
                if process is not None and process.poll() is not None:
                    self.crashes.append(
                        {
                            "phase": self.phase,
                            "at": time.time(),
                            "exit": process.returncode,
                            "error": self.last_error(),
                        }
                    )
                    log(f"  the worker exited ({self.crashes[-1]['error']}); starting it again")
                    self.worker.process = None
                    self.worker.start(timeout=60)
            time.sleep(0.05)

    def last_error(self) -> str:
        current = self.worker.log_path.read_text(errors="replace").rpartition(
            f"--- start #{self.worker.starts}:"
        )[2]
        errors = [line for line in current.splitlines() if "Unrecoverable error" in line]
        return errors[-1].split("Unrecoverable error: ", 1)[-1] if errors else "no error logged"

    def send(self, name: str, *args) -> float:
        at = time.time()
        self.sender.send_task(name, args=args)
        return at

    def measure(self) -> dict:
        args = self.args
        busy0, own0, wall0 = machine_busy_seconds(), os.times(), time.monotonic()
        self.worker.start(timeout=60)
        result: dict = {"broker": self.broker.name, "loadavg_before": os.getloadavg()}
        self.watching.set()
        watcher = threading.Thread(target=self.watch, daemon=True)
        watcher.start()
        try:
            warm = [WARMUP + n for n in range(5)]
            for n in warm:
                self.send("bench.broker.started", n)
            if counted(warm, self.tasks.wait_for(warm))["missing"]:
                raise RuntimeError(
                    f"{self.broker.name}: the warm-up tasks did not run.\n{self.worker.tail()}"
                )
            self.phase = "latency"
            gap = max(args.gap, self.broker.polls_every)
            tasks = max(1, min(args.tasks, int(args.latency_seconds / gap)))
            result["latency"] = self.latency(tasks, gap)
            log(f"  latency {result['latency']['ms']}")
            self.phase = "throughput"
            result["throughput"] = self.throughput(args.burst)
            log(f"  throughput {result['throughput']}")
            time.sleep(2)
            self.phase = "idle_cpu"
            result["idle_cpu"] = self.idle_cpu(args.idle_seconds)
            log(f"  idle CPU {result['idle_cpu']}")
            self.phase = "writes"
            result["writes"] = self.writes(args.write_rate, args.write_seconds)
            log(f"  app writes {result['writes']['write_ms']}, tasks meanwhile {result['writes']['task_ms']}")
            self.phase = "sigkill"
            result["sigkill"] = self.sigkill(args.redelivery_wait)
            log(f"  SIGKILL {result['sigkill']}")
        finally:
            self.watching.clear()
            watcher.join()
            self.worker.stop()
            result["crashes"] = self.crashes
            result["others_cpu"] = others_cpu(busy0, own0, wall0)
            result["loadavg_after"] = os.getloadavg()
            self.sender.close()
        return result

    def latency(self, tasks: int, gap: float) -> dict:
        numbers = [LATENCY + n for n in range(tasks)]
        sent = {}
        for n in numbers:
            sent[n] = self.send("bench.broker.started", n)
            time.sleep(random.uniform(0.5 * gap, 1.5 * gap))
        seen = self.tasks.wait_for(numbers)
        values = [(seen[n][0] - sent[n]) * 1000 for n in numbers if n in seen]
        return {
            "gap_s": gap,
            "ms": stats_ms(values),
            "raw_ms": [round(v, 2) for v in values],
            **counted(numbers, seen),
        }

    def throughput(self, burst: int) -> dict:
        numbers = [BURST + n for n in range(burst)]
        first = time.time()
        for n in numbers:
            self.sender.send_task("bench.broker.started", args=(n,))
        sent_s = time.time() - first
        seen = self.tasks.wait_for(numbers, timeout=self.args.burst_timeout)
        done = [seen[n][0] for n in numbers if n in seen]
        total = (max(done) - first) if done else None
        purged = self.purge() if len(done) < burst else 0
        return {
            "send_s": round(sent_s, 3),
            "all_ran_s": round(total, 3) if total and len(done) == burst else None,
            # Within --burst-timeout: the tasks that ran by then, over the time the last of them started.
            "tasks_per_s": round(len(done) / total, 1) if total else None,
            "purged": purged,
            **counted(numbers, seen),
        }

    def purge(self) -> int:
        """Drop what is still queued (it would run into the next phase): how many there were."""
        with self.sender.connection_for_write() as connection:
            purged = connection.default_channel.queue_purge("celery") or 0
        time.sleep(2)  # what the worker already holds
        return purged

    def idle_cpu(self, seconds: float) -> dict:
        pids = group_pids(self.worker.pid)
        before = proc_cpu_seconds(pids)
        time.sleep(seconds)
        used = proc_cpu_seconds(pids) - before
        return {
            "seconds": seconds,
            "cpu_s": round(used, 3),
            "share_of_core": round(used / seconds, 4),
            "processes": len(pids),
        }

    def writes(self, rate: float, seconds: float) -> dict:
        result = app_writes(
            self.env,
            rate,
            seconds,
            send=lambda n: self.send("bench.broker.started", n),
            task_rate=self.args.write_task_rate,
            tasks=self.tasks,
        )
        result["purged"] = self.purge() if result["missing"] else 0
        return result

    def sigkill(self, wait: float) -> dict:
        n = HELD
        self.send("bench.broker.hold", n, 30.0)
        seen = self.tasks.wait_for([n], timeout=20)
        if n not in seen:
            return {"outcome": "the held task never started"}
        with self.supervising:
            self.worker.kill()
            killed_at = time.time()
            self.worker.start(timeout=60)
        restarted_s = time.time() - killed_at
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and len(self.tasks.starts().get(n, [])) < 2:
            time.sleep(0.05)
        starts = self.tasks.starts().get(n, [])
        probe = [HELD + 1]
        self.send("bench.broker.started", HELD + 1)
        alive = not counted(probe, self.tasks.wait_for(probe, timeout=20))["missing"]
        if len(starts) >= 2:
            outcome = f"redelivered {starts[1] - killed_at:.1f} s after the kill"
        else:
            outcome = f"not redelivered within {wait:.0f} s of the restart"
        return {
            "outcome": outcome,
            "starts": len(starts),
            "restart_s": round(restarted_s, 2),
            "worker_runs_new_tasks_after": alive,
        }


def app_writes(
    env: dict, rate: float, seconds: float, *, send=None, task_rate: float = 1.0, tasks: TaskLog | None = None
) -> dict:
    """The writer in its own process; meanwhile (with `send`) tasks at `task_rate` a second."""
    outcome: dict = {}

    def write() -> None:
        outcome.update(
            call_in_server_env(env, "bench.broker_tasks:write_steadily", rate=rate, seconds=seconds)
        )

    writer = threading.Thread(target=write)
    writer.start()
    sent = {}
    n = WRITES
    while writer.is_alive():
        if send is not None:
            sent[n] = send(n)
            n += 1
        time.sleep(1 / task_rate)
    writer.join()
    result = {
        "write_ms": stats_ms(outcome.get("latencies_ms", [])),
        "write_errors": outcome.get("errors", []),
    }
    result["raw_write_ms"] = [round(v, 2) for v in outcome.get("latencies_ms", [])]
    if send is not None and tasks is not None:
        seen = tasks.wait_for(list(sent))
        result["task_ms"] = stats_ms([(seen[n][0] - at) * 1000 for n, at in sent.items() if n in seen])
        result.update(counted(list(sent), seen))
    return result


def others_cpu(busy0: float, own0: os.times_result, wall0: float) -> float:
    """Other processes' CPU over the run, as a share of one core: the machine's busy time less
    this process's and its children's (the writer, the worker; not the pool processes of the
    SIGKILLed worker, idle then)."""
    now = os.times()
    own = (now.user + now.system + now.children_user + now.children_system) - (
        own0.user + own0.system + own0.children_user + own0.children_system
    )
    wall = time.monotonic() - wall0
    return round(max(0.0, machine_busy_seconds() - busy0 - own) / wall, 3)


def base_env(db: Path, jobs_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str(db),
            "PARLEY_JOBS_DIR": str(jobs_dir),
            "LOG_LEVEL": "WARNING",
            "DEBUG": "1",
        }
    )
    return env


def migrated_database(directory: Path) -> Path:
    db = directory / "template.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=BASE_DIR,
        env=base_env(db, directory / "template-jobs"),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return db


def copy_database(source: Path, target: Path) -> None:
    """A clean copy, in WAL mode as the app's file always is once the app opened it."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")


def summarise(runs: list[dict]) -> dict:
    def median(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 2) if values else None

    by_broker: dict[str, list[dict]] = {}
    for run in runs:
        by_broker.setdefault(run["broker"], []).append(run)
    summary = {}
    for name, mine in by_broker.items():
        if name == "none":
            summary[name] = {
                "runs": len(mine),
                "write_p50_ms": median([r["writes"]["write_ms"].get("p50") for r in mine]),
                "write_p95_ms": median([r["writes"]["write_ms"].get("p95") for r in mine]),
                "write_max_ms": max(r["writes"]["write_ms"].get("max", 0) for r in mine),
                "write_errors": sum(len(r["writes"]["write_errors"]) for r in mine),
            }
            continue
        summary[name] = {
            "runs": len(mine),
            "latency_p50_ms": median([r["latency"]["ms"]["p50"] for r in mine]),
            "latency_p95_ms": median([r["latency"]["ms"]["p95"] for r in mine]),
            "latency_max_ms": max(r["latency"]["ms"]["max"] for r in mine),
            "tasks_per_s": median([r["throughput"]["tasks_per_s"] for r in mine]),
            "burst_all_ran_s": median([r["throughput"]["all_ran_s"] for r in mine]),
            "idle_cpu_share": median([r["idle_cpu"]["share_of_core"] for r in mine]),
            "write_p50_ms": median([r["writes"]["write_ms"].get("p50") for r in mine]),
            "write_p95_ms": median([r["writes"]["write_ms"].get("p95") for r in mine]),
            "write_max_ms": max(r["writes"]["write_ms"].get("max", 0) for r in mine),
            "write_errors": sum(len(r["writes"]["write_errors"]) for r in mine),
            "task_under_writes_p95_ms": median([r["writes"]["task_ms"].get("p95") for r in mine]),
            # Tasks still queued when a phase's wait ended are purged, not lost: not counted.
            "not_once": sum(
                r[phase]["duplicates"] + r[phase]["missing"] - r[phase].get("purged", 0)
                for r in mine
                for phase in ("latency", "throughput", "writes")
            ),
            "burst_ran": [f"{r['throughput']['ran_once']}/{r['throughput']['sent']}" for r in mine],
            "sigkill": sorted({r["sigkill"]["outcome"] for r in mine}),
            "crashes": [len(r["crashes"]) for r in mine],
            "crash_errors": sorted({c["error"] for r in mine for c in r["crashes"]}),
            "others_cpu": [r["others_cpu"] for r in mine],
        }
    return summary


def markdown(results: dict) -> str:
    s = results["summary"]
    lines = [
        "# The task broker: enqueue → start, throughput, idle CPU, SIGKILL, app writes beside it",
        "",
        f"{results['date']}, git {results['git']}, {results['machine']['cpus']} CPUs "
        f"({results['machine']['cpu_model']}), Python {results['machine']['python']}; "
        f"{results['args']['rounds']} round(s); medians over the rounds (max: the largest seen). "
        "Other processes' CPU per run (share of a core): "
        + "; ".join(f"{name} {v.get('others_cpu')}" for name, v in s.items() if "others_cpu" in v)
        + ".",
        "",
        "| broker | latency p50 / p95 / max ms | burst tasks/s | idle CPU % of a core | "
        "app write p50 / p95 / max ms | task p95 under writes ms | not run exactly once | "
        "worker exits per run | SIGKILLed task |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, v in s.items():
        writes = f"{v['write_p50_ms']} / {v['write_p95_ms']} / {v['write_max_ms']}"
        if v.get("write_errors"):
            writes += f" ({v['write_errors']} failed)"
        if name == "none":
            lines.append(f"| no broker (writer alone) | | | | {writes} | | | | |")
            continue
        burst = f"{v['tasks_per_s']}"
        if any(not ran.startswith(ran.split("/")[1] + "/") for ran in v["burst_ran"]):
            burst += f" (ran {', '.join(v['burst_ran'])} in {results['args']['burst_timeout']:.0f} s)"
        lines.append(
            f"| {name} | {v['latency_p50_ms']} / {v['latency_p95_ms']} / {v['latency_max_ms']} | "
            f"{burst} | {100 * v['idle_cpu_share']:.1f} | {writes} | "
            f"{v['task_under_writes_p95_ms']} | {v['not_once']} | {', '.join(map(str, v['crashes']))} | "
            f"{'; '.join(v['sigkill'])} |"
        )
    for name, v in s.items():
        if v.get("crash_errors"):
            lines.append(f"\n{name}: the worker exited on its own with {'; '.join(v['crash_errors'])}.")
    return "\n".join(lines) + "\n"


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def git_rev() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--brokers", default=",".join(BROKERS), help=f"comma-separated, of {', '.join(BROKERS)}"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=300, help="latency: tasks sent one at a time")
    parser.add_argument(
        "--gap",
        type=float,
        default=0.1,
        help="latency: mean seconds between sends (at least the polling interval)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=30.0, help="latency: fewer tasks if they'd take longer"
    )
    parser.add_argument("--burst", type=int, default=1000, help="throughput: tasks sent at once")
    parser.add_argument("--burst-timeout", type=float, default=45.0, help="throughput: seconds it may take")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--write-rate", type=float, default=20.0, help="app writes (and tasks) a second")
    parser.add_argument(
        "--write-task-rate", type=float, default=5.0, help="tasks a second beside the app's writes"
    )
    parser.add_argument("--write-seconds", type=float, default=10.0)
    parser.add_argument("--redelivery-wait", type=float, default=15.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the writer without a broker")
    parser.add_argument("--out", type=Path, default=BASE_DIR / "bench" / "results" / "broker")
    args = parser.parse_args(argv)
    args.brokers = [name.strip() for name in args.brokers.split(",") if name.strip()]
    unknown = set(args.brokers) - set(BROKERS)
    if unknown:
        parser.error(f"unknown brokers: {', '.join(sorted(unknown))} (of {', '.join(BROKERS)})")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="parley-broker-bench-"))
    needs_redis = any("{redis}" in BROKERS[name].url for name in args.brokers)
    redis = start_redis(workdir / "redis") if needs_redis else None
    runs = []
    try:
        template = migrated_database(workdir)
        for round_no in range(1, args.rounds + 1):
            if not args.no_baseline:
                log(f"round {round_no}: the writer alone")
                directory = workdir / f"none-{round_no}"
                directory.mkdir()
                copy_database(template, directory / "app.sqlite3")
                env = base_env(directory / "app.sqlite3", directory / "jobs")
                runs.append(
                    {
                        "broker": "none",
                        "round": round_no,
                        "writes": app_writes(env, args.write_rate, args.write_seconds),
                    }
                )
            for name in args.brokers:
                log(f"round {round_no}: {name}")
                if redis is not None:
                    # What an earlier run's SIGKILLed worker left unacknowledged would come back here.
                    redis_client.from_url(redis.url).flushall()
                run = Run(
                    BROKERS[name],
                    workdir / f"{name}-{round_no}",
                    template,
                    redis.url if redis else None,
                    args,
                )
                runs.append({"round": round_no, **run.measure()})
    finally:
        if redis is not None:
            redis.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git_rev(),
        "machine": machine(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "brokers": {name: BROKERS[name].what for name in args.brokers},
        "seconds": round(time.monotonic() - started, 1),
        "summary": summarise(runs),
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(results))
    log(f"done in {results['seconds']} s: {args.out / 'results.md'}")
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
