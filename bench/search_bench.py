"""Search latency by query class, on SQLite and PostgreSQL, over a generated corpus.

    python -m bench.search_bench                                  # 1,000,000 messages, both engines
    python -m bench.search_bench --messages 20000 --engines sqlite --k 10 --out /tmp/sb

For each engine the corpus of bench/search_corpus.py is loaded into a fresh database (SQLite: a
file; PostgreSQL: a throwaway cluster of tests/servers.py with durable settings, listening on
127.0.0.1 only, its database with the C ctype as the tests have it ("postgres") or a UTF-8 one
as deployed ("postgres-utf8", see PG_CTYPES)), or reused from /tmp/parley-search-bench/<key>/
when the same parameters and the same migrations made one before. A worker process with the
database's environment (bench/procs.py's `parley_env`) then runs each query class K times, K
different queries, through `search.selectors.search_messages(user=…, text=…, order=…)` in
process, as a user who is a member of ~20 rooms (and so reads those and every public room): a
warm-up pass over all the queries first, so the figures are warm-cache ones (the database's
pages in memory), then the timed pass. Per class: p50/p95/p99 in ms, the hits, and the plan of
its slowest query (PostgreSQL: EXPLAIN ANALYZE, BUFFERS; SQLite: EXPLAIN QUERY PLAN). Per
engine: the index's size on disk (SQLite: the `search_fts*` tables by dbstat; PostgreSQL: the
GIN indexes and the `search_vector` column), and how long the load took with the index kept as
it went.

Everything is bounded in time: the load (--load-timeout), each class (--class-budget: the class
stops there and says how many of its queries ran), the worker (--worker-timeout). Results:
results.json and results.md in --out (default bench/results/search/<messages>/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "bench" / "results" / "search"
CACHE = Path("/tmp/parley-search-bench")

# The query classes, in the order the tables show them; (class, what it is, order).
CLASSES = [
    ("common", "a frequent work word (`deploy`, `review`)", "newest"),
    ("rare", "a word in ~20-200 of 1M messages", "newest"),
    ("prefix", "the first 3-4 letters of a word (as typed)", "newest"),
    ("phrase", '`"two words"` that occur together', "newest"),
    ("from", "`from:@user word`", "newest"),
    ("in", "`in:#room word`", "newest"),
    ("cjk", "a Japanese, Chinese or Korean word", "newest"),
    ("identifier", "`db-01.internal`, `10.0.3.7`, `ERR_CONN_RESET`, `#1234` …", "newest"),
    ("accent", "`zurich` finding `Zürich` (folded)", "newest"),
    ("common-relevance", "a frequent word, best first", "relevance"),
    ("rare-relevance", "a rare word, best first", "relevance"),
    ("phrase-relevance", "a phrase, best first", "relevance"),
]
MARKDOWN_NOTE = "Warm cache: every query ran once before the timed pass."


def log(text: str) -> None:
    print(text, flush=True)


def percentile(samples: list[float], p: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


# --- Which queries ------------------------------------------------------------------------


def bench_user(manifest: dict) -> dict:
    """A user in as many rooms as users are in on average (~20), one private room at least."""
    private = {room["id"] for room in manifest["rooms"] if room["is_private"]}
    rooms_of: dict[int, list[int]] = {}
    for room in manifest["rooms"]:
        for user_id in room["member_ids"]:
            rooms_of.setdefault(user_id, []).append(room["id"])
    wanted = manifest["spec"]["rooms_per_user"]
    users = sorted(manifest["users"], key=lambda u: (abs(len(rooms_of.get(u["id"], [])) - wanted), u["id"]))
    for user in users:
        if private & set(rooms_of.get(user["id"], [])):
            return {
                **user,
                "room_ids": rooms_of[user["id"]],
                "private_room_ids": sorted(private & set(rooms_of[user["id"]])),
            }
    user = users[0]
    return {**user, "room_ids": rooms_of.get(user["id"], []), "private_room_ids": []}


def _spread(items: list, k: int) -> list:
    """k items evenly spaced through the list (all of them if there are fewer)."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] if k > 1 else items[0] for i in range(k)]


def pick_queries(manifest: dict, user: dict, k: int, phrases_from_bodies: list[str], seed: int = 14) -> dict:
    """K queries per class, from what the corpus holds (search_corpus's manifest)."""
    from bench.search_corpus import FUNCTION_WORDS

    rng = random.Random(seed)
    n = manifest["spec"]["messages"]
    candidates = manifest["candidates"]
    stop = set(FUNCTION_WORDS)
    by_count = sorted(candidates["words"], key=lambda wc: -wc[1])
    content = [word for word, _ in by_count if word not in stop and len(word) >= 4 and word.isalpha()]
    common = content[:k]
    low, high = max(2, n * 2 // 100_000), max(5, n * 20 // 100_000)
    rare_pool = [word for word, count in candidates["words"] if low <= count <= high and len(word) >= 5]
    rare = rng.sample(rare_pool, min(k, len(rare_pool)))
    prefixes: dict[str, None] = {}
    for i, word in enumerate(content[: 4 * k]):
        prefixes.setdefault(word[: 3 + i % 2], None)
    prefix = list(prefixes)[:k]
    collocations = [phrase for phrase, _ in candidates["collocations"]]
    phrases = [f'"{p}"' for p in (collocations[: k // 2] + phrases_from_bodies)][:k]
    readable = {room["id"] for room in manifest["rooms"] if not room["is_private"]} | set(user["room_ids"])
    authors = sorted(
        (u for u in manifest["users"] if u["messages"] > 0), key=lambda u: (-u["messages"], u["id"])
    )
    rooms = sorted(
        (r for r in manifest["rooms"] if r["id"] in readable), key=lambda r: (-r["messages"], r["id"])
    )
    words_for = common[: max(1, min(10, len(common)))]
    from_queries = [
        f"from:@{u['username']} {words_for[i % len(words_for)]}" for i, u in enumerate(_spread(authors, k))
    ]
    in_queries = [f"in:#{r['slug']} {words_for[i % len(words_for)]}" for i, r in enumerate(_spread(rooms, k))]
    cjk = [term for term, _ in candidates["cjk"]][:k]
    identifiers = [value for value, _ in candidates["identifiers"]]
    identifier = _spread(identifiers, k)
    from search.text import fold

    # Typed without the accents: the folded form, where folding leaves plain ASCII (ø and ß stay).
    accent = list(dict.fromkeys(fold(w) for w, _ in candidates["accented"] if fold(w).isascii()))[:k]
    return {
        "common": common,
        "rare": rare,
        "prefix": prefix,
        "phrase": phrases,
        "from": from_queries,
        "in": in_queries,
        "cjk": cjk,
        "identifier": identifier,
        "accent": accent,
        "common-relevance": common[: max(1, k // 2)],
        "rare-relevance": rare[: max(1, k // 2)],
        "phrase-relevance": phrases[: max(1, k // 2)],
    }


def phrases_in_bodies(count: int, seed: int = 14) -> list[str]:
    """Two adjacent words from messages picked at random: phrases that occur."""
    from messaging.models import ChatMessage

    rng = random.Random(seed)
    bounds = ChatMessage.objects.order_by("id").values_list("id", flat=True)
    first, last = bounds.first(), ChatMessage.objects.order_by("-id").values_list("id", flat=True).first()
    if first is None:
        return []
    phrases: dict[str, None] = {}
    for _ in range(count * 20):
        if len(phrases) >= count:
            break
        body = (
            ChatMessage.objects.filter(id__gte=rng.randint(first, last))
            .values_list("body", flat=True)
            .first()
        )
        words = [w for w in (body or "").split() if w.isascii() and w.isalpha() and len(w) >= 3]
        if len(words) >= 2:
            i = rng.randrange(len(words) - 1)
            phrases.setdefault(f"{words[i].lower()} {words[i + 1].lower()}", None)
    return list(phrases)


# --- Running them (in the worker, or in a test, with Django set up) -------------------------


def _explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(" | ".join(str(c) for c in row) for row in cursor.fetchall())


def run_classes(
    manifest: dict,
    *,
    k: int = 50,
    class_budget: float = 120.0,
    classes: list[str] | None = None,
    explain: bool = True,
    say=log,
) -> dict:
    """Every class's figures: {class: {queries, ran, p50_ms, p95_ms, p99_ms, max_ms, hits, …}}."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from search.selectors import search_messages

    user_info = bench_user(manifest)
    user = get_user_model().objects.get(pk=user_info["id"])
    queries = pick_queries(manifest, user_info, k, phrases_in_bodies(max(1, k - k // 2)))
    wanted = classes or [name for name, _, _ in CLASSES]
    orders = {name: order for name, _, order in CLASSES}
    figures: dict = {}
    for name in wanted:
        texts = queries[name]
        order = orders[name]
        started = time.monotonic()
        for text in texts:  # warm-up: the pages these queries read, in memory
            search_messages(user=user, text=text, order=order)
            if time.monotonic() - started > class_budget / 3:
                break
        samples: list[tuple[float, str, int, bool]] = []
        problems: list = []
        started = time.monotonic()
        for text in texts:
            t = time.perf_counter()
            results = search_messages(user=user, text=text, order=order)
            hits = len(results.hits)
            elapsed = (time.perf_counter() - t) * 1000
            samples.append((elapsed, text, hits, results.more))
            if results.problems:
                problems.append({"text": text, "problems": [p.code for p in results.problems]})
            if time.monotonic() - started > class_budget:
                break
        times = [s[0] for s in samples]
        slowest = max(samples)
        entry = {
            "order": order,
            "queries": len(texts),
            "ran": len(samples),
            "cut_short": len(samples) < len(texts),
            "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2),
            "p99_ms": round(percentile(times, 99), 2),
            "max_ms": round(slowest[0], 2),
            "median_hits": statistics.median(s[2] for s in samples),
            "no_hits": sum(1 for s in samples if s[2] == 0),
            "examples": texts[:3],
            "slowest": {"text": slowest[1], "ms": round(slowest[0], 2), "hits": slowest[2]},
            "problems": problems,
        }
        if explain and slowest[0] < 10_000:
            with CaptureQueriesContext(connection) as captured:
                search_messages(user=user, text=slowest[1], order=order)
            statements = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))
            if statements:
                sql = statements[0]["sql"]
                with contextlib.suppress(Exception):
                    entry["slowest"]["sql"] = sql
                    entry["slowest"]["plan"] = _explain(sql)
        figures[name] = entry
        say(
            f"search_bench: {connection.vendor} {name:17} p50 {entry['p50_ms']:8.1f}  "
            f"p95 {entry['p95_ms']:8.1f}  p99 {entry['p99_ms']:8.1f} ms  "
            f"({entry['ran']} queries, median {entry['median_hits']} hits)"
        )
    return {
        "user": {k_: user_info[k_] for k_ in ("id", "username")}
        | {"rooms": len(user_info["room_ids"]), "private_rooms": len(user_info["private_room_ids"])},
        "classes": figures,
    }


def index_size() -> dict:
    """The search index's bytes on disk, and the messages table's for comparison."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT d.name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master s ON s.name = d.name "
                "WHERE s.tbl_name = 'messaging_chatmessage' OR s.name LIKE 'search!_fts%' ESCAPE '!' "
                "GROUP BY d.name"
            )
            parts = dict(cursor.fetchall())
            cursor.execute("PRAGMA page_count")
            pages = cursor.fetchone()[0]
            cursor.execute("PRAGMA page_size")
            page_size = cursor.fetchone()[0]
            search = {name: size for name, size in parts.items() if name.startswith("search_fts")}
            return {
                "search_index_bytes": sum(search.values()),
                "search_parts": search,
                "messages_table_and_indexes_bytes": sum(
                    size for name, size in parts.items() if not name.startswith("search_fts")
                ),
                "database_bytes": pages * page_size,
            }
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'messaging_chatmessage'::regclass"
        )
        indexes = dict(cursor.fetchall())
        cursor.execute("SELECT pg_table_size('messaging_chatmessage'), pg_database_size(current_database())")
        table, database = cursor.fetchone()
        # The stored generated columns search adds (search_vector, search_text …): their share of
        # the table, as the sum of their values' sizes.
        cursor.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'messaging_chatmessage'::regclass "
            "AND attname LIKE 'search!_%' ESCAPE '!' AND NOT attisdropped ORDER BY attnum"
        )
        columns = {}
        for (name,) in cursor.fetchall():
            cursor.execute(f'SELECT COALESCE(SUM(pg_column_size("{name}")), 0) FROM messaging_chatmessage')
            columns[f"{name} column (sum of pg_column_size)"] = cursor.fetchone()[0]
        gin = {name: size for name, size in indexes.items() if name.startswith("search_")}
        return {
            "search_index_bytes": sum(gin.values()) + sum(columns.values()),
            "search_parts": {**gin, **columns},
            "messages_table_bytes": table,
            "messages_other_indexes_bytes": sum(size for name, size in indexes.items() if name not in gin),
            "database_bytes": database,
        }


def engine_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sqlite_version()")
            return "SQLite " + cursor.fetchone()[0]
        cursor.execute(
            "SELECT current_setting('server_version'), datctype FROM pg_database "
            "WHERE datname = current_database()"
        )
        version, ctype = cursor.fetchone()
        return f"PostgreSQL {version}, ctype {ctype}"


def _set_statistics(target: int) -> bool:
    """PostgreSQL: the statistics target of the folded text (-1: the default), then ANALYZE."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE messaging_chatmessage ALTER COLUMN search_text SET STATISTICS {int(target)}"
        )
        cursor.execute("ANALYZE messaging_chatmessage")
    return True


def worker(args) -> None:
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    manifest = json.loads(Path(args.manifest).read_text())
    statistics_set = args.pg_statistics and _set_statistics(args.pg_statistics)
    try:
        figures = run_classes(manifest, k=args.k, class_budget=args.class_budget)
    finally:
        if statistics_set:
            _set_statistics(-1)  # the cached corpus as it was
    figures["index"] = index_size()
    figures["engine"] = engine_version() + (
        f", search_text statistics {args.pg_statistics}" if statistics_set else ""
    )
    Path(args.worker_out).write_text(json.dumps(figures, indent=1))


# --- Preparing the databases ----------------------------------------------------------------


def schema_digest() -> str:
    """The migrations that shape the tables and the index: a cached corpus is theirs only."""
    digest = hashlib.sha1()
    for app in ("accounts", "messaging", "search"):
        for path in sorted((BASE_DIR / app / "migrations").glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def _run_logged(cmd: list[str], env: dict, log_path: Path, timeout: float) -> None:
    with log_path.open("a") as out:
        result = subprocess.run(
            cmd, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    if result.returncode != 0:
        tail = log_path.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n{tail}")


def _load(env: dict, spec, directory: Path, timeout: float) -> Path:
    from bench import procs

    manifest = directory / "manifest.json"
    procs.manage(env, "migrate", "--noinput", timeout=600)
    cmd = [sys.executable, "-m", "bench.search_corpus", "--messages", str(spec.messages)]
    cmd += ["--rooms", str(spec.rooms), "--users", str(spec.users), "--seed", str(spec.seed)]
    _run_logged([*cmd, "--out", str(manifest) + ".part"], env, directory / "load.log", timeout)
    Path(str(manifest) + ".part").rename(manifest)
    return manifest


# tests/servers.py's clusters are initdb --no-locale (C): pg_trgm takes no trigrams from what
# the C ctype does not call letters (CJK), and lower() folds ASCII only. The deployed database
# (docker-compose's postgres image) is en_US.utf8; "postgres-utf8" is a database with a UTF-8
# ctype (C.utf8, collation C) in the same kind of cluster.
PG_CTYPES = {"postgres-utf8": "C.utf8"}


def _recreate_database(server, ctype: str) -> None:
    import psycopg

    admin = server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE "{server.database}"')
        conn.execute(
            f'CREATE DATABASE "{server.database}" OWNER "{server.user}" TEMPLATE template0 '
            f"ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE '{ctype}'"
        )


@contextlib.contextmanager
def prepared(engine: str, spec, *, load_timeout: float, fresh: bool):
    """(environment, manifest path, reused) for a database holding the corpus; a PostgreSQL
    cluster is stopped on the way out (its directory kept for the next run)."""
    from bench import procs

    directory = CACHE / f"{spec.key()}-{schema_digest()}" / engine
    if fresh and directory.exists():
        import shutil

        shutil.rmtree(directory)
    reused = (directory / "manifest.json").exists()
    directory.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        env = procs.parley_env(
            database_url=None, sqlite_path=directory / "db.sqlite3", redis_url=None, layer=""
        )
        if not reused:
            for leftover in directory.glob("db.sqlite3*"):
                leftover.unlink()
            _load(env, spec, directory, load_timeout)
        yield env, directory / "manifest.json", reused
        return

    from tests import servers

    info_path = directory / "server.json"
    if reused and info_path.exists():
        info = json.loads(info_path.read_text())
        os_user = servers._server_os_user()
        server = servers.PostgresServer(
            bin_dir=servers.reachable_pg_bin_dir(servers.find_binaries()[0], os_user),
            directory=directory / "cluster",
            port=procs.free_port(),
            password=info["password"],
            os_user=os_user,
            durable=True,
        )
        server.write_settings()
        server.start()
    else:
        reused = False
        for leftover in ("cluster", "manifest.json", "server.json"):
            path = directory / leftover
            if path.is_dir():
                import shutil

                shutil.rmtree(path)
        server = servers.start_postgres(directory / "cluster", durable=True)  # commits reach the disk
        info_path.write_text(json.dumps({"password": server.password}))
        if engine in PG_CTYPES:
            _recreate_database(server, PG_CTYPES[engine])
    try:
        env = procs.parley_env(database_url=server.url, sqlite_path=None, redis_url=None, layer="")
        if not reused:
            _load(env, spec, directory, load_timeout)
        yield env, directory / "manifest.json", reused
    finally:
        server.close()


# --- The report -----------------------------------------------------------------------------


def _mib(size: int | None) -> str:
    return "?" if size is None else f"{size / 1024 / 1024:,.1f} MiB"


def markdown(results: dict) -> str:
    spec = results["spec"]
    lines = [
        f"# Search latency, {spec['messages']:,} messages, {spec['rooms']:,} rooms, {spec['users']:,} users",
        "",
        f"{results['started_at']} · commit `{results['commit']}` · {results['machine']} · {MARKDOWN_NOTE}",
        f"K = {results['k']} different queries per class through `search.selectors.search_messages`, "
        "limit 20, as one user (the rooms they are in and every public room).",
        "",
    ]
    engines = list(results["engines"])
    header = (
        "| class | order | " + " | ".join(f"{e} p50 / p95 / p99 ms" for e in engines) + " | hits (median) |"
    )
    lines += [header, "| --- | --- | " + " | ".join("---:" for _ in engines) + " | ---: |"]
    for name, what, order in CLASSES:
        cells = []
        hits = []
        for e in engines:
            entry = results["engines"][e]["classes"].get(name)
            if entry is None:
                cells.append("–")
                continue
            mark = "*" if entry["cut_short"] else ""
            cells.append(f"{entry['p50_ms']:,.1f} / {entry['p95_ms']:,.1f} / {entry['p99_ms']:,.1f}{mark}")
            hits.append(str(entry["median_hits"]))
        lines.append(f"| {name}: {what} | {order} | " + " | ".join(cells) + f" | {' / '.join(hits)} |")
    lines += ["", "`*`: the class hit its time budget before all its queries ran.", ""]
    lines += [
        "| engine | version | load (with the index) | search index on disk | whole database |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for e in engines:
        engine = results["engines"][e]
        load_text = f"{engine['load_seconds']:,.0f} s" + (
            " (cached corpus)" if engine["reused_corpus"] else ""
        )
        lines.append(
            f"| {e} | {engine['engine']} | {load_text} | {_mib(engine['index']['search_index_bytes'])} | "
            f"{_mib(engine['index']['database_bytes'])} |"
        )
    lines.append("")
    for e in engines:
        lines.append(f"## {e}: the index's parts")
        lines.append("")
        for part, size in results["engines"][e]["index"]["search_parts"].items():
            lines.append(f"- {part}: {_mib(size)}")
        lines.append("")
        lines.append(f"## {e}: the slowest query of each class")
        lines.append("")
        for name, entry in results["engines"][e]["classes"].items():
            slowest = entry["slowest"]
            lines.append(
                f"### {e} {name}: `{slowest['text']}` {slowest['ms']:,.1f} ms, {slowest['hits']} hits"
            )
            if slowest.get("plan"):
                lines += ["", "```", slowest["plan"], "```"]
            lines.append("")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=None, help="default: 1,000 (fewer for small corpora)")
    parser.add_argument("--users", type=int, default=None, help="default: 10,000 (fewer for small corpora)")
    parser.add_argument(
        "--engines",
        default="sqlite,postgres,postgres-utf8",
        help="of sqlite, postgres (C ctype), postgres-utf8",
    )
    parser.add_argument("--k", type=int, default=50, help="queries per class")
    parser.add_argument("--class-budget", type=float, default=120.0, help="seconds per class at most")
    parser.add_argument(
        "--pg-statistics",
        type=int,
        default=0,
        help="PostgreSQL: run with this statistics target on search_text (put back to the default after)",
    )
    parser.add_argument("--load-timeout", type=float, default=2400.0)
    parser.add_argument("--worker-timeout", type=float, default=1800.0)
    parser.add_argument("--fresh", action="store_true", help="load again even if a cached corpus exists")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    sys.path.insert(0, str(BASE_DIR))
    from bench.run import machine
    from bench.search_corpus import Spec

    rooms = args.rooms or min(1_000, max(10, args.messages // 1_000))
    users = args.users or min(10_000, max(50, args.messages // 100))
    spec = Spec(messages=args.messages, rooms=rooms, users=users)
    out = args.out or RESULTS / (
        f"{args.messages // 1_000_000}m" if args.messages >= 1_000_000 else f"{args.messages}"
    )
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    host = machine()
    results = {
        "started_at": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit + ("+dirty" if dirty else ""),
        "machine": f"{host['nproc']} cores ({host['cpu_model']}), load {' '.join(host['loadavg_at_start'])}",
        "spec": Spec(messages=args.messages, rooms=rooms, users=users).__dict__,
        "k": args.k,
        "engines": {},
    }
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        log(f"search_bench: {engine}: preparing {spec.messages:,} messages ({spec.key()})")
        t = time.monotonic()
        with prepared(engine, spec, load_timeout=args.load_timeout, fresh=args.fresh) as (
            env,
            manifest_path,
            reused,
        ):
            manifest = json.loads(manifest_path.read_text())
            log(f"search_bench: {engine}: {'reused' if reused else 'loaded'} in {time.monotonic() - t:.0f}s")
            worker_out = out / f"{engine}.worker.json"
            cmd = [sys.executable, "-m", "bench.search_bench", "--worker", "--manifest", str(manifest_path)]
            cmd += [
                "--worker-out",
                str(worker_out),
                "--k",
                str(args.k),
                "--class-budget",
                str(args.class_budget),
            ]
            if args.pg_statistics:
                cmd += ["--pg-statistics", str(args.pg_statistics)]
            subprocess.run(cmd, cwd=BASE_DIR, env=env, timeout=args.worker_timeout, check=True)
            figures = json.loads(worker_out.read_text())
            worker_out.unlink()
        figures["load_seconds"] = manifest["timings"]["total"]
        figures["load_timings"] = manifest["timings"]
        figures["reused_corpus"] = reused
        figures["corpus_counts"] = manifest["counts"]
        results["engines"][engine] = figures
        (out / "results.json").write_text(json.dumps(results, indent=1))
        (out / "results.md").write_text(markdown(results))
    log(f"search_bench: results in {out}")


if __name__ == "__main__":
    main()
