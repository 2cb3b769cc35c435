"""Text as search sees it: folded (case and accents), and the snippet that shows a hit.

NFKD, combining marks dropped, the letters that have no decomposition but that unaccent also
folds (ø, æ, ł, đ, œ, þ …), then casefold; one character at a time, so every position in the
folded text maps back to a character of the original (the highlighter marks the original,
accents and all). SQLite's index and queries are folded by this function (`parley_fold`,
registered on every connection). PostgreSQL folds both its index and the query's words with its
own `parley_fold` (`lower(unaccent(...))` under a Unicode-aware collation), so each engine
agrees with itself whatever the two differ on; the highlighter uses this one.
"""

import functools
import unicodedata

SNIPPET_CHARS = 200
ELLIPSIS = "…"


# Letters that NFKD leaves whole but PostgreSQL's unaccent folds (its unaccent.rules).
UNACCENT_EXTRA = str.maketrans(
    {
        "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d",
        "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d", "ħ": "h", "Ħ": "h",
        "ŀ": "l", "Ŀ": "l", "ı": "i", "ĸ": "k", "ŋ": "n", "Ŋ": "n", "ŧ": "t", "Ŧ": "t",
    }
)  # fmt: skip


@functools.lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    if char.isascii():
        return char.lower()
    decomposed = unicodedata.normalize("NFKD", char)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.translate(UNACCENT_EXTRA).casefold()


def spaceless(char: str) -> bool:
    """A character of a script written without spaces between words (CJK, kana): a word
    boundary next to it means nothing."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def fold(text: str | None) -> str:
    if text is None:
        return ""
    if text.isascii():
        return text.lower()
    return "".join(fold_char(c) for c in text)


def folded_with_positions(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each of its characters the index of the original one."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        piece = fold_char(char)
        folded.append(piece)
        origin.extend([index] * len(piece))
    return "".join(folded), origin


def match_spans(text: str, needles: list[str]) -> list[tuple[int, int]]:
    """Where the folded needles occur in `text`, as merged (start, end) spans of the original."""
    if not needles:
        return []
    folded, origin = folded_with_positions(text)
    spans: list[tuple[int, int]] = []
    for needle in {n for n in needles if n}:
        start = folded.find(needle)
        while start != -1:
            end = start + len(needle)
            spans.append((origin[start], origin[end - 1] + 1))
            start = folded.find(needle, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, needles: list[str], *, width: int = SNIPPET_CHARS) -> list[tuple[str, bool]]:
    """About `width` characters of `text` around its first match, as segments (text, is_match).

    Whitespace runs become one space (a message's line breaks would break the result's line);
    a cut end gets an ellipsis, and cuts fall between words where one is near.
    """
    text = " ".join(text.split())
    spans = match_spans(text, needles)
    start, end = 0, len(text)
    if len(text) > width:
        first = spans[0][0] if spans else 0
        start = max(0, first - width // 3)
        if start:
            space = text.rfind(" ", max(0, start - 20), start + 1)
            start = space + 1 if space != -1 else start
        end = min(len(text), start + width)
        if end < len(text):
            space = text.find(" ", end - 20, end + 20)
            end = space if space != -1 and space > (spans[0][1] if spans else 0) else end
    segments: list[tuple[str, bool]] = []
    if start:
        segments.append((ELLIPSIS, False))
    cursor = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > cursor:
            segments.append((text[cursor:span_start], False))
        segments.append((text[span_start:span_end], True))
        cursor = span_end
    if cursor < end:
        segments.append((text[cursor:end], False))
    if end < len(text):
        segments.append((ELLIPSIS, False))
    return segments
