"""The user account: Django's user plus the name shown beside messages."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    display_name = models.CharField(max_length=80, blank=True)
    # The username case-folded in Python: what @mentions and "add member" match on. SQL lower()
    # folds only ASCII on SQLite and on a C-locale PostgreSQL, so `@émile` would miss `Émile`.
    folded_username = models.CharField(max_length=150, db_index=True, editable=False, default="")

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username

    def save(self, *args, **kwargs):
        self.folded_username = self.username.casefold()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "username" in update_fields:
            kwargs["update_fields"] = {*update_fields, "folded_username"}
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.username
