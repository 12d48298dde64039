"""Handing work to Celery workers. Celery is imported when work is first handed over, not as a web process starts:
its import is ~0.1 s of a start-up, and the embedded default's turns never need it (the app is in ade/celery.py)."""

from django.conf import settings


def enqueue(task_name: str, *args) -> None:
    """Send a task by its registered name (eager Celery runs it right here): see ade.celery.enqueue."""
    from ade.celery import enqueue as send

    send(task_name, *args)


def runs_on_workers() -> bool:
    """True when turns go to Celery workers (REDIS_URL set and Celery not eager)."""
    if not settings.REDIS_URL:
        return False
    from ade.celery import app

    return not app.conf.task_always_eager
