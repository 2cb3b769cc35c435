"""What search keeps besides its indexes (which are the database's: migration 0001)."""

from django.db import models


class IndexRebuild(models.Model):
    """A rebuild of the search index (`manage.py rebuild_search_index`), newest messages first.

    While one runs (`finished_at` empty), messages with ids below `next_below` may be missing
    from results, and search says so."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveBigIntegerField(default=0)
    done = models.PositiveBigIntegerField(default=0)
    # Ids from here down are not done yet (the rebuild walks ids downwards).
    next_below = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else f"{self.done} of {self.total}"
        return f"Search index rebuild of {self.started_at:%Y-%m-%d %H:%M} ({state})"
