"""Handing work to Celery workers. Celery is imported when work is first handed over, not as a web process starts:
its import is ~0.1 s of a start-up, and the embedded default's turns never need it (the app is in ade/celery.py)."""

from django.conf import settings


def enqueue(task_name: str, *args) -> None:
    """Send a task by its registered name. Domain modules (runs, ingestion, evals) use this instead of importing the
    task modules above them, which import them back: the layers stay one-way. Eager Celery runs the task right here."""
    from ade.celery import registered

    registered(task_name).delay(*args)


def runs_on_workers() -> bool:
    """True when turns go to Celery workers (REDIS_URL set and Celery not eager)."""
    if not settings.REDIS_URL:
        return False
    from ade.celery import app

    return not app.conf.task_always_eager
