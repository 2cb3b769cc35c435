from django.apps import AppConfig


class AwarenessConfig(AppConfig):
    name = "awareness"
    verbose_name = "Presence, typing and read receipts"
