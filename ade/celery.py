import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ade.settings")
app = Celery("engram")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(task_name: str, *args) -> None:
    """Send a task by its registered name. Domain modules (runs, ingestion) use this instead of importing the task
    modules above them, which import them back: the layers stay one-way. Eager Celery runs the task right here."""
    app.tasks[task_name].delay(*args)
