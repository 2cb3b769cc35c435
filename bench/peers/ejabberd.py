"""ejabberd as a peer in the benchmark: XMPP multi-user chat (MUC) over WebSocket (RFC 7395).

The server is Debian's ejabberd package (`apt-get install -y ejabberd` when `ejabberdctl` is
missing), but not Debian's service: the benchmark runs its own instance, in the foreground,
from `bench/peers/ejabberd/ejabberd.yml` filled in under a work directory (its own config,
Mnesia spool, log and port on 127.0.0.1), with the Erlang VM pinned to the server cores by
`os.sched_setaffinity` before exec and `+S n:n` schedulers for the n cores it has. The VM runs
without Erlang distribution (no node name, so no epmd listening on every interface); the admin
commands `ejabberdctl` would send over distribution (`register`, `create_room`) go through
`mod_http_api` on the same loopback listener instead: the same ejabberd commands, and one HTTP
request instead of one Erlang VM start per user.

The members are a minimal client rather than slixmpp: slixmpp keeps a full XML stream parser,
a plugin registry, event handlers and several tasks per client, which is what one chat client
needs but not what a generator holding thousands of clients in one process can afford (the
generator must never be the limit). RFC 7395 makes the minimal client small: every WebSocket
message is one complete stanza, so no stream parser is needed. A member opens the stream,
authenticates with SASL PLAIN, binds a resource, joins the room with `maxstanzas=0` (no
history) and waits for its own presence (status 110). Receiving skips anything that is not a
`<message` by its prefix, and parses messages with `xml.etree.ElementTree.fromstring` (one C
expat parse of a ~300-byte stanza, about 10-15 µs: see `parse_cost_us`).

`EjabberdServer(mam=True)` is the `ejabberd-muc-mam` configuration: the same server with its
message archive on (XEP-0313: mod_mam, `db_type: mnesia` as a default install has it, and every
room's `mam: true`), so every groupchat message is stored in the room's archive as it is
broadcast, as Parley stores every message. `archived_count` asks the archive how many messages a
room holds (a MAM query with RSM `max 0`: the count, no messages).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import resource
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.procs import children_of, free_port, proc_cpu_seconds, proc_rss_kib, raise_nofile

HOST = "127.0.0.1"
TEMPLATE = Path(__file__).with_name("ejabberd") / "ejabberd.yml"
SQLITE_SCHEMA = Path("/usr/share/ejabberd/sql/lite.sql")
SOURCE_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 42)]
PASSWORD = "bench-password"
FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
CLIENT = "jabber:client"
PAD = "lorem ipsum dolor sit amet " * 3


def ejabberd_version() -> str | None:
    """The installed Debian package's version, e.g. '23.01-1' (None when not installed)."""
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", "ejabberd"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def installed() -> bool:
    return shutil.which("ejabberdctl") is not None and Path("/usr/bin/erl").exists()


def sqlite_driver() -> bool:
    return any(Path("/usr/lib/erlang/lib").glob("p1_sqlite3-*/ebin/sqlite3.app"))


# mod_mam for ejabberd-muc-mam: every room message archived in Mnesia (a default install's
# db_type; the Debian package has no SQLite driver without erlang-p1-sqlite3). `default: always`
# is the users' own archives' default (ejabberd keeps groupchat messages in the room's archive only).
MAM_MODULE = """
  mod_mam:
    db_type: mnesia
    default: always
    assume_mam_usage: true"""


class EjabberdServer:
    """Our own ejabberd instance: config, spool and port under `workdir`."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        vhost: str = "bench.local",
        max_users_presence: int = 1000,
        busy_wait: bool = True,
        mam: bool = False,
        mam_db: str = "mnesia",
    ):
        # Every room message archived (mod_mam, the rooms' `mam` option): ejabberd-muc-mam.
        self.mam = mam
        # The archive's store: "mnesia" (a default install's) or "sqlite" (SQL, erlang-p1-sqlite3).
        self.mam_db = mam_db
        self.name = (
            ("ejabberd-muc-mam" + ("-sqlite" if mam_db == "sqlite" else "")) if mam else "ejabberd-muc"
        )
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="bench-ejabberd-"))
        self.vhost = vhost
        self.muc_host = f"conference.{vhost}"
        # Above this many occupants ejabberd stops broadcasting joins and leaves (its default).
        self.max_users_presence = max_users_presence
        # The Erlang schedulers spin before sleeping by default (Debian's command line keeps
        # that); the spin is CPU the server burns, so it is on unless asked otherwise.
        self.busy_wait = busy_wait
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.version: str | None = None
        self.registered = 0
        self.rooms = 0
        self.cpus: set[int] | None = None

    # -- install ---------------------------------------------------------------------------
    def install(self) -> None:
        # The archive in SQLite needs ejabberd's SQLite driver, a package of its own.
        wanted = ["erlang-p1-sqlite3"] if self.mam and self.mam_db == "sqlite" and not sqlite_driver() else []
        if not installed():
            wanted.append("ejabberd")
        if wanted:
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            print(f"bench.peers.ejabberd: installing {', '.join(wanted)}", file=sys.stderr)
            subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
            subprocess.run(
                [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *wanted],
                check=True,
                env=env,
            )
            if "ejabberd" in wanted:
                self._stop_debian_service(sudo)
        self.version = ejabberd_version()

    @staticmethod
    def _stop_debian_service(sudo: list[str]) -> None:
        """Debian's postinst starts its service where it may (not under a policy-rc.d that denies
        it, as in containers): stop and disable it, so its ports are not taken by a second VM."""
        if Path("/run/systemd/system").exists():
            subprocess.run([*sudo, "systemctl", "disable", "--now", "ejabberd"], check=False)
        else:
            with contextlib.suppress(OSError):
                subprocess.run(
                    [*sudo, "/etc/init.d/ejabberd", "stop"], check=False, capture_output=True, timeout=60
                )
            subprocess.run([*sudo, "update-rc.d", "ejabberd", "disable"], check=False, capture_output=True)

    # -- start / stop ----------------------------------------------------------------------
    def config_text(self) -> str:
        return string.Template(TEMPLATE.read_text()).substitute(
            host=self.vhost,
            port=self.port,
            max_users_presence=self.max_users_presence,
            room_mam="true" if self.mam else "false",
            mam_module=self._mam_module(),
        )

    def _mam_module(self) -> str:
        if not self.mam:
            return ""
        if self.mam_db == "mnesia":
            return MAM_MODULE
        sql = f"\nsql_type: sqlite\nsql_database: {json.dumps(str(self.workdir / 'ejabberd.db'))}"
        return MAM_MODULE.replace("db_type: mnesia", "db_type: sql") + sql

    def _create_sql_schema(self) -> None:
        """ejabberd 23.01 does not create its SQL tables: the package's SQLite schema, once."""
        import sqlite3

        database = self.workdir / "ejabberd.db"
        if database.exists():
            return
        with contextlib.closing(sqlite3.connect(database)) as connection:
            connection.executescript(SQLITE_SCHEMA.read_text())

    def command(self, schedulers: int) -> list[str]:
        # What `ejabberdctl foreground` runs (+K, +P, the Mnesia dir, -s ejabberd), without the
        # node name, `su ejabberd` and Debian's paths.
        cmd = ["/usr/bin/erl", "+K", "true", "+P", "1000000", "+S", f"{schedulers}:{schedulers}"]
        if not self.busy_wait:
            cmd += ["+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none"]
        spool = self.workdir / "spool"
        return [*cmd, "-noinput", "-mnesia", "dir", f'"{spool}"', "-s", "ejabberd"]

    def start(self, cpus: set[int] | None) -> None:
        if self.process is not None:
            raise RuntimeError("already started")
        if not installed():
            raise RuntimeError("ejabberd is not installed (EjabberdServer.install())")
        self.version = self.version or ejabberd_version()
        self.cpus = set(cpus) if cpus else None
        self.port = free_port()
        (self.workdir / "spool").mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        config = self.workdir / "ejabberd.yml"
        config.write_text(self.config_text())
        if self.mam and self.mam_db == "sqlite":
            self._create_sql_schema()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "EJABBERD_CONFIG_PATH": str(config),
            "EJABBERD_LOG_PATH": str(self.workdir / "logs" / "ejabberd.log"),
            "EJABBERD_PID_PATH": str(self.workdir / "ejabberd.pid"),
            "ERL_LIBS": "/usr/lib/x86_64-linux-gnu",
            "ERL_MAX_PORTS": "262144",
            "ERL_MAX_ETS_TABLES": "1400",
            "ERL_CRASH_DUMP_BYTES": "0",
        }
        schedulers = len(self.cpus) if self.cpus else os.cpu_count() or 1
        log = open(self.workdir / "logs" / "stdout.log", "ab")  # noqa: SIM115 (the child's)
        try:
            self.process = subprocess.Popen(
                self.command(schedulers),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._preexec,
            )
        finally:
            log.close()
        try:
            self._wait_started(timeout=60)
            self._warm_up()
        except BaseException:
            self.stop()
            raise

    def _warm_up(self, messages: int = 20) -> None:
        """A few messages through a room of two before anyone measures: the VM loads modules on
        first use, and the path a message takes costs ~0.4 s of CPU once (in a thread of its
        own, so start() works inside or outside an event loop)."""
        errors: list[BaseException] = []

        async def run() -> None:
            room = await self.make_room(2, name="warmup")
            members = await room.connect(2)
            try:
                streams = [member.messages() for member in members]
                for i in range(messages):
                    await members[i % 2].send(f"0|0|{PAD}", f"warmup-{i}")
                    for stream in streams:
                        await asyncio.wait_for(anext(stream), 10)
            finally:
                await asyncio.gather(*(member.close() for member in members), return_exceptions=True)
            await asyncio.to_thread(self.api, "destroy_room", {"name": "warmup", "service": self.muc_host})

        def thread() -> None:
            try:
                asyncio.run(run())
            except BaseException as error:  # re-raised in start()
                errors.append(error)

        worker = threading.Thread(target=thread, name="ejabberd-warm-up")
        worker.start()
        worker.join()
        if errors:
            raise RuntimeError(f"ejabberd warm-up failed: {errors[0]!r}") from errors[0]

    def _preexec(self) -> None:
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)
        raise_nofile()

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ejabberd exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError, RuntimeError):
                if "is running" in str(self.api("status", {}, timeout=2)):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"ejabberd did not start in {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        text = ""
        for name in ("stdout.log", "ejabberd.log"):
            with contextlib.suppress(OSError):
                text += (self.workdir / "logs" / name).read_text()[-2000:]
        return text

    def stop(self) -> None:
        if self.process is None:
            return
        pids = self.pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # the VM stops its applications on SIGTERM
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        for pid in pids[1:]:  # erl_child_setup and the like, if any outlived the VM
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None

    def pids(self) -> list[int]:
        """The VM (beam.smp, exec'd by erl) and its helpers (erl_child_setup, inet_gethost)."""
        if self.process is None or self.process.poll() is not None:
            return []
        return children_of(self.process.pid)

    def rss_kib(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, RuntimeError):
                total += proc_rss_kib(pid)
        return total

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pids())

    # -- admin commands (mod_http_api: the commands ejabberdctl runs) ----------------------
    def api(self, command: str, args: dict, timeout: float = 30):
        request = urllib.request.Request(
            f"http://{HOST}:{self.port}/api/{command}",
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            raise RuntimeError(f"ejabberd api {command}: {error.code} {body}") from None

    def register(self, user: str) -> None:
        try:
            self.api("register", {"user": user, "host": self.vhost, "password": PASSWORD})
        except RuntimeError as error:
            if "already" not in str(error):
                raise

    async def _register_up_to(self, users: int) -> None:
        missing = [f"u{i}" for i in range(self.registered, users)]
        if missing:
            with ThreadPoolExecutor(8) as pool:
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: list(pool.map(self.register, missing))
                )
            self.registered = max(self.registered, users)

    async def make_room(self, members: int, name: str | None = None, first: int = 0) -> EjabberdRoom:
        """`members` users registered (u<first>…), one persistent room created; joining is connect()."""
        await self._register_up_to(first + members)
        if name is None:
            self.rooms += 1
        room = name or f"room{self.rooms}"
        await asyncio.to_thread(
            self.api, "create_room", {"name": room, "service": self.muc_host, "host": self.vhost}
        )
        return EjabberdRoom(self, room, members, first)

    async def make_idle_rooms(self, members: int, room_size: int = 100) -> list[EjabberdRoom]:
        """`members` distinct users in rooms of `room_size` (bench/run.py's idle connections, as
        Parley's idle sockets are members of rooms of 100); joining is each room's connect()."""
        rooms = []
        for first in range(0, members, room_size):
            rooms.append(await self.make_room(min(room_size, members - first), first=first))
        return rooms


class EjabberdRoom:
    def __init__(self, server: EjabberdServer, name: str, members: int, first: int = 0):
        self.server = server
        self.name = name
        self.jid = f"{name}@{server.muc_host}"
        self.size = members
        self.first = first  # its members are users u<first> to u<first + members - 1>

    async def connect(self, concurrency: int = 50) -> list[Member]:
        """Every member logged in and joined (its own presence back), `concurrency` at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> Member:
            async with gate:
                return await Member.open(self, f"u{index}", index)

        users = range(self.first, self.first + self.size)
        results = await asyncio.gather(*(one(i) for i in users), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for member in results:
                if isinstance(member, Member):
                    member.abort()
            raise RuntimeError(f"{len(errors)} of {self.size} members failed to join: {errors[0]!r}")
        return list(results)


class Member:
    """One XMPP client over WebSocket, joined to one MUC room."""

    def __init__(self, room: EjabberdRoom, user: str, socket: ClientConnection):
        self.room = room
        self.user = user
        self.nick = user
        self.socket = socket
        self.own_from = f"{room.jid}/{user}"

    @classmethod
    async def open(cls, room: EjabberdRoom, user: str, index: int, timeout: float = 30) -> Member:
        server = room.server
        socket = await connect(
            f"ws://{HOST}:{server.port}/ws",
            subprotocols=["xmpp"],
            compression=None,
            ping_interval=None,
            open_timeout=timeout,
            close_timeout=2,
            max_size=2**20,
            local_addr=(SOURCE_ADDRESSES[index % len(SOURCE_ADDRESSES)], 0),
        )
        try:
            await asyncio.wait_for(cls._login(socket, server, user, room), timeout)
        except BaseException:
            socket.transport.abort()
            raise
        return cls(room, user, socket)

    @staticmethod
    async def _login(
        socket: ClientConnection, server: EjabberdServer, user: str, room: EjabberdRoom, *, join: bool = True
    ) -> None:
        stream_open = f'<open xmlns="{FRAMING}" to="{server.vhost}" version="1.0"/>'

        async def until(predicate) -> str:
            while True:
                frame = await socket.recv()
                if isinstance(frame, bytes):
                    frame = frame.decode()
                if "<failure" in frame or "<stream:error" in frame or 'type="error"' in frame:
                    raise RuntimeError(f"{user}: {frame[:300]}")
                if predicate(frame):
                    return frame

        await socket.send(stream_open)
        await until(lambda f: "<stream:features" in f or "<features" in f)
        token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
        await socket.send(f'<auth xmlns="{SASL}" mechanism="PLAIN">{token}</auth>')
        await until(lambda f: "<success" in f)
        await socket.send(stream_open)
        features = await until(lambda f: "<stream:features" in f or "<features" in f)
        resource = secrets.token_hex(4)
        await socket.send(
            f'<iq type="set" id="bind"><bind xmlns="{BIND}"><resource>{resource}</resource></bind></iq>'
        )
        await until(lambda f: 'id="bind"' in f or "id='bind'" in f)
        if "urn:ietf:params:xml:ns:xmpp-session" in features and "<optional" not in features:
            await socket.send(
                '<iq type="set" id="sess"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>'
            )
            await until(lambda f: 'id="sess"' in f or "id='sess'" in f)
        if not join:
            return
        await socket.send(
            f"<presence to={quoteattr(room.jid + '/' + user)}>"
            f'<x xmlns="{MUC}"><history maxstanzas="0"/></x></presence>'
        )
        # Joined when the room sends the member its own presence (status code 110).
        await until(lambda f: f.startswith("<presence") and ('code="110"' in f or "code='110'" in f))

    async def send(self, body: str, txn_id: str) -> None:
        await self.socket.send(
            f'<message type="groupchat" to="{self.room.jid}" id={quoteattr(txn_id)}>'
            f"<body>{escape(body)}</body></message>"
        )

    async def messages(self) -> AsyncIterator[tuple[str, str | None]]:
        """(body, id if it is this member's own message reflected, else None) per groupchat
        message, until the socket closes."""
        own = self.own_from
        try:
            async for frame in self.socket:
                parsed = parse_message(frame, own)
                if parsed is not None:
                    yield parsed
        except ConnectionClosed:
            return

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            await self.socket.send(f'<close xmlns="{FRAMING}"/>')
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(self.socket.close(), 3)

    def abort(self) -> None:
        self.socket.transport.abort()


async def archived_count(room: EjabberdRoom, user: str = "u0", timeout: float = 30) -> int:
    """How many messages the room's archive holds (XEP-0313 query to the room with RSM max 0:
    the `<fin>` carries the count, no message comes), from a session of its own that does not join."""
    server = room.server
    socket = await connect(
        f"ws://{HOST}:{server.port}/ws", subprotocols=["xmpp"], compression=None, ping_interval=None
    )
    try:
        await asyncio.wait_for(Member._login(socket, server, user, room, join=False), timeout)
        await socket.send(
            f'<iq type="set" to="{room.jid}" id="mamcount"><query xmlns="{MAM}">'
            f'<set xmlns="{RSM}"><max>0</max></set></query></iq>'
        )
        async with asyncio.timeout(timeout):
            async for frame in socket:
                if isinstance(frame, bytes):
                    frame = frame.decode()
                if frame.startswith("<iq") and "mamcount" in frame:
                    element = ET.fromstring(frame)
                    if element.get("type") != "result":
                        raise RuntimeError(f"archive query: {frame[:300]}")
                    count = element.find(f".//{{{RSM}}}count")
                    return int(count.text) if count is not None and count.text else 0
        raise RuntimeError("archive query: the stream closed")
    finally:
        socket.transport.abort()


def parse_message(frame: str | bytes, own_from: str) -> tuple[str, str | None] | None:
    """A groupchat message's (body, id when from own_from else None); None for anything else."""
    if isinstance(frame, bytes):
        frame = frame.decode()
    if not frame.startswith("<message"):
        return None
    element = ET.fromstring(frame)
    if element.get("type") != "groupchat":
        return None
    body = element.find(f"{{{CLIENT}}}body")
    if body is None:
        body = element.find("body")
    if body is None:
        return None  # subject changes and the like
    own = element.get("from") == own_from
    return body.text or "", element.get("id") if own else None


def generator_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine spent busy (/proc/stat; USER_HZ is 100)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / 100.0


def parse_cost_us(samples: int = 20000) -> float:
    frame = (
        f'<message xml:lang="en" to="u1@bench.local/abcd" from="room1@conference.bench.local/u0" '
        f'type="groupchat" id="t-123456" xmlns="{CLIENT}"><body>1|123456789012|{PAD}</body></message>'
    )
    started = time.perf_counter()
    for _ in range(samples):
        parse_message(frame, "room1@conference.bench.local/u1")
    return (time.perf_counter() - started) / samples * 1e6


# -- smoke ---------------------------------------------------------------------------------
async def smoke(args) -> int:
    server = EjabberdServer(
        max_users_presence=args.max_users_presence,
        busy_wait=not args.no_busy_wait,
        mam=args.mam is not None,
        mam_db=args.mam or "mnesia",
    )
    server.install()
    raise_nofile()  # the generator holds a socket per member
    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None
    started = time.monotonic()
    server.start(cpus)
    print(f"ejabberd {server.version} started in {time.monotonic() - started:.1f} s on port {server.port}")
    if cpus and os.cpu_count() and len(cpus) < os.cpu_count():
        os.sched_setaffinity(0, set(range(os.cpu_count())) - cpus)
    members: list[Member] = []
    try:
        t0 = time.monotonic()
        room = await server.make_room(args.members)
        t1 = time.monotonic()
        members = await room.connect(concurrency=args.concurrency)
        t2 = time.monotonic()
        print(
            f"{args.members} members: registered in {t1 - t0:.2f} s, joined in {t2 - t1:.2f} s "
            f"({args.members / (t2 - t1):.0f}/s); RSS {server.rss_kib() / 1024:.1f} MiB"
        )
        failed = await measure(server, members, args)
        if server.mam:
            # Every message sent into the room (its warm-up's and the measured ones) in its archive.
            sent = round(args.rate * args.warmup) + max(1, round(args.rate * args.seconds))
            archived = await archived_count(room)
            print(f"archive (mod_mam, {server.mam_db}): {archived} messages of the {sent} sent into the room")
            failed = failed or archived != sent
        return failed
    finally:
        await asyncio.gather(*(m.close() for m in members), return_exceptions=True)
        server.stop()
        if not args.keep:
            shutil.rmtree(server.workdir, ignore_errors=True)


async def measure(server: EjabberdServer, members: list[Member], args) -> int:
    clock = time.monotonic_ns
    total = max(1, round(args.rate * args.seconds))
    expected = total * len(members)
    latencies: list[int] = []
    own_acks = 0
    foreign_ids = 0
    done = asyncio.Event()
    state = {"delivered": 0, "sending": True}

    async def reader(member: Member) -> None:
        nonlocal own_acks, foreign_ids
        async for body, txn in member.messages():
            now = clock()
            if body.startswith("0|"):
                continue  # warm-up
            due = int(body.split("|", 2)[1])
            latencies.append(now - due)
            if txn is not None:
                own_acks += 1
                if not txn.startswith(f"{member.user}-"):
                    foreign_ids += 1
            state["delivered"] += 1
            if not state["sending"] and state["delivered"] >= expected:
                done.set()

    readers = [asyncio.create_task(reader(m)) for m in members]
    senders = members[: max(1, min(args.senders, len(members)))]
    # Warm-up beyond start()'s: this room's own first messages, not counted.
    for i in range(round(args.rate * args.warmup)):
        sender = senders[i % len(senders)]
        await sender.send(f"0|{clock()}|{PAD}", f"{sender.user}-w{i}")
        await asyncio.sleep(1 / args.rate)
    await asyncio.sleep(0.5)
    cpu_before = server.cpu_seconds()
    generator_before = generator_cpu_seconds()
    wall_before = time.monotonic()
    machine_before = machine_busy_seconds()
    start = clock() + 50_000_000
    period = 1e9 / args.rate
    for i in range(total):
        due = start + int(i * period)
        delay = (due - clock()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        sender = senders[i % len(senders)]
        await sender.send(f"1|{due}|{PAD}", f"{sender.user}-{i}")
    state["sending"] = False
    if state["delivered"] >= expected:
        done.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), args.drain)
    cpu = server.cpu_seconds() - cpu_before
    generator = generator_cpu_seconds() - generator_before
    wall = time.monotonic() - wall_before
    other = machine_busy_seconds() - machine_before - cpu - generator
    for task in readers:
        task.cancel()
    delivered = state["delivered"]
    lost = expected - delivered
    ordered = sorted(latencies)

    def pct(q: float) -> str:
        index = max(0, math.ceil(q * expected) - 1)
        return f"{ordered[index] / 1e6:.1f}" if index < len(ordered) else "inf"

    print(
        f"sent {total} at {args.rate}/s by {len(senders)} senders to {len(members)} members: "
        f"deliveries {delivered}/{expected}, lost {lost}, own echoes {own_acks}/{total}"
        f"{f' ({foreign_ids} with a foreign id)' if foreign_ids else ''}"
    )
    print(f"latency p50 {pct(0.50)} ms, p99 {pct(0.99)} ms, p99.9 {pct(0.999)} ms")
    print(
        f"server CPU {cpu:.2f} s = {cpu / max(1, delivered) * 1e6:.1f} µs per delivery "
        f"({cpu / total * 1e6:.0f} µs per message); RSS {server.rss_kib() / 1024:.1f} MiB"
    )
    print(
        f"generator CPU {generator:.2f} s ({generator / wall * 100:.0f}% of its core over {wall:.1f} s); "
        f"other processes {max(0.0, other) / wall * 100:.0f}% of a core; "
        f"client parse {parse_cost_us(2000):.1f} µs per message"
    )
    return 1 if lost or own_acks != total or foreign_ids else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.ejabberd")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("smoke", help="start ejabberd, one room, one rate; non-zero exit on loss")
    run.add_argument("--members", type=int, default=10)
    run.add_argument("--rate", type=float, default=50.0, help="messages/s into the room")
    run.add_argument("--seconds", type=float, default=5.0)
    run.add_argument("--senders", type=int, default=10)
    run.add_argument("--concurrency", type=int, default=50)
    run.add_argument("--warmup", type=float, default=0.5, help="seconds at the rate, not counted")
    run.add_argument("--drain", type=float, default=10.0)
    run.add_argument("--server-cpus", default="0", help="e.g. 0 or 0,1; empty for no pinning")
    run.add_argument("--max-users-presence", type=int, default=1000)
    run.add_argument("--no-busy-wait", action="store_true", help="Erlang schedulers sleep, not spin")
    run.add_argument(
        "--mam",
        nargs="?",
        const="mnesia",
        choices=["mnesia", "sqlite"],
        help="archive every room message (ejabberd-muc-mam, in Mnesia unless sqlite)",
    )
    run.add_argument("--keep", action="store_true", help="keep the work directory")
    sub.add_parser("version", help="the installed ejabberd version")
    args = parser.parse_args(argv)
    if args.command == "version":
        print(ejabberd_version() or "not installed")
        return 0
    try:
        import uvloop
    except ImportError:
        return asyncio.run(smoke(args))
    return uvloop.run(smoke(args))


if __name__ == "__main__":
    sys.exit(main())
