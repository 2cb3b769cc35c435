"""Looking after the search index: rebuilding it and checking it against the messages.

The index is the database's own (migration 0001): SQLite's `search_fts`, kept by triggers, and
PostgreSQL's generated `search_vector` and GIN indexes. A rebuild is for after a restore from a
copy without it, or after the folding changes (a new unaccent dictionary, a new Python): it
walks the messages newest first in short transactions, so sending goes on meanwhile, and
records its progress (`IndexRebuild`) for search to say what may be missing.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from messaging.models import ChatMessage

from .models import IndexRebuild
from .schema import fts_table

BATCH = 1000  # messages per transaction: about 0.4 s of SQLite's write lock


@dataclass
class Drift:
    missing: int  # messages with text that the index lacks or holds differently
    stale: int  # index rows of messages that are deleted or gone

    @property
    def none(self) -> bool:
        return not self.missing and not self.stale


def drift(connection=connection) -> Drift:
    """How far the index is from the messages (PostgreSQL's is generated: never)."""
    if connection.vendor != "sqlite":
        return Drift(0, 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM messaging_chatmessage m LEFT JOIN search_fts f ON f.rowid = m.id "
            "WHERE m.deleted_at IS NULL AND m.body <> '' "
            "AND (f.rowid IS NULL OR f.text <> parley_fold(m.body))"
        )
        missing = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM search_fts f LEFT JOIN messaging_chatmessage m ON m.id = f.rowid "
            "WHERE m.id IS NULL OR m.deleted_at IS NOT NULL OR m.body = ''"
        )
        stale = cursor.fetchone()[0]
    return Drift(missing, stale)


def resync(connection=connection) -> Drift:
    """Bring SQLite's index up to date with the messages in one transaction: what it lacks or
    holds differently written again, what belongs to no message removed. What it fixed."""
    found = drift(connection)
    if found.none:
        return found
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM search_fts WHERE rowid IN (SELECT f.rowid FROM search_fts f "
            "LEFT JOIN messaging_chatmessage m ON m.id = f.rowid WHERE m.id IS NULL "
            "OR m.deleted_at IS NOT NULL OR m.body = '' OR f.text <> parley_fold(m.body))"
        )
        cursor.execute(
            "INSERT INTO search_fts (rowid, text) SELECT m.id, parley_fold(m.body) "
            "FROM messaging_chatmessage m WHERE m.deleted_at IS NULL AND m.body <> '' "
            "AND NOT EXISTS (SELECT 1 FROM search_fts f WHERE f.rowid = m.id)"
        )
    return found


def rebuild(*, batch: int = BATCH, progress=None) -> IndexRebuild:
    """Rebuild the whole index, newest messages first; `progress(rebuild)` after each batch."""
    newest = ChatMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    sqlite = connection.vendor == "sqlite"
    with transaction.atomic():
        # A rebuild that died half-way is superseded: this one starts from the top again.
        IndexRebuild.objects.filter(finished_at__isnull=True).update(finished_at=timezone.now())
        record = IndexRebuild.objects.create(
            started_at=timezone.now(),
            total=ChatMessage.objects.count(),
            # SQLite's index is emptied first: what is below this id is missing until done.
            next_below=newest + 1 if sqlite else None,
        )
        if sqlite:
            # Dropping and creating the table again takes a second; DELETE of every row held
            # the write lock (and every sender) for about 16 s per 230,000 messages.
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE search_fts")
                for sql in fts_table():
                    cursor.execute(sql)
    upper = newest + 1
    while upper > 1:
        lower = max(1, upper - batch)
        with transaction.atomic(), connection.cursor() as cursor:
            if sqlite:
                # A message written meanwhile was indexed by its trigger: not again.
                cursor.execute(
                    "INSERT INTO search_fts (rowid, text) SELECT m.id, parley_fold(m.body) "
                    "FROM messaging_chatmessage m WHERE m.id >= %s AND m.id < %s "
                    "AND m.deleted_at IS NULL AND m.body <> '' "
                    "AND NOT EXISTS (SELECT 1 FROM search_fts f WHERE f.rowid = m.id)",
                    [lower, upper],
                )
            else:
                # Writing a row computes its generated search_vector again.
                cursor.execute(
                    "UPDATE messaging_chatmessage SET body = body WHERE id >= %s AND id < %s", [lower, upper]
                )
            record.done += ChatMessage.objects.filter(pk__gte=lower, pk__lt=upper).count()
            record.next_below = lower if sqlite else None
            record.save(update_fields=["done", "next_below"])
        upper = lower
        if progress is not None:
            progress(record)
    with connection.cursor() as cursor:
        if sqlite:
            cursor.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
        else:
            cursor.execute("ANALYZE messaging_chatmessage")
    record.finished_at = timezone.now()
    record.next_below = None
    record.save(update_fields=["finished_at", "next_below"])
    return record
