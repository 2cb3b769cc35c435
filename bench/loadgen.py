"""The load generator: N members of one room on real sockets, senders at a fixed open-loop rate.

The members are held by `processes` generator processes (bench/generator.py; by default one per
generator core, each pinned to its core, the members dealt out between them, the senders too),
each on one asyncio (uvloop) event loop, on the picows client (the websockets client with
permessage-deflate); with `processes=1` all of it runs in this process:

- Members connect with their `sessionid` cookie (see bench/setup_db.py), from source addresses
  spread over 127.0.0.2–127.0.0.41, at most `concurrency` handshakes at a time, and wait for
  `hello`. Each member's frames are then read as they arrive.
- A step offers `rate` messages a second for `duration` seconds. Each of the S senders (the first
  members) has its own schedule, message i due at t0 + i/rate; a sender that falls behind sends
  what is due at once, and every body carries the time it was *due* (time.monotonic_ns: one
  clock for every process on the machine). Latency is measured from that due time, so a
  stalled server or sender cannot hide its stall (no coordinated omission); how late the
  senders actually were is reported as the send lag.
- Every `message.new` received by every member (the sender's own copy included: it is the
  acknowledgement) is a delivery: its latency is receipt minus due time. After the sending
  window the step waits for the outstanding deliveries (up to a drain timeout). Deliveries that
  never came are lost and count as infinite latency in the percentiles; a `seq` a member already
  had is a duplicate; a `seq` below the member's last is out of order.
- Threads (Parley only, `thread_share` > 0): that share of the messages are replies
  (`thread_root`) to a fixed set of roots posted before anyone else connects (`thread_roots`
  of them, 10 by default; root j by sender j mod S). Which messages are replies does not
  depend on the sender: message i is one when frac(i·φ⁻¹) < share (φ the golden ratio), so the
  replies are spread evenly over the step and over the senders. With `thread_repliers="all"`
  (the default) sender k's n-th reply of a step goes to root (k + n) mod R (`reply_root`): the
  senders replying at about the same time answer different roots, and each sender replies in
  every thread, so that every root is followed by its author and every sender, as a busy
  thread is (each reply then notifies the thread's other followers). With "own" there is one
  root per sender and each sender replies only under its own: no thread has a follower to
  notify, which leaves the reply and its root's frame without the notification step. A reply's
  `message.new` is a delivery like any other (its latency read the same way, from its due
  time); the root's `message.updated` that follows it at every member is counted apart, per
  member, as a root update, never as a delivery (group commit may fold the updates of one
  root by several replies of one batch into one frame, so there are at most as many as
  replies, and every member must receive the same number).
- Awareness (Parley only, issue 13; `awareness="on"`): the members behave as browsers do with
  presence, typing and read receipts on. Every member says `presence.set` active once after
  `hello`, then once a minute (member m in its own slot of the minute, so the refreshes are
  spread); each sender says `typing.start` before each message (the server relays a start
  unless it comes within its throttle of that user's previous one in the room, and sends
  `typing.stopped` when the message is sent); every member sends `room.read` for the newest
  seq it received, at most once a second (member m in slot m mod 10 of each second), which
  moves its read pointer and so the room's receipts (rooms up to the server's
  RECEIPTS_MAX_MEMBERS). `awareness="reads"` sends only the `room.read`s (what browsers still
  send with awareness off at the server); `awareness="noreads"` all but them (presence and
  typing, against a server with awareness on: what they cost without the read pointer's
  writes). One task per generator process does the periodic part; the frames are written
  pre-encoded. Awareness frames received (typing.started/stopped,
  presence.changed, receipts.changed, room.read) are counted by type from their first bytes,
  never parsed, and are no deliveries.
- The generator's own CPU time (getrusage, each worker's added) is reported for each step, as
  the share of its busiest core, so an overloaded generator cannot pass for a slow server.
- With several processes each checks its own members (loss, duplicates, order: per member, as
  with one); the parent adds up the counts and takes the union of every latency sample, so the
  percentiles are those of all deliveries, never an average of the workers' percentiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench import generator
from bench.generator import SOURCE_ADDRESSES, is_update_of, parse_new, room_needle

__all__ = ["SOURCE_ADDRESSES"]

clock = time.monotonic_ns
# A body of about a real chat line; the whole message.new frame is then ~400 bytes.
PAD = "lorem ipsum dolor sit amet " * 6
P99_LIMIT_MS = 100.0
# A generator using this much of its core is the bottleneck, not the server: the step says nothing.
GENERATOR_BUSY = 0.90
# frac(i / φ): an evenly spread, sender-independent choice of which messages are replies.
INVERSE_PHI = (math.sqrt(5) - 1) / 2
THREAD_ROOTS = 10
# After a step's last delivery, the root update that follows its last reply is still on its way
# (the frame after it): this long more is given to it before the step's counts are taken.
UPDATE_GRACE_S = 0.1
# Other people's processes using this much of a core during a step make it noisy: on a shared
# machine a failing noisy step is run again (up to NOISY_RETRIES times) before it counts.
NOISY_OTHER_CPU = 0.25
NOISY_RETRIES = 2
# Awareness (issue 13): what the members do as browsers, by mode; the cadence of it.
AWARENESS_MODES = ("on", "off", "reads", "noreads")
BROWSER_DOES = {
    "on": {"presence", "typing", "reads"},
    "noreads": {"presence", "typing"},
    "reads": {"reads"},
    "off": set(),
    None: set(),
}
PRESENCE_REFRESH_S = 60.0  # static/js/presence.js: "active" again at most once a minute
READ_EVERY_S = 1.0  # a member's room.read at most once a second
BROWSER_TICK_S = 0.1  # the periodic task's step: a tenth of the members' reads fall due in each
# After the members said "active": each one's presence frame to every other member (coalesced
# per user over PRESENCE_COALESCE_SECONDS, 2 s) is out before the first step.
AWARENESS_SETTLE_S = 3.0
PRESENCE_ACTIVE = b'{"type":"presence.set","state":"active"}'


def is_reply(index: int, share: float) -> bool:
    """Whether message `index` of a step is a thread reply when `share` of them are."""
    return share > 0 and (index * INVERSE_PHI) % 1.0 < share


THREAD_REPLIERS = ("all", "own")


def reply_root(sender: int, replies_before: int, roots: int, repliers: str = "all") -> int:
    """Which of the `roots` (an index) sender `sender`'s reply answers, after `replies_before`
    replies of its own in the step: every thread in turn ("all"), or its own root ("own")."""
    if repliers == "own":
        return sender % roots
    return (sender + replies_before) % roots


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine spent busy (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / 100.0  # USER_HZ is 100 on Linux


@dataclass
class Target:
    host: str
    port: int
    # "deflate": offer permessage-deflate, as browsers do (the server decides whether to accept);
    # None: plain frames, so what the server does per frame is measured, not zlib.
    compression: str | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws/chat/"

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"


async def open_socket(
    target: Target, session: str | None, index: int, timeout: float = 15.0
) -> ClientConnection:
    """A logged-in `websockets` socket that has received `hello`."""
    return (await generator.open_websockets(target, session, index, timeout)).socket


async def open_many(
    target: Target,
    sessions: list[str | None],
    concurrency: int,
    first_index: int = 0,
    *,
    opener=None,
    indices: list[int] | None = None,
    targets: list[Target] | None = None,
) -> tuple[list, Counter, float]:
    """Open one connection per session, `concurrency` handshakes at a time: connections (None for
    a failed one), failures, seconds. `opener` (bench/generator.py's CLIENTS) gives members;
    without it, `websockets` sockets. Member i's source address is that of `indices[i]`
    (default: first_index + i), and with `targets` it connects to targets[indices[i] % n]."""
    gate = asyncio.Semaphore(concurrency)
    failures: Counter = Counter()
    indices = indices if indices is not None else [first_index + i for i in range(len(sessions))]

    async def one(index: int, session: str | None):
        target_here = targets[index % len(targets)] if targets else target
        async with gate:
            try:
                if opener is None:
                    return await open_socket(target_here, session, index)
                return await opener(target_here, session, index, 15.0)
            except generator.OPEN_ERRORS as error:
                failures[type(error).__name__] += 1
                return None

    started = time.monotonic()
    sockets = await asyncio.gather(*(one(i, s) for i, s in zip(indices, sessions, strict=True)))
    return list(sockets), failures, time.monotonic() - started


def abort_all(sockets: list) -> None:
    for socket in sockets:
        if isinstance(socket, ClientConnection):
            socket.transport.abort()
        elif socket is not None:
            socket.abort()


class Step:
    """One rate held for one duration: what was sent, and every delivery of it."""

    def __init__(
        self,
        index: int,
        members: int,
        senders: int,
        rate: float,
        duration: float,
        label: str,
        ordered: bool = True,
        thread_share: float = 0.0,
    ):
        self.index = index
        self.thread_share = thread_share
        # Whether the server promises one order for everyone (Parley's seq): out-of-order counts.
        self.ordered = ordered
        self.members = members
        self.senders = senders
        self.rate = rate
        self.duration = duration
        self.label = label
        self.total = max(1, round(rate * duration))
        self.seen: list[set[int]] = [set() for _ in range(members)]
        self.last_seq = [0] * members
        self.latencies: list[int] = []
        self.send_lags: list[int] = []
        self.pending: dict[str, int] = {}  # client_id -> sender, until its own copy arrives
        self.sent = 0
        self.send_failures = 0
        self.delivered = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.errors: Counter = Counter()
        # Threads: replies sent; each member's count of its room's message.updated frames (the
        # roots' new summaries); frames of any other kind, by type (notifications, ...).
        self.replies = 0
        self.updates = [0] * members
        self.other_frames: Counter = Counter()
        # Awareness: the frames the members sent as browsers do during the step.
        self.typing_sent = 0
        self.reads_sent = 0
        self.presence_sent = 0
        self.start_ns = 0
        self.last_delivery_ns = 0
        self.sending_done = False
        self.done = asyncio.Event()

    @property
    def expected(self) -> int:
        return self.total * self.members

    def record(self, member: int, seq: int, latency_ns: int, client_id: str, now: int) -> None:
        seen = self.seen[member]
        if seq in seen:
            self.duplicates += 1
            return
        seen.add(seq)
        if seq < self.last_seq[member] and self.ordered:
            self.out_of_order += 1
        else:
            self.last_seq[member] = seq
        self.latencies.append(latency_ns)
        self.delivered += 1
        self.last_delivery_ns = now
        if self.pending.get(client_id) == member:
            del self.pending[client_id]
        if self.sending_done and self.delivered >= self.expected:
            self.done.set()

    def summary(
        self,
        *,
        wall: float,
        generator_cpu: float,
        server_cpu: float,
        services_cpu: float,
        other_cpu: float,
        generator_busiest: float | None = None,
        processes: int = 1,
    ):
        """The step's figures. `generator_cpu`: CPU seconds of every generator process;
        `generator_busiest`: those of its busiest core (default: all of them, one process)."""
        busiest = generator_busiest
        latencies = sorted(self.latencies)
        expected = self.expected

        def percentile(q: float) -> float | None:
            # Over every expected delivery: a lost one is slower than any that came.
            index = max(0, math.ceil(q * expected) - 1)
            return round(latencies[index] / 1e6, 3) if index < len(latencies) else None

        lags = sorted(self.send_lags)
        root_updates = sum(self.updates)
        frames = self.delivered + root_updates
        kinds = generator.AWARENESS_TYPES
        awareness_frames = sum(n for kind, n in self.other_frames.items() if kind in kinds)
        every_frame = frames + awareness_frames
        elapsed = (
            max(self.duration, (self.last_delivery_ns - self.start_ns) / 1e9) if self.delivered else wall
        )
        result = {
            "label": self.label,
            "members": self.members,
            "senders": self.senders,
            "rate_msgs": round(self.rate, 3),
            "offered_deliveries": round(self.rate * self.members, 1),
            "duration_s": self.duration,
            "messages_sent": self.sent,
            "messages_scheduled": self.total,
            "unacknowledged": len(self.pending) + (self.total - self.sent),
            "deliveries": self.delivered,
            "expected_deliveries": expected,
            "deliveries_per_s": round(self.delivered / elapsed, 1),
            "lost": expected - self.delivered,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "errors": dict(self.errors),
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
            "p999_ms": percentile(0.999),
            "max_ms": round(latencies[-1] / 1e6, 3) if latencies and self.delivered == expected else None,
            "send_lag_p99_ms": round(lags[max(0, math.ceil(0.99 * len(lags)) - 1)] / 1e6, 3)
            if lags
            else None,
            # CPU time per delivery barely moves when other processes take turns on the core, so it
            # compares configurations even on a busy machine, where latencies do not.
            "server_us_per_delivery": round(server_cpu / self.delivered * 1e6, 1) if self.delivered else None,
            # Threads: the replies among the messages sent, and the roots' message.updated frames
            # received (all members' together, and the fewest and most at one member).
            "thread_share": self.thread_share,
            "replies_sent": self.replies,
            "root_updates": root_updates,
            "root_updates_per_member": [min(self.updates), max(self.updates)] if self.updates else None,
            "server_us_per_frame": round(server_cpu / frames * 1e6, 1) if frames else None,
            "other_frames": dict(self.other_frames),
            # Awareness: what the members sent as browsers (typing.start, room.read, presence.set)
            # and the awareness frames they received (by type in other_frames), and the server's
            # CPU over every frame it sent (deliveries, root updates, awareness frames).
            "typing_sent": self.typing_sent,
            "reads_sent": self.reads_sent,
            "presence_sent": self.presence_sent,
            "awareness_frames": awareness_frames,
            "server_us_per_any_frame": round(server_cpu / every_frame * 1e6, 1) if every_frame else None,
            # The share of its busiest core: 90 % of one core is saturated, however many there are.
            "generator_cpu": round((generator_cpu if busiest is None else busiest) / wall, 3),
            "generator_cpu_total": round(generator_cpu / wall, 3),
            "generator_processes": processes,
            "generator_us_per_delivery": round(generator_cpu / self.delivered * 1e6, 2)
            if self.delivered
            else None,
            "server_cpu": round(server_cpu / wall, 3),
            "services_cpu": round(services_cpu / wall, 3),
            "other_cpu": round(max(0.0, other_cpu) / wall, 3),
            "wall_s": round(wall, 2),
        }
        generator_bound = result["generator_cpu"] >= GENERATOR_BUSY
        healthy = (
            result["lost"] == 0
            and result["duplicates"] == 0
            and result["out_of_order"] == 0
            and not result["errors"]
            and result["p99_ms"] is not None
            and result["p99_ms"] <= P99_LIMIT_MS
            and not uneven_updates(result)
        )
        result["generator_bound"] = generator_bound
        result["noisy"] = result["other_cpu"] >= NOISY_OTHER_CPU
        result["pass"] = healthy and not generator_bound
        return result


def uneven_updates(result: dict) -> bool:
    """Some member received fewer root updates than another: one was lost (each goes to all)."""
    counts = result.get("root_updates_per_member")
    return bool(counts) and counts[0] != counts[1]


async def paced(step: Step, sender: int, t0: int):
    """This sender's share of the step's messages, open loop: (index, due time, now) as each
    falls due (message i is due at t0 + i / rate, whoever sends it)."""
    interval = 1e9 / step.rate
    for i in range(sender, step.total, step.senders):
        due = t0 + int(i * interval)
        now = clock()
        if due > now:
            await asyncio.sleep((due - now) / 1e9)
            now = clock()
        yield i, due, now


class Room:
    """N connected members of one room, driven step by step.

    `processes`: how many generator processes hold the members (default: one per core this
    process may run on, i.e. the generator cores; see bench/generator.py); 1 keeps everything
    in this process. `client`: "picows" or "websockets" (default: picows unless the members
    offer permessage-deflate). `targets`: several server processes' ports, member m connecting
    to targets[m % len(targets)] (default: [target])."""

    def __init__(
        self,
        target: Target,
        room_id: int,
        sessions: list[str | None],
        *,
        senders: int,
        server_cpu: Callable[[], float],
        services_cpu: Callable[[], float],
        processes: int | None = None,
        client: str | None = None,
        targets: list[Target] | None = None,
        thread_share: float = 0.0,
        thread_roots: int = THREAD_ROOTS,
        thread_repliers: str = "all",
        awareness: str | None = None,
    ):
        if awareness not in BROWSER_DOES:
            raise ValueError(f"awareness: one of {', '.join(AWARENESS_MODES)}, not {awareness!r}")
        if not 0.0 <= thread_share <= 1.0:
            raise ValueError(f"thread_share is a share of the messages, 0 to 1: not {thread_share}")
        if thread_share and thread_roots < 1:
            raise ValueError("replies need at least one thread root")
        if thread_repliers not in THREAD_REPLIERS:
            raise ValueError(f"thread_repliers: one of {', '.join(THREAD_REPLIERS)}, not {thread_repliers!r}")
        self.thread_share = thread_share
        self.thread_repliers = thread_repliers
        # Awareness: what the members do as browsers (BROWSER_DOES), the periodic task doing it,
        # and per member the newest seq received and the last one it said it read.
        self.awareness = awareness
        self.browser: asyncio.Task | None = None
        self.read_seq: list[int] = []
        self.read_sent: list[int] = []
        self.awareness_settle = AWARENESS_SETTLE_S
        # "own": one root per sender, posted by it.
        self.thread_roots = min(senders, len(sessions)) if thread_repliers == "own" else thread_roots
        self.roots: list[int] = []  # the seqs of the thread roots, once posted
        self.target = target
        self.targets = list(targets) if targets else [target]
        self.room_id = room_id
        self.needle = room_needle(room_id)
        self.sessions = sessions
        self.senders = min(senders, len(sessions))
        self.server_cpu = server_cpu
        self.services_cpu = services_cpu
        self.processes = max(1, min(processes or len(os.sched_getaffinity(0)), len(sessions) or 1))
        self.client = generator.choose_client(target, client) if isinstance(target, Target) else client
        self.sockets: list = []
        self.readers: list[asyncio.Task] = []
        self.workers: list[generator.Worker] = []
        self.steps: dict[int, Step] = {}
        self.current: Step | None = None
        self.closed = 0
        self.connect_seconds = 0.0
        # client_ids are unique per author for good (a reused one is a resend, answered with the
        # stored original and not broadcast): a fresh prefix for every run against a database.
        self.token = secrets.token_hex(4)
        self.ordered = True
        # In a worker these say which of the room's members this process holds: member i here is
        # the room's member_ids[i] (its source address), and member j < len(sender_ids) sends as
        # the room's sender sender_ids[j] (of total_senders: message k is sender k % total's).
        self.member_ids = list(range(len(sessions)))
        self.sender_ids = list(range(self.senders))
        self.total_senders = self.senders

    async def connect(self, concurrency: int = 50) -> None:
        if self.thread_share and not self.roots:
            self.roots = await self.post_roots()
        if self.processes > 1:
            await self._connect_workers(concurrency)
            return
        members, failures, self.connect_seconds = await open_many(
            self.target,
            self.sessions,
            concurrency,
            opener=generator.CLIENTS[self.client],
            indices=self.member_ids,
            targets=self.targets,
        )
        if failures:
            abort_all(members)
            raise RuntimeError(
                f"{sum(failures.values())} of {len(self.sessions)} members failed to connect: {failures}"
            )
        self.sockets = members
        does = BROWSER_DOES[self.awareness]
        deliver = self._deliver_reading if "reads" in does else self._deliver
        self.read_seq, self.read_sent = [0] * len(members), [0] * len(members)
        for i, member in enumerate(members):
            member.start(partial(deliver, i), self._on_closed)
        if does:
            await self._start_browsing(does)

    async def _start_browsing(self, does: set[str]) -> None:
        """Browsers' awareness frames: "active" once after hello, then the periodic task."""
        if "presence" in does:
            for member in self.sockets:
                with contextlib.suppress(generator.Closed, ConnectionClosed):
                    await member.send(PRESENCE_ACTIVE)
        self.browser = asyncio.create_task(self._browse(does))
        if "presence" in does and self.awareness_settle:
            await asyncio.sleep(self.awareness_settle)

    async def _browse(self, does: set[str]) -> None:
        """Every BROWSER_TICK_S: the `room.read`s of the members whose slot of the second it is
        (member m in slot m mod 10, each once a second, only when it received something newer
        than it last said), and the `presence.set` active of those whose slot of the minute it
        is (member m in slot m mod 600)."""
        loop = asyncio.get_running_loop()
        reads, presence = "reads" in does, "presence" in does
        read_slots = round(READ_EVERY_S / BROWSER_TICK_S)
        presence_slots = round(PRESENCE_REFRESH_S / BROWSER_TICK_S)
        room = self.room_id
        members, read_seq, read_sent = self.sockets, self.read_seq, self.read_sent
        start, tick = loop.time(), 0
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * BROWSER_TICK_S - loop.time()))
            step = self.current
            for m in range(tick % read_slots, len(members), read_slots) if reads else ():
                seq = read_seq[m]
                if seq > read_sent[m]:
                    read_sent[m] = seq
                    with contextlib.suppress(generator.Closed, ConnectionClosed):
                        await members[m].send(b'{"type":"room.read","room":%d,"seq":%d}' % (room, seq))
                        if step is not None:
                            step.reads_sent += 1
            for m in range(tick % presence_slots, len(members), presence_slots) if presence else ():
                with contextlib.suppress(generator.Closed, ConnectionClosed):
                    await members[m].send(PRESENCE_ACTIVE)
                    if step is not None:
                        step.presence_sent += 1

    async def post_roots(self, timeout: float = 15.0) -> list[int]:
        """The thread roots, root j posted by sender j mod S, each sender on a socket of its own,
        before the members connect: their seqs, in order."""
        seqs: list[int | None] = [None] * self.thread_roots
        senders = min(self.senders, self.thread_roots)

        async def post(sender: int) -> None:
            mine = range(sender, self.thread_roots, senders)
            socket = await open_socket(self.targets[0], self.sessions[sender], self.member_ids[sender])
            wanted = {f"{self.token}.root.{j}": j for j in mine}
            try:
                for client_id, j in wanted.items():
                    frame = {
                        "type": "message.send",
                        "room": self.room_id,
                        "body": f"0|0|thread root {j}: {PAD}",
                        "client_id": client_id,
                    }
                    await socket.send(orjson.dumps(frame).decode())
                while any(seqs[j] is None for j in mine):
                    frame = orjson.loads(await socket.recv())
                    if frame.get("type") == "error":
                        raise RuntimeError(f"posting the thread roots: {frame}")
                    message = frame.get("message") or {}
                    if frame.get("type") == "message.new" and message.get("client_id") in wanted:
                        seqs[wanted[message["client_id"]]] = message["seq"]
            finally:
                await socket.close()

        async with asyncio.timeout(timeout):
            await asyncio.gather(*(post(k) for k in range(senders)))
        return seqs

    async def _connect_workers(self, concurrency: int) -> None:
        """Member m to worker m % processes (so the senders, the first members, are dealt out
        too), each worker pinned to one of this process's cores in turn."""
        cpus = sorted(os.sched_getaffinity(0))
        n = self.processes
        self.workers = [generator.Worker(w, cpus[w % len(cpus)]) for w in range(n)]
        started = time.monotonic()
        try:
            await asyncio.gather(*(w.start() for w in self.workers))
            answers = await asyncio.gather(
                *(
                    w.call(
                        "connect",
                        target=self.target,
                        targets=self.targets,
                        room_id=self.room_id,
                        sessions=self.sessions[w.number :: n],
                        member_ids=list(range(len(self.sessions)))[w.number :: n],
                        sender_ids=list(range(self.senders))[w.number :: n],
                        total_senders=self.senders,
                        token=self.token,
                        ordered=self.ordered,
                        client=self.client,
                        thread_share=self.thread_share,
                        thread_repliers=self.thread_repliers,
                        roots=self.roots,
                        awareness=self.awareness,
                        awareness_settle=self.awareness_settle,
                        concurrency=max(1, concurrency // n),
                    )
                    for w in self.workers
                )
            )
        except BaseException:
            await self._stop_workers()
            raise
        self.connect_seconds = time.monotonic() - started
        errors = [a["error"] for a in answers if not a["ok"]]
        if errors:
            await self._stop_workers()
            raise RuntimeError("; ".join(errors))

    async def _stop_workers(self) -> None:
        closed = 0
        for worker in self.workers:
            with contextlib.suppress(Exception):
                if worker.process is not None and worker.process.returncode is None:
                    closed += (await asyncio.wait_for(worker.call("close"), 10))["closed"]
            await worker.stop()
        if closed:
            self.closed = closed
        self.workers = []

    async def close(self) -> None:
        if self.workers:
            await self._stop_workers()
            return
        if self.browser is not None:
            self.browser.cancel()
            await asyncio.gather(self.browser, return_exceptions=True)
            self.browser = None
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(*(member.stop() for member in self.sockets), return_exceptions=True)
        self.sockets, self.readers = [], []

    def _on_closed(self) -> None:
        self.closed += 1

    def _deliver(self, member: int, data: bytes, now: int) -> None:
        """One frame received by `member` at `now`."""
        # Only a sender's own copy can settle a pending client_id: no one else needs it read.
        own = member < self.senders
        fields = parse_new(data, self.needle, own)
        if fields is not None:  # the cheap path: no JSON parse for a delivery
            seq, step_index, due, client_id = fields
            step = self.steps.get(step_index)
            if step is not None:
                step.record(member, seq, now - due, client_id.decode() if own else "", now)
            return
        self._deliver_other(member, data, now)

    def _deliver_reading(self, member: int, data: bytes, now: int) -> None:
        """As _deliver, and the member remembers the newest seq it received (for its room.read)."""
        own = member < self.senders
        fields = parse_new(data, self.needle, own)
        if fields is not None:
            seq, step_index, due, client_id = fields
            if seq > self.read_seq[member]:
                self.read_seq[member] = seq
            step = self.steps.get(step_index)
            if step is not None:
                step.record(member, seq, now - due, client_id.decode() if own else "", now)
            return
        self._deliver_other(member, data, now)

    def _deliver_other(self, member: int, data: bytes, now: int) -> None:
        """A frame that is not a delivery in the cheap shape."""
        if is_update_of(data, self.needle):  # a root's new summary: counted, not parsed
            if self.current is not None:
                self.current.updates[member] += 1
            return
        kind = generator.awareness_kind(data)
        if kind is not None:  # typing, presence, receipts, the read pointer: counted, not parsed
            if self.current is not None:
                self.current.other_frames[kind] += 1
            return
        frame = orjson.loads(data)
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            if message["room"] != self.room_id:
                return
            step_index, due, _ = message["body"].split("|", 2)
            step = self.steps.get(int(step_index))
            if step is not None:
                step.record(member, message["seq"], now - int(due), message["client_id"], now)
        elif self.current is None:
            return
        elif kind == "error":
            self.current.errors[frame.get("code", "?")] += 1
        elif kind == "message.updated":
            if frame["message"]["room"] == self.room_id:
                self.current.updates[member] += 1
        else:
            self.current.other_frames[kind] += 1

    async def _send(self, step: Step, sender: int, socket, t0: int) -> None:
        room_id = self.room_id
        dumps = orjson.dumps
        member = self.sender_ids.index(sender)
        share, roots, repliers = self.thread_share, self.roots, self.thread_repliers
        replies = 0
        # A browser's composer says typing.start as its person types; then the message.
        typing = None
        if "typing" in BROWSER_DOES[self.awareness]:
            typing = b'{"type":"typing.start","room":%d}' % room_id
        async for i, due, now in paced(step, sender, t0):
            if typing is not None:
                try:
                    await socket.send(typing)
                    step.typing_sent += 1
                except (ConnectionClosed, generator.Closed):
                    pass
            client_id = f"{self.token}.{step.index}.{i}"
            step.pending[client_id] = member
            frame = {
                "type": "message.send",
                "room": room_id,
                "body": f"{step.index}|{due}|{PAD}",
                "client_id": client_id,
            }
            reply = share and is_reply(i, share)
            if reply:
                frame["thread_root"] = roots[reply_root(sender, replies, len(roots), repliers)]
                replies += 1
            step.send_lags.append(now - due)
            try:
                await socket.send(dumps(frame))
            except (ConnectionClosed, generator.Closed):
                step.send_failures += 1
                del step.pending[client_id]
                continue
            step.sent += 1
            if reply:
                step.replies += 1

    def new_step(self, index: int, rate: float, duration: float, label: str) -> Step:
        step = Step(
            index,
            len(self.sockets),
            self.total_senders,
            rate,
            duration,
            label,
            ordered=self.ordered,
            thread_share=self.thread_share,
        )
        self.steps[index] = step
        self.current = step
        return step

    async def send_all(self, step: Step, t0: int) -> None:
        """This process's senders, open loop from t0; then the step is waiting only for deliveries."""
        step.start_ns = t0
        await asyncio.gather(
            *(self._send(step, k, self.sockets[j], t0) for j, k in enumerate(self.sender_ids))
        )
        step.sending_done = True
        if step.delivered >= step.expected:
            step.done.set()

    async def drain(self, step: Step, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(step.done.wait(), max(0.0, seconds))
        if self.thread_share:
            await asyncio.sleep(UPDATE_GRACE_S)

    async def run_step(self, rate: float, duration: float, drain: float, label: str = "ladder") -> dict:
        index = len(self.steps) + 1
        duration = max(duration, 5 / rate)  # at least five messages
        if self.workers:
            return await self._run_step_workers(index, rate, duration, drain, label)
        step = self.new_step(index, rate, duration, label)
        cpu0, server0, services0, busy0 = self._cpu_marks()
        wall0 = time.monotonic()
        with generator.gc_paused():
            await self.send_all(step, clock() + 20_000_000)
            await self.drain(step, drain)
        wall = time.monotonic() - wall0
        generator_cpu = cpu_seconds() - cpu0
        server = self.server_cpu() - server0
        services = self.services_cpu() - services0
        other = machine_busy_seconds() - busy0 - generator_cpu - server - services
        self.current = None
        return step.summary(
            wall=wall, generator_cpu=generator_cpu, server_cpu=server, services_cpu=services, other_cpu=other
        )

    def _cpu_marks(self) -> tuple[float, float, float, float]:
        """CPU seconds so far: this process, the server, PostgreSQL + Redis, the whole machine."""
        return cpu_seconds(), self.server_cpu(), self.services_cpu(), machine_busy_seconds()

    async def _run_step_workers(self, index: int, rate: float, duration: float, drain: float, label: str):
        """Every worker sends its senders' share from one t0; when all have sent, each drains
        until one deadline; their samples and counts are merged into this process's step."""
        step = Step(
            index,
            len(self.sessions),
            self.senders,
            rate,
            duration,
            label,
            ordered=self.ordered,
            thread_share=self.thread_share,
        )
        self.steps[index] = step
        cpu0, server0, services0, busy0 = self._cpu_marks()
        wall0 = time.monotonic()
        step.start_ns = t0 = clock() + 50_000_000  # time for the command to reach every worker
        step_args = {"index": index, "rate": rate, "duration": duration, "label": label, "t0": t0}
        await asyncio.gather(*(w.call("step", **step_args) for w in self.workers))
        step.sending_done = True
        deadline = clock() + int(drain * 1e9)
        parts = await asyncio.gather(*(w.call("drain", deadline_ns=deadline) for w in self.workers))
        generator.merge_into(step, parts)
        wall = time.monotonic() - wall0
        own = cpu_seconds() - cpu0
        per_core: Counter = Counter()
        for worker, part in zip(self.workers, parts, strict=True):
            per_core[worker.cpu] += part["cpu"]
        generator_cpu = own + sum(per_core.values())
        server = self.server_cpu() - server0
        services = self.services_cpu() - services0
        other = machine_busy_seconds() - busy0 - generator_cpu - server - services
        self.closed = sum(part["closed"] for part in parts)
        return step.summary(
            wall=wall,
            generator_cpu=generator_cpu,
            server_cpu=server,
            services_cpu=services,
            other_cpu=other,
            # This process has no core of its own: counted on the busiest worker's.
            generator_busiest=max(per_core.values()) + own,
            processes=len(self.workers),
        )

    async def late(self, step_index: int, wait: float) -> int:
        """Give a failed step's stragglers more time; how many deliveries are still missing."""
        if self.workers:
            answers = await asyncio.gather(
                *(w.call("late", index=step_index, wait=wait) for w in self.workers)
            )
            self.closed = sum(a["closed"] for a in answers)
            return sum(a["missing"] for a in answers)
        step = self.steps[step_index]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(step.done.wait(), wait)
        return step.expected - step.delivered


class PeerRoom(Room):
    """The same steps against another chat server (bench/peers/): its members, through its own
    protocol. The server keeps no one order for all (no seq): a message is identified by its
    index in the step, duplicates count, order does not. Its members live in this process
    (processes=1): a peer room's connections are made by its adapter here."""

    def __init__(
        self, peer_room, members: int, *, senders: int, server_cpu, services_cpu, thread_share: float = 0.0
    ):
        if thread_share:
            raise ValueError("thread replies are Parley's (thread_root): a peer room sends plain messages")
        super().__init__(
            Target(HOST_UNUSED, 0),
            0,
            [None] * members,
            senders=senders,
            server_cpu=server_cpu,
            services_cpu=services_cpu,
            processes=1,
        )
        self.peer_room = peer_room
        self.ordered = False

    async def connect(self, concurrency: int = 50) -> None:
        started = time.monotonic()
        self.sockets = await self.peer_room.connect(concurrency)
        self.connect_seconds = time.monotonic() - started
        self.readers = [asyncio.create_task(self._read(i, m)) for i, m in enumerate(self.sockets)]

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        await asyncio.gather(*(member.close() for member in self.sockets), return_exceptions=True)
        self.sockets, self.readers = [], []

    async def _read(self, member: int, connection) -> None:
        steps = self.steps
        try:
            async for body, txn_id in connection.messages():
                now = clock()
                parts = body.split("|", 3)
                if len(parts) < 4:
                    continue
                step = steps.get(int(parts[0]))
                if step is not None:
                    step.record(member, int(parts[2]), now - int(parts[1]), txn_id or "", now)
        except (ConnectionClosed, OSError):
            self.closed += 1

    async def _send(self, step: Step, sender: int, connection, t0: int) -> None:
        async for i, due, now in paced(step, sender, t0):
            txn_id = f"{self.token}.{step.index}.{i}"
            step.pending[txn_id] = sender
            step.send_lags.append(now - due)
            try:
                await connection.send(f"{step.index}|{due}|{i}|{PAD}", txn_id)
            except (ConnectionClosed, OSError, RuntimeError):
                step.send_failures += 1
                del step.pending[txn_id]
                continue
            step.sent += 1


HOST_UNUSED = "127.0.0.1"


async def ladder(
    room: Room,
    rates: list[float],
    *,
    duration: float,
    drain: float,
    recover: float,
    refine: int,
    knee_fraction: float | None,
    log: Callable[[str], None],
) -> dict:
    """Rising rates until one fails (p99 over the limit, anything lost, or the generator saturated;
    a step that fails while other processes load the machine is run again, see NOISY_RETRIES);
    then `refine` bisection steps between the last pass and the first failure; then one step at
    `knee_fraction` of the knee. The knee is the highest rate that passed."""
    steps: list[dict] = []
    last_pass: float | None = None
    first_fail: float | None = None

    async def step(rate: float, label: str) -> dict:
        for attempt in range(NOISY_RETRIES + 1):
            result = await room.run_step(rate, duration, drain, label)
            if result["lost"]:
                # Late or lost? Wait for stragglers, so the next step starts on a drained server.
                result["still_missing_after_recovery"] = await room.late(len(room.steps), recover)
            result["attempt"] = attempt + 1
            steps.append(result)
            log(format_step(result))
            await asyncio.sleep(0.5)
            if result["pass"] or not result["noisy"] or attempt == NOISY_RETRIES:
                break
            result["superseded"] = True  # failed while others loaded the machine: try again
            log(f"  (other processes used {result['other_cpu']:.0%} of a core: running the step again)")
            await asyncio.sleep(2.0)
        return result

    for rate in rates:
        result = await step(rate, "ladder")
        if result["pass"]:
            last_pass = rate
        else:
            first_fail = rate
            break
    for _ in range(refine):
        if last_pass is None or first_fail is None or first_fail / last_pass < 1.2:
            break
        rate = math.sqrt(last_pass * first_fail)
        result = await step(rate, "refine")
        if result["pass"]:
            last_pass = rate
        else:
            first_fail = rate
    at_fraction = None
    if knee_fraction and last_pass is not None:
        at_fraction = await step(last_pass * knee_fraction, f"{knee_fraction:.0%} of knee")
    knee_step = max((s for s in steps if s["pass"]), key=lambda s: s["rate_msgs"], default=None)
    failed = [s for s in steps if not s["pass"] and not s.get("superseded")]
    first_failed = next((s for s in failed if first_fail and s["rate_msgs"] == round(first_fail, 3)), None)
    return {
        "steps": steps,
        "knee_rate_msgs": last_pass,
        "knee_deliveries_per_s": knee_step["deliveries_per_s"] if knee_step else None,
        "first_fail_rate_msgs": first_fail,
        "first_fail_reason": fail_reason(first_failed)
        if first_fail
        else "none: the top of the ladder passed",
        "at_fraction": at_fraction,
    }


def fail_reason(step: dict | None) -> str:
    if step is None:
        return ""
    reasons = []
    if step["generator_bound"]:
        reasons.append(f"generator saturated ({step['generator_cpu']:.0%} CPU)")
    if step["lost"]:
        reasons.append(f"{step['lost']} lost")
    if step["duplicates"] or step["out_of_order"]:
        reasons.append(f"{step['duplicates']} dup / {step['out_of_order']} out of order")
    if step["errors"]:
        reasons.append(f"errors {step['errors']}")
    if uneven_updates(step):
        low, high = step["root_updates_per_member"]
        reasons.append(f"root updates uneven ({low} to {high} per member)")
    if step["p99_ms"] is None or step["p99_ms"] > P99_LIMIT_MS:
        reasons.append(f"p99 {step['p99_ms']} ms")
    return ", ".join(reasons)


def format_step(s: dict) -> str:
    def ms(v):
        return "lost" if v is None else f"{v:.1f}"

    return (
        f"  {s['label']:>12} {s['rate_msgs']:>9.1f} msg/s x {s['members']:>4} = "
        f"{s['offered_deliveries']:>8.0f} del/s offered, {s['deliveries_per_s']:>8.0f} got | "
        f"p50 {ms(s['p50_ms'])} p99 {ms(s['p99_ms'])} "
        f"p99.9 {ms(s['p999_ms'])} max {ms(s['max_ms'])} ms | lost {s['lost']} dup {s['duplicates']} "
        f"err {sum(s['errors'].values())} | cpu gen {s['generator_cpu']:.0%} srv {s['server_cpu']:.0%} "
        f"({s['server_us_per_delivery']} us/delivery) "
        f"svc {s['services_cpu']:.0%} other {s['other_cpu']:.0%} | send lag p99 {s['send_lag_p99_ms']} ms | "
        f"{'PASS' if s['pass'] else 'FAIL: ' + fail_reason(s)}{' (noisy)' if s['noisy'] else ''}"
        + (
            f" | replies {s['replies_sent']}, root updates {s['root_updates']} "
            f"({s['server_us_per_frame']} us/frame)"
            if s.get("replies_sent")
            else ""
        )
    )


async def idle_connections(
    target: Target,
    sessions: list[str | None],
    *,
    rss: Callable[[], int],
    server_cpu: Callable[[], float],
    concurrency: int,
    settle: float,
    log: Callable[[str], None],
) -> dict:
    """Open len(sessions) - 1 idle sockets after one warm-up socket; the server's RSS per socket."""
    warm = await open_socket(target, sessions[0], 0)
    await asyncio.sleep(1.0)
    rss_before = rss()
    cpu0, server0 = cpu_seconds(), server_cpu()
    sockets, failures, seconds = await open_many(target, sessions[1:], concurrency, first_index=1)
    generator_cpu, server_used = cpu_seconds() - cpu0, server_cpu() - server0
    opened = [s for s in sockets if s is not None]
    await asyncio.sleep(settle)
    rss_after = rss()
    # Are they alive? A sample answers ping with pong.
    sample = opened[:: max(1, len(opened) // 50)]
    alive = 0
    for socket in sample:
        with contextlib.suppress(Exception):
            await socket.send('{"type": "ping"}')
            while orjson.loads(await asyncio.wait_for(socket.recv(), 10)).get("type") != "pong":
                pass
            alive += 1
    result = {
        "requested": len(sessions) - 1,
        "connected": len(opened),
        "failures": dict(failures),
        "connect_seconds": round(seconds, 2),
        "connects_per_s": round(len(opened) / seconds, 1) if seconds else None,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "kib_per_connection": round((rss_after - rss_before) / len(opened), 1) if opened else None,
        "generator_cpu_during_connect": round(generator_cpu / seconds, 3) if seconds else None,
        "server_cpu_during_connect": round(server_used / seconds, 3) if seconds else None,
        "ping_sample": len(sample),
        "ping_alive": alive,
    }
    log(
        f"  idle: {result['connected']}/{result['requested']} connected in {seconds:.1f}s "
        f"({result['connects_per_s']}/s), RSS {rss_before / 1024:.0f} -> {rss_after / 1024:.0f} MiB = "
        f"{result['kib_per_connection']} KiB/connection; pings {alive}/{len(sample)}; "
        f"failures {dict(failures)}"
    )
    abort_all([warm, *sockets])
    await asyncio.sleep(2.0)
    return result
