"""Celery tasks of agents: ids in, one domain function each."""

import logging
import threading

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.conf import settings
from django.db import close_old_connections

from . import runs

log = logging.getLogger(__name__)


@shared_task(name="agents.execute_queued", ignore_result=True)
def execute_queued(run_id: str) -> None:
    runs.execute_queued(run_id)


@shared_task(name="agents.reap_lost_runs", ignore_result=True)
def reap_lost_runs() -> None:
    runs.reap_lost_runs()


@worker_ready.connect
def start_watchdog(**_kwargs) -> None:
    """Every worker fails runs whose worker died, so no beat process is needed for crash recovery."""

    def watch() -> None:
        while not stop.wait(max(1.0, settings.RUN_LEASE_SECONDS / 2)):
            try:
                runs.reap_lost_runs()
            except Exception:  # keep watching: a database blip must not end the watchdog
                log.exception("watchdog pass failed")
            finally:
                close_old_connections()

    stop = threading.Event()
    threading.Thread(target=watch, daemon=True, name="engram-watchdog").start()


@worker_init.connect
def warm_up(**_kwargs) -> None:
    """Import litellm (about 3 s) before the worker takes work, in the parent so prefork children inherit it."""
    from .llm import litellm

    litellm()
