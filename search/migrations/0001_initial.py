"""The search index, in each engine's own terms (search/engines/), kept by the database in the
transaction that writes the message: no write path can leave it behind.

SQLite: an FTS5 table with the trigram tokenizer and three triggers (search/schema.py, which
also puts them back after a migration that rebuilt the messages table); `parley_fold` is the
Python function search/apps.py registers on every connection. PostgreSQL: the unaccent and
pg_trgm extensions (both trusted: the database's owner may create them), an IMMUTABLE
`parley_fold`, the folded text and a tsvector as stored generated columns, two GIN indexes.
Adding the columns rewrites the messages table once.
"""

from django.db import migrations, models

from search.schema import fold_function, fts_table, sqlite_triggers, unicode_collation

SQLITE_FORWARD = [
    *fts_table(),
    *sqlite_triggers(),
    """INSERT INTO search_fts (rowid, text) SELECT id, parley_fold(body) FROM messaging_chatmessage
        WHERE deleted_at IS NULL AND body <> ''""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS search_fts_insert",
    "DROP TRIGGER IF EXISTS search_fts_update",
    "DROP TRIGGER IF EXISTS search_fts_delete",
    "DROP TABLE IF EXISTS search_fts",
]


def postgresql_forward(schema_editor) -> list[str]:
    return [
        "CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public",
        "CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
        fold_function(unicode_collation(schema_editor.connection)),
        # The folded text, stored: a candidate of the trigram index is checked on it without
        # folding again. (A generated column cannot use another: the vector folds for itself.)
        "ALTER TABLE messaging_chatmessage ADD COLUMN search_text text "
        "GENERATED ALWAYS AS (parley_fold(body)) STORED",
        """ALTER TABLE messaging_chatmessage ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple'::regconfig, parley_fold(body)), 'A')
            || setweight(to_tsvector('english'::regconfig, parley_fold(body)), 'B')
        ) STORED""",
        "CREATE INDEX search_message_vector ON messaging_chatmessage USING gin (search_vector)",
        "CREATE INDEX search_message_text ON messaging_chatmessage USING gin (search_text gin_trgm_ops)",
    ]


POSTGRESQL_BACKWARD = [
    "DROP INDEX IF EXISTS search_message_text",
    "DROP INDEX IF EXISTS search_message_vector",
    "ALTER TABLE messaging_chatmessage DROP COLUMN IF EXISTS search_vector",
    "ALTER TABLE messaging_chatmessage DROP COLUMN IF EXISTS search_text",
    "DROP FUNCTION IF EXISTS parley_fold(text)",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = SQLITE_FORWARD if vendor == "sqlite" else postgresql_forward(schema_editor) if vendor == "postgresql" else []
    for sql in statements:
        schema_editor.execute(sql)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRESQL_BACKWARD}.get(vendor, []):
        schema_editor.execute(sql)


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
        migrations.RunPython(forward, backward),
    ]
