"""A markdown table from py-spy raw profiles: the share of samples on each thread and in the
functions of the reply path (inclusive).

    python bench/results/threads/profiles/summarise.py NAME RAW.txt [NAME RAW.txt ...]
"""

import sys
from collections import Counter

FUNCS = [
    ("PostedMessage.publish", "fan-out: the frames to every member (publish → hub → each socket)"),
    ("WebSocketsSansIOProtocol.send", "of which uvicorn's websocket send (framing, socket write)"),
    ("post_messages", "the send transaction (database thread)"),
    ("_roots_under_lock", "of which reading the roots with their state"),
    ("QuerySet.bulk_update", "of which the roots' summaries"),
    ("Atomic.__enter__", "of which BEGIN IMMEDIATE (waiting for SQLite's write lock)"),
    ("make_pending_notifications", "the notification step (notifier thread)"),
    ("follow_for_reply", "of which follow state"),
    ("notify_followers", "of which notify_followers"),
    ("unread_count", "of which unread_count, once per follower"),
    ("thread_fields", "of which thread_fields (the reply's root, fetched once per notification)"),
]
THREADS = ("event loop", "database thread", "notifier thread")


def summary(path: str) -> tuple[int, Counter, Counter]:
    total, threads, funcs = 0, Counter(), Counter()
    with open(path) as raw:
        for line in raw:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [f.split(" (")[0] for f in stack.split(";")]
            if "_make" in frames or "Notifier._run" in frames:
                thread = "notifier thread"
            elif "SyncToAsync.thread_handler" in frames:
                thread = "database thread"
            elif "Runner.run" in frames:
                thread = "event loop"
            else:
                thread = "idle or other"
            total += n
            threads[thread] += n
            for name, _ in FUNCS:
                if name in frames:
                    funcs[name] += n
    return total, threads, funcs


def main() -> None:
    names, paths = sys.argv[1::2], sys.argv[2::2]
    results = [summary(p) for p in paths]
    print("| | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    print("| samples | " + " | ".join(f"{t:,}" for t, _, _ in results) + " |")
    for thread in THREADS:
        print(f"| {thread} | " + " | ".join(f"{th[thread] / t:.1%}" for t, th, _ in results) + " |")
    for name, label in FUNCS:
        print(f"| `{name}`: {label} | " + " | ".join(f"{f[name] / t:.1%}" for t, _, f in results) + " |")


if __name__ == "__main__":
    main()
