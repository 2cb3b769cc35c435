"""The two engines behind search: each compiles a parsed `Query` into one SQL statement that
returns the ids (newest first, or best first) of the messages that match among the rooms given.

Both share `Compiled`, the filters that are plain SQL on the message row, and the reading of
the `Query`; what differs is how words are matched: SQLite's FTS5 trigram table (`sqlite.py`),
PostgreSQL's trigram and tsvector GIN indexes (`postgresql.py`).
"""

from dataclasses import dataclass, field

from django.db import connection

from ..query import Query
from ..text import spaceless

MESSAGES = "messaging_chatmessage"
MENTIONS = "messaging_chatmessage_mentioned_users"


@dataclass
class Scope:
    """Who may see what, resolved: the rooms to look in and the people the operators name."""

    readable_sql: str  # the rooms the user may read (messaging.selectors.readable_rooms), as SQL
    readable_params: list
    room_ids: list[int] | None = None  # the rooms `in:` names (already among the readable ones)
    not_room_ids: list[int] = field(default_factory=list)
    author_ids: list[int] = field(default_factory=list)
    not_author_ids: list[int] = field(default_factory=list)
    mention_ids: list[int] = field(default_factory=list)


@dataclass
class Page:
    order: str = "newest"  # or "relevance"
    before_id: int | None = None  # newest order: ids below this one
    above_id: int | None = None  # newest order: ids above this one (a window of the newest)
    offset: int = 0  # relevance order
    limit: int = 20


@dataclass
class Compiled:
    where: list[str] = field(default_factory=list)
    params: list = field(default_factory=list)

    def add(self, sql: str, *params) -> None:
        self.where.append(sql)
        self.params.extend(params)


def placeholders(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def row_filters(
    query: Query, scope: Scope, page: Page, *, link_sql: str, readable_column: str = "m.room_id"
) -> Compiled:
    """What is plain SQL on the message row: rooms, authors, mentions, flags, dates, the cursor.
    `readable_column`: how the access rule names the room column (SQLite's `+m.room_id` keeps
    its planner off the room index for the hundreds of rooms a reader may read)."""
    out = Compiled()
    out.add(f"{readable_column} IN ({scope.readable_sql})", *scope.readable_params)
    if scope.room_ids is not None:
        named = f"m.room_id IN ({placeholders(scope.room_ids)})" if scope.room_ids else "1 = 0"
        out.add(named, *scope.room_ids)
    out.add("m.deleted_at IS NULL")
    if scope.not_room_ids:
        out.add(f"m.room_id NOT IN ({placeholders(scope.not_room_ids)})", *scope.not_room_ids)
    if scope.author_ids:
        out.add(f"m.author_id IN ({placeholders(scope.author_ids)})", *scope.author_ids)
    if scope.not_author_ids:
        out.add(
            f"(m.author_id IS NULL OR m.author_id NOT IN ({placeholders(scope.not_author_ids)}))",
            *scope.not_author_ids,
        )
    for user_id in scope.mention_ids:
        mentioned = f"SELECT 1 FROM {MENTIONS} mu WHERE mu.chatmessage_id = m.id AND mu.user_id = %s"  # noqa: S608
        out.add(f"EXISTS ({mentioned})", user_id)
    if query.has_link:
        out.add(link_sql)
    if query.is_pinned:
        out.add("m.pinned_at IS NOT NULL")
    if query.is_thread:
        out.add("(m.thread_root_id IS NOT NULL OR m.reply_count > 0)")
    ops = connection.ops
    if query.since is not None:
        out.add("m.created_at >= %s", ops.adapt_datetimefield_value(query.since))
    if query.until is not None:
        out.add("m.created_at < %s", ops.adapt_datetimefield_value(query.until))
    if page.before_id is not None and page.order == "newest":
        out.add("m.id < %s", page.before_id)
    if page.above_id is not None and page.order == "newest":
        out.add("m.id > %s", page.above_id)
    return out


def phrase_regex(text: str, *, word: str, space: str) -> str:
    """A regex for the phrase as whole words in order, in the engine's dialect: `word` is the
    class of a word character, `space` what stands between two words. Next to a character of a
    script without spaces (CJK) there is no word boundary to ask for."""

    def escape(part: str) -> str:
        return "".join(c if c.isalnum() else "\\" + c for c in part)

    def bounded(char: str) -> bool:
        return bool(char) and (char.isalnum() or char == "_") and not spaceless(char)

    escaped = space.join(escape(part) for part in text.split(" "))
    head = f"(^|[^{word}])" if bounded(text[:1]) else ""
    tail = f"($|[^{word}])" if bounded(text[-1:]) else ""
    return head + escaped + tail


# Best match first ranks the newest this many matches, not all of them: ranking every message
# that contains a common word cost ~1.3 s at 1M messages, and 50 pages of 20 are fewer.
RANKED = 2000


def ranked(recent_sql: str, params: list, page: Page, *, best: str) -> tuple[str, list]:
    """`recent_sql` (ids and ranks, newest first) cut to the newest RANKED, then best first."""
    sql = (
        f"SELECT id, rank FROM ({recent_sql} LIMIT {RANKED}) AS recent "  # noqa: S608
        f"ORDER BY {best}, id DESC LIMIT %s OFFSET %s"
    )
    return sql, [*params, page.limit, page.offset]


def engine():
    """The engine of the default database."""
    if connection.vendor == "postgresql":
        from . import postgresql

        return postgresql
    from . import sqlite

    return sqlite
