"""The database objects search needs besides its tables, in one place: what migration 0001
creates and what `post_migrate` checks is still there.

SQLite drops a table's triggers when Django rebuilds the table (an AlterField, an AddField with
a default, a new constraint on the messages table in some later migration): without them the
index would silently stop following new and edited messages. So after every `migrate` the
triggers are created again if missing, and the index is brought up to date if anything was
written meanwhile.
"""

import sqlite3

from django.db import connection as default_connection

FTS_TABLE = "CREATE VIRTUAL TABLE search_fts USING fts5(text, tokenize = 'trigram')"
# FTS5 keeps a deleted row's tokens in its older index segments until they are merged, unless
# its secure-delete option is on (SQLite 3.42 and later): then they go with the row.
SECURE_DELETE = "INSERT INTO search_fts (search_fts, rank) VALUES ('secure-delete', 1)"
HAS_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 42, 0)

TRIGGERS = {
    "search_fts_insert": """CREATE TRIGGER IF NOT EXISTS search_fts_insert
        AFTER INSERT ON messaging_chatmessage BEGIN
        INSERT INTO search_fts (rowid, text) SELECT new.id, parley_fold(new.body)
        WHERE new.deleted_at IS NULL AND new.body <> '';
    END""",
    "search_fts_update": """CREATE TRIGGER IF NOT EXISTS search_fts_update
        AFTER UPDATE OF body, deleted_at ON messaging_chatmessage BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
        INSERT INTO search_fts (rowid, text) SELECT new.id, parley_fold(new.body)
        WHERE new.deleted_at IS NULL AND new.body <> '';
    END""",
    "search_fts_delete": """CREATE TRIGGER IF NOT EXISTS search_fts_delete
        AFTER DELETE ON messaging_chatmessage BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
    END""",
}

# Collations under which lower() knows every script's cases, best first: PostgreSQL 17's
# built-in one, glibc's C.UTF-8, ICU's root. A database created with the C locale (as the
# tests' is) lowers only ASCII by default, and "Привет" would not be found by "привет".
UNICODE_COLLATIONS = ("pg_c_utf8", "C.utf8", "C.UTF-8", "unicode", "und-x-icu")


def fts_table() -> list[str]:
    return [FTS_TABLE, SECURE_DELETE] if HAS_SECURE_DELETE else [FTS_TABLE]


def sqlite_triggers() -> list[str]:
    return list(TRIGGERS.values())


def unicode_collation(connection) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT collname FROM pg_collation WHERE collname = ANY(%s) "
            "AND collencoding IN (-1, pg_char_to_encoding('UTF8'))",
            [list(UNICODE_COLLATIONS)],
        )
        present = {row[0] for row in cursor.fetchall()}
    return next((name for name in UNICODE_COLLATIONS if name in present), None)


def fold_function(collation: str | None) -> str:
    collate = f' COLLATE "{collation}"' if collation else ""
    # unaccent() is only STABLE (its dictionary could change); naming the dictionary makes this
    # wrapper safe to declare IMMUTABLE, which indexes and generated columns need.
    return f"""CREATE OR REPLACE FUNCTION parley_fold(text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1){collate}) $$"""


def missing_triggers(connection=default_connection) -> list[str]:
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search_fts_%%'")
        present = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'search_fts'")
        if cursor.fetchone() is None:
            return []  # search's migration has not run (yet)
    return [name for name in TRIGGERS if name not in present]


def restore_triggers(sender=None, using: str = "default", **kwargs) -> list[str]:
    """`post_migrate`: the SQLite triggers again if a migration dropped them, and the index
    brought up to date. The names of those that were missing."""
    from django.db import connections

    from .index import resync

    connection = connections[using]
    missing = missing_triggers(connection)
    if missing:
        with connection.cursor() as cursor:
            for name in missing:
                cursor.execute(TRIGGERS[name])
        resync(connection)
    return missing
