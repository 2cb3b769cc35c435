"""Matrix Synapse as a peer in the benchmark (issue 19): install, configure, start, and drive it.

- `install()`: a venv of its own (.venv-synapse, git-ignored) with `matrix-synapse==VERSION` from PyPI.
- `start(cpus)`: a homeserver generated into a work directory from bench/peers/synapse/ (loopback,
  no TLS, SQLite, no federation listener, presence off, rate limits off, registration by shared
  secret only), started pinned to `cpus` and healthy (GET /health) on return.
- `make_room(n)`: n users registered through the admin API's shared-secret register (HMAC-SHA1
  over nonce, user, password, admin), which also hands back each user's access token and device;
  one public room created by the first user and joined by the others.
- A `Member` sends with `PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}` and
  receives by long-polling `/sync` (since=next_batch, timeout=30000) with an uploaded filter that
  keeps only this room's m.room.message timeline; `unsigned.transaction_id` is on the member's own
  events only (Synapse adds it for the device that sent them).

The HTTP client is a minimal HTTP/1.1 keep-alive client on asyncio streams (Parley's .venv has
neither aiohttp nor httpx, and nothing may be added to its requirements): one connection per
member for /sync, one more per concurrent send, source addresses spread over 127.0.0.2-41 like
bench/loadgen.py so tens of thousands of connections do not run out of ephemeral ports.

Smoke test: `.venv/bin/python -m bench.peers.synapse smoke --members 10 --rate 50 --seconds 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import hashlib
import hmac
import math
import os
import secrets
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import orjson

from bench import procs

VERSION = "1.163.2"  # matrix-synapse from PyPI, the version measured
PSYCOPG2_VERSION = "2.9.13"  # psycopg2-binary, for synapse-postgres only
TEMPLATES = Path(__file__).resolve().parent / "synapse"
VENV = procs.BASE_DIR / ".venv-synapse"
VENV_PYTHON = VENV / "bin" / "python"
HOST = procs.HOST
SERVER_NAME = "bench.local"
START_TIMEOUT = 180.0  # the first start creates the whole schema in SQLite
SYNC_TIMEOUT_MS = 30000
# Events one /sync answer may carry; more than this since the last one is a gap ("limited").
TIMELINE_LIMIT = 1000
# The first /sync's filter: nothing but next_batch.
NOTHING_FILTER = orjson.dumps(
    {"room": {"rooms": []}, "presence": {"types": []}, "account_data": {"types": []}}
).decode()
MESSAGES_FILTER = orjson.dumps({"types": ["m.room.message"], "lazy_load_members": True}).decode()
SOURCE_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 42)]
clock = time.monotonic_ns


def installed(distribution: str = "matrix_synapse", version: str = VERSION) -> bool:
    pattern = str(VENV / "lib" / "python3*" / "site-packages" / f"{distribution}-{version}.dist-info")
    return VENV_PYTHON.exists() and bool(glob.glob(pattern))


# --- A minimal HTTP/1.1 keep-alive client --------------------------------------------------------


class HttpError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes):
        super().__init__(f"{method} {path.split('?')[0]}: HTTP {status} {body[:300]!r}")
        self.status = status


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time; reopened when the server closed it."""

    def __init__(self, host: str, port: int, index: int = 0):
        self.host, self.port = host, port
        self.local = (SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)], 0)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, local_addr=self.local, limit=2**22
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes | None = None, token: str | None = None
    ) -> dict:
        """The JSON answer to one request; HttpError unless 200."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        data = (head + "\r\n").encode() + (body or b"")
        for attempt in (1, 2):
            fresh = self.writer is None
            if fresh:
                await self._open()
            try:
                self.writer.write(data)
                status, payload, keep = await self._response()
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                # A kept-alive connection the server had closed: once more on a new one.
                if fresh or attempt == 2:
                    raise
        if not keep:
            self.close()
        if status != 200:
            raise HttpError(method, path, status, payload)
        return orjson.loads(payload)

    async def _response(self) -> tuple[int, bytes, bool]:
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            payload = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers from Synapse
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            payload = b"".join(parts)
        else:
            payload = await reader.read()
            return status, payload, False
        return status, payload, headers.get("connection", "").lower() != "close"


class Pool:
    """Connections to one server for one client: an idle one per request, a new one when all are busy."""

    def __init__(self, host: str, port: int, index: int = 0):
        self.host, self.port, self.index = host, port, index
        self.idle: list[Connection] = []
        self.all: list[Connection] = []

    async def request(self, method: str, path: str, body: bytes | None = None, token: str | None = None):
        if self.idle:
            connection = self.idle.pop()
        else:
            connection = Connection(self.host, self.port, self.index)
            self.all.append(connection)
        try:
            result = await connection.request(method, path, body, token)
        except HttpError:
            self.idle.append(connection)  # the answer was read whole: the connection is fine
            raise
        except BaseException:
            connection.close()
            if connection in self.all:  # not if close() came first
                self.all.remove(connection)
            raise
        self.idle.append(connection)
        return result

    def close(self) -> None:
        for connection in self.all:
            connection.close()
        self.idle, self.all = [], []


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# --- The server ---------------------------------------------------------------------------------


class PeerServer:
    """One Synapse homeserver on loopback, generated into `work_dir`: on SQLite (synapse-sqlite), or
    on a PostgreSQL cluster of its own (synapse-postgres), started pinned to the same cpus."""

    version = f"matrix-synapse {VERSION}"

    def __init__(self, work_dir: Path | None = None, port: int | None = None, database: str = "sqlite"):
        if database not in ("sqlite", "postgres"):
            raise ValueError(f"database is sqlite or postgres, not {database!r}")
        self.database = database
        self.name = f"synapse-{database}"
        self.postgres = None  # tests.servers.PostgresServer
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bench-synapse-")
            work_dir = Path(self._tmp.name)
        self.work = Path(work_dir)
        self.port = port or procs.free_port()
        self.registration_secret = secrets.token_urlsafe(32)
        self.server: procs.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def install(self) -> None:
        """The venv with matrix-synapse==VERSION (and psycopg2-binary for synapse-postgres); nothing
        to do when they are there."""
        wanted = [] if installed() else [f"matrix-synapse=={VERSION}"]
        if self.database == "postgres" and not installed("psycopg2_binary", PSYCOPG2_VERSION):
            wanted.append(f"psycopg2-binary=={PSYCOPG2_VERSION}")
        if not wanted:
            return
        if not VENV_PYTHON.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *wanted], check=True)
        if not installed():
            raise RuntimeError(f"matrix-synapse {VERSION} did not install into {VENV}")

    def database_config(self) -> dict:
        if self.postgres is None:
            return {"name": "sqlite3", "args": {"database": str(self.work / "homeserver.db")}}
        pg = self.postgres
        args = {"user": pg.user, "password": pg.password, "dbname": pg.database, "host": HOST}
        return {"name": "psycopg2", "args": {**args, "port": pg.port, "cp_min": 5, "cp_max": 10}}

    def configure(self) -> Path:
        """homeserver.yaml and log.config from the templates, and a signing key: the config's path."""
        self.work.mkdir(parents=True, exist_ok=True)
        values = {
            "database": orjson.dumps(self.database_config()).decode(),  # JSON is YAML
            "work": str(self.work),
            "port": str(self.port),
            "registration_secret": self.registration_secret,
            "macaroon_secret": secrets.token_urlsafe(32),
            "form_secret": secrets.token_urlsafe(32),
        }
        for name in ("homeserver.yaml", "log.config"):
            text = string.Template((TEMPLATES / name).read_text()).substitute(values)
            (self.work / name).write_text(text)
        config = self.work / "homeserver.yaml"
        if not (self.work / "signing.key").exists():
            subprocess.run(
                [str(VENV_PYTHON), "-m", "synapse.app.homeserver", "-c", str(config), "--generate-keys"],
                cwd=self.work,
                check=True,
                capture_output=True,
            )
        return config

    def start(self, cpus: set[int] | None = None) -> None:
        if self.database == "postgres" and self.postgres is None:
            from tests.servers import start_postgres

            with procs.affinity(cpus):  # the cluster is part of the server: on the same cpus
                self.postgres = start_postgres(durable=True)  # its own (close() deletes it), durable
        config = self.configure()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE_URL"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.server = procs.Server(
            self.name,
            [str(VENV_PYTHON), "-m", "synapse.app.homeserver", "-c", str(config)],
            env,
            self.work / "synapse.out",
            cpus,
            port=self.port,
            health_path="/health",
        )
        self.server.cwd = self.work
        self.server.start(timeout=START_TIMEOUT)

    def stop(self) -> None:
        """Synapse, and its PostgreSQL cluster (deleted: a start() after this one begins afresh)."""
        if self.server is not None:
            self.server.stop(timeout=10)
            self.server = None
        if self.postgres is not None:
            self.postgres.close()
            self.postgres = None

    def cleanup(self) -> None:
        """stop(), and the work directory deleted if it was a temporary one."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def pids(self) -> list[int]:
        """Synapse's process (and any it started)."""
        return procs.children_of(self.server.pid) if self.server and self.server.running else []

    def services_pids(self) -> list[int]:
        """The PostgreSQL cluster's postmaster and backends (none on SQLite): counted apart, as
        bench/run.py counts Parley's PostgreSQL ("services")."""
        if self.postgres is None:
            return []
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])
            return procs.children_of(pid)
        return []

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, RuntimeError):
                total += procs.proc_rss_kib(pid)
        return total

    def cpu_seconds(self) -> float:
        return procs.proc_cpu_seconds(self.pids())

    async def register(self, pool: Pool, username: str, password: str) -> dict:
        """A user by the shared secret: {user_id, access_token, device_id}."""
        path = "/_synapse/admin/v1/register"
        nonce = (await pool.request("GET", path))["nonce"]
        mac = hmac.new(self.registration_secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(), b"notadmin"]))
        body = {"nonce": nonce, "username": username, "password": password, "admin": False}
        body["mac"] = mac.hexdigest()
        return await pool.request("POST", path, orjson.dumps(body))

    async def make_room(self, members: int, concurrency: int = 8) -> PeerRoom:
        """`members` new users (a fresh name prefix per room), one room, all joined."""
        prefix = "b" + secrets.token_hex(3)
        gate = asyncio.Semaphore(concurrency)
        pools = [Pool(HOST, self.port, i) for i in range(concurrency)]
        free = list(pools)

        async def limited(coroutine_function, *args):
            async with gate:
                pool = free.pop()
                try:
                    return await coroutine_function(pool, *args)
                finally:
                    free.append(pool)

        try:
            users = await asyncio.gather(
                *(limited(self.register, f"{prefix}u{i}", secrets.token_hex(8)) for i in range(members))
            )
            owner = users[0]
            room = await pools[0].request(
                "POST",
                "/_matrix/client/v3/createRoom",
                orjson.dumps({"preset": "public_chat", "name": f"bench {prefix}"}),
                owner["access_token"],
            )
            room_id = room["room_id"]

            async def join(pool: Pool, user: dict) -> None:
                await pool.request(
                    "POST", f"/_matrix/client/v3/join/{quote(room_id)}", b"{}", user["access_token"]
                )

            await asyncio.gather(*(limited(join, user) for user in users[1:]))
        finally:
            for pool in pools:
                pool.close()
        return PeerRoom(self, room_id, users)

    async def make_idle_rooms(self, members: int, room_size: int = 100) -> list[PeerRoom]:
        """`members` distinct users in rooms of `room_size` (bench/run.py's idle connections, as
        Parley's idle sockets are members of rooms of 100), two rooms set up at a time."""
        sizes = [min(room_size, members - first) for first in range(0, members, room_size)]
        gate = asyncio.Semaphore(2)

        async def one(size: int) -> PeerRoom:
            async with gate:
                return await self.make_room(size)

        return list(await asyncio.gather(*(one(size) for size in sizes)))


class PeerRoom:
    def __init__(self, server: PeerServer, room_id: str, users: list[dict]):
        self.server = server
        self.room_id = room_id
        self.users = users
        self.members: list[Member] = []

    async def connect(self, concurrency: int = 50) -> list[Member]:
        """Every member with its filter uploaded and a first /sync done; each then long-polls."""
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, user: dict) -> Member:
            member = Member(self, index, user)
            async with gate:
                await member.open()
            return member

        self.members = list(await asyncio.gather(*(one(i, u) for i, u in enumerate(self.users))))
        for member in self.members:
            member.start()
        return self.members

    async def close(self) -> None:
        await asyncio.gather(*(m.close() for m in self.members))


class Member:
    """One user of the room: sends over its own connections, receives by long-polling /sync."""

    timeline_limit = TIMELINE_LIMIT

    def __init__(self, room: PeerRoom, index: int, user: dict):
        self.room = room
        self.index = index
        self.user_id = user["user_id"]
        self.token = user["access_token"]
        port = room.server.port
        self.sync_connection = Connection(HOST, port, index)
        self.sends = Pool(HOST, port, index)
        self.filter_id = ""
        self.next_batch = ""
        self.queue: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        # /sync answers marked "limited" (more messages than the timeline limit since the last one):
        # the rest is fetched with /messages, as a client fills a gap.
        self.gaps = 0
        self.sync_errors = 0
        self.in_flight: set[asyncio.Task] = set()
        self.send_errors = 0
        self.last_send_error = ""

    async def open(self) -> None:
        room_filter = {
            "presence": {"types": []},
            "account_data": {"types": []},
            "room": {
                "rooms": [self.room.room_id],
                "timeline": {"types": ["m.room.message"], "limit": self.timeline_limit},
                "state": {"types": [], "lazy_load_members": True},
                "ephemeral": {"types": []},
                "account_data": {"types": []},
            },
        }
        path = f"/_matrix/client/v3/user/{quote(self.user_id)}/filter"
        answer = await self.sync_connection.request("POST", path, orjson.dumps(room_filter), self.token)
        self.filter_id = answer["filter_id"]
        # The first /sync: only its next_batch counts (messages() yields what comes after connect()),
        # so it asks for no room at all: with the room's filter Synapse would page back through
        # every membership event looking for messages to fill the timeline (minutes for 1,000).
        first = await self.sync_connection.request("GET", self._sync_path(initial=True), None, self.token)
        self.next_batch = first["next_batch"]

    def _sync_path(self, initial: bool = False) -> str:
        if initial:
            return f"/_matrix/client/v3/sync?filter={quote(NOTHING_FILTER)}&set_presence=offline"
        query = f"filter={self.filter_id}&set_presence=offline&since={quote(self.next_batch)}"
        return f"/_matrix/client/v3/sync?{query}&timeout={SYNC_TIMEOUT_MS}"

    def start(self) -> None:
        self.task = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        room_id = self.room.room_id
        put = self.queue.put_nowait
        while True:
            try:
                answer = await self.sync_connection.request("GET", self._sync_path(), None, self.token)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.sync_errors += 1
                await asyncio.sleep(0.5)
                continue
            since, self.next_batch = self.next_batch, answer["next_batch"]
            joined = answer.get("rooms", {}).get("join", {}).get(room_id)
            if not joined:
                continue
            timeline = joined.get("timeline", {})
            events = timeline.get("events", [])
            if timeline.get("limited") and timeline.get("prev_batch"):
                self.gaps += 1
                try:
                    events = await self._fill_gap(timeline["prev_batch"], since) + events
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.sync_errors += 1
            for event in events:
                if event.get("type") != "m.room.message":
                    continue
                body = event.get("content", {}).get("body")
                if isinstance(body, str):
                    put((body, event.get("unsigned", {}).get("transaction_id")))

    async def _fill_gap(self, prev_batch: str, since: str) -> list[dict]:
        """The room's messages between the last /sync (`since`) and the start of this one's timeline
        (`prev_batch`), oldest first: what a limited timeline left out."""
        path = f"/_matrix/client/v3/rooms/{quote(self.room.room_id)}/messages"
        missing: list[dict] = []
        token = prev_batch
        while True:
            query = f"dir=b&from={quote(token)}&to={quote(since)}&limit={self.timeline_limit}"
            page = await self.sync_connection.request(
                "GET", f"{path}?{query}&filter={quote(MESSAGES_FILTER)}", None, self.token
            )
            chunk = page.get("chunk", [])
            missing.extend(chunk)
            if not chunk or not page.get("end"):
                break
            token = page["end"]
        missing.reverse()
        return missing

    async def send(self, body: str, txn_id: str) -> None:
        """One message into the room. Returns at once, as a WebSocket write does, so the generator's
        schedule stays open-loop whatever Synapse's answer time: the PUT runs in a task of its own,
        on an idle or a new connection of this member's. A PUT that fails counts in send_errors
        (its message is then missing at every member). `sent()` waits for the answers."""
        task = asyncio.create_task(self.put(body, txn_id))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def put(self, body: str, txn_id: str) -> bool:
        """The PUT itself, answered (True) or failed (False, counted)."""
        path = f"/_matrix/client/v3/rooms/{quote(self.room.room_id)}/send/m.room.message/{quote(txn_id)}"
        try:
            await self.sends.request(
                "PUT", path, orjson.dumps({"msgtype": "m.text", "body": body}), self.token
            )
        except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as error:
            self.send_errors += 1
            self.last_send_error = repr(error)
            return False
        return True

    async def sent(self) -> None:
        """Until every send so far has its answer."""
        while self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)

    async def messages(self) -> AsyncIterator[tuple[str, str | None]]:
        while True:
            yield await self.queue.get()

    async def close(self) -> None:
        for task in list(self.in_flight):
            task.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        self.sync_connection.close()
        self.sends.close()


# --- Smoke test -----------------------------------------------------------------------------------


PAD = "lorem ipsum dolor sit amet " * 3


def percentile(sorted_values: list[int], q: float, expected: int) -> float | None:
    """Over every expected delivery: a lost one is slower than any that came (None)."""
    index = max(0, math.ceil(q * expected) - 1)
    return round(sorted_values[index] / 1e6, 1) if index < len(sorted_values) else None


async def smoke(args: argparse.Namespace) -> int:
    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None
    Member.timeline_limit = args.timeline_limit
    server = PeerServer(Path(args.work_dir) if args.work_dir else None, database=args.database)
    started = time.monotonic()
    server.install()
    print(f"synapse {VERSION}: installed ({time.monotonic() - started:.1f}s)", flush=True)
    started = time.monotonic()
    server.start(cpus)
    print(f"started on {server.url}, pids {server.pids()} ({time.monotonic() - started:.1f}s)", flush=True)
    try:
        started = time.monotonic()
        room = await server.make_room(args.members)
        print(
            f"room {room.room_id}: {args.members} members registered and joined "
            f"({time.monotonic() - started:.1f}s)",
            flush=True,
        )
        await asyncio.sleep(1.0)
        rss0 = server.rss_kib()
        started = time.monotonic()
        members = await room.connect()
        connect_s = time.monotonic() - started
        await asyncio.sleep(1.0)
        rss1 = server.rss_kib()
        print(
            f"connected (filter + first /sync, then long-polling) in {connect_s:.1f}s; server RSS "
            f"{rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB = {(rss1 - rss0) / len(members):.1f} KiB per member",
            flush=True,
        )
        total = max(1, round(args.rate * args.seconds))
        senders = min(args.senders, len(members))
        expected = total * len(members)
        latencies: list[int] = []
        own = [0]
        done = asyncio.Event()

        duplicates = [0]

        async def read(member: Member) -> None:
            seen: set[str] = set()
            async for body, txn in member.messages():
                now = clock()
                if body in seen:
                    duplicates[0] += 1
                    continue
                seen.add(body)
                _, due, _ = body.split("|", 2)
                latencies.append(now - int(due))
                if txn is not None:
                    own[0] += 1
                if len(latencies) >= expected:
                    done.set()

        readers = [asyncio.create_task(read(m)) for m in members]
        await asyncio.sleep(0.5)

        services = server.services_pids()
        cpu0, gen0, wall0 = server.cpu_seconds(), time.process_time(), time.monotonic()
        services0 = procs.proc_cpu_seconds(services)
        t0 = clock() + 20_000_000
        interval = 1e9 / args.rate
        run = secrets.token_hex(3)
        lags: list[int] = []
        for i in range(total):
            due = t0 + int(i * interval)
            now = clock()
            if due > now:
                await asyncio.sleep((due - now) / 1e9)
            lags.append(clock() - due)
            member = members[i % senders]
            body = f"1|{due}|{i}|{PAD}"  # i: two messages due in the same ns stay distinct
            await member.send(body, f"{run}.{i}")
        await asyncio.gather(*(m.sent() for m in members))
        errors = [m.last_send_error for m in members if m.send_errors]
        send_errors = sum(m.send_errors for m in members)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), args.drain)
        wall = time.monotonic() - wall0
        server_cpu = server.cpu_seconds() - cpu0
        services_cpu = procs.proc_cpu_seconds(services) - services0
        generator_cpu = time.process_time() - gen0
        for task in readers:
            task.cancel()
        gaps = sum(m.gaps for m in members)
        sync_errors = sum(m.sync_errors for m in members)
        rss = server.rss_kib()
        await room.close()
    finally:
        server.cleanup()
    latencies.sort()
    lost = expected - len(latencies)
    lags.sort()
    print(
        f"{args.members} members, {senders} senders, {args.rate} msg/s for {args.seconds}s: "
        f"{total} sent ({send_errors} send errors), deliveries {len(latencies)}/{expected} "
        f"(own echoes with txn_id {own[0]}/{total}), lost {lost}, duplicates {duplicates[0]}, "
        f"sync gaps filled {gaps}, sync errors {sync_errors}"
    )
    print(
        f"latency p50 {percentile(latencies, 0.5, expected)} ms, "
        f"p99 {percentile(latencies, 0.99, expected)} ms, "
        f"max {round(latencies[-1] / 1e6, 1) if latencies else None} ms; "
        f"send lag p99 {lags[max(0, math.ceil(0.99 * len(lags)) - 1)] / 1e6:.1f} ms"
    )
    per = f"{server_cpu / len(latencies) * 1e6:.0f}" if latencies else "-"
    print(
        f"server CPU {server_cpu:.2f}s = {per} us/delivery ({server_cpu / wall:.0%} of a core), "
        f"generator {generator_cpu / wall:.0%}, RSS {rss / 1024:.0f} MiB, wall {wall:.1f}s"
    )
    if server.database == "postgres":
        per = f"{services_cpu / len(latencies) * 1e6:.0f}" if latencies else "-"
        print(f"PostgreSQL CPU {services_cpu:.2f}s = {per} us/delivery ({services_cpu / wall:.0%} of a core)")
    for error in errors[:5]:
        print(f"  send error: {error}")
    return 1 if lost or errors or duplicates[0] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.synapse")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help=f"the venv with matrix-synapse {VERSION}")
    install.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    run = sub.add_parser("smoke", help="one room, one rate: deliveries, loss, latency, server CPU")
    run.add_argument("--members", type=int, default=10)
    run.add_argument("--rate", type=float, default=50.0, help="messages per second into the room")
    run.add_argument("--seconds", type=float, default=5.0)
    run.add_argument("--senders", type=int, default=10)
    run.add_argument("--drain", type=float, default=15.0, help="seconds to wait for the last deliveries")
    run.add_argument("--server-cpus", help="Synapse (and its PostgreSQL) on these cpus, e.g. 0")
    run.add_argument("--generator-cpus", help="this process on these cpus, e.g. 1")
    run.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    run.add_argument(
        "--timeline-limit", type=int, default=TIMELINE_LIMIT, help="messages per /sync answer (gaps below)"
    )
    run.add_argument("--work-dir", help="default: a temporary directory, removed afterwards")
    args = parser.parse_args(argv)
    if args.command == "install":
        PeerServer(database=args.database).install()
        print(f"matrix-synapse {VERSION} in {VENV}")
        return 0
    procs.raise_nofile()
    if args.generator_cpus:
        os.sched_setaffinity(0, {int(c) for c in args.generator_cpus.split(",")})
    try:
        import uvloop
    except ImportError:
        return asyncio.run(smoke(args))
    return uvloop.run(smoke(args))


if __name__ == "__main__":
    sys.exit(main())
