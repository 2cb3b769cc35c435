from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "reminders"
    verbose_name = "Reminders"

    def ready(self) -> None:
        from jobs import sweeps

        from .actions import deliver_due_reminders, prune_done_reminders

        # The worker's sweep delivers what is due: the database is the schedule (jobs/sweeps.py).
        sweeps.register("reminders", deliver_due_reminders)
        sweeps.register_housekeeping("reminders", prune_done_reminders)
