from django.apps import AppConfig


class ScheduledConfig(AppConfig):
    name = "scheduled"
    verbose_name = "Scheduled messages"
