"""A search corpus: N messages in R rooms by U users, realistic work-chat text, written fast.

    python -m bench.search_corpus --messages 1000000 --rooms 1000 --users 10000 --out corpus.json

Run with the server's environment (DATABASE_URL or SQLITE_PATH, as bench/procs.py's `parley_env`
sets them), after `migrate`. Deterministic: the same parameters and seed write the same rows.

The text: words drawn from a work-chat vocabulary with Zipf frequencies (function words first,
then work words and their forms, `deploy` … `redeployed`, then a long tail of rare names), a few
collocations ("code review", "on call") so phrases occur as phrases; a few percent of the
messages in Japanese, Chinese or Korean (no word spaces but Korean's), a few percent with accented
words (résumé, Zürich), identifiers (`db-01.internal`, `10.0.3.7`, `ERR_CONN_RESET`,
`services/payments-api/handler.go`, `#1234`, `a1:b2:c3:d4:e5:f6`), links and @mentions of the
room's members (with their mention rows, as sending would link them).

The rows are what sending writes (messaging/actions/messages.py): each room's seqs gap-free from 1,
a message's `change` equal to its seq (no edits, reactions or threads), the room's `last_seq` and
`last_change` its count; ids and times rise together across rooms, as a live site's do. Users are
each in ~20 rooms (rooms' sizes skewed like their traffic), 10 % of the rooms private; authors are
members of their rooms. Messages go in with one executemany per batch on SQLite and COPY on
PostgreSQL, in big transactions, through Django's connection: the search index (SQLite's triggers
into `search_fts`, PostgreSQL's generated column and GIN indexes) is written as they go in, as it
is on the send path, and the load time includes it.

`generate()` does it in process (the tests call it on their database); it returns the manifest:
the parameters, what was made (counts of each kind of message), how long each step took, and the
candidates for each query class of bench/search_bench.py (words with their counts, users,
rooms, identifiers, CJK terms that occur).
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import hashlib
import io
import itertools
import json
import os
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Bumped whenever the text or the rows change: cached corpora are keyed by it.
GENERATOR_VERSION = 1
BATCH = 50_000
# The corpus's clock: messages spread over two years up to this instant.
END = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)
SPAN = datetime.timedelta(days=730)


@dataclass(frozen=True)
class Spec:
    messages: int = 1_000_000
    rooms: int = 1_000
    users: int = 10_000
    seed: int = 14
    rooms_per_user: int = 20
    private_share: float = 0.10
    cjk_share: float = 0.03
    accent_share: float = 0.03
    identifier_share: float = 0.06
    link_share: float = 0.03
    mention_share: float = 0.05

    def key(self) -> str:
        """A name for the corpus these parameters make (cache directories are named by it)."""
        text = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        return f"m{self.messages}-r{self.rooms}-u{self.users}-s{self.seed}-{digest}"


# --- The vocabulary, most frequent first ---------------------------------------------------


def _split(text: str) -> list[str]:
    return text.split()


FUNCTION_WORDS = _split(
    """
the to i a and is it for on in that we you this of be have with can just so but not do at are
will if me my was from it's i'm there what all up or they an as get now out like about think
should one know when also no yes ok thanks would need some any here how our us see more going
still then been did he she has its only them could which time let's sure maybe yeah good new back
today tomorrow work look same after before other again because really right want make where had
why who into over than by was were does don't can't didn't won't isn't doesn't we're you're
there's that's i'll we'll i've actually probably already though anyone everyone someone something
anything nothing thing things way bit lot much many few first last next few please hey hi lol
"""
)

WORK_WORDS = _split(
    """
deploy review meeting release build test tests fix bug issue ticket pr merge branch main staging
prod production server database db cache query api endpoint client service config logs error
errors alert alerts incident outage latency timeout retry queue worker job cron migration schema
index backup restore rollback hotfix patch version upgrade dependency package docker container
image cluster node pod kubernetes helm terraform nginx proxy load balancer dns certificate ssl
token auth login password session user users customer customers account billing invoice payment
payments report dashboard metrics grafana prometheus sentry ci pipeline runner flaky green red
failing passing coverage lint docs documentation spec design mockup figma sprint standup retro
planning roadmap backlog estimate priority blocker blocked deadline demo launch feature flag
experiment rollout canary traffic spike cpu memory disk storage bucket upload download file files
folder repo commit push pull conflict diff changelog notes team lunch coffee call zoom email
calendar invite agenda minutes sync offsite holiday vacation sick weekend friday monday tuesday
wednesday thursday morning afternoon tonight week month quarter goal hiring interview candidate
onboarding laptop vpn wifi office desk question answer idea plan problem change changes update
customer support frontend backend mobile android ios browser chrome firefox safari page button
form modal layout css javascript python golang rust java typescript react django postgres redis
kafka elasticsearch s3 aws gcp azure region zone instance replica primary failover shard
partition throughput request requests response status code health check uptime slo sla pager
oncall escalation postmortem action item owner ping thread channel room message notification
unit integration e2e regression performance benchmark profile trace span memory leak crash
stacktrace exception panic segfault deadlock race condition lock mutex thread pool connection
socket websocket http grpc json yaml csv export import data pipeline etl warehouse analytics
query slow fast cheap expensive budget cost invoice contract legal security vulnerability cve
audit compliance gdpr privacy permission role admin settings preference toggle default option
"""
)

# A base word and its other forms: each form ranks a little below its base.
FORMS = _split(
    """
deploy:deployed,deploying,deploys,deployment,deployments,redeploy,redeployed,redeploying,deployer
review:reviewed,reviewing,reviews,reviewer,reviewers
test:tested,testing,tester,retest
build:building,builds,rebuild,rebuilt,builder
merge:merged,merging,merges,unmerged
fix:fixed,fixing,fixes
release:released,releasing,releases,prerelease
restart:restarted,restarting,restarts
schedule:scheduled,rescheduled,scheduling,scheduler
configure:configured,configuration,configurations,reconfigured,misconfigured
connect:connected,connecting,connections,disconnected,reconnect,reconnecting,reconnected
migrate:migrated,migrating,migrations
index:indexed,indexing,reindex,reindexing
cache:cached,caching,caches
update:updated,updating,updates
upgrade:upgraded,upgrading,upgrades
install:installed,installing,installation,reinstall
approve:approved,approval,approving
assign:assigned,assignee,reassigned
monitor:monitoring,monitored,monitors
investigate:investigating,investigation,investigated
resolve:resolved,resolving,unresolved
escalate:escalated,escalating
refactor:refactored,refactoring
document:documented,documenting
benchmark:benchmarked,benchmarking,benchmarks
provision:provisioned,provisioning
rotate:rotated,rotating,rotation
throttle:throttled,throttling
unit:units,unittest,unittests
meeting:meetings
plan:planned,planning,plans
ship:shipped,shipping,ships
roll:rolled,rolling,rollback,rollbacks
break:broke,broken,breaking,breakage
block:blocked,blocking,blocker,blockers,unblock,unblocked
crash:crashed,crashing,crashes
fail:failed,failure,failures
timeout:timeouts,timed
"""
)

COLLOCATIONS = [
    "code review",
    "pull request",
    "merge conflict",
    "on call",
    "stand up",
    "release notes",
    "load balancer",
    "rolling back",
    "out of memory",
    "connection reset",
    "happy friday",
    "action items",
    "feature flag",
    "root cause",
    "disk full",
    "works on my machine",
    "can you take a look",
    "sorry for the delay",
    "the who",
    "end of day",
    "first thing tomorrow",
    "out of office",
    "dry run",
    "hot path",
    "cold start",
    "race condition",
    "rate limit",
    "single sign on",
    "read replica",
    "blue green deploy",
]

ACCENTED = _split(
    """
café résumé naïve Zürich München façade déjà crème brûlée São Kraków Málaga jalapeño señor mañana
Straße Ålesund Øresund Ångström coöperate rôle entrée fiancée Genève Besançon Köln Düsseldorf
Göteborg Reykjavík Bogotá Medellín Curaçao Québec Montréal Zoë Chloé José François Jürgen Sørensen
Dvořák Łódź Brontë über naïveté piñata smörgåsbord façon cliché soirée rendez-vous Málaga
"""
)

JAPANESE = _split(
    "デプロイ 完了しました 本番環境 サーバー 再起動 します 明日の会議 資料 確認お願いします 障害 "
    "発生しました 対応中です ログを見ました データベース 移行 テスト 失敗しました 修正しました "
    "レビュー お願いします リリース 予定です ありがとうございます 了解です お疲れ様です 遅延 原因 "
    "調査中 設定 変更 監視 アラート キャッシュ 削除 バックアップ 復旧 ネットワーク 接続 "
    "タイムアウト エラー 議事録 共有します 来週 今日 午後 会議室 東京 大阪"
)
CHINESE = _split(
    "部署 已经完成 生产环境 服务器 重启 明天的会议 文档 请确认 故障 发生了 正在处理 日志 数据库 "
    "迁移 测试 失败了 修复了 代码审查 发布 计划 谢谢 好的 延迟 原因 调查中 配置 变更 监控 告警 "
    "缓存 删除 备份 恢复 网络 连接 超时 错误 会议纪要 分享一下 下周 今天 下午 北京 上海 性能 优化 "
    "用户 权限"
)
KOREAN = _split(
    "배포 완료했습니다 서버 재시작 회의 내일 확인 부탁드립니다 장애 발생 데이터베이스 테스트 감사합니다"
)

ERROR_CODES = _split(
    """
ERR_CONN_RESET ECONNREFUSED ECONNRESET ETIMEDOUT ENOSPC EADDRINUSE ENOMEM ERR_SSL_PROTOCOL_ERROR
ERR_NAME_NOT_RESOLVED HTTP_503 HTTP_502 HTTP_429 OOMKilled CrashLoopBackOff ImagePullBackOff
SIGKILL SIGTERM SQLSTATE_40001 SQLSTATE_23505 ERR_TOO_MANY_REDIRECTS E_ACCESSDENIED
"""
)
SERVICES = _split("payments-api auth-service search-indexer web-frontend billing-worker notifier gateway")
FILES = _split("handler.go views.py models.py index.ts server.rs config.yaml Dockerfile main.tf")
FIRST_NAMES = _split(
    """
maria james li wei aisha omar sofia lucas emma noah olivia liam mia ethan zoe arjun priya chen
yuki hiro anna ivan fatima diego lena paul sara tom nina kofi amara raj mei jonas elena marco
julia felix ines hugo clara leon alma kai nora eli ava mateo lea sam alex jo kim dana ruth ben
"""
)
LAST_NAMES = _split(
    """
nguyen smith garcia kim chen patel mueller rossi silva kowalski ivanov tanaka sato lee wong
okafor mensah haddad cohen jensen larsen novak horvat dubois martin moreau weber fischer schmidt
costa santos oliveira ramos torres lopez diaz khan ali ahmed singh gupta das roy park choi yamamoto
"""
)
ROOM_TOPICS = _split(
    """
ops backend frontend design mobile data infra security sre platform payments billing growth
marketing sales support hiring general random announcements releases incidents oncall qa docs
api search analytics ml devex finance legal office berlin tokyo lisbon
"""
)

# Collocations replace a word with this probability; an accented word, a CJK sentence and so on
# go in the share of messages Spec says.
COLLOCATION_SHARE = 0.12
ZIPF_S = 1.07
ZIPF_Q = 2.7
TAIL_WORDS = 24_000
# The made-up tail's weights are scaled down so that it is ~6 % of the words, as names and
# jargon are, not the third of them a plain Zipf over 25,000 ranks would give it.
TAIL_SCALE = 0.125


def _pseudo_words(rng: random.Random, count: int) -> list[str]:
    """Made-up words for the rare tail (project and code names, surnames): pronounceable, 5-10
    letters, distinct from each other and from the real words."""
    onsets = _split("b br c ch cl d dr f fl g gr h j k kl l m n p pl pr qu r s sh sk st t tr v w z")
    vowels = _split("a e i o u ai ea io ou y")
    codas = ["", "", "n", "r", "l", "s", "x", "nd", "rt", "st", "m"]
    words: dict[str, None] = {}
    while len(words) < count:
        syllables = rng.choice((2, 2, 3))
        word = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(syllables)) + rng.choice(codas)
        if 5 <= len(word) <= 10:
            words.setdefault(word, None)
    return list(words)


def vocabulary(rng: random.Random) -> list[str]:
    """Every word, most frequent first (rank 1 = the most frequent)."""
    ranked: dict[str, None] = {}
    for word in FUNCTION_WORDS:
        ranked.setdefault(word, None)
    forms: list[str] = []
    for entry in FORMS:
        base, others = entry.split(":")
        ranked.setdefault(base, None)
        forms.extend(others.split(","))
    for word in WORK_WORDS:
        ranked.setdefault(word, None)
    for word in forms:
        ranked.setdefault(word, None)
    for word in _pseudo_words(rng, TAIL_WORDS):
        ranked.setdefault(word, None)
    return list(ranked)


def _cumulative(weights) -> list[float]:
    return list(itertools.accumulate(weights))


class TextMaker:
    """Message bodies: mostly Zipf words, and the special kinds at their shares."""

    def __init__(self, spec: Spec, rng: random.Random):
        self.spec = spec
        self.rng = rng
        self.words = vocabulary(rng)
        real = len(self.words) - TAIL_WORDS
        self.word_cum = _cumulative(
            (1.0 if rank <= real else TAIL_SCALE) / (rank + ZIPF_Q) ** ZIPF_S
            for rank in range(1, len(self.words) + 1)
        )
        self.word_counts = [0] * len(self.words)
        self.kinds: Counter = Counter()
        self.collocation_counts: Counter = Counter()
        self.accent_counts: Counter = Counter()
        self.cjk_counts: Counter = Counter()
        self.identifier_counts: Counter = Counter()
        # Identifiers recur (the same hosts, the same errors): pools drawn once.
        self.hosts = [f"db-{n:02d}.internal" for n in range(1, 25)]
        self.hosts += [f"web-{n:02d}.prod.internal" for n in range(1, 41)]
        self.hosts += [f"cache-{n}.eu-west-1.internal" for n in range(1, 9)]
        self.ips = [f"10.0.{rng.randrange(0, 16)}.{rng.randrange(1, 255)}" for _ in range(400)]
        self.paths = [f"services/{s}/{f}" for s in SERVICES for f in FILES] + ["foo-bar/baz", "sess.opts"]
        self.macs = [":".join(f"{rng.randrange(256):02x}" for _ in range(6)) for _ in range(60)]
        self.macs.append("a1:b2:c3:d4:e5:f6")
        self.dotted = [
            f"{a}.{b}"
            for a in ("config", "settings", "sess", "self", "req", "app")
            for b in ("opts", "max_retries", "timeout", "pool_size", "debug", "headers")
        ]

    def _words(self, count: int) -> list[str]:
        picked = self.rng.choices(range(len(self.words)), cum_weights=self.word_cum, k=count)
        counts = self.word_counts
        for index in picked:
            counts[index] += 1
        return [self.words[index] for index in picked]

    def _identifier(self) -> str:
        rng = self.rng
        kind = rng.randrange(9)
        if kind == 0:
            value = rng.choice(self.hosts)
        elif kind == 1:
            value = rng.choice(self.ips)
        elif kind == 2:
            value = rng.choice(ERROR_CODES)
        elif kind == 3:
            value = rng.choice(self.paths)
        elif kind == 4:
            value = f"#{rng.randrange(1, 10000)}"
        elif kind == 5:
            value = rng.choice(self.macs)
        elif kind == 6:
            value = rng.choice(self.dotted)
        elif kind == 7:
            value = f"v{rng.randrange(1, 5)}.{rng.randrange(0, 20)}.{rng.randrange(0, 30)}"
        else:
            value = f"{rng.choice(SERVICES)}-{rng.getrandbits(24):06x}-{rng.getrandbits(20):05x}"
        self.identifier_counts[value] += 1
        return value

    def _link(self) -> str:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return f"https://github.com/acme/{rng.choice(SERVICES)}/pull/{rng.randrange(1, 5000)}"
        if kind == 1:
            return f"https://grafana.internal/d/{rng.getrandbits(32):08x}/{rng.choice(SERVICES)}?orgId=1"
        if kind == 2:
            return (
                f"https://jira.acme.dev/browse/{rng.choice(('OPS', 'WEB', 'PAY'))}-{rng.randrange(1, 9000)}"
            )
        return f"https://docs.acme.dev/{rng.choice(ROOM_TOPICS)}/{'-'.join(self._words(3))}"

    def _cjk(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.45:
            parts = rng.sample(JAPANESE, rng.randrange(2, 6))
            joiner = rng.choice(("", "", "、"))
            end = "。"
        elif pick < 0.9:
            parts = rng.sample(CHINESE, rng.randrange(2, 6))
            joiner = rng.choice(("", "", "，"))
            end = "。"
        else:
            parts = rng.sample(KOREAN, rng.randrange(2, 5))
            joiner, end = " ", "."
        for part in parts:
            self.cjk_counts[part] += 1
        return joiner.join(parts) + end

    def message(self, members: list[tuple[int, str]]) -> tuple[str, list[str], list[int]]:
        """A body, the kinds of special text it holds, and the ids of the users it mentions."""
        rng, spec = self.rng, self.spec
        kinds: list[str] = []
        mentioned: list[int] = []
        if rng.random() < spec.cjk_share:
            kinds.append("cjk")
            body = self._cjk()
            if rng.random() < 0.3:  # a CJK sentence about an identifier, as people write them
                body += " " + self._identifier()
                kinds.append("identifier")
        else:
            count = max(1, min(60, int(rng.lognormvariate(2.2, 0.6))))
            words = self._words(count)
            if rng.random() < COLLOCATION_SHARE:
                phrase = rng.choice(COLLOCATIONS)
                self.collocation_counts[phrase] += 1
                words.insert(rng.randrange(len(words) + 1), phrase)
            if rng.random() < spec.accent_share:
                kinds.append("accent")
                for _ in range(rng.choice((1, 1, 2))):
                    word = rng.choice(ACCENTED)
                    self.accent_counts[word] += 1
                    words.insert(rng.randrange(len(words) + 1), word)
            if rng.random() < spec.identifier_share:
                kinds.append("identifier")
                words.insert(rng.randrange(len(words) + 1), self._identifier())
            if rng.random() < spec.link_share:
                kinds.append("link")
                words.append(self._link())
            if rng.random() < spec.mention_share and len(members) > 1:
                kinds.append("mention")
                user_id, username = rng.choice(members)
                mentioned.append(user_id)
                words.insert(0 if rng.random() < 0.6 else rng.randrange(len(words) + 1), f"@{username}")
            body = " ".join(words)
            if body[0].isalpha():
                body = body[0].upper() + body[1:]
            body += rng.choice((".", "", "", "?", "!", " :)"))
        for kind in kinds:
            self.kinds[kind] += 1
        return body, kinds, mentioned

    def candidates(self, messages: int) -> dict:
        """What occurs, with how often: the query classes' material."""
        words = [(word, count) for word, count in zip(self.words, self.word_counts, strict=True) if count]
        return {
            "words": words,  # most frequent first (by rank, not by count)
            "collocations": self.collocation_counts.most_common(),
            "accented": self.accent_counts.most_common(),
            "cjk": self.cjk_counts.most_common(),
            "identifiers": self.identifier_counts.most_common(),
            "messages": messages,
        }


# --- Writing ------------------------------------------------------------------------------


def _writer(connection):
    """(insert(table, columns, rows), how datetimes are written) for this connection's engine."""
    raw = connection.connection
    if connection.vendor == "postgresql":

        def insert(table: str, columns: list[str], rows: list[tuple]) -> None:
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)

        return insert, lambda moment: moment, True

    def insert(table: str, columns: list[str], rows: list[tuple]) -> None:
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    # Django's SQLite form: naive UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]".
    return insert, lambda moment: str(moment.replace(tzinfo=None)), 1


def _pick_distinct(rng: random.Random, cum: list[float], count: int) -> list[int]:
    total = cum[-1]
    picked: dict[int, None] = {}
    while len(picked) < count:
        picked.setdefault(bisect.bisect(cum, rng.random() * total), None)
    return list(picked)


def _set_index_aside(connection) -> list[str]:
    """Take the search index's upkeep off the insert path; the statements that put it back.
    SQLite: the insert trigger (the rebuild fills search_fts afterwards). PostgreSQL: the GIN
    indexes (the generated search_vector is still computed as each row goes in)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name = 'search_fts_insert'"
            )
            found = cursor.fetchall()
            for name, _ in found:
                cursor.execute(f'DROP TRIGGER "{name}"')
            return [sql for _, sql in found]
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'messaging_chatmessage'::regclass "
            "AND indexrelid::regclass::text LIKE 'search!_%' ESCAPE '!'"
        )
        found = cursor.fetchall()
        for name, _ in found:
            cursor.execute(f'DROP INDEX "{name}"')
        return [sql for _, sql in found]


def _put_index_back(connection, statements: list[str]) -> None:
    from django.core.management import call_command

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # The foreign keys' deferred checks first: CREATE INDEX refuses pending ones.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for sql in statements:
            cursor.execute(sql)
    if connection.vendor == "sqlite":
        call_command("rebuild_search_index", stdout=io.StringIO())


def generate(spec: Spec, *, log=print, defer_index: bool = False) -> dict:
    """Write the corpus into Django's default database; the manifest (see the module's doc).

    defer_index: load the messages without the search index's upkeep, then build it
    (SQLite: the insert trigger put back and `manage.py rebuild_search_index`; PostgreSQL: the
    GIN indexes created again), as one would restore a large copy."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction

    from messaging.models import ChatMessage, ChatRoom, Membership

    user_model = get_user_model()
    timings: dict[str, float] = {}
    started = time.monotonic()
    rng = random.Random(spec.seed)

    # Users: first.last, then first.last2 … past the name pairs.
    names = [f"{first}.{last}" for last in LAST_NAMES for first in FIRST_NAMES]
    rng.shuffle(names)
    usernames = [
        names[i % len(names)] + (str(i // len(names) + 1) if i >= len(names) else "")
        for i in range(spec.users)
    ]
    taken = set(user_model.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        raise SystemExit(f"search_corpus: users already exist ({sorted(taken)[:3]} …): use an empty database")
    password = make_password(None)
    with transaction.atomic():
        user_model.objects.bulk_create(
            [
                user_model(
                    username=name,
                    folded_username=name.casefold(),
                    display_name=" ".join(part.capitalize() for part in name.split(".")),
                    password=password,
                )
                for name in usernames
            ],
            batch_size=5000,
        )
    by_name = dict(user_model.objects.filter(username__in=usernames).values_list("username", "id"))
    user_ids = [by_name[name] for name in usernames]

    # Rooms: traffic skewed (Zipf over a shuffled order), sizes skewed less; 10 % private.
    slugs = []
    for i in range(spec.rooms):
        topic = ROOM_TOPICS[i % len(ROOM_TOPICS)]
        slugs.append(topic if i < len(ROOM_TOPICS) else f"{topic}-{i // len(ROOM_TOPICS) + 1}")
    traffic_rank = list(range(spec.rooms))
    rng.shuffle(traffic_rank)
    private = set(rng.sample(range(spec.rooms), round(spec.rooms * spec.private_share)))
    size_cum = _cumulative(1.0 / (traffic_rank[r] + 1) ** 0.5 for r in range(spec.rooms))
    members: list[list[int]] = [[] for _ in range(spec.rooms)]  # user indexes
    per_user = min(spec.rooms_per_user, spec.rooms)
    for u in range(spec.users):
        count = max(1, min(spec.rooms, per_user + rng.randint(-5, 5)))
        for r in _pick_distinct(rng, size_cum, count):
            members[r].append(u)
    for r in range(spec.rooms):  # every room has at least two members to talk
        while len(members[r]) < min(2, spec.users):
            u = rng.randrange(spec.users)
            if u not in members[r]:
                members[r].append(u)
    with transaction.atomic():
        rooms = ChatRoom.objects.bulk_create(
            [
                ChatRoom(
                    name=slugs[r].replace("-", " ").title(),
                    slug=slugs[r],
                    is_private=r in private,
                    created_by_id=user_ids[members[r][0]],
                    created_at=END - SPAN - datetime.timedelta(days=1),
                )
                for r in range(spec.rooms)
            ],
            batch_size=1000,
        )
        room_ids = [room.id for room in rooms]
        Membership.objects.bulk_create(
            [
                Membership(
                    user_id=user_ids[u],
                    room_id=room_ids[r],
                    role=Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER,
                    joined_at=END - SPAN,
                )
                for r in range(spec.rooms)
                for i, u in enumerate(members[r])
            ],
            batch_size=5000,
        )
    timings["users_rooms_memberships"] = round(time.monotonic() - started, 2)
    log(
        f"search_corpus: {spec.users} users, {spec.rooms} rooms ({len(private)} private), "
        f"{sum(map(len, members))} memberships in {timings['users_rooms_memberships']}s"
    )

    # Messages, in time order across rooms.
    aside = _set_index_aside(connection) if defer_index else []
    text = TextMaker(spec, random.Random(spec.seed + 1))
    traffic_cum = _cumulative(1.0 / (traffic_rank[r] + 1) ** 0.9 for r in range(spec.rooms))
    room_members = [[(user_ids[u], usernames[u]) for u in members[r]] for r in range(spec.rooms)]
    insert, moment_of, true = _writer(connection)
    message_table = ChatMessage._meta.db_table
    mention_table = ChatMessage.mentioned_users.through._meta.db_table
    columns = [
        "id",
        "room_id",
        "author_id",
        "seq",
        "body",
        "client_id",
        "created_at",
        "change",
        "in_room",
        "reply_count",
        "last_repliers",
        "group_mention",
    ]
    first_id = (ChatMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    last_seq = [0] * spec.rooms
    messages_by_user: Counter = Counter()
    mentions: list[tuple[int, int]] = []
    step = SPAN / max(spec.messages, 1)
    jitter = max(
        1, int(step / datetime.timedelta(microseconds=1))
    )  # within its own slot: ids and times rise together
    start_at = END - SPAN
    written = 0
    write_seconds = 0.0
    msg_rng = random.Random(spec.seed + 2)
    t_messages = time.monotonic()
    while written < spec.messages:
        rows = []
        chunk = min(BATCH, spec.messages - written)
        for r in msg_rng.choices(range(spec.rooms), cum_weights=traffic_cum, k=chunk):
            i = written + len(rows)
            present = room_members[r]
            # Some members talk far more than others.
            author_id, _ = present[min(int(len(present) * msg_rng.random() ** 1.7), len(present) - 1)]
            body, _kinds, mentioned = text.message(present)
            mentioned = [m for m in mentioned if m != author_id]
            seq = last_seq[r] = last_seq[r] + 1
            message_id = first_id + i
            at = start_at + step * i + datetime.timedelta(microseconds=msg_rng.randrange(jitter))
            rows.append(
                (
                    message_id,
                    room_ids[r],
                    author_id,
                    seq,
                    body,
                    f"corpus-{message_id}",
                    moment_of(at),
                    seq,
                    true,
                    0,
                    "[]",
                    "",
                )
            )
            messages_by_user[author_id] += 1
            mentions.extend((message_id, user_id) for user_id in mentioned)
        t_write = time.monotonic()
        with transaction.atomic():
            insert(message_table, columns, rows)
        write_seconds += time.monotonic() - t_write
        written += chunk
        if written % (BATCH * 4) == 0 or written == spec.messages:
            log(
                f"search_corpus: {written} messages, {time.monotonic() - t_messages:.0f}s "
                f"({write_seconds:.0f}s writing)"
            )
    with transaction.atomic():
        insert(mention_table, ["chatmessage_id", "user_id"], mentions)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {ChatRoom._meta.db_table} SET last_seq = %s, last_change = %s WHERE id = %s",
                [(last_seq[r], last_seq[r], room_ids[r]) for r in range(spec.rooms)],
            )
    timings["messages"] = round(time.monotonic() - t_messages, 2)
    timings["messages_writing"] = round(write_seconds, 2)
    if defer_index:
        t_index = time.monotonic()
        _put_index_back(connection, aside)
        timings["index_afterwards"] = round(time.monotonic() - t_index, 2)
        log(f"search_corpus: the search index built afterwards in {timings['index_afterwards']}s")

    t_finish = time.monotonic()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{message_table}', 'id'), "
                f"(SELECT max(id) FROM {message_table}))"
            )
            if not connection.in_atomic_block:
                # What autovacuum would have done after a load this size: statistics, the
                # visibility map, GIN's pending list merged.
                cursor.execute("VACUUM ANALYZE")
            else:
                cursor.execute("ANALYZE")
        elif not connection.in_atomic_block:
            # No ANALYZE: a deployed SQLite file never gets one (Parley runs none).
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    timings["finish"] = round(time.monotonic() - t_finish, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    log(f"search_corpus: {spec.messages} messages in {timings['messages']}s, all in {timings['total']}s")

    readable_private = {}
    for r in private:
        for u in members[r]:
            readable_private.setdefault(user_ids[u], []).append(room_ids[r])
    return {
        "spec": asdict(spec),
        "key": spec.key(),
        "vendor": connection.vendor,
        "defer_index": defer_index,
        "timings": timings,
        "counts": {
            "messages": spec.messages,
            "users": spec.users,
            "rooms": spec.rooms,
            "private_rooms": len(private),
            "memberships": sum(map(len, members)),
            "mentions": len(mentions),
            "kinds": dict(text.kinds),
        },
        "first_message_id": first_id,
        "rooms": [
            {
                "id": room_ids[r],
                "slug": slugs[r],
                "is_private": r in private,
                "messages": last_seq[r],
                "member_ids": [user_ids[u] for u in members[r]],
            }
            for r in range(spec.rooms)
        ],
        "users": [
            {"id": user_ids[u], "username": usernames[u], "messages": messages_by_user[user_ids[u]]}
            for u in range(spec.users)
        ],
        "candidates": text.candidates(spec.messages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Spec()
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--rooms", type=int, default=defaults.rooms)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--defer-index",
        action="store_true",
        help="load without the search index's upkeep, then build it (rebuild_search_index on SQLite)",
    )
    parser.add_argument("--out", help="write the manifest (JSON) here")
    args = parser.parse_args()

    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    spec = Spec(messages=args.messages, rooms=args.rooms, users=args.users, seed=args.seed)
    manifest = generate(spec, defer_index=args.defer_index)
    if args.out:
        Path(args.out).write_text(json.dumps(manifest))


if __name__ == "__main__":
    main()
