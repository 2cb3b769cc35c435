from django.apps import AppConfig


class ScheduledConfig(AppConfig):
    name = "scheduled"
    verbose_name = "Scheduled messages"

    def ready(self) -> None:
        from jobs import sweeps

        from .actions import prune_finished, send_due_messages

        sweeps.register("scheduled", send_due_messages)
        sweeps.register_housekeeping("scheduled", prune_finished)
