"""Real Celery worker processes for `services` tests (ade/local_workers.py).

`celery_workers` (session) starts two `celery -A ade worker -P solo` subprocesses on the test database and the
Redis of REDIS_URL. Tests that use it must be `@pytest.mark.django_db(transaction=True)` so the workers see
their rows. tests/conftest.py imports the fixture.
"""

import os

import pytest

LEASE_SECONDS = 3  # short, so a killed worker's run is failed quickly


def worker_env() -> dict:
    """The environment of a worker: this test session's database, Redis and scripted model."""
    from django.conf import settings

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ade.settings",
        "DATABASE_NAME": str(settings.DATABASES["default"]["NAME"]),
        "CELERY_EAGER": "0",
        "RUN_LEASE_SECONDS": str(LEASE_SECONDS),
        "SCRIPTED_LLM_URL": os.environ.get("SCRIPTED_LLM_URL", settings.SCRIPTED_LLM_URL),
        "SCRIPTED_LLM_AUTOSTART": "0",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture(scope="session")
def celery_workers(django_db_setup, scripted_llm_server, tmp_path_factory):
    """Two real Celery workers for the session, calling the session's scripted model; `.start()`, `.kill(name)`,
    `.logs()`."""
    from django.db import connections

    from ade.celery import app
    from ade.local_workers import WorkerPool
    from agents.run_events import redis_client

    redis_client().flushdb()  # our own Redis database: stale tasks and streams of earlier sessions go
    app.control.purge()
    connections.close_all()
    pool = WorkerPool(tmp_path_factory.mktemp("workers"), worker_env())
    try:
        pool.start(2)
        yield pool
    finally:
        pool.stop()
