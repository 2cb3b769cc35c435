"""The search index, in each engine's own terms (search/engines/), kept by the database in the
transaction that writes the message: no write path can leave it behind.

SQLite: an FTS5 table with the trigram tokenizer and three triggers; `parley_fold` is the Python
function search/apps.py registers on every connection. PostgreSQL: the unaccent and pg_trgm
extensions (both trusted: the database's owner may create them), an IMMUTABLE `parley_fold`,
a stored generated tsvector and two GIN indexes. Adding the column rewrites the messages table
once.
"""

from django.db import migrations, models

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE search_fts USING fts5(text, tokenize = 'trigram')",
    """CREATE TRIGGER search_fts_insert AFTER INSERT ON messaging_chatmessage BEGIN
        INSERT INTO search_fts (rowid, text) SELECT new.id, parley_fold(new.body)
        WHERE new.deleted_at IS NULL AND new.body <> '';
    END""",
    """CREATE TRIGGER search_fts_update AFTER UPDATE OF body, deleted_at ON messaging_chatmessage BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
        INSERT INTO search_fts (rowid, text) SELECT new.id, parley_fold(new.body)
        WHERE new.deleted_at IS NULL AND new.body <> '';
    END""",
    """CREATE TRIGGER search_fts_delete AFTER DELETE ON messaging_chatmessage BEGIN
        DELETE FROM search_fts WHERE rowid = old.id;
    END""",
    """INSERT INTO search_fts (rowid, text) SELECT id, parley_fold(body) FROM messaging_chatmessage
        WHERE deleted_at IS NULL AND body <> ''""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_fts_insert",
    "DROP TRIGGER IF EXISTS search_fts_update",
    "DROP TRIGGER IF EXISTS search_fts_delete",
    "DROP TABLE IF EXISTS search_fts",
]

POSTGRESQL_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
    # unaccent() is only STABLE (its dictionary could be changed); naming the dictionary makes
    # this wrapper safe to call IMMUTABLE, which indexes and generated columns need.
    """CREATE OR REPLACE FUNCTION parley_fold(text) RETURNS text
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$""",
    """ALTER TABLE messaging_chatmessage ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, parley_fold(body)), 'A')
        || setweight(to_tsvector('english'::regconfig, parley_fold(body)), 'B')
    ) STORED""",
    "CREATE INDEX search_message_vector ON messaging_chatmessage USING gin (search_vector)",
    "CREATE INDEX search_message_folded ON messaging_chatmessage USING gin (parley_fold(body) gin_trgm_ops)",
]
POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS search_message_folded",
    "DROP INDEX IF EXISTS search_message_vector",
    "ALTER TABLE messaging_chatmessage DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS parley_fold(text)",
]


def run(statements: dict):
    def apply(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    initial = True
    dependencies = [("messaging", "0005_root_last_reply_seq")]

    operations = [
        migrations.CreateModel(
            name="IndexRebuild",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("started_at", models.DateTimeField()),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("total", models.PositiveBigIntegerField(default=0)),
                ("done", models.PositiveBigIntegerField(default=0)),
                ("next_below", models.PositiveBigIntegerField(blank=True, null=True)),
            ],
            options={"ordering": ["-started_at"]},
        ),
        migrations.RunPython(
            run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRESQL_FORWARD}),
            run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}),
        ),
    ]
