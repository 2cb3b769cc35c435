"""Email backends for in-process tests of the outbox (jobs/email.py): an SMTP server that is slow."""

import time

from django.core.mail.backends.locmem import EmailBackend

SLOW_SECONDS = 1.5


class SlowBackend(EmailBackend):
    """Django's locmem backend (mail.outbox) that takes SLOW_SECONDS per email, like a slow server."""

    def send_messages(self, messages):
        time.sleep(SLOW_SECONDS)
        return super().send_messages(messages)
