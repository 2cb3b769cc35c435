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
from . import MESSAGES, Compiled, Page, Scope, like_pattern, phrase_regex, row_filters

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
        return "search_fts.text REGEXP %s", phrase_regex(term, word=r"\w", space=r"\s+")
    return "search_fts.text LIKE %s ESCAPE '\\'", like_pattern(term.text)


def compile(query: Query, scope: Scope, page: Page) -> tuple[str, list]:
    filters = row_filters(query, scope, page, link_sql=LINK)
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

    params: list = []
    if query.groups or query.excluded:
        # FTS first (CROSS JOIN keeps the order): the match yields few rows, each one message.
        source = f"search_fts CROSS JOIN {MESSAGES} m ON m.id = search_fts.rowid"
    else:
        source = f"{MESSAGES} m"
    where = []
    if matches:
        where.append("search_fts MATCH %s")
        params.append(" AND ".join(matches))
    where += checks.where + filters.where
    params += checks.params + filters.params
    relevance = page.order == "relevance" and bool(matches)
    rank = ", bm25(search_fts) AS rank" if relevance else ""
    order = "rank ASC, m.id DESC" if relevance else "m.id DESC"
    where_sql = " AND ".join(where)
    sql = f"SELECT m.id{rank} FROM {source} WHERE {where_sql} ORDER BY {order} LIMIT %s"  # noqa: S608
    params.append(page.limit)
    if page.order == "relevance" and page.offset:
        sql += " OFFSET %s"
        params.append(page.offset)
    return sql, params


def fuzzy(query: Query, scope: Scope, page: Page) -> tuple[str, list] | None:
    """SQLite has no similarity operator: no typo-tolerant second try."""
    return None
