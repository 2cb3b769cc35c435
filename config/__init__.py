# The Celery app is loaded with Django, so that `@shared_task`s sent from the web processes use
# its settings (the broker).
from .celery import app as celery_app

__all__ = ["celery_app"]
