"""What one user's presence change costs when 1,000 people share a room with them (issue 13).

    python -m bench.presence_fanout --peers 1000 --repeats 5 --out bench/results/awareness/run1
    python -m bench.presence_fanout --config uvicorn-pubsub-postgres ...   # the production shape

A fresh server of the configuration (awareness on: PARLEY_PRESENCE/TYPING/READ_RECEIPTS = 1), on
the server cores as bench/run.py pins it, and a room of `peers` + 1 members (bench/setup_db.py).
All of them connect (picows clients when installed, websockets otherwise; this process on the
generator cores); the peers stay as they start, "away" (open tabs in the background), and read
every frame. Member 0 is the subject.
Then, `repeats` times:

1. the subject says `presence.set` active; every peer gets its `presence.changed` (active);
   then the subject's coalescing interval (PRESENCE_COALESCE_SECONDS, 2 s) passes, so the next
   change goes out at once, and the server's background CPU is read over a second;
2. **the subject says `presence.set` away** (the browser's blur or hidden tab; the server's own
   idle demotion takes the same path from `put` on): from that moment to the last peer's
   `presence.changed` (away) is the fan-out's time, and the server's CPU from the moment to the
   last arrival (per thread, in ns, from /proc/PID/task/*/schedstat), less the background rate,
   is its cost; every peer must get exactly one frame.

Then a **flap**: the subject toggles active/away every 100 ms for 2 s (20 changes); the frames
each peer receives in the next 4 s show the coalescing bound (at most one per user per
PRESENCE_COALESCE_SECONDS, the latest state), and the server's CPU what the 20 changes cost.
Before all of it, the connecting itself is measured: each member's socket opening is news to
every peer already connected (offline → away), so N members connecting make about N²/2 frames.

Writes fanout-<config>.json and fanout-<config>.md in --out; the medians are over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import uvloop

from bench import generator, loadgen, procs, run

clock = time.monotonic_ns
PRESENCE_CHANGED = b'{"type":"presence.changed","user":{"id":'


def task_cpu_ns(pid: int) -> int:
    """CPU time of all the process's threads, in ns (schedstat's first field: time on a cpu)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


class Peers:
    """The members' frames: each one's presence.changed frames about the subject, with their
    states and arrival times, and a count of every presence.changed frame (about anyone)."""

    def __init__(self, members: int, subject_id: int):
        self.prefix = PRESENCE_CHANGED + b'%d,"state":"' % subject_id
        self.members = members
        self.reset()

    def reset(self, state: bytes | None = None) -> None:
        self.waiting_for = state
        self.arrived: dict[int, int] = {}
        self.about_subject = [0] * self.members
        self.presence_frames = 0
        self.other_frames = 0
        self.done = asyncio.Event()

    def deliver(self, member: int, data: bytes, now: int) -> None:
        if not data.startswith(PRESENCE_CHANGED):
            self.other_frames += 1
            return
        self.presence_frames += 1
        if not data.startswith(self.prefix):
            return
        self.about_subject[member] += 1
        at = len(self.prefix)
        if member and data[at : at + len(self.waiting_for or b"")] == self.waiting_for:
            self.arrived.setdefault(member, now)
            if len(self.arrived) == self.members - 1:
                self.done.set()


async def settle(server_pid: int, *, quiet_share: float = 0.03, window: float = 0.5, limit: float = 60.0):
    """Until the server's CPU over `window` is under `quiet_share` of a core (or `limit` s)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = task_cpu_ns(server_pid)
        await asyncio.sleep(window)
        if (task_cpu_ns(server_pid) - before) / 1e9 / window < quiet_share:
            return round(time.monotonic() - started, 1)
    return round(time.monotonic() - started, 1)


async def measure(server, setup: dict, size: int, args) -> dict:
    room = setup["rooms"][str(size)]
    subject_id = room["user_ids"][0]
    target = loadgen.Target(procs.HOST, server.port)
    peers = Peers(size, subject_id)
    pid = server.pid
    result: dict = {"peers": size - 1, "subject_user_id": subject_id}

    # Connecting: every opening socket is news (offline -> away) to every peer already there.
    cpu0, gen0, t0 = task_cpu_ns(pid), loadgen.cpu_seconds(), time.monotonic()
    client = generator.choose_client(target, getattr(args, "client", None))
    result["client"] = client
    members, failures, seconds = await loadgen.open_many(
        target, room["sessions"], args.connect_concurrency, opener=generator.CLIENTS[client]
    )
    if failures:
        loadgen.abort_all(members)
        raise RuntimeError(f"{sum(failures.values())} of {size} members failed to connect: {failures}")
    for i, member in enumerate(members):
        member.start(partial(peers.deliver, i), lambda: None)
    settled = await settle(pid)
    result["connect"] = {
        "seconds": round(seconds, 2),
        "settled_after_s": settled,
        "server_cpu_s": round((task_cpu_ns(pid) - cpu0) / 1e9, 3),
        "generator_cpu_s": round(loadgen.cpu_seconds() - gen0, 3),
        "wall_s": round(time.monotonic() - t0, 2),
        # Only counted from when each member's reading started (after all had connected).
        "presence_frames_read_after_connecting": peers.presence_frames,
    }
    subject = members[0]
    repeats = []
    try:
        for _ in range(args.repeats):
            peers.reset(b"active")
            await subject.send(b'{"type":"presence.set","state":"active"}')
            await asyncio.wait_for(peers.done.wait(), args.timeout)
            await asyncio.sleep(args.coalesce + 0.2)  # the next change goes out at once
            await settle(pid)
            before, started = task_cpu_ns(pid), time.monotonic()
            await asyncio.sleep(1.0)
            background = (task_cpu_ns(pid) - before) / (time.monotonic() - started)  # ns per s

            peers.reset(b"away")
            gen0 = loadgen.cpu_seconds()
            cpu0, t0 = task_cpu_ns(pid), clock()
            await subject.send(b'{"type":"presence.set","state":"away"}')
            await asyncio.wait_for(peers.done.wait(), args.timeout)
            cpu1 = task_cpu_ns(pid)
            arrivals = sorted(peers.arrived.values())
            last = arrivals[-1]
            await asyncio.sleep(0.5)  # anything more (a second frame would be a fault)
            fanout_ns = (cpu1 - cpu0) - background * (last - t0) / 1e9
            repeats.append(
                {
                    "all_ms": round((last - t0) / 1e6, 2),
                    "first_ms": round((arrivals[0] - t0) / 1e6, 2),
                    "p50_ms": round((arrivals[len(arrivals) // 2] - t0) / 1e6, 2),
                    "server_cpu_us": round(fanout_ns / 1e3, 1),
                    "server_cpu_us_raw": round((cpu1 - cpu0) / 1e3, 1),
                    "background_us_per_s": round(background / 1e3, 1),
                    "us_per_peer": round(fanout_ns / 1e3 / (size - 1), 2),
                    "server_cpu_us_incl_500ms_after": round((task_cpu_ns(pid) - cpu0) / 1e3, 1),
                    "generator_cpu_us": round((loadgen.cpu_seconds() - gen0) * 1e6, 1),
                    "frames_per_peer": sorted(set(peers.about_subject[1:])),
                }
            )
            run.log(
                f"  away: all {size - 1} peers in {repeats[-1]['all_ms']} ms "
                f"(first {repeats[-1]['first_ms']}, p50 {repeats[-1]['p50_ms']}), server "
                f"{repeats[-1]['server_cpu_us']:.0f} µs = {repeats[-1]['us_per_peer']} µs/peer "
                f"(background {repeats[-1]['background_us_per_s']:.0f} µs/s); frames per peer "
                f"{repeats[-1]['frames_per_peer']}"
            )
        result["repeats"] = repeats
        result["median"] = {
            key: round(statistics.median(r[key] for r in repeats), 2)
            for key in ("all_ms", "first_ms", "p50_ms", "server_cpu_us", "us_per_peer", "generator_cpu_us")
        }

        # A flapping tab: 20 changes in 2 s; coalesced to at most one frame per interval.
        await asyncio.sleep(args.coalesce + 0.2)
        await settle(pid)
        before, started = task_cpu_ns(pid), time.monotonic()
        await asyncio.sleep(1.0)
        background = (task_cpu_ns(pid) - before) / (time.monotonic() - started)  # ns per s
        peers.reset(b"-")  # nothing waited for: every frame about the subject is counted
        cpu0, t0 = task_cpu_ns(pid), time.monotonic()
        for i in range(args.flaps):
            state = b"active" if i % 2 == 0 else b"away"
            await subject.send(b'{"type":"presence.set","state":"%s"}' % state)
            await asyncio.sleep(args.flap_every)
        await asyncio.sleep(args.coalesce * 2)
        counts = peers.about_subject[1:]
        result["flap"] = {
            "changes": args.flaps,
            "over_s": round(args.flaps * args.flap_every, 2),
            "frames_per_peer": [min(counts), max(counts)],
            "server_cpu_us": round(
                ((task_cpu_ns(pid) - cpu0) - background * (time.monotonic() - t0)) / 1e3, 1
            ),
            "background_us_per_s": round(background / 1e3, 1),
            "wall_s": round(time.monotonic() - t0, 2),
        }
        flap = result["flap"]
        run.log(
            f"  flap: {args.flaps} changes in {flap['over_s']} s -> "
            f"{flap['frames_per_peer']} frames per peer, server {flap['server_cpu_us']:.0f} µs"
        )
    finally:
        loadgen.abort_all(members)
    return result


def markdown(found: dict) -> str:
    med = found["median"]
    lines = [
        f"# Presence fan-out: one user, {found['peers']:,} peers ({found['config']})",
        "",
        f"git `{found['git_commit']}`, {found['started']}; server cpus {found['cpus']['server']}, "
        f"generator cpus {found['cpus']['generator']}; load average at start {found['loadavg']}. "
        f"Command: `{found['command']}`.",
        "",
        "active → away, each repeat after the subject's coalescing interval (so it goes out at once):",
        "",
        "| repeat | all peers (ms) | first (ms) | p50 (ms) | server CPU (µs) | µs per peer | "
        "background (µs/s) | generator CPU (µs) | frames per peer |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for i, r in enumerate(found["repeats"], 1):
        lines.append(
            f"| {i} | {r['all_ms']} | {r['first_ms']} | {r['p50_ms']} | {r['server_cpu_us']:,.0f} | "
            f"{r['us_per_peer']} | {r['background_us_per_s']:,.0f} | {r['generator_cpu_us']:,.0f} | "
            f"{r['frames_per_peer']} |"
        )
    lines.append(
        f"| **median** | **{med['all_ms']}** | {med['first_ms']} | {med['p50_ms']} | "
        f"**{med['server_cpu_us']:,.0f}** | **{med['us_per_peer']}** | | {med['generator_cpu_us']:,.0f} | |"
    )
    flap, connect = found["flap"], found["connect"]
    lines += [
        "",
        f"Flapping: {flap['changes']} changes in {flap['over_s']} s → {flap['frames_per_peer'][0]}–"
        f"{flap['frames_per_peer'][1]} frames per peer; server {flap['server_cpu_us']:,.0f} µs "
        f"(less the background, {flap['background_us_per_s']:,.0f} µs/s, over {flap['wall_s']} s).",
        "",
        f"Connecting all {found['peers'] + 1:,} members: {connect['seconds']} s, then settled after "
        f"{connect['settled_after_s']} s more; server CPU {connect['server_cpu_s']} s (each opening socket "
        "announced to the peers already connected), generator CPU "
        f"{connect['generator_cpu_s']} s.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--config",
        default="uvicorn-memory-sqlite",
        choices=["uvicorn-memory-sqlite", "uvicorn-pubsub-postgres"],
    )
    parser.add_argument("--coalesce", type=float, default=2.0, help="the server's PRESENCE_COALESCE_SECONDS")
    parser.add_argument("--flaps", type=int, default=20)
    parser.add_argument("--flap-every", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument(
        "--client", choices=sorted(generator.CLIENTS), default=None,
        help="the members' WebSocket client (default: picows when installed, else websockets)",
    )  # fmt: skip
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, help="wait up to this long for a quiet machine"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    config = run.CONFIGS[args.config]
    cli = argparse.Namespace(server_cpus=None, generator_cpus=None)
    server_cpus, generator_cpus = run.cpu_sets(cli)
    if generator_cpus:
        os.sched_setaffinity(0, generator_cpus)
    procs.raise_nofile()
    args.out.mkdir(parents=True, exist_ok=True)
    size = args.peers + 1
    workdir = Path(tempfile.mkdtemp(prefix="parley-fanout-"))
    backends = run.Backends(workdir, server_cpus, [size], 0)
    redis = None
    found = {
        "config": config.name,
        "command": "python -m bench.presence_fanout " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git_commit": run.tool_version(["git", "-C", str(run.BASE_DIR), "rev-parse", "--short", "HEAD"]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": {"server": sorted(server_cpus or []), "generator": sorted(generator_cpus or [])},
        "loadavg": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    try:
        if config.database == "postgres":
            setup, url = backends.postgres_url()
            redis = backends.redis()
            env = procs.parley_env(
                database_url=url, sqlite_path=None, redis_url=redis.url, layer=config.layer
            )
        else:
            setup, path = backends.sqlite(config.name)
            env = procs.parley_env(database_url=None, sqlite_path=path, redis_url=None, layer="")
        env.update(run.awareness_env("on"))
        env["PARLEY_PRESENCE_COALESCE_SECONDS"] = str(args.coalesce)
        if args.wait_quiet:
            from bench import quiet

            found["quiet_wait"] = quiet.wait_for_quiet(args.wait_quiet, log=run.log)
        server = run.start_server(config, env, procs.free_port(), workdir, server_cpus)
        try:
            found.update(uvloop.run(measure(server, setup, size, args)))
        finally:
            server.stop()
    finally:
        if redis is not None:
            redis.close()
        backends.close()
        shutil.rmtree(workdir, ignore_errors=True)
    stem = args.out / f"fanout-{config.name}"
    stem.with_suffix(".json").write_text(json.dumps(found, indent=1))
    stem.with_suffix(".md").write_text(markdown(found))
    run.log(markdown(found))


if __name__ == "__main__":
    main()
