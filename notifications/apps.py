from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from jobs import sweeps

        from .digest import send_missed_emails

        sweeps.register("missed-message emails", send_missed_emails)
