"""Parley's delivery benchmark: every configuration side by side with a minimal websockets server.

    python -m bench.run quick                  # make bench-quick: a smoke check, < 3 minutes
    python -m bench.run full                   # make bench: the whole matrix
    python -m bench.run full --configs daphne-memory-sqlite,websockets-baseline --sizes 10,100 ...
    python -m bench.run full --configs uvicorn-memory-sqlite --sizes 100 --thread-share 0,0.5 ...

For each configuration (see CONFIGS) a server process is started on the server cores, and this
process, pinned to the other cores, is the load generator (bench/loadgen.py): for each room size
it connects the room's members and climbs a ladder of rates until p99 passes 100 ms or anything
is lost (the knee), then measures at 80 % of the knee. A fresh server process then takes
10,000 idle connections for the memory-per-connection figure. PostgreSQL and Redis are
throwaway servers from tests/servers.py, pinned to the server cores too (they are part of the
system under test). Results: results.json, results.md and latency.png in --out; with `full`,
also a py-spy profile of the in-memory configuration under load (profile.svg, profile.md).

`--thread-share 0,0.5` runs each (Parley) configuration once per share: in the second, half the
messages are thread replies (bench/loadgen.py), and its results are the configuration's name
with " threads-0.5" after it, beside the plain run's.

`--awareness on,off` runs each Parley configuration once per mode (issue 13): "on", the server
with presence, typing and read receipts on (PARLEY_PRESENCE, PARLEY_TYPING, PARLEY_READ_RECEIPTS
= 1) and the members behaving as browsers do with them (loadgen.BROWSER_DOES: presence.set,
typing.start before each message, room.read once a second); "off", all three off at the server
(= 0) and the members silent, as in every run before; "reads", off at the server but the members
still sending the room.read a browser sends with awareness off; "noreads", on at the server and
the members sending all but the room.reads (presence and typing alone). Its results are the
configuration's name with " awareness-on" (…) after it. The baseline and the peers have no
awareness: they run once. `--wait-quiet SECONDS` waits (up to that long) before each
configuration for other people's processes to leave the machine quiet (bench/quiet.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import importlib.metadata
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench import loadgen, procs, quiet, report

BASE_DIR = procs.BASE_DIR
RESULTS = BASE_DIR / "bench" / "results"


@dataclass(frozen=True)
class Config:
    name: str
    server: str  # daphne | uvicorn | baseline
    database: str | None = None  # sqlite | postgres
    layer: str | None = None  # memory | pubsub | core
    note: str = ""
    # Server processes, each pinned to a core of its own (the members dealt round robin over them);
    # more than one only with a layer that reaches across processes (Redis).
    processes: int = 1
    # The most idle connections measured (None: all of --idle); above it, a "not run" row with why.
    idle_max: int | None = None
    idle_max_reason: str = ""


# Measured once (18:05 UTC 2026-12-01, a shared machine): 10,000 Synapse users registered through
# the shared-secret admin API and joined to rooms of 100 in 268 s (the one server core is the
# limit, not the client), then connected in 215 s (46 connects/s: each new /sync slower as more
# long-poll): 42.5 KiB per member. 8 minutes of a 45-minute matrix; 1,000 take 30 s.
SYNAPSE_IDLE_REASON = (
    "setting up and connecting 10,000 Synapse members takes about 8 minutes on its core "
    "(registration and joins 268 s, connecting 215 s at 46/s, measured once: 42.5 KiB/member)"
)

CONFIGS = {
    c.name: c
    for c in (
        Config("websockets-baseline", "baseline", note="websockets.broadcast, no Django/database/layer"),
        Config("daphne-memory-sqlite", "daphne", "sqlite", "memory", "embedded default, daphne (runserver)"),
        Config("uvicorn-memory-sqlite", "uvicorn", "sqlite", "memory", "the embedded default (make run)"),
        Config("daphne-pubsub-sqlite", "daphne", "sqlite", "pubsub"),
        Config("daphne-core-sqlite", "daphne", "sqlite", "core"),
        Config("daphne-pubsub-postgres", "daphne", "postgres", "pubsub", "the production shape"),
        Config("uvicorn-pubsub-postgres", "uvicorn", "postgres", "pubsub", "the production shape"),
        Config(
            "uvicorn-pubsub-postgres-x2",
            "uvicorn",
            "postgres",
            "pubsub",
            "two uvicorn processes, one per core, the room's members split between them",
            processes=2,
        ),
        # The servers a team would run instead (bench/peers/), through their own protocols.
        Config(
            "synapse-sqlite",
            "synapse",
            "sqlite",
            note="Matrix Synapse, client-server API, /sync long-poll",
            idle_max=1000,
            idle_max_reason=SYNAPSE_IDLE_REASON,
        ),
        Config("synapse-postgres", "synapse", "postgres", note="Matrix Synapse on a PostgreSQL of its own"),
        Config("ejabberd-muc", "ejabberd", note="ejabberd (Erlang), XMPP MUC over WebSocket"),
        Config(
            "ejabberd-muc-mam",
            "ejabberd",
            "mnesia",
            note="ejabberd-muc with its message archive on (mod_mam in Mnesia: every message stored)",
        ),
        Config(
            "ejabberd-muc-mam-sqlite",
            "ejabberd",
            "sqlite",
            note="ejabberd-muc-mam with the archive in SQLite (mod_mam db_type sql, erlang-p1-sqlite3)",
        ),
    )
}
PEER_SERVERS = {"synapse", "ejabberd"}
IDLE_ROOM_SIZE = 100  # idle members are in rooms of this size (bench/setup_db.py: Parley's too)

# Offered deliveries per second (messages/s x members), doubling; each room starts at >= 1 msg/s.
DELIVERY_LADDER = [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000]

# The full matrix: the bare-socket limit, Parley in its two shapes (embedded; production, in one
# process and in two), and the two peers. The daphne configurations and synapse-postgres are left
# out of it (still runnable with --configs): daphne is only what `manage.py runserver` serves and
# ran at 1.3-2x uvicorn's CPU per delivery with the same application; the Redis core layer and
# daphne on PostgreSQL taught nothing the uvicorn rows do not; synapse-postgres sets up a
# PostgreSQL of its own for a peer three orders of magnitude behind on SQLite already.
FULL_CONFIGS = [
    "websockets-baseline",
    "uvicorn-memory-sqlite",
    "uvicorn-pubsub-postgres",
    "uvicorn-pubsub-postgres-x2",
    "ejabberd-muc",
    "synapse-sqlite",
]

PRESETS = {
    "full": {
        "configs": FULL_CONFIGS,
        "sizes": [10, 100, 1000],
        "duration": 5.0,
        "drain": 3.0,
        "recover": 6.0,
        "refine": 2,
        "knee_fraction": 0.8,
        "rates": None,
        "idle": [1000, 10000],
        "idle_configs": [
            "websockets-baseline",
            "uvicorn-memory-sqlite",
            "uvicorn-pubsub-postgres",
            "ejabberd-muc",
            "synapse-sqlite",
        ],
        "profile": True,
        # Issue 19's two problems: the small room's per-message cost, the large room's fan-out.
        "profile_config": "uvicorn-memory-sqlite",
        "profile_sizes": [10, 1000],
        "out": RESULTS,
    },
    "quick": {
        # One peer at the same rates (installed by bench/peers/ejabberd.py when missing).
        "configs": ["websockets-baseline", "uvicorn-memory-sqlite", "ejabberd-muc"],
        "sizes": [10],
        "duration": 3.0,
        "drain": 3.0,
        "recover": 5.0,
        "refine": 0,
        "knee_fraction": None,
        "rates": [50.0, 200.0],
        "idle": [300],
        "idle_configs": ["websockets-baseline", "uvicorn-memory-sqlite"],
        "profile": False,
        "profile_config": "uvicorn-memory-sqlite",
        "profile_sizes": [100],
        "out": RESULTS / "quick",
    },
}


def log(text: str) -> None:
    print(text, flush=True)


def cpu_sets(args) -> tuple[set[int] | None, set[int] | None]:
    available = sorted(os.sched_getaffinity(0))
    if args.server_cpus and args.generator_cpus:
        return {int(c) for c in args.server_cpus.split(",")}, {int(c) for c in args.generator_cpus.split(",")}
    if len(available) < 2:
        log("! fewer than 2 cores: server and generator share one; figures are not meaningful")
        return None, None
    half = len(available) // 2
    return set(available[:half]), set(available[half:])


def versions() -> dict:
    packages = ["Django", "channels", "channels-redis", "daphne", "Twisted", "autobahn", "uvicorn", "uvloop"]
    packages += ["websockets", "redis", "hiredis", "psycopg", "orjson"]
    found = {}
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    found["python"] = platform.python_version()
    return found


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem_kib = int(
        next(
            line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
        ).split()[1]
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def tool_version(cmd: list[str]) -> str:
    try:
        return (
            subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
            .stdout.strip()
            .splitlines()[0]
        )
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


class Backends:
    """Databases prepared once (users, rooms, sessions) and Redis servers, all on the server cores."""

    def __init__(self, workdir: Path, server_cpus: set[int] | None, sizes: list[int], idle: int):
        self.workdir = workdir
        self.server_cpus = server_cpus
        self.sizes = sizes
        self.idle = idle
        self.sqlite_template: Path | None = None
        self.sqlite_setup: dict | None = None
        self.postgres = None
        self.postgres_setup: dict | None = None

    def _setup(self, env: dict, name: str) -> dict:
        started = time.monotonic()
        procs.manage(env, "migrate", "--noinput")
        out = self.workdir / f"setup-{name}.json"
        rooms = ",".join(str(s) for s in self.sizes)
        procs.manage(
            env,
            "-m",
            "bench.setup_db",
            "--rooms",
            rooms,
            "--idle",
            str(self.idle + 1 if self.idle else 0),
            "--out",
            str(out),
        )
        log(f"  {name}: migrated and set up in {time.monotonic() - started:.1f}s")
        return json.loads(out.read_text())

    def sqlite(self, name: str) -> tuple[dict, Path]:
        """A fresh copy of the prepared SQLite database, for one configuration."""
        if self.sqlite_template is None:
            self.sqlite_template = self.workdir / "template.sqlite3"
            env = procs.parley_env(
                database_url=None, sqlite_path=self.sqlite_template, redis_url=None, layer=""
            )
            self.sqlite_setup = self._setup(env, "sqlite")
        path = self.workdir / f"{name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.sqlite_template, path)
        return self.sqlite_setup, path

    def postgres_url(self) -> tuple[dict, str]:
        if self.postgres is None:
            from tests.servers import start_postgres

            with procs.affinity(self.server_cpus):
                self.postgres = start_postgres(durable=True)  # commits reach the disk, as deployed
            env = procs.parley_env(database_url=self.postgres.url, sqlite_path=None, redis_url=None, layer="")
            self.postgres_setup = self._setup(env, "postgres")
        return self.postgres_setup, self.postgres.url

    def postgres_pids(self) -> list[int]:
        if self.postgres is None:
            return []
        try:
            pid = int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError):
            return []
        return procs.children_of(pid)

    def redis(self, cpus: set[int] | None = None):
        from tests.servers import start_redis

        with procs.affinity(cpus or self.server_cpus):
            return start_redis()

    def close(self) -> None:
        if self.postgres is not None:
            self.postgres.close()


def process_cpus(config: Config, server_cpus: set[int] | None, all_cpus: list[int]) -> list[set[int] | None]:
    """Each server process's cpus: one process on the server cores; n processes one core each,
    over every core of the machine (the generator then shares them: see run_config)."""
    if config.processes == 1:
        return [server_cpus]
    if not all_cpus:
        return [None] * config.processes
    return [{all_cpus[i % len(all_cpus)]} for i in range(config.processes)]


def start_server(
    config: Config,
    env: dict | None,
    port: int,
    workdir: Path,
    cpus: set[int] | None,
    *,
    group_cpus: list[set[int] | None] | None = None,
) -> procs.Server | procs.ServerGroup:
    """The configuration's server, started and healthy; with `group_cpus`, one process per entry
    (the first on `port`), as a procs.ServerGroup."""
    if group_cpus and len(group_cpus) > 1:
        servers = [
            _server(config, env, port if i == 0 else procs.free_port(), workdir, each, suffix=f"-{i + 1}")
            for i, each in enumerate(group_cpus)
        ]
        group = procs.ServerGroup(servers)
        group.start()
        return group
    server = _server(config, env, port, workdir, cpus)
    server.start()
    return server


def _server(
    config: Config, env: dict | None, port: int, workdir: Path, cpus: set[int] | None, suffix: str = ""
) -> procs.Server:
    if config.server == "baseline":
        cmd, health = procs.baseline_cmd(port), None
        env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
    elif config.server == "daphne":
        cmd, health = procs.daphne_cmd(port), "/healthz"
    else:
        cmd, health = procs.uvicorn_cmd(port), "/healthz"
    return procs.Server(
        config.name + suffix,
        cmd,
        env,
        workdir / f"{config.name}{suffix}.log",
        cpus,
        port=port,
        health_path=health,
    )


async def measure_room(room: loadgen.Room, size: int, args, *, warm_up: bool = False) -> dict:
    """The fixed rates or the ladder in one connected room (Parley's or a peer's); closes it."""
    log(f" room of {size}: {size} members connected in {room.connect_seconds:.1f}s")
    try:
        if warm_up:
            await room.run_step(1.0, 2.0, args.drain, "warm-up")
        if args.rates:
            steps = []
            for rate in args.rates:
                result = await room.run_step(rate, args.duration, args.drain, "fixed")
                steps.append(result)
                log(loadgen.format_step(result))
                await asyncio.sleep(0.5)
            found = {
                "steps": steps,
                "knee_rate_msgs": None,
                "knee_deliveries_per_s": None,
                "best_passing_deliveries_per_s": max(
                    (s["deliveries_per_s"] for s in steps if s["pass"]), default=None
                ),
                "at_fraction": None,
            }
        else:
            rates = [max(1.0, d / size) for d in DELIVERY_LADDER if d >= size]
            found = await loadgen.ladder(
                room,
                rates,
                duration=args.duration,
                drain=args.drain,
                recover=args.recover,
                refine=args.refine,
                knee_fraction=args.knee_fraction,
                log=log,
            )
        found["connect_seconds"] = round(room.connect_seconds, 2)
        found["sockets_closed_by_server"] = room.closed
        return found
    finally:
        await room.close()
        await asyncio.sleep(1.0)


def variant_name(name: str, share: float, repliers: str = "all", awareness: str | None = None) -> str:
    """A configuration's results when `share` of its messages are thread replies (by `repliers`),
    and with awareness `awareness` (on, off, reads; None: not asked for, the server's default)."""
    if share:
        name = f"{name} threads-{share:g}" + ("" if repliers == "all" else f"-{repliers}")
    return f"{name} awareness-{awareness}" if awareness else name


def has_awareness(config: Config) -> bool:
    return config.server not in PEER_SERVERS and config.server != "baseline"


def awareness_modes(config: Config, args) -> list[str | None]:
    """The awareness modes a configuration runs in: the peers and the baseline have none (one run)."""
    if not has_awareness(config):
        return [None]
    return getattr(args, "awareness_modes", None) or [None]


AWARENESS_SETTINGS = ("PARLEY_PRESENCE", "PARLEY_TYPING", "PARLEY_READ_RECEIPTS")


def awareness_env(mode: str | None) -> dict[str, str]:
    """The server's awareness settings for a mode: all on, all off, or (None) its defaults."""
    if mode is None:
        return {}
    value = "1" if mode in ("on", "noreads") else "0"
    return dict.fromkeys(AWARENESS_SETTINGS, value)


def thread_shares(config: Config, args) -> list[float]:
    """The shares of thread replies a configuration runs with: the peers and the baseline have no
    threads (parse_args refuses them a share), so plain messages only."""
    if config.server in PEER_SERVERS or config.server == "baseline":
        return [0.0]
    return getattr(args, "thread_shares", None) or [0.0]


def make_room(server, room_id: int, sessions: list, args, services_pids) -> loadgen.Room:
    """A loadgen.Room on the server's port, or over a ServerGroup's ports (member m on process
    m mod n, so the senders are split too). A multi-process configuration's members are held by
    one generator process sharing the cores with the servers (issue 19: "generator on a third
    process, sharing"), unless --generator-processes says otherwise."""
    targets = [loadgen.Target(procs.HOST, port, compression=args.compression) for port in server.ports]
    kwargs = dict(
        senders=args.senders,
        server_cpu=server.cpu_seconds,
        services_cpu=lambda: procs.proc_cpu_seconds(services_pids()),
    )
    if len(targets) > 1:
        kwargs.update(targets=targets, processes=1)
    kwargs.update(generator_kwargs(args))
    return loadgen.Room(targets[0], room_id, sessions, **kwargs)


def generator_kwargs(args) -> dict:
    """Keywords the generator's rooms take beyond the original ones (only those given):
    --generator-processes (loadgen.Room's default: one per generator core), --generator-client
    (its default: picows for plain frames when installed, else websockets)."""
    found = {}
    if getattr(args, "generator_processes", None):
        found["processes"] = args.generator_processes
    if getattr(args, "generator_client", None):
        found["client"] = args.generator_client
    if getattr(args, "thread_share", 0.0):
        found["thread_share"] = args.thread_share
        found["thread_roots"] = args.thread_roots
        found["thread_repliers"] = getattr(args, "thread_repliers", "all")
    if getattr(args, "awareness", None):
        found["awareness"] = args.awareness
    return found


async def run_rooms(config: Config, server, setup: dict | None, args, services_pids) -> dict:
    results = {}
    for size in args.sizes:
        sessions = setup["rooms"][str(size)]["sessions"] if setup else [None] * size
        room_id = setup["rooms"][str(size)]["id"] if setup else 1
        room = make_room(server, room_id, sessions, args, services_pids)
        await room.connect(args.connect_concurrency)
        results[str(size)] = await measure_room(room, size, args)
    return results


async def run_idle(config: Config, server: procs.Server, setup: dict | None, args, count: int) -> dict:
    target = loadgen.Target(procs.HOST, server.port, compression=args.compression)
    sessions = setup["idle"]["sessions"][: count + 1] if setup else [None] * (count + 1)
    return await loadgen.idle_connections(
        target,
        sessions,
        rss=server.rss_kib,
        server_cpu=server.cpu_seconds,
        concurrency=args.connect_concurrency,
        settle=3.0,
        log=log,
    )


def profile_stem(size: int, sizes: list[int]) -> str:
    """profile.svg/.txt/.md for one profiled room size; profile-<size>.* for each of several."""
    return "profile" if len(sizes) == 1 else f"profile-{size}"


async def run_profile(
    server: procs.Server, setup: dict, args, rate: float, out: Path, seconds: int, size: int, stem: str
) -> dict:
    """Hold `rate` in a room of `size` while py-spy records the server: a flame graph, then raw stacks."""
    room = make_room(
        server, setup["rooms"][str(size)]["id"], setup["rooms"][str(size)]["sessions"], args, list
    )
    await room.connect(args.connect_concurrency)
    py_spy = str(procs.VENV_BIN / "py-spy")
    raw = out / f"{stem}.txt"
    record = [py_spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "100"]
    commands = [
        [*record, "--format", "flamegraph", "-o", str(out / f"{stem}.svg")],
        [*record, "--format", "raw", "-o", str(raw)],
    ]
    load = asyncio.create_task(room.run_step(rate, 2 * seconds + 8, args.drain, "profile"))
    await asyncio.sleep(2)
    for cmd in commands:
        process = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            log(f"  py-spy failed ({process.returncode}): {output.decode()[-1000:]}")
    step = await load
    log(loadgen.format_step(step))
    await room.close()
    return {
        "room": size,
        "rate_msgs": rate,
        "seconds": seconds,
        "step": step,
        "raw": raw.name,
        "svg": f"{stem}.svg",
        "markdown": f"{stem}.md",
    }


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, argparse.Namespace]:
    """(the command line, the run's settings: the preset with the command line's overrides)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("preset", choices=sorted(PRESETS))
    parser.add_argument("--configs", help=f"comma-separated, of: {', '.join(CONFIGS)}")
    parser.add_argument("--sizes", help="room sizes, e.g. 10,100,1000")
    parser.add_argument("--duration", type=float, help="seconds of sending per step")
    parser.add_argument("--drain", type=float, help="seconds to wait for a step's last deliveries")
    parser.add_argument("--recover", type=float)
    parser.add_argument("--refine", type=int, help="bisection steps between last pass and first failure")
    parser.add_argument("--rates", help="fixed rates (messages/s) instead of the ladder")
    parser.add_argument("--idle", help="idle connections, one count or several (e.g. 1000,10000; 0: skip)")
    parser.add_argument("--idle-configs")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-seconds", type=int, default=12)
    parser.add_argument(
        "--profile-config", help="the Parley configuration py-spy profiles (SQLite, in-memory layer)"
    )
    parser.add_argument("--profile-size", help="room sizes to profile, e.g. 10,1000")
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument(
        "--compression",
        choices=["none", "deflate"],
        default="none",
        help="deflate: the clients offer permessage-deflate, as browsers do",
    )
    parser.add_argument(
        "--generator-processes",
        type=int,
        help="load generator processes holding a room's members (default: one per generator core)",
    )
    parser.add_argument(
        "--generator-client",
        choices=["picows", "websockets"],
        help="the members' WebSocket client (default: picows for plain frames when installed)",
    )
    parser.add_argument(
        "--thread-share",
        help="shares of the messages sent as thread replies, each a run of every Parley configuration "
        "(e.g. 0,0.5: plain, then half replies); Parley only: the peers and the baseline have no threads",
    )
    parser.add_argument(
        "--thread-roots",
        type=int,
        default=loadgen.THREAD_ROOTS,
        help="the thread roots the replies are spread over, posted before the members connect",
    )
    parser.add_argument(
        "--thread-repliers",
        choices=loadgen.THREAD_REPLIERS,
        default="all",
        help="all: every sender replies in every thread (each reply notifies the thread's other "
        "followers); own: one root per sender, each replying only under its own (no notifications)",
    )
    parser.add_argument(
        "--profile-thread-share",
        type=float,
        default=0.0,
        help="the share of thread replies while the profile runs (its knee: that variant's)",
    )
    parser.add_argument(
        "--awareness",
        help="awareness modes, each a run of every Parley configuration (e.g. on,off): on = presence, "
        "typing and receipts on at the server and the members behaving as browsers; off = all off, "
        "members silent; reads = off, members sending room.read only; noreads = on, members sending "
        "all but room.read",
    )
    parser.add_argument(
        "--profile-awareness",
        choices=[m for m in loadgen.AWARENESS_MODES],
        help="the awareness mode while the profile runs (its knee: that variant's)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each configuration, wait up to this many seconds for other processes to use "
        f"under {quiet.QUIET_THRESHOLD:.0%} of a core (bench/quiet.py)",
    )
    parser.add_argument("--server-cpus")
    parser.add_argument("--generator-cpus")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (server logs, databases)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the configurations x sizes x steps and the estimated minutes, run nothing",
    )
    cli = parser.parse_args(argv)

    preset = dict(PRESETS[cli.preset])
    args = argparse.Namespace(
        **preset,
        senders=cli.senders,
        connect_concurrency=cli.connect_concurrency,
        profile_seconds=cli.profile_seconds,
        generator_processes=cli.generator_processes,
        generator_client=cli.generator_client,
        compression=None if cli.compression == "none" else cli.compression,
        thread_shares=[0.0],
        thread_share=0.0,
        thread_roots=cli.thread_roots,
        thread_repliers=cli.thread_repliers,
        profile_thread_share=cli.profile_thread_share,
        awareness_modes=[None],
        awareness=None,
        profile_awareness=cli.profile_awareness,
        wait_quiet=cli.wait_quiet,
    )
    if cli.configs:
        args.configs = cli.configs.split(",")
    if cli.sizes:
        args.sizes = [int(s) for s in cli.sizes.split(",")]
    for key in ("duration", "drain", "recover", "refine", "out", "profile_config"):
        if getattr(cli, key) is not None:
            setattr(args, key, getattr(cli, key))
    if cli.idle is not None:
        args.idle = sorted({int(c) for c in cli.idle.split(",") if int(c) > 0})
    if cli.profile_size:
        args.profile_sizes = [int(s) for s in cli.profile_size.split(",")]
    if cli.rates:
        args.rates = [float(r) for r in cli.rates.split(",")]
    if cli.idle_configs is not None:
        args.idle_configs = [c for c in cli.idle_configs.split(",") if c]
    if cli.no_profile:
        args.profile = False
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations: {', '.join(sorted(unknown))}")
    if cli.thread_share is not None:
        try:
            args.thread_shares = [float(s) for s in cli.thread_share.split(",")]
        except ValueError:
            parser.error(f"--thread-share: shares between 0 and 1, comma-separated, not {cli.thread_share!r}")
        if not all(0.0 <= s <= 1.0 for s in args.thread_shares):
            parser.error(f"--thread-share: each share is between 0 and 1, not {cli.thread_share}")
        threadless = [
            n for n in args.configs if CONFIGS[n].server in PEER_SERVERS or CONFIGS[n].server == "baseline"
        ]
        if any(args.thread_shares) and threadless:
            parser.error(
                "--thread-share: thread replies (thread_root) are Parley's; these configurations have no "
                f"threads: {', '.join(threadless)}"
            )
    if cli.awareness is not None:
        modes = [m.strip() for m in cli.awareness.split(",") if m.strip()]
        wrong = [m for m in modes if m not in loadgen.AWARENESS_MODES]
        if not modes or wrong or len(set(modes)) != len(modes):
            parser.error(
                f"--awareness: distinct modes of {', '.join(loadgen.AWARENESS_MODES)}, not {cli.awareness!r}"
            )
        if not any(has_awareness(CONFIGS[n]) for n in args.configs):
            parser.error("--awareness: awareness is Parley's; none of these configurations is Parley")
        args.awareness_modes = modes
    if cli.thread_roots < 1:
        parser.error("--thread-roots: at least one")
    profiled = CONFIGS.get(args.profile_config)
    if profiled is None or profiled.database != "sqlite" or profiled.layer != "memory":
        parser.error(f"--profile-config: one of {', '.join(profileable())}")
    # The profile runs when its configuration is in the matrix (its knee sets the profile's rate)
    # or was asked for by name.
    args.profile = args.profile and (args.profile_config in args.configs or cli.profile_config is not None)
    return cli, args


def profileable() -> list[str]:
    return [c.name for c in CONFIGS.values() if c.database == "sqlite" and c.layer == "memory"]


# --- The estimate (--dry-run, and printed when a run starts) -------------------------------------

# Knee deliveries/s assumed where no earlier results say (the committed runs' figures, rounded to
# the ladder): they set how many ladder steps a room takes.
ASSUMED_KNEE = {
    "websockets-baseline": {10: 64000, 100: 64000, 1000: 32000},
    "uvicorn-memory-sqlite": {10: 8000, 100: 32000, 1000: 8000},
    "daphne-memory-sqlite": {10: 8000, 100: 32000, 1000: 2000},
    "uvicorn-pubsub-postgres": {10: 4000, 100: 16000, 1000: 1000},
    "uvicorn-pubsub-postgres-x2": {10: 8000, 100: 32000, 1000: 2000},
    "ejabberd-muc": {10: 32000, 100: 32000, 1000: 16000},
    "synapse-sqlite": {10: 250, 100: 0, 1000: 0},
    "synapse-postgres": {10: 250, 100: 0, 1000: 0},
}
DEFAULT_KNEE = {10: 4000, 100: 16000, 1000: 2000}
# Connections a second while a room's members connect (measured: Parley ~430, ejabberd ~400,
# Synapse ~190 with its filter upload and first /sync), and seconds per member to set a peer's
# room up (Synapse registers and joins each: 46 s per 1,000; ejabberd registers over HTTP).
CONNECTS_PER_S = {"synapse": 190.0, "ejabberd": 400.0, "baseline": 1500.0}
PEER_SETUP_S_PER_MEMBER = {"synapse": 0.046, "ejabberd": 0.002}
START_S = {"synapse": 6.0, "ejabberd": 8.0, "baseline": 1.0}  # a fresh server, healthy
PARLEY_START_S = 3.0
STEP_OVERHEAD_S = 0.8  # the pause after a step, its last deliveries, the CPU bookkeeping
SETUP_S = {"sqlite": 15.0, "postgres": 25.0}  # migrate + bench.setup_db (plus PostgreSQL's start)
SETUP_S_PER_IDLE_USER = 0.002


def room_steps(config: Config, size: int, args, knee: float | None) -> tuple[int, float]:
    """How many steps a room takes and their seconds, if its knee is `knee` deliveries/s."""
    duration = args.duration
    peer = config.server in PEER_SERVERS

    def seconds(rate: float, passes: bool) -> float:
        held = max(duration, 5 / rate)
        return held + STEP_OVERHEAD_S + (0 if passes else args.drain + args.recover)

    steps, total = 0, 0.0
    if peer:  # the unmeasured warm-up step, 1 msg/s for 2 s
        steps, total = 1, 2.0 + STEP_OVERHEAD_S
    if args.rates:
        for rate in args.rates:
            passes = knee is not None and rate * size <= knee * 1.05
            steps, total = steps + 1, total + seconds(rate, passes)
        return steps, total
    rungs = [max(1.0, d / size) for d in DELIVERY_LADDER if d >= size]
    passed = [r for r in rungs if knee and r * size <= knee * 1.05]
    for rate in passed:
        steps, total = steps + 1, total + seconds(rate, True)
    if len(passed) < len(rungs):
        fail = rungs[len(passed)]
        steps, total = steps + 1, total + seconds(fail, False)
        if passed:
            # Bisections halve the gap while it is 1.2x or more: at most 2 between two rungs.
            low = passed[-1]
            for _ in range(min(args.refine, 2)):
                mid = math.sqrt(low * fail)
                steps, total = steps + 1, total + (seconds(mid, True) + seconds(mid, False)) / 2
                low = mid
    if passed and args.knee_fraction:
        steps, total = steps + 1, total + seconds(passed[-1] * args.knee_fraction, True)
    return steps, total


def prior_knees(path: Path) -> dict:
    """{config: {size: knee deliveries/s}} from an earlier results.json (empty if none)."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    knees: dict = {}
    for name, entry in earlier.get("configs", {}).items():
        for size, room in (entry.get("rooms") or {}).items():
            knee = room.get("knee_deliveries_per_s") or room.get("best_passing_deliveries_per_s")
            if room.get("steps"):
                knees.setdefault(name, {})[int(size)] = knee or 0
    return knees


def estimate(args, prior: dict | None = None) -> dict:
    """Rows (what, size, steps, seconds) for the whole run and the total minutes, from the step
    counts the knees imply (earlier results' knees where given, else ASSUMED_KNEE) and the
    seconds per step, connection and start-up above."""
    prior = prior or {}
    rows: list[dict] = []
    databases = set()
    idle_users = 0
    for name, config in (
        (variant_name(n, share, args.thread_repliers, mode), CONFIGS[n])
        for n in args.configs
        for share in thread_shares(CONFIGS[n], args)
        for mode in awareness_modes(CONFIGS[n], args)
    ):
        peer = config.server in PEER_SERVERS
        start = START_S.get(config.server, PARLEY_START_S)
        if config.database and not peer:
            databases.add(config.database)
        rate = CONNECTS_PER_S.get(config.server, 430.0)
        for size in args.sizes:
            assumed = ASSUMED_KNEE.get(config.name, DEFAULT_KNEE).get(size)
            knee = prior.get(name, prior.get(config.name, {})).get(size, assumed)
            steps, seconds = room_steps(config, size, args, knee)
            seconds += size / rate + 1.0
            if name.endswith(("awareness-on", "awareness-noreads")):
                seconds += loadgen.AWARENESS_SETTLE_S
            if peer:
                seconds += size * PEER_SETUP_S_PER_MEMBER[config.server]
            rows.append({"what": name, "size": size, "steps": steps, "seconds": seconds})
        rows[-len(args.sizes) :][0]["seconds"] += start if args.sizes else 0
        if name in args.idle_configs and config.processes == 1:  # a threads variant: config.name's
            for count in args.idle:
                if config.idle_max is not None and count > config.idle_max:
                    continue
                seconds = count / rate + 3.0 + 3.0  # connecting, settling, the pings and closing
                if peer:
                    seconds += count * PEER_SETUP_S_PER_MEMBER[config.server]
                else:
                    idle_users = max(idle_users, count)
                rows.append({"what": f"{name} idle", "size": count, "steps": 1, "seconds": seconds + start})
    for database in sorted(databases):
        rows.insert(
            0,
            {
                "what": f"setup {database}",
                "size": None,
                "steps": 0,
                "seconds": SETUP_S[database] + idle_users * SETUP_S_PER_IDLE_USER,
            },
        )
    if args.profile:
        for size in args.profile_sizes:
            seconds = PARLEY_START_S + size / 430.0 + 2 * args.profile_seconds + 8 + args.drain + 2
            what = f"profile {args.profile_config}"
            rows.append({"what": what, "size": size, "steps": 1, "seconds": seconds})
    total = sum(r["seconds"] for r in rows)
    return {"rows": rows, "minutes": round(total / 60, 1)}


def format_estimate(found: dict) -> str:
    lines = [f"{'':2}{'configuration':<34} {'size':>6} {'steps':>5} {'min':>6}"]
    for r in found["rows"]:
        size = "" if r["size"] is None else f"{r['size']:,}"
        lines.append(f"  {r['what']:<34} {size:>6} {r['steps']:>5} {r['seconds'] / 60:>6.1f}")
    lines.append(f"  estimated total: {found['minutes']} minutes")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    cli, args = parse_args(argv)
    found = estimate(args, prior_knees(args.out / "results.json"))
    if cli.dry_run:
        log(f"bench {cli.preset}: dry run, nothing started. Configurations x sizes x steps:")
        log(format_estimate(found))
        return

    all_cpus = sorted(os.sched_getaffinity(0))
    args.all_cpus = all_cpus
    server_cpus, generator_cpus = cpu_sets(cli)
    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)
    nofile = procs.raise_nofile()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {
        "preset": cli.preset,
        "command": "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else argv),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": tool_version(["git", "-C", str(BASE_DIR), "rev-parse", "--short", "HEAD"]),
        "machine": machine(),
        "versions": {
            **versions(),
            "redis-server": tool_version(["redis-server", "--version"]),
            "postgres": "",
        },
        "cpus": {
            "server": sorted(server_cpus or []),
            "generator": sorted(generator_cpus or []),
            "nofile": nofile,
        },
        "settings": {k: (v if not isinstance(v, Path) else str(v)) for k, v in vars(args).items()},
        "estimated_min": found["minutes"],
        "configs": {},
        "idle": {},
        "profile": None,
        "profiles": [],
    }
    cpus = f"server cpus {sorted(server_cpus or [])}, generator cpus {sorted(generator_cpus or [])}"
    log(f"bench: {cli.preset}; {cpus}")
    log(f"bench: machine {results['machine']}")
    log(f"bench: estimated {found['minutes']} min (`python -m bench.run {cli.preset} --dry-run`: the rows)")

    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    needs_db = [c for c in args.configs if CONFIGS[c].database and CONFIGS[c].server not in PEER_SERVERS]
    idle_users = max(args.idle, default=0) if any(c in args.idle_configs for c in needs_db) else 0
    sizes = sorted(set(args.sizes) | (set(args.profile_sizes) if args.profile else set()))
    backends = Backends(workdir, server_cpus, sizes, idle_users)
    try:
        for name in args.configs:
            config = CONFIGS[name]
            shares = thread_shares(config, args)
            variants = [(share, mode) for share in shares for mode in awareness_modes(config, args)]
            for share, mode in variants:
                key = variant_name(name, share, args.thread_repliers, mode)
                log(f"\n== {key} ({config.note or config.server})")
                variant = argparse.Namespace(**vars(args))
                variant.thread_share = share
                variant.awareness = mode
                if (share, mode) != variants[0]:
                    variant.idle = []  # idle sockets send nothing: measured once per configuration
                waited = quiet.wait_for_quiet(args.wait_quiet, log=log) if args.wait_quiet else None
                begun = time.monotonic()
                results["configs"][key] = run_config(config, backends, variant, server_cpus, workdir, results)
                results["configs"][key]["elapsed_s"] = round(time.monotonic() - begun, 1)
                results["configs"][key]["thread_share"] = share
                if share:
                    results["configs"][key]["thread_roots"] = args.thread_roots
                    results["configs"][key]["thread_repliers"] = args.thread_repliers
                if mode:
                    results["configs"][key]["awareness"] = mode
                    results["configs"][key]["awareness_env"] = awareness_env(mode)
                if waited is not None:
                    results["configs"][key]["quiet_wait"] = waited
                write(results, out, started)  # a run stopped later keeps what it measured
        if args.profile:
            for size in args.profile_sizes:
                found_profile = profile(backends, args, server_cpus, workdir, results, out, size)
                results["profiles"].append(found_profile)
                results["profile"] = results["profile"] or found_profile
                write(results, out, started)
    finally:
        if backends.postgres is not None:
            results["versions"]["postgres"] = tool_version(
                [str(backends.postgres.bin_dir / "postgres"), "--version"]
            )
        backends.close()
        write(results, out, started)
        if cli.keep:
            log(f"bench: work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    log(f"\nbench: done in {minutes:.1f} min (estimated {found['minutes']}); {out / 'results.md'}")


def peer_server(config: Config, workdir: Path, *, idle: bool = False):
    if config.server == "synapse":
        from bench.peers.synapse import PeerServer

        return PeerServer(work_dir=workdir / config.name, database=config.database or "sqlite")
    from bench.peers.ejabberd import EjabberdServer

    # Parley tells a room nothing when someone joins it; ejabberd broadcasts every join to every
    # occupant up to max_users_presence (1,000 by default: a room of 1,000 then takes 45 s to
    # fill). Above 100 occupants it stops, as a large room's server would be configured. The idle
    # members (rooms of 100) are measured with no join broadcast at all: with it, each member's
    # ~50 presence stanzas made 278 KiB of RSS per member and 131 connects/s (10,000 members);
    # without, 54 KiB and 400/s (1,000).
    return EjabberdServer(
        workdir / config.name,
        max_users_presence=1 if idle else 100,
        mam=config.name.startswith("ejabberd-muc-mam"),
        mam_db=config.database or "mnesia",
    )


async def run_peer_rooms(server, args) -> dict:
    results = {}
    for size in args.sizes:
        room = loadgen.PeerRoom(
            await server.make_room(size),
            size,
            senders=args.senders,
            server_cpu=server.cpu_seconds,
            # A peer's own database server (synapse-postgres) is counted like Parley's.
            services_cpu=lambda: procs.proc_cpu_seconds(getattr(server, "services_pids", list)()),
        )
        await room.connect(args.connect_concurrency)
        # Unmeasured: a peer's first messages in a fresh room load code and fill caches (the
        # Erlang VM loads modules on first use; a first step at 1 msg/s in a room of 1,000
        # failed on its p99 and the next ones at 1 to 16 msg/s passed).
        results[str(size)] = await measure_room(room, size, args, warm_up=True)
    return results


async def run_peer_idle(server, count: int, args) -> dict:
    """`count` members of the peer in rooms of IDLE_ROOM_SIZE (as Parley's idle sockets are),
    connected and then left idle: the server's RSS per member and the connect rate. Setting the
    users and rooms up (registration, and for Synapse the joins) is timed apart: it is not part of
    connecting. Each member's incoming frames are read and dropped (a peer may tell a room of a
    join: unread, they would sit in buffers the figure should not count)."""
    started = time.monotonic()
    rooms = await server.make_idle_rooms(count, IDLE_ROOM_SIZE)
    setup_seconds = time.monotonic() - started
    await asyncio.sleep(1.0)
    rss_before = server.rss_kib()
    cpu0, server0 = loadgen.cpu_seconds(), server.cpu_seconds()
    gate = asyncio.Semaphore(max(1, args.connect_concurrency // 10))
    members: list = []
    failures: Counter = Counter()

    async def drain(member) -> None:
        with contextlib.suppress(Exception):
            async for _ in member.messages():
                pass

    async def join(room) -> None:
        async with gate:
            try:
                members.extend(await room.connect(10))
            except Exception as error:  # counted; the others still measured
                failures[type(error).__name__] += room.size if hasattr(room, "size") else 1

    started = time.monotonic()
    await asyncio.gather(*(join(room) for room in rooms))
    seconds = time.monotonic() - started
    generator_cpu, server_used = loadgen.cpu_seconds() - cpu0, server.cpu_seconds() - server0
    readers = [asyncio.create_task(drain(member)) for member in members]
    await asyncio.sleep(3.0)
    rss_after = server.rss_kib()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    result = {
        "requested": count,
        "connected": len(members),
        "failures": dict(failures),
        "setup_seconds": round(setup_seconds, 1),
        "connect_seconds": round(seconds, 2),
        "connects_per_s": round(len(members) / seconds, 1) if seconds else None,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_connection": round((rss_after - rss_before) / len(members), 1) if members else None,
        "generator_cpu_during_connect": round(generator_cpu / seconds, 3) if seconds else None,
        "server_cpu_during_connect": round(server_used / seconds, 3) if seconds else None,
        "ping_sample": 0,
        "ping_alive": 0,
        "room_size": IDLE_ROOM_SIZE,
    }
    log(
        f"  idle: {len(members)}/{count} set up in {setup_seconds:.1f}s, connected in {seconds:.1f}s "
        f"({result['connects_per_s']}/s), RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MiB = "
        f"{result['kib_per_connection']} KiB/member; failures {dict(failures)}"
    )
    await asyncio.gather(*(member.close() for member in members), return_exceptions=True)
    await asyncio.sleep(2.0)
    return result


def idle_not_run(config: Config, count: int) -> dict | None:
    """The "not run" row of an idle count above the configuration's idle_max, else None."""
    if config.idle_max is None or count <= config.idle_max:
        return None
    return {"requested": count, "not_run": config.idle_max_reason or f"above {config.idle_max:,}"}


def run_peer_config(config: Config, args, server_cpus, workdir: Path, results: dict) -> dict:
    """A peer: installed when missing (bench/peers/), started pinned like Parley, the same rooms;
    then, on a fresh instance, the idle connections."""
    entry: dict = {"server": config.server, "database": config.database, "layer": None, "note": config.note}
    try:
        server = peer_server(config, workdir)
        server.install()
        server.start(server_cpus)
        try:
            entry["version"] = getattr(server, "version", None) or getattr(server, "VERSION", None)
            if args.sizes:
                entry["rooms"] = uvloop.run(run_peer_rooms(server, args))
            entry["server_rss_after_rooms_kib"] = server.rss_kib()
        finally:
            server.stop()
    except Exception as error:  # a peer that cannot be had here must not lose Parley's figures
        log(f"! {config.name} failed: {error}")
        return {**entry, "error": str(error)[-2000:]}
    if args.idle and config.name in args.idle_configs:
        idle = results["idle"].setdefault(config.name, {})
        for count in args.idle:
            skipped = idle_not_run(config, count)
            if skipped:
                log(f"  idle {count:,}: not run: {skipped['not_run']}")
                idle[str(count)] = skipped
                continue
            server = peer_server(config, workdir / f"idle-{count}", idle=True)
            try:
                server.start(server_cpus)
                idle[str(count)] = uvloop.run(run_peer_idle(server, count, args))
            except Exception as error:
                log(f"! {config.name} idle {count:,} failed: {error}")
                idle[str(count)] = {"requested": count, "error": str(error)[-2000:]}
            finally:
                server.stop()
    return entry


def run_config(config: Config, backends: Backends, args, server_cpus, workdir: Path, results: dict) -> dict:
    if config.server in PEER_SERVERS:
        return run_peer_config(config, args, server_cpus, workdir, results)
    redis = None
    setup, env = None, None
    group_cpus = process_cpus(config, server_cpus, getattr(args, "all_cpus", []))
    # Several processes: one per core, and the generator, PostgreSQL and Redis share the cores.
    shared = set(getattr(args, "all_cpus", [])) if config.processes > 1 else None
    moved: list[int] = []
    try:
        if config.database == "sqlite":
            setup, path = backends.sqlite(config.name)
            sqlite_path, database_url = path, None
        elif config.database == "postgres":
            setup, database_url = backends.postgres_url()
            sqlite_path = None
            if shared:
                moved = backends.postgres_pids()
                procs.set_affinity(moved, shared)
        if config.layer in ("pubsub", "core"):
            redis = backends.redis(shared or server_cpus)
        if config.database:
            env = procs.parley_env(
                database_url=database_url,
                sqlite_path=sqlite_path,
                redis_url=redis.url if redis else None,
                layer=config.layer or "",
            )
            env.update(awareness_env(getattr(args, "awareness", None)))

        def services_pids() -> list[int]:
            pids = backends.postgres_pids() if config.database == "postgres" else []
            if redis is not None and redis._process is not None:
                pids.append(redis._process.pid)
            return pids

        entry: dict = {
            "server": config.server,
            "database": config.database,
            "layer": config.layer,
            "note": config.note,
            "processes": config.processes,
            "server_cpus": [sorted(c) if c else None for c in group_cpus],
        }
        # The code a server runs is the work tree's when it starts: on a shared tree it can change
        # between configurations, so each records its own commit (and whether app files differed).
        entry["git_commit"] = tool_version(["git", "-C", str(BASE_DIR), "rev-parse", "--short", "HEAD"])
        changed = tool_version(["git", "-C", str(BASE_DIR), "status", "--porcelain", "--", ".", ":!bench"])
        entry["work_tree_changed"] = changed not in ("", "?")
        server = start_server(config, env, procs.free_port(), workdir, server_cpus, group_cpus=group_cpus)
        try:
            with procs.affinity(shared):
                entry["rooms"] = uvloop.run(run_rooms(config, server, setup, args, services_pids))
            entry["server_rss_after_rooms_kib"] = server.rss_kib()
        finally:
            server.stop()
        if args.idle and config.name in args.idle_configs:
            idle = results["idle"].setdefault(config.name, {})
            for count in args.idle:
                if config.processes > 1:
                    idle[str(count)] = {"requested": count, "not_run": "idle is measured per process"}
                    continue
                server = start_server(config, env, procs.free_port(), workdir, server_cpus)
                try:
                    idle[str(count)] = uvloop.run(run_idle(config, server, setup, args, count))
                finally:
                    server.stop()
        return entry
    except Exception as error:  # one configuration failing must not lose the others' figures
        log(f"! {config.name} failed: {error}")
        return {
            "server": config.server,
            "database": config.database,
            "layer": config.layer,
            "error": str(error)[-2000:],
        }
    finally:
        if redis is not None:
            redis.close()
        if moved and server_cpus:
            procs.set_affinity(backends.postgres_pids(), server_cpus)


def profile(
    backends: Backends, args, server_cpus, workdir: Path, results: dict, out: Path, size: int
) -> dict | None:
    """py-spy on --profile-config (a Parley configuration on SQLite) in a room of `size`, at 80 %
    of the knee this run measured for it (20 msg/s when it did not measure one)."""
    config = CONFIGS[args.profile_config]
    share = getattr(args, "profile_thread_share", 0.0)
    mode = getattr(args, "profile_awareness", None)
    key = variant_name(config.name, share, args.thread_repliers, mode)
    log(f"\n== py-spy profile of {key} under load (room of {size})")
    rooms = results["configs"].get(key, {}).get("rooms", {})
    room = rooms.get(str(size)) or {}
    passed = [s["rate_msgs"] for s in room.get("steps", []) if s["pass"] and s["label"] != "warm-up"]
    knee = room.get("knee_rate_msgs") or max(passed, default=None)  # fixed rates: the best passing
    # Below the knee, where the server is busy but keeping up: what a busy day costs.
    rate = round(0.8 * knee, 1) if knee else 20.0
    setup, path = backends.sqlite("profile")
    env = procs.parley_env(database_url=None, sqlite_path=path, redis_url=None, layer=config.layer or "")
    env.update(awareness_env(mode))
    stem = profile_stem(size, args.profile_sizes)
    server = start_server(config, env, procs.free_port(), workdir, server_cpus)
    variant = argparse.Namespace(**vars(args))
    variant.thread_share = share
    variant.awareness = mode
    try:
        found = uvloop.run(run_profile(server, setup, variant, rate, out, args.profile_seconds, size, stem))
    finally:
        server.stop()
    found["config"] = key
    raw = out / found["raw"]
    if raw.exists():
        found["top"] = report.summarise_profile(raw.read_text())
        (out / found["markdown"]).write_text(report.profile_markdown(found))
    return found


def write(results: dict, out: Path, started: float) -> None:
    results["elapsed_min"] = round((time.monotonic() - started) / 60, 1)
    (out / "results.json").write_text(
        json.dumps(
            results, indent=1, default=lambda v: None if isinstance(v, float) and math.isinf(v) else str(v)
        )
    )
    try:
        (out / "results.md").write_text(report.markdown(results))
    except Exception as error:  # results.json is written: the report can be redrawn from it
        log(f"! report failed: {error!r} (python -m bench.report {out / 'results.json'})")
    try:
        report.plot(results, out / "latency.png")
        report.plot_peers(results, out / "peers.png")
    except Exception as error:  # a missing plot must not lose the table
        log(f"! plot failed: {error}")


if __name__ == "__main__":
    main()
