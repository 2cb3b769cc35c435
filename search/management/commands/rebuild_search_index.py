"""`manage.py rebuild_search_index`: rebuild the search index while Parley keeps serving, or
`--check` it against the messages (exit status 1 if they differ)."""

from django.core.management.base import BaseCommand, CommandError

from search.index import BATCH, drift, rebuild


class Command(BaseCommand):
    help = "Rebuild the message search index (newest messages first), or check it with --check."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="only compare the index with the messages")
        parser.add_argument("--batch", type=int, default=BATCH, help="messages per transaction")

    def handle(self, *args, check: bool, batch: int, **options):
        if check:
            found = drift()
            if not found.none:
                raise CommandError(
                    f"The search index differs from the messages: {found.missing} missing or out of date, "
                    f"{found.stale} of deleted messages. Run manage.py rebuild_search_index."
                )
            self.stdout.write("The search index matches the messages.")
            return
        if batch < 1:
            raise CommandError("--batch must be at least 1.")

        def report(record):
            self.stdout.write(f"{record.done:,} of {record.total:,} messages")

        record = rebuild(batch=batch, progress=report)
        seconds = (record.finished_at - record.started_at).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(f"Rebuilt the search index of {record.total:,} messages in {seconds:.1f} s.")
        )
