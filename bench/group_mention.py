"""The notification step of a group mention in a big room, on SQLite and PostgreSQL.

    python -m bench.group_mention                              # a room of 1,000, both engines
    python -m bench.group_mention --members 5000 --repeat 20 --engines sqlite --out /tmp/gm

For each engine a fresh database (SQLite: a file; PostgreSQL: a throwaway cluster of
tests/servers.py with durable settings, 127.0.0.1 only) is migrated and given one room of
`--members` members (the author its owner). A worker process with the database's environment
(bench/procs.py's `parley_env`) then stores messages as the socket does (`post_message`) and
times their notification step (`notifications.actions.make_pending_notifications`, the work
the notifier does off the message path), `--repeat` times each, after one warm-up of each:

- "before": a plain message, whose step has nothing to do (none is even pending: it is skipped);
- "mention": a message naming one member (one mention notification);
- "@room": a group mention, whose step makes `members - 1` notifications in one INSERT … SELECT
  and the `notification.new` frames of all of them.

Per kind: p50/p95 of the step in ms, the statements it ran (the database's round trips), the
INSERTs into the notifications table, the notifications made, and the frames' total bytes.
Results: results.json and results.md in --out (default bench/results/group_mention/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "bench" / "results" / "group_mention"

KINDS = [
    ("before", "a plain message (nothing pending)", "plain words {i}"),
    ("mention", "naming one member", "@member1 have a look {i}"),
    ("@room", "a group mention: every member", "@room release at noon {i}"),
]


# --- The worker: in the database's environment, Django set up --------------------------------


def worker(members: int, repeat: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from messaging.actions.messages import post_message
    from messaging.actions.rooms import create_room
    from messaging.models import Membership
    from notifications.actions import make_pending_notifications
    from notifications.models import Notification

    users = get_user_model()
    author = users.objects.create_user(username="author", password=None)
    room = create_room(creator=author, name="bench room")
    names = [f"member{i}" for i in range(1, members)]
    users.objects.bulk_create([users(username=n, folded_username=n) for n in names], batch_size=1000)
    Membership.objects.bulk_create(
        [Membership(user=user, room=room) for user in users.objects.filter(username__in=names)],
        batch_size=1000,
    )
    table = Notification._meta.db_table
    results = {}
    sequence = 0
    for kind, _, body in KINDS:
        times, statements, inserts, made, frame_bytes = [], [], [], [], []
        for attempt in range(repeat + 1):  # the first is a warm-up
            sequence += 1
            posted = post_message(
                author=author, room_id=room.id, body=body.format(i=sequence), client_id=f"b{sequence}"
            )
            before = Notification.objects.count()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                frames = make_pending_notifications(message_ids=[posted.message.id])
                elapsed = time.perf_counter() - started
            if attempt == 0:
                continue
            sql = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
            times.append(elapsed * 1000)
            statements.append(len(sql))
            inserts.append(sum(1 for s in sql if s.replace('"', "").startswith(f"INSERT INTO {table}")))
            made.append(Notification.objects.count() - before)
            frame_bytes.append(sum(len(frame) for _, frame in frames))
        results[kind] = {
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(sorted(times)[max(0, int(len(times) * 0.95) - 1)], 2),
            "statements": max(statements),
            "notification_inserts": max(inserts),
            "notifications": max(made),
            "frame_bytes": max(frame_bytes),
        }
    return {"vendor": connection.vendor, "members": members, "repeat": repeat, "kinds": results}


# --- The driver -----------------------------------------------------------------------------------


@contextlib.contextmanager
def database(engine: str, directory: Path):
    from bench import procs

    if engine == "sqlite":
        yield procs.parley_env(
            database_url=None, sqlite_path=directory / "db.sqlite3", redis_url=None, layer=""
        )
        return
    sys.path.insert(0, str(BASE_DIR))
    from tests import servers

    server = servers.start_postgres(directory / "cluster", durable=True)
    try:
        yield procs.parley_env(database_url=server.url, sqlite_path=None, redis_url=None, layer="")
    finally:
        server.close()


def measure(engine: str, members: int, repeat: int, timeout: float) -> dict:
    from bench import procs

    with tempfile.TemporaryDirectory(prefix=f"parley-group-mention-{engine}-") as tmp:
        directory = Path(tmp)
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user
        with database(engine, directory) as env:
            procs.manage(env, "migrate", "--noinput")
            out = directory / "worker.json"
            cmd = [sys.executable, "-m", "bench.group_mention", "--worker", "--worker-out", str(out)]
            cmd += ["--members", str(members), "--repeat", str(repeat)]
            subprocess.run(cmd, cwd=BASE_DIR, env=env, check=True, timeout=timeout)
            return json.loads(out.read_text())


def markdown(results: dict) -> str:
    lines = [
        f"# The notification step of @room in a room of {results['members']:,}",
        "",
        f"{results['when']}, commit {results['commit']}, {results['machine']}. "
        f"{results['repeat']} messages of each kind after one warm-up; the step as the notifier runs it "
        "(`make_pending_notifications`), off the message path.",
        "",
        "| engine | message | step p50 ms | p95 ms | statements | INSERTs into notifications | "
        "notifications made | frames (bytes) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for engine, found in results["engines"].items():
        for kind, what, _ in KINDS:
            row = found["kinds"][kind]
            lines.append(
                f"| {engine} | {kind}: {what} | {row['p50_ms']} | {row['p95_ms']} | {row['statements']} | "
                f"{row['notification_inserts']} | {row['notifications']:,} | {row['frame_bytes']:,} |"
            )
    lines += [
        "",
        "The @room step's statements are the same whatever the room's size: its notifications are one "
        "INSERT … SELECT; what grows with the room is the rows that statement writes and the frames.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        Path(args.worker_out).write_text(json.dumps(worker(args.members, args.repeat)))
        return
    out = args.out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    results = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "members": args.members,
        "repeat": args.repeat,
        "engines": {},
    }
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        results["engines"][engine] = measure(engine, args.members, args.repeat, args.timeout)
        print(f"bench: {engine}: {json.dumps(results['engines'][engine]['kinds'])}", flush=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(f"bench: results in {out}", flush=True)


if __name__ == "__main__":
    main()
