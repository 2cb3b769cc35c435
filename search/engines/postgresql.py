"""PostgreSQL: two GIN indexes on the messages table (migration search/0001), both kept by
PostgreSQL itself in the writing transaction:

- `search_text`, a stored generated column `parley_fold(body)` (`lower(unaccent(body))` under a
  Unicode-aware collation, an IMMUTABLE SQL function), with pg_trgm's `gin_trgm_ops`:
  `LIKE '%deploy%'` and regular expressions are index lookups, which gives partial words, CJK
  and identifiers with punctuation, folded; a candidate is checked on the stored text, never
  folded again;
- `search_vector`, a stored generated tsvector: the folded words as they are (weight A) and
  English stems (weight B). A plain word also finds the other forms of itself (`deployed` finds
  "deploying"), and ranking (`ts_rank_cd`) puts whole words first.

A phrase is a regular expression over the folded text (whole words, in order, any spacing),
which the trigram index narrows too. With no hit at all, words of five letters or more get a
second, typo-tolerant try (`word_similarity`, pg_trgm's `<%`).
"""

import re
from dataclasses import replace

from ..query import Query, Term
from ..text import spaceless
from . import MESSAGES, Compiled, Page, Scope, like_pattern, phrase_regex, row_filters

FOLDED = "m.search_text"  # parley_fold(body), stored
# Newest first is asked of the newest messages first (search/selectors.py, `_newest_first`): the
# planner cannot estimate how many messages contain a substring (`LIKE`, `~` are 100 rows to it,
# whatever the pattern), so it walks the primary key back through 850,000 rows for a word that is
# rare, or reads every match of one that is common; inside a window of the newest either plan is
# bounded, and a word too rare to fill the page there is a short bitmap in the rest.
WINDOWED = True
LINK = "m.search_text ~ 'https?://'"
STEMMABLE = re.compile(r"[^\W\d_]{3,}")
FUZZY = re.compile(r"[^\W\d_]{5,}")
PLAIN_PHRASE = re.compile(r"[^\W\d_]+( [^\W\d_]+)*")

# The query's words are folded by the same SQL function as the index (`parley_fold`), from the
# text as typed (`Term.raw`): the two can never disagree, whatever PostgreSQL's folding is.


def _condition(term: Term, *, stems: bool = True) -> tuple[str, list]:
    if term.phrase:
        regex = phrase_regex(term.raw, word="[:alnum:]_", space=r"\s+")
        if PLAIN_PHRASE.fullmatch(term.text) and not any(spaceless(c) for c in term.text):
            # Words of letters only, in a script with spaces: the tsvector's index finds them
            # adjacent (its estimate is real, unlike a pattern's), and the regex decides.
            # Anything with digits or punctuation the text parser may split otherwise, and CJK
            # it keeps in one token: the regex alone, never fewer hits.
            adjacent = "m.search_vector @@ phraseto_tsquery('simple', parley_fold(%s))"
            sql = f"({adjacent} AND {FOLDED} ~ parley_fold(%s))"
            return sql, [term.raw, regex]
        return f"{FOLDED} ~ parley_fold(%s)", [regex]
    sql, params = f"{FOLDED} LIKE parley_fold(%s) ESCAPE '\\'", [like_pattern(term.raw)]
    if stems and STEMMABLE.fullmatch(term.text):
        sql = f"({sql} OR m.search_vector @@ plainto_tsquery('english', parley_fold(%s)))"
        params.append(term.raw)
    return sql, params


def _fuzzy_condition(term: Term) -> tuple[str, list]:
    if not term.phrase and FUZZY.fullmatch(term.text):
        return f"parley_fold(%s) <%% {FOLDED}", [term.raw]
    return _condition(term)


def _statement(query: Query, scope: Scope, page: Page, condition) -> tuple[str, list]:
    out = Compiled()
    for group in query.groups:
        conditions = [condition(term) for term in group]
        params = [p for _, ps in conditions for p in ps]
        out.add("(" + " OR ".join(sql for sql, _ in conditions) + ")", *params)
    for term in query.excluded:
        sql, params = _condition(term, stems=False)
        out.add(f"NOT ({sql})", *params)
    # Newest first only: best first ranks what this finds (`rank_ids`), as search/selectors.py
    # asks for it, so that both orders are bounded by the windows.
    filters = row_filters(query, scope, replace(page, order="newest"), link_sql=LINK)
    where = " AND ".join(out.where + filters.where)
    sql = f"SELECT m.id FROM {MESSAGES} m WHERE {where} ORDER BY m.id DESC LIMIT %s"  # noqa: S608
    return sql, [*out.params, *filters.params, page.limit]


def rank_ids(query: Query, ids: list[int], page: Page) -> tuple[str, list] | None:
    """The statement that orders these matches best first (None: the query has no words to
    rank by, and newest first is the order)."""
    lexemes = [w for group in query.groups for term in group for w in re.findall(r"\w+", term.raw)]
    if not lexemes or not ids:
        return None
    tsquery = " | ".join(f"'{w}':*" for w in dict.fromkeys(lexemes))
    rank = "ts_rank_cd(m.search_vector, to_tsquery('simple', parley_fold(%s)))"
    sql = (
        f"SELECT m.id, {rank} AS rank FROM {MESSAGES} m WHERE m.id = ANY(%s) "  # noqa: S608
        "ORDER BY rank DESC, m.id DESC LIMIT %s OFFSET %s"
    )
    return sql, [tsquery, ids, page.limit, page.offset]


def compile(query: Query, scope: Scope, page: Page) -> tuple[str, list]:
    return _statement(query, scope, page, _condition)


def fuzzy(query: Query, scope: Scope, page: Page) -> tuple[str, list] | None:
    """The query again with its long words matched by similarity, or None if it has none."""
    if not any(FUZZY.fullmatch(t.text) and not t.phrase for group in query.groups for t in group):
        return None
    return _statement(query, scope, page, _fuzzy_condition)
