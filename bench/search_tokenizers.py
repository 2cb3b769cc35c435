"""Which FTS5 tokenizer for SQLite's search index: trigram (chosen) or unicode61 with prefix
indexes, measured on the same messages.

    python -m bench.search_tokenizers --corpus db.sqlite3 --messages 200000 --out results.json

Reads the first N message bodies of a corpus (bench/search_corpus.py), folds them as search does
(search.text.fold), and builds each index in a database file of its own: its size, how long
building took, and for each query how long it takes and how many messages it finds. A query is
what a person types; each tokenizer gets it in the form it can answer best:

- trigram: the substring, quoted (`"deploy"` finds "redeployed");
- unicode61: the word as a prefix (`deploy*`); it cannot find a word inside another word, nor
  CJK text without spaces, and it splits identifiers at their punctuation (a phrase of parts).

The difference in what is found is the point: unicode61's misses are the complaints issue 14
names (partial words, CJK, identifiers).
"""

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from search.text import fold

TOKENIZERS = {
    "trigram": "tokenize = 'trigram'",
    "unicode61+prefix": "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4'",
}
QUERIES = ["deploy", "deployment", "redeployed", "ploy", "review", "meeting", "db-01.internal",
           "err_conn_reset", "10.0.3.7", "東京", "会議", "résumé", "zürich", "#1234"]  # fmt: skip


def fts_query(tokenizer: str, text: str) -> str | None:
    folded = fold(text)
    if tokenizer == "trigram":
        return '"' + folded.replace('"', '""') + '"' if len(folded) >= 3 else None
    parts = [p for p in "".join(c if c.isalnum() else " " for c in folded).split() if p]
    if not parts:
        return None
    # A phrase of the parts, the last one a prefix: the best unicode61 can do for `db-01.internal`.
    return '"' + " ".join(parts) + '" *' if len(parts) > 1 else parts[0] + "*"


def build(tokenizer: str, bodies: list[tuple[int, str]], directory: Path) -> dict:
    path = directory / f"{tokenizer.replace('+', '_')}.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5(text, content = '', {TOKENIZERS[tokenizer]})")
    started = time.perf_counter()
    with db:
        db.executemany("INSERT INTO f (rowid, text) VALUES (?, ?)", bodies)
        db.execute("INSERT INTO f (f) VALUES ('optimize')")
    seconds = time.perf_counter() - started
    db.execute("VACUUM")
    size = path.stat().st_size
    found = {}
    for text in QUERIES:
        expression = fts_query(tokenizer, text)
        if expression is None:
            found[text] = {"found": None, "ms": None}
            continue
        runs, count = [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            count = db.execute("SELECT count(*) FROM f WHERE f MATCH ?", [expression]).fetchone()[0]
            runs.append((time.perf_counter() - t0) * 1000)
        found[text] = {"query": expression, "found": count, "ms": round(statistics.median(runs), 2)}
    db.close()
    return {"build_s": round(seconds, 1), "bytes": size, "queries": found}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="a SQLite corpus (bench/search_corpus.py)")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    source = sqlite3.connect(f"file:{args.corpus}?mode=ro", uri=True)
    rows = source.execute(
        "SELECT id, body FROM messaging_chatmessage WHERE body <> '' ORDER BY id LIMIT ?", [args.messages]
    ).fetchall()
    bodies = [(pk, fold(body)) for pk, body in rows]
    text_bytes = sum(len(body.encode()) for _, body in bodies)
    with tempfile.TemporaryDirectory() as directory:
        result = {
            "messages": len(bodies),
            "text_bytes": text_bytes,
            "tokenizers": {name: build(name, bodies, Path(directory)) for name in TOKENIZERS},
        }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
