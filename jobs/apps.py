from django.apps import AppConfig


def publish_from_worker(**kwargs) -> None:
    """A worker whose channel layer is in memory reaches the servers' sockets through the
    database (messaging/realtime/relay.py); with Redis it publishes like any process."""
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    from messaging.realtime import relay

    from . import wake

    # What the worker queues, its own sweep sends (emails go last in every sweep): no broker
    # round trip, and no wait on a broker that hangs from inside a task.
    wake.from_worker()
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        relay.write_to_database()


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Background work"

    def ready(self) -> None:
        from celery.signals import task_failure, worker_init, worker_process_init

        from messaging.realtime import relay

        from . import housekeeping, sweeps
        from .email import send_due_emails
        from .failures import record_failure

        task_failure.connect(record_failure, dispatch_uid="jobs.record_failure")
        worker_init.connect(publish_from_worker, dispatch_uid="jobs.publish_from_worker")
        worker_process_init.connect(publish_from_worker, dispatch_uid="jobs.publish_from_worker_process")
        sweeps.register("emails", send_due_emails, last=True)
        sweeps.register_housekeeping("sessions", housekeeping.expired_sessions)
        sweeps.register_housekeeping("notifications", housekeeping.old_read_notifications)
        sweeps.register_housekeeping("emails", housekeeping.old_sent_emails)
        sweeps.register_housekeeping("statuses", housekeeping.expired_statuses)
        sweeps.register_housekeeping("relayed events", relay.prune)
