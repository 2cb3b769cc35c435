"""Search: what the user may read that matches their query, one statement per search.

The query language is search/query.py's, the engines search/engines/'s; this module resolves
the operators' names (rooms the user can read, people), runs the statement with the access rule
inside it (`messaging.selectors.readable_rooms`), and shapes the hits with their snippets.
"""

import contextlib
import time
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from messaging.models import ChatMessage
from messaging.selectors import readable_rooms

from . import engines
from .engines import Page, Scope, engine
from .models import IndexRebuild
from .query import Problem, Query, parse
from .text import snippet

User = get_user_model()

MAX_LIMIT = 50
MAX_PAGE = 50
ORDERS = ("newest", "relevance")
# Problems after which the query's names are not worth looking up.
UNRESOLVABLE = ("bad_text", "too_long", "too_many_terms")


@dataclass
class Hit:
    message: ChatMessage  # with author, room and thread_root loaded
    snippet: list[tuple[str, bool]]


@dataclass
class SearchResults:
    text: str
    order: str
    query: Query
    hits: list[Hit] = field(default_factory=list)
    more: bool = False
    next: dict | None = None  # the query parameters of the next page
    fuzzy: bool = False  # the hits are similar words: no exact one was found
    ran: bool = False  # False: nothing to look for, or problems

    @property
    def problems(self) -> list[Problem]:
        return self.query.problems

    @property
    def notes(self) -> list[Problem]:
        return self.query.notes


def zone_named(name: str | None) -> ZoneInfo:
    """The IANA zone (the browser's), else the site's."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # not a zone, or a path that is none
            pass
    return ZoneInfo(settings.TIME_ZONE)


def _people(names: list[str], user, query: Query) -> list[int]:
    """The ids of the people named (`me` is the user), case-insensitively; others are problems."""
    ids = []
    for name in names:
        if name.lower() == "me":
            ids.append(user.pk)
            continue
        pk = User.objects.filter(username__iexact=name).values_list("pk", flat=True).first()
        if pk is None:
            query.problems.append(Problem("no_such_user", f"No one is called “@{name}”.", f"@{name}"))
        else:
            ids.append(pk)
    return ids


def _rooms(slugs: list[str], user, query: Query) -> list[int]:
    """The ids of the named rooms the user can read; any other name is a problem, the same for
    a private room one is not in as for a room that does not exist."""
    found = dict(readable_rooms(user).filter(slug__in=slugs).values_list("slug", "pk"))
    for slug in slugs:
        if slug not in found:
            message = f"No room “#{slug}” that you can read."
            query.problems.append(Problem("no_such_room", message, f"#{slug}"))
    return [found[slug] for slug in slugs if slug in found]


def _named_rooms(query: Query, room_slug: str | None, user) -> list[int] | None:
    """The rooms `in:` names (any of them), narrowed to the page's room choice; None: all."""
    named = _rooms(query.rooms, user, query) if query.rooms else None
    if not room_slug:
        return named
    chosen = _rooms([room_slug.lower()], user, query)
    return chosen if named is None else [pk for pk in named if pk in chosen]


def _rebuild_note(query: Query) -> None:
    rebuild = IndexRebuild.objects.filter(finished_at__isnull=True).first()
    if rebuild is None or rebuild.next_below is None:  # nothing is missing meanwhile (PostgreSQL)
        return
    missing = ChatMessage.objects.filter(pk__lt=rebuild.next_below or 0).order_by("-pk")
    newest_missing = missing.values_list("created_at", flat=True).first()
    message = f"The search index is being rebuilt ({rebuild.done:,} of {rebuild.total:,} messages done)."
    if newest_missing is not None:
        message += f" Messages from {newest_missing:%Y-%m-%d %H:%M} UTC and older may be missing."
    query.notes.append(Problem("index_rebuilding", message))


def search_messages(
    *,
    user,
    text: str,
    order: str = "newest",
    room_slug: str | None = None,
    before: int | None = None,
    page: int = 1,
    limit: int = 20,
    zone: str | None = None,
    similar: bool = False,
) -> SearchResults:
    """The messages the user may read that match `text`, `limit` at a time, newest first (pages
    by `before`, a message id) or most relevant first (pages by `page`). `similar`: the later
    pages of a search that found only similar words (PostgreSQL)."""
    order = order if order in ORDERS else "newest"
    limit = max(1, min(limit, MAX_LIMIT))
    page = max(1, min(page, MAX_PAGE))
    tz = zone_named(zone)
    query = parse(text, zone=tz, today=timezone.now().astimezone(tz).date())
    results = SearchResults(text=text, order=order, query=query)
    if query.is_empty and not room_slug and not query.problems and (query.excluded or text.strip()):
        # Only exclusions, or only what folds to nothing (`OR`, `""`, a lone accent).
        message = "Say what to look for (a word or an operator), not only what to leave out."
        query.problems.append(Problem("nothing_to_find", message))
    nothing = query.is_empty and not room_slug
    if nothing or any(problem.code in UNRESOLVABLE for problem in query.problems):
        return results
    # The names are looked up even when the query has other problems: all of them are told at once.
    # No ORDER BY inside the IN (…): ChatRoom's default ordering would sort the rooms by name.
    rooms_sql, rooms_params = readable_rooms(user).order_by().values("pk").query.sql_with_params()
    scope = Scope(
        readable_sql=rooms_sql,
        readable_params=list(rooms_params),
        room_ids=_named_rooms(query, room_slug, user),
        not_room_ids=_rooms(query.not_rooms, user, query) if query.not_rooms else [],
        author_ids=_people(query.authors, user, query) if query.authors else [],
        not_author_ids=_people(query.not_authors, user, query) if query.not_authors else [],
        mention_ids=_people(query.mentions, user, query) if query.mentions else [],
    )
    if query.problems:
        return results
    _rebuild_note(query)
    backend = engine()
    window = Page(order=order, before_id=before, offset=(page - 1) * limit, limit=limit + 1)
    try:
        if similar and backend.fuzzy(query, scope, window) is not None:
            ids, results.fuzzy = _find(backend, backend.fuzzy, query, scope, window), True
        else:
            ids = _find(backend, backend.compile, query, scope, window)
            if not ids and before is None and page == 1 and backend.fuzzy(query, scope, window) is not None:
                ids = _find(backend, backend.fuzzy, query, scope, window)
                results.fuzzy = bool(ids)
    except SearchTooSlow:
        narrow = "Add a longer word, a room (in:) or a person (from:)."
        query.problems.append(Problem("too_slow", f"This search took too long. {narrow}"))
        return results
    results.ran = True
    # Relevance pages stop at the last one there is (a cursor would be needed past it).
    results.more = len(ids) > limit and not (order == "relevance" and page >= MAX_PAGE)
    ids = ids[:limit]
    loaded = ChatMessage.objects.select_related("author", "room", "thread_root").in_bulk(ids)
    results.hits = [Hit(loaded[i], snippet(loaded[i].body, query.needles)) for i in ids if i in loaded]
    if results.more:
        results.next = _next(results, room_slug, zone, page)
    return results


NEWEST_WINDOW = 50_000  # messages (by id) searched first, newest first, on PostgreSQL


def _find(backend, statement, query: Query, scope: Scope, page: Page) -> list[int]:
    """The page's ids. Best first on an engine that ranks found ids (`rank_ids`): the newest
    RANKED matches, found newest first like any page, then ranked by a second statement."""
    rank_ids = getattr(backend, "rank_ids", None)
    if page.order != "relevance" or rank_ids is None:
        return _newest_first(backend, statement, query, scope, page)
    newest = replace(page, order="newest", before_id=None, offset=0, limit=engines.RANKED)
    candidates = _newest_first(backend, statement, query, scope, newest)
    ranking = rank_ids(query, candidates, page)
    return _run(*ranking) if ranking else candidates[page.offset : page.offset + page.limit]


def _newest_first(backend, statement, query: Query, scope: Scope, page: Page) -> list[int]:
    """The page's ids: on an engine that needs it (`WINDOWED`), from the newest NEWEST_WINDOW
    messages first, and from the older ones only for what that window did not fill."""
    if page.order != "newest" or not backend.WINDOWED:
        return _run(*statement(query, scope, page))  # SQLite ranks in its one statement
    top = page.before_id or (ChatMessage.objects.aggregate(newest=Max("pk"))["newest"] or 0) + 1
    floor = top - NEWEST_WINDOW
    if floor <= 1:
        return _run(*statement(query, scope, page))
    # Inside the window the primary key, newest first, is always a bounded plan (at most the
    # window's rows, stopping at the page's end); a bitmap of a common phrase's candidates read
    # 34,000 heap pages for "the this" (328 ms) to keep 21.
    ids = _run(*statement(query, scope, replace(page, before_id=top, above_id=floor)), walk=True)
    if len(ids) >= page.limit:
        return ids
    rest = replace(page, before_id=floor + 1, limit=page.limit - len(ids))
    return ids + _run(*statement(query, scope, rest))


class SearchTooSlow(Exception):
    pass


def _run(sql: str, params: list, *, walk: bool = False) -> list[int]:
    """The statement's ids, within PARLEY_SEARCH_TIMEOUT_SECONDS: a search no index can narrow
    (twenty one-letter words) is stopped, not left to hold a worker and the database. `walk`:
    PostgreSQL walks the primary key (no bitmap of every match: a window of the newest)."""
    seconds = settings.PARLEY["SEARCH_TIMEOUT_SECONDS"]
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            with statement_timeout(cursor, seconds, walk=walk):
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]
        except OperationalError as error:
            if _timed_out(error):
                raise SearchTooSlow() from error
            raise


@contextlib.contextmanager
def statement_timeout(cursor, seconds: float, *, walk: bool = False):
    if connection.vendor == "postgresql":
        # SET LOCAL lasts to the end of the outermost transaction, which may be a caller's: the
        # values before are put back after the statement (a statement that failed is rolled back
        # with its savepoint, and the settings with it). 0 would mean no limit: the least is 1 ms.
        local = {"statement_timeout": f"{max(1, int(seconds * 1000))}ms"}
        if walk:
            local["enable_bitmapscan"] = "off"
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(local)), list(local))
        before = dict(zip(local, cursor.fetchone(), strict=True))
        for name, value in local.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        yield
        for name, value in before.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        return
    deadline = time.monotonic() + seconds
    raw = connection.connection
    # SQLite calls this every 10,000 virtual machine steps; a true answer interrupts the statement.
    raw.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _timed_out(error: OperationalError) -> bool:
    text = str(error).lower()
    return "interrupted" in text or "statement timeout" in text or "canceling statement" in text


def _next(results: SearchResults, room_slug: str | None, zone: str | None, page: int) -> dict:
    params: dict = {"q": results.text}
    if results.order != "newest":
        params["order"] = results.order
    if room_slug:
        params["room"] = room_slug
    if zone:
        params["tz"] = zone
    if results.order == "newest":
        params["before"] = results.hits[-1].message.pk
    else:
        params["page"] = page + 1
    if results.fuzzy:
        params["similar"] = 1
    return params
