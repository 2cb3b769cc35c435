"""How the profiles here were taken: py-spy on uvicorn-memory-sqlite (server on cpu 0, this
process on cpu 1) while a room of 100 holds one rate, plain or with thread replies.

    cd <tree> && PYTHONPATH=<tree> .venv/bin/python bench/results/threads/profiles/profile_threads.py \
        SHARE RATE SECONDS OUT_DIR [all|own]

SHARE: the share of thread replies (0: plain); `all`/`own`: bench/loadgen.py's thread_repliers.
py-spy runs with `--gil` (only the thread holding the GIL: where the Python CPU goes), or with
the flags in PYSPY_FLAGS (`--idle`: every thread, waiting included: wall-clock time), first for
raw stacks (OUT_DIR/gil.txt), then for a flame graph (gil.svg), SECONDS / 2 each.
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import uvloop

from bench import loadgen, procs, run


async def measure(server, setup: dict, share: float, rate: float, seconds: int, out: Path, repliers: str):
    room = loadgen.Room(
        loadgen.Target(procs.HOST, server.port),
        setup["rooms"]["100"]["id"],
        setup["rooms"]["100"]["sessions"],
        senders=10,
        server_cpu=server.cpu_seconds,
        services_cpu=lambda: 0.0,
        processes=1,
        thread_share=share,
        thread_repliers=repliers,
    )
    await room.connect()
    await room.run_step(rate, 3, 2, "warm")
    load = asyncio.create_task(room.run_step(rate, seconds + 6, 3, "profile"))
    await asyncio.sleep(2)
    flags = os.environ.get("PYSPY_FLAGS", "--gil").split()
    for fmt, name in (("raw", "gil.txt"), ("flamegraph", "gil.svg")):
        process = await asyncio.create_subprocess_exec(
            str(procs.VENV_BIN / "py-spy"),
            "record",
            *flags,
            "--pid",
            str(server.pid),
            "--duration",
            str(seconds // 2),
            "--rate",
            "100",
            "--format",
            fmt,
            "-o",
            str(out / name),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.STDOUT,
        )
        await process.wait()
    print(loadgen.format_step(await load))
    await room.close()


def main() -> None:
    share, rate, seconds, out = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    repliers = sys.argv[5] if len(sys.argv) > 5 else "all"
    out.mkdir(parents=True, exist_ok=True)
    os.sched_setaffinity(0, {1})
    work = Path(tempfile.mkdtemp(prefix="profile-threads-"))
    backends = run.Backends(work, {0}, [100], 0)
    setup, path = backends.sqlite("profile")
    env = procs.parley_env(database_url=None, sqlite_path=path, redis_url=None, layer="memory")
    server = run.start_server(run.CONFIGS["uvicorn-memory-sqlite"], env, procs.free_port(), work, {0})
    try:
        uvloop.run(measure(server, setup, share, rate, seconds, out, repliers))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
