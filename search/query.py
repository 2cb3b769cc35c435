"""The one query language of search, parsed into what both engines compile.

    deploy "exact words" -excluded a OR b in:#ops from:@bob mentions:@me has:link
    is:pinned is:thread before:2026-11-01 after:2026-10 on:today during:2026-11

Plain words are AND-ed and match anywhere in a word, folded (`deploy` finds "Redeployed");
`OR` (upper case) joins the words either side into one alternative; a quoted phrase matches
whole words in that order; `-` excludes a word, a phrase, a room or an author. Operators are
`name:value` with a known name; any other `word:value` is searched as text and said so in a
note (so `http://…`, `std::move`, `12:30` and MAC addresses stay text, silently). A value that
cannot be used (a bad date) is a problem: the search does not run, the page says why.
"""

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .text import fold

MAX_QUERY_CHARS = 500
MAX_TERMS = 20

OPERATORS = ("in", "from", "mentions", "has", "is", "before", "after", "on", "during")
OPERATOR_HELP = (
    "in:#room, from:@name, mentions:@name, has:link, is:pinned, is:thread, before:, after:, on:, during:"
)
HAS_VALUES = ("link",)
IS_VALUES = ("pinned", "thread")
NEGATABLE = ("in", "from")

OPERATOR = re.compile(r"([A-Za-z]+):(.+)", re.S)
DATE = re.compile(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


@dataclass(frozen=True)
class Problem:
    """Why the query cannot run (a problem) or what it did with something (a note)."""

    code: str
    message: str
    token: str = ""

    def payload(self) -> dict:
        return {"code": self.code, "message": self.message, "token": self.token}


@dataclass(frozen=True)
class Term:
    """A word or a phrase: `text` folded by search/text.py, `raw` as typed (whitespace made single
    spaces) for an engine that folds with its own function. A phrase (quoted) matches whole
    words, in order."""

    text: str
    phrase: bool = False
    raw: str = ""


@dataclass
class Query:
    groups: list[list[Term]] = field(default_factory=list)  # all of the groups, any term of each
    excluded: list[Term] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)  # slugs, any of them
    not_rooms: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)  # usernames, any of them ("me" for oneself)
    not_authors: list[str] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)  # usernames, all of them
    has_link: bool = False
    is_pinned: bool = False
    is_thread: bool = False
    since: dt.datetime | None = None  # created at or after
    until: dt.datetime | None = None  # created before
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    @property
    def has_filters(self) -> bool:
        return bool(
            self.rooms or self.not_rooms or self.authors or self.not_authors or self.mentions
            or self.has_link or self.is_pinned or self.is_thread
            or self.since is not None or self.until is not None
        )  # fmt: skip

    @property
    def is_empty(self) -> bool:
        """Nothing to look for: no words and no operators (excluded words alone are not a search)."""
        return not self.groups and not self.has_filters

    @property
    def needles(self) -> list[str]:
        """The folded texts a hit contains, for the highlighter."""
        return [term.text for group in self.groups for term in group]


def tokens(text: str) -> list[tuple[str, bool, bool]]:
    """(token, quoted, negated) in order; a quote left open runs to the end."""
    found: list[tuple[str, bool, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        start = i + 1 if negated else i
        if start < n and text[start] == '"':
            close = text.find('"', start + 1)
            end = n if close == -1 else close
            found.append((text[start + 1 : end], True, negated))
            i = end + 1
            continue
        end = start
        while end < n and not text[end].isspace():
            end += 1
        found.append((text[start:end], False, negated))
        i = end
    return found


def day_range(value: str, *, zone: ZoneInfo, today: dt.date) -> tuple[dt.datetime, dt.datetime] | None:
    """The start and end (exclusive) of a day, month or year, or of today / yesterday, in `zone`."""
    lowered = value.lower()
    if lowered in ("today", "yesterday"):
        day = today - dt.timedelta(days=1 if lowered == "yesterday" else 0)
        first, last = day, day
    else:
        match = DATE.fullmatch(value)
        if match is None:
            return None
        year, month, day_of_month = (int(part) if part else None for part in match.groups())
        try:
            if month is None:
                first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
            elif day_of_month is None:
                first = dt.date(year, month, 1)
                last = dt.date(year, month, calendar.monthrange(year, month)[1])
            else:
                first = last = dt.date(year, month, day_of_month)
        except ValueError:
            return None
    try:
        start = dt.datetime.combine(first, dt.time(), tzinfo=zone)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=zone)
        start.astimezone(dt.UTC), end.astimezone(dt.UTC)  # as the database will hold them
    except OverflowError:  # the last day of year 9999, the first of year 1 east of UTC
        return None
    return start, end


def _name(value: str, sigil: str) -> str:
    return value[1:] if value.startswith(sigil) else value


def parse(text: str, *, zone: ZoneInfo, today: dt.date) -> Query:
    query = Query()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no text any database can hold
        query.problems.append(Problem("bad_text", "The search contains characters that are not text."))
        return query
    if len(text) > MAX_QUERY_CHARS:
        query.problems.append(
            Problem("too_long", f"A search can be at most {MAX_QUERY_CHARS} characters long.")
        )
        return query
    pending_or = False
    for token, quoted, negated in tokens(text):
        if not quoted and not negated and token == "OR":  # noqa: S105 (a keyword, not a secret)
            pending_or = bool(query.groups)
            continue
        operator = None if quoted else OPERATOR.fullmatch(token)
        if operator is not None and operator.group(1).lower() in OPERATORS:
            pending_or = False
            _apply_operator(query, operator.group(1).lower(), operator.group(2), token, negated, zone, today)
            continue
        looks_like_one = operator is not None and not operator.group(2).startswith(("/", ":"))
        if looks_like_one and operator.group(1).isalpha():
            query.notes.append(
                Problem(
                    "unknown_operator",
                    f"“{operator.group(1)}:” is not an operator, so “{token}” was searched as text. "
                    f"The operators are {OPERATOR_HELP}.",
                    token,
                )
            )
        folded = " ".join(fold(token).split())
        if not folded:
            continue
        term = Term(folded, phrase=quoted, raw=" ".join(token.split()))
        if negated:
            query.excluded.append(term)
        elif pending_or:
            query.groups[-1].append(term)
        else:
            query.groups.append([term])
        pending_or = False
    if sum(len(group) for group in query.groups) + len(query.excluded) > MAX_TERMS:
        query.problems.append(Problem("too_many_terms", f"A search can have at most {MAX_TERMS} words."))
    return query


def _apply_operator(
    query: Query, name: str, value: str, token: str, negated: bool, zone: ZoneInfo, today: dt.date
) -> None:
    if negated and name not in NEGATABLE:
        query.problems.append(
            Problem("bad_operator", f"“-{name}:” cannot be negated; only -in: and -from: can.", "-" + token)
        )
        return
    if name == "in":
        (query.not_rooms if negated else query.rooms).append(_name(value, "#").lower())
    elif name == "from":
        (query.not_authors if negated else query.authors).append(_name(value, "@"))
    elif name == "mentions":
        query.mentions.append(_name(value, "@"))
    elif name in ("has", "is"):
        allowed = HAS_VALUES if name == "has" else IS_VALUES
        if value.lower() not in allowed:
            choices = ", ".join(f"{name}:{v}" for v in allowed)
            query.problems.append(Problem("bad_operator", f"“{token}” is not known; try {choices}.", token))
        elif name == "has":
            query.has_link = True
        elif value.lower() == "pinned":
            query.is_pinned = True
        else:
            query.is_thread = True
    else:  # a date
        span = day_range(value, zone=zone, today=today)
        if span is None:
            query.problems.append(
                Problem(
                    "bad_date",
                    f"“{token}”: a date is YYYY-MM-DD, YYYY-MM, YYYY, today or yesterday.",
                    token,
                )
            )
            return
        start, end = span
        if name == "before":
            query.until = start if query.until is None else min(query.until, start)
        elif name == "after":
            query.since = end if query.since is None else max(query.since, end)
        else:  # on:, during:
            query.since = start if query.since is None else max(query.since, start)
            query.until = end if query.until is None else min(query.until, end)
