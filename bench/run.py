"""Parley's delivery benchmark: every configuration side by side with a minimal websockets server.

    python -m bench.run quick                  # make bench-quick: a smoke check, < 3 minutes
    python -m bench.run full                   # make bench: the whole matrix
    python -m bench.run full --configs daphne-memory-sqlite,websockets-baseline --sizes 10,100 ...

For each configuration (see CONFIGS) a server process is started on the server cores, and this
process, pinned to the other cores, is the load generator (bench/loadgen.py): for each room size
it connects the room's members and climbs a ladder of rates until p99 passes 100 ms or anything
is lost (the knee), then measures at 80 % of the knee. A fresh server process then takes
10,000 idle connections for the memory-per-connection figure. PostgreSQL and Redis are
throwaway servers from tests/servers.py, pinned to the server cores too (they are part of the
system under test). Results: results.json, results.md and latency.png in --out; with `full`,
also a py-spy profile of the in-memory configuration under load (profile.svg, profile.md).
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
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench import loadgen, procs, report

BASE_DIR = procs.BASE_DIR
RESULTS = BASE_DIR / "bench" / "results"


@dataclass(frozen=True)
class Config:
    name: str
    server: str  # daphne | uvicorn | baseline
    database: str | None = None  # sqlite | postgres
    layer: str | None = None  # memory | pubsub | core
    note: str = ""


CONFIGS = {
    c.name: c
    for c in (
        Config("websockets-baseline", "baseline", note="websockets.broadcast, no Django/database/layer"),
        Config("daphne-memory-sqlite", "daphne", "sqlite", "memory", "embedded default, daphne (runserver)"),
        Config("uvicorn-memory-sqlite", "uvicorn", "sqlite", "memory", "the embedded default (make run)"),
        Config("daphne-pubsub-sqlite", "daphne", "sqlite", "pubsub"),
        Config("daphne-core-sqlite", "daphne", "sqlite", "core"),
        Config("daphne-pubsub-postgres", "daphne", "postgres", "pubsub", "the production shape"),
        Config("uvicorn-pubsub-postgres", "uvicorn", "postgres", "pubsub"),
        # The servers a team would run instead (bench/peers/), through their own protocols.
        Config(
            "synapse-sqlite", "synapse", "sqlite", note="Matrix Synapse, client-server API, /sync long-poll"
        ),
        Config("synapse-postgres", "synapse", "postgres", note="Matrix Synapse on a PostgreSQL of its own"),
        Config("ejabberd-muc", "ejabberd", note="ejabberd (Erlang), XMPP MUC over WebSocket"),
    )
}
PEER_SERVERS = {"synapse", "ejabberd"}

# Offered deliveries per second (messages/s x members), doubling; each room starts at >= 1 msg/s.
DELIVERY_LADDER = [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000]

PRESETS = {
    "full": {
        "configs": list(CONFIGS),
        "sizes": [10, 100, 1000],
        "duration": 5.0,
        "drain": 3.0,
        "recover": 10.0,
        "refine": 2,
        "knee_fraction": 0.8,
        "rates": None,
        "idle": 10000,
        "idle_configs": [
            "websockets-baseline",
            "daphne-memory-sqlite",
            "uvicorn-memory-sqlite",
            "daphne-pubsub-postgres",
        ],
        "profile": True,
        "out": RESULTS,
    },
    "quick": {
        # One peer at the same rates (installed by bench/peers/ejabberd.py when missing).
        "configs": ["websockets-baseline", "daphne-memory-sqlite", "ejabberd-muc"],
        "sizes": [10],
        "duration": 3.0,
        "drain": 3.0,
        "recover": 5.0,
        "refine": 0,
        "knee_fraction": None,
        "rates": [50.0, 200.0],
        "idle": 300,
        "idle_configs": ["websockets-baseline", "daphne-memory-sqlite"],
        "profile": False,
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
                self.postgres = start_postgres()
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

    def redis(self):
        from tests.servers import start_redis

        with procs.affinity(self.server_cpus):
            return start_redis()

    def close(self) -> None:
        if self.postgres is not None:
            self.postgres.close()


def start_server(
    config: Config, env: dict | None, port: int, workdir: Path, cpus: set[int] | None
) -> procs.Server:
    if config.server == "baseline":
        cmd, health = procs.baseline_cmd(port), None
        env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
    elif config.server == "daphne":
        cmd, health = procs.daphne_cmd(port), "/healthz"
    else:
        cmd, health = procs.uvicorn_cmd(port), "/healthz"
    server = procs.Server(
        config.name, cmd, env, workdir / f"{config.name}.log", cpus, port=port, health_path=health
    )
    server.start()
    return server


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


async def run_rooms(config: Config, server: procs.Server, setup: dict | None, args, services_pids) -> dict:
    target = loadgen.Target(procs.HOST, server.port, compression=args.compression)
    results = {}
    for size in args.sizes:
        sessions = setup["rooms"][str(size)]["sessions"] if setup else [None] * size
        room_id = setup["rooms"][str(size)]["id"] if setup else 1
        room = loadgen.Room(
            target,
            room_id,
            sessions,
            senders=args.senders,
            server_cpu=server.cpu_seconds,
            services_cpu=lambda: procs.proc_cpu_seconds(services_pids()),
        )
        await room.connect()
        results[str(size)] = await measure_room(room, size, args)
    return results


async def run_idle(config: Config, server: procs.Server, setup: dict | None, args) -> dict:
    target = loadgen.Target(procs.HOST, server.port, compression=args.compression)
    sessions = setup["idle"]["sessions"][: args.idle + 1] if setup else [None] * (args.idle + 1)
    return await loadgen.idle_connections(
        target,
        sessions,
        rss=server.rss_kib,
        server_cpu=server.cpu_seconds,
        concurrency=args.connect_concurrency,
        settle=3.0,
        log=log,
    )


async def run_profile(server: procs.Server, setup: dict, args, rate: float, out: Path, seconds: int) -> dict:
    """Hold `rate` in a room of 100 while py-spy records the server: a flame graph, then raw stacks."""
    target = loadgen.Target(procs.HOST, server.port, compression=args.compression)
    size = 100 if "100" in setup["rooms"] else int(next(iter(setup["rooms"])))
    room = loadgen.Room(
        target,
        setup["rooms"][str(size)]["id"],
        setup["rooms"][str(size)]["sessions"],
        senders=args.senders,
        server_cpu=server.cpu_seconds,
        services_cpu=lambda: 0.0,
    )
    await room.connect()
    py_spy = str(procs.VENV_BIN / "py-spy")
    raw = out / "profile.txt"
    record = [py_spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "100"]
    commands = [
        [*record, "--format", "flamegraph", "-o", str(out / "profile.svg")],
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
    return {"room": size, "rate_msgs": rate, "seconds": seconds, "step": step, "raw": raw.name}


def main() -> None:
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
    parser.add_argument("--idle", type=int, help="idle connections (0: skip)")
    parser.add_argument("--idle-configs")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-seconds", type=int, default=12)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument(
        "--compression",
        choices=["none", "deflate"],
        default="none",
        help="deflate: the clients offer permessage-deflate, as browsers do",
    )
    parser.add_argument("--server-cpus")
    parser.add_argument("--generator-cpus")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (server logs, databases)"
    )
    cli = parser.parse_args()

    preset = dict(PRESETS[cli.preset])
    args = argparse.Namespace(
        **preset,
        senders=cli.senders,
        connect_concurrency=cli.connect_concurrency,
        profile_seconds=cli.profile_seconds,
        compression=None if cli.compression == "none" else cli.compression,
    )
    if cli.configs:
        args.configs = cli.configs.split(",")
    if cli.sizes:
        args.sizes = [int(s) for s in cli.sizes.split(",")]
    for key in ("duration", "drain", "recover", "refine", "idle", "out"):
        if getattr(cli, key) is not None:
            setattr(args, key, getattr(cli, key))
    if cli.rates:
        args.rates = [float(r) for r in cli.rates.split(",")]
    if cli.idle_configs is not None:
        args.idle_configs = [c for c in cli.idle_configs.split(",") if c]
    if cli.no_profile:
        args.profile = False
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations: {', '.join(sorted(unknown))}")

    server_cpus, generator_cpus = cpu_sets(cli)
    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)
    nofile = procs.raise_nofile()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = {
        "preset": cli.preset,
        "command": "python -m bench.run " + shlex.join(sys.argv[1:]),
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
        "configs": {},
        "idle": {},
        "profile": None,
    }
    cpus = f"server cpus {sorted(server_cpus or [])}, generator cpus {sorted(generator_cpus or [])}"
    log(f"bench: {cli.preset}; {cpus}")
    log(f"bench: machine {results['machine']}")

    workdir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    needs_db = [c for c in args.configs if CONFIGS[c].database and CONFIGS[c].server not in PEER_SERVERS]
    idle_users = args.idle if any(c in args.idle_configs for c in needs_db) else 0
    backends = Backends(workdir, server_cpus, args.sizes, idle_users)
    try:
        for name in args.configs:
            config = CONFIGS[name]
            log(f"\n== {name} ({config.note or config.server})")
            results["configs"][name] = run_config(config, backends, args, server_cpus, workdir, results)
            write(results, out, started)
        if args.profile and "daphne-memory-sqlite" in args.configs:
            results["profile"] = profile(backends, args, server_cpus, workdir, results, out)
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
    log(f"\nbench: done in {minutes:.1f} min; {out / 'results.md'}, {out / 'latency.png'}")


def peer_server(config: Config, workdir: Path):
    if config.server == "synapse":
        from bench.peers.synapse import PeerServer

        return PeerServer(work_dir=workdir / config.name, database=config.database or "sqlite")
    from bench.peers.ejabberd import EjabberdServer

    # Parley tells a room nothing when someone joins it; ejabberd broadcasts every join to every
    # occupant up to max_users_presence (1,000 by default: a room of 1,000 then takes 45 s to
    # fill). Above 100 occupants it stops, as a large room's server would be configured.
    return EjabberdServer(workdir / config.name, max_users_presence=100)


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


def run_peer_config(config: Config, args, server_cpus, workdir: Path) -> dict:
    """A peer: installed when missing (bench/peers/), started pinned like Parley, the same rooms."""
    entry: dict = {"server": config.server, "database": config.database, "layer": None, "note": config.note}
    try:
        server = peer_server(config, workdir)
        server.install()
        server.start(server_cpus)
        try:
            entry["version"] = getattr(server, "version", None) or getattr(server, "VERSION", None)
            entry["rooms"] = uvloop.run(run_peer_rooms(server, args))
            entry["server_rss_after_rooms_kib"] = server.rss_kib()
        finally:
            server.stop()
        return entry
    except Exception as error:  # a peer that cannot be had here must not lose Parley's figures
        log(f"! {config.name} failed: {error}")
        return {**entry, "error": str(error)[-2000:]}


def run_config(config: Config, backends: Backends, args, server_cpus, workdir: Path, results: dict) -> dict:
    if config.server in PEER_SERVERS:
        return run_peer_config(config, args, server_cpus, workdir)
    redis = None
    setup, env = None, None
    try:
        if config.database == "sqlite":
            setup, path = backends.sqlite(config.name)
            sqlite_path, database_url = path, None
        elif config.database == "postgres":
            setup, database_url = backends.postgres_url()
            sqlite_path = None
        if config.layer in ("pubsub", "core"):
            redis = backends.redis()
        if config.database:
            env = procs.parley_env(
                database_url=database_url,
                sqlite_path=sqlite_path,
                redis_url=redis.url if redis else None,
                layer=config.layer or "",
            )

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
        }
        # The code a server runs is the work tree's when it starts: on a shared tree it can change
        # between configurations, so each records its own commit (and whether app files differed).
        entry["git_commit"] = tool_version(["git", "-C", str(BASE_DIR), "rev-parse", "--short", "HEAD"])
        changed = tool_version(["git", "-C", str(BASE_DIR), "status", "--porcelain", "--", ".", ":!bench"])
        entry["work_tree_changed"] = changed not in ("", "?")
        server = start_server(config, env, procs.free_port(), workdir, server_cpus)
        try:
            entry["rooms"] = uvloop.run(run_rooms(config, server, setup, args, services_pids))
            entry["server_rss_after_rooms_kib"] = server.rss_kib()
        finally:
            server.stop()
        if args.idle and config.name in args.idle_configs:
            server = start_server(config, env, procs.free_port(), workdir, server_cpus)
            try:
                results["idle"][config.name] = uvloop.run(run_idle(config, server, setup, args))
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


def profile(backends: Backends, args, server_cpus, workdir: Path, results: dict, out: Path) -> dict | None:
    config = CONFIGS["daphne-memory-sqlite"]
    log("\n== py-spy profile of daphne-memory-sqlite under load (room of 100)")
    rooms = results["configs"].get(config.name, {}).get("rooms", {})
    knee = (rooms.get("100") or {}).get("knee_rate_msgs")
    # Below the knee, where the server is busy but keeping up: what a busy day costs.
    rate = round(0.8 * knee, 1) if knee else 20.0
    setup, path = backends.sqlite("profile")
    env = procs.parley_env(database_url=None, sqlite_path=path, redis_url=None, layer="")
    server = start_server(config, env, procs.free_port(), workdir, server_cpus)
    try:
        found = uvloop.run(run_profile(server, setup, args, rate, out, args.profile_seconds))
    finally:
        server.stop()
    raw = out / found["raw"]
    if raw.exists():
        found["top"] = report.summarise_profile(raw.read_text())
        (out / "profile.md").write_text(report.profile_markdown(found))
    return found


def write(results: dict, out: Path, started: float) -> None:
    results["elapsed_min"] = round((time.monotonic() - started) / 60, 1)
    (out / "results.json").write_text(
        json.dumps(
            results, indent=1, default=lambda v: None if isinstance(v, float) and math.isinf(v) else str(v)
        )
    )
    (out / "results.md").write_text(report.markdown(results))
    try:
        report.plot(results, out / "latency.png")
    except Exception as error:  # a missing plot must not lose the table
        log(f"! plot failed: {error}")


if __name__ == "__main__":
    main()
