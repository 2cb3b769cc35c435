"""SQLite: an FTS5 table with the trigram tokenizer (`search_fts`, rowid = the message's id,
its one column the folded body), written by triggers in the transaction that writes the
message (migration search/0001).

Trigrams make every substring of three characters or more an index lookup: partial words
(`deploy` in "redeployed"), CJK (no spaces needed), identifiers with their punctuation
(`db-01.internal`). What the index cannot answer is checked on the candidate rows' folded text:
a term under three characters (LIKE), a phrase's word boundaries (REGEXP). The MATCH is only
ever a superset, so nothing the literal text contains is lost.
"""

from ..query import Query, Term
from . import MESSAGES, Compiled, Page, Scope, like_pattern, phrase_regex, ranked, row_filters

# SQLite reads the index newest first itself and stops at the page's end: no windows needed.
WINDOWED = False
MIN_INDEXED = 3  # the trigram tokenizer finds nothing in a string shorter than this
LINK = r"m.body REGEXP '(?i)https?://'"


def fts_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _prefilter(term: Term) -> str | None:
    """An FTS5 expression every row the term matches also matches (None: none can be had)."""
    if not term.phrase:
        return fts_string(term.text) if len(term.text) >= MIN_INDEXED else None
    long_words = [w for w in term.text.split(" ") if len(w) >= MIN_INDEXED]
    return " AND ".join(fts_string(w) for w in long_words) or None


def _exact(term: Term) -> tuple[str, str]:
    """The term's own condition on the folded text."""
    if term.phrase:
        return "search_fts.text REGEXP %s", phrase_regex(term.text, word=r"\w", space=r"\s+")
    return "search_fts.text LIKE %s ESCAPE '\\'", like_pattern(term.text)


def compile(query: Query, scope: Scope, page: Page) -> tuple[str, list]:
    # The unary plus: walking the room index for every readable room (every message they hold)
    # and sorting them all took 4.9 s for a two-character CJK word at 1M messages; the primary
    # key newest first, stopping at the page's end, 31 ms. `in:` rooms still use the index.
    filters = row_filters(query, scope, page, link_sql=LINK, readable_column="+m.room_id")
    matches: list[str] = []
    checks = Compiled()
    for group in query.groups:
        prefilters = [_prefilter(term) for term in group]
        if all(prefilters):
            matches.append("(" + " OR ".join(f"({p})" for p in prefilters) + ")")
        if not all(prefilters) or any(term.phrase for term in group):
            conditions = [_exact(term) for term in group]
            checks.add("(" + " OR ".join(sql for sql, _ in conditions) + ")", *(p for _, p in conditions))
    for term in query.excluded:
        sql, param = _exact(term)
        checks.add(f"NOT ({sql})", param)
    if query.has_link:
        matches.append(fts_string("://"))  # the index narrows has:link; the regex decides

    params: list = []
    where = []
    if matches:
        # The match drives (CROSS JOIN keeps the order), newest first in the index's own rowid
        # order, so a LIMIT stops early instead of sorting every match of a common word.
        source = f"search_fts CROSS JOIN {MESSAGES} m ON m.id = search_fts.rowid"
        where.append("search_fts MATCH %s")
        params.append(" AND ".join(matches))
        if page.before_id is not None and page.order == "newest":
            where.append("search_fts.rowid < %s")
            params.append(page.before_id)
        newest = "search_fts.rowid DESC"
    elif checks.where:
        # Nothing the index can narrow (short words, exclusions): the messages drive, so their
        # room and author indexes and the LIMIT work, and each candidate's index row is read.
        source = f"{MESSAGES} m CROSS JOIN search_fts ON search_fts.rowid = m.id"
        newest = "m.id DESC"
    else:
        source = f"{MESSAGES} m"
        newest = "m.id DESC"
    where += checks.where + filters.where
    params += checks.params + filters.params
    where_sql = " AND ".join(where)
    if page.order == "relevance" and matches:
        # The newest RANKED matches, best first (bm25: lower is better).
        recent = (
            f"SELECT m.id AS id, bm25(search_fts) AS rank FROM {source} WHERE {where_sql} ORDER BY {newest}"  # noqa: S608
        )
        return ranked(recent, params, page, best="rank ASC")
    sql = f"SELECT m.id FROM {source} WHERE {where_sql} ORDER BY {newest} LIMIT %s"  # noqa: S608
    params.append(page.limit)
    if page.order == "relevance" and page.offset:
        sql += " OFFSET %s"
        params.append(page.offset)
    return sql, params


def fuzzy(query: Query, scope: Scope, page: Page) -> tuple[str, list] | None:
    """SQLite has no similarity operator: no typo-tolerant second try."""
    return None
