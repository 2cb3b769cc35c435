from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def register_fold(sender, connection, **kwargs) -> None:
    """SQLite's search triggers call `parley_fold` (search/text.py): every connection has it."""
    if connection.vendor == "sqlite":
        from .text import fold

        connection.connection.create_function("parley_fold", 1, fold, deterministic=True)


class SearchConfig(AppConfig):
    name = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        connection_created.connect(register_fold, dispatch_uid="search.register_fold")
        from .schema import restore_triggers

        post_migrate.connect(restore_triggers, dispatch_uid="search.restore_triggers")
