"""Celery tasks of agents: ids in, one domain function each."""

import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_init, worker_process_init, worker_ready
from django.conf import settings
from django.db import close_old_connections

from agents import runs

log = logging.getLogger(__name__)


@shared_task(name="agents.execute_queued", ignore_result=True)
def execute_queued(run_id: str) -> None:
    runs.execute_queued(run_id)


@shared_task(name="agents.reap_lost_runs", ignore_result=True)
def reap_lost_runs() -> None:
    runs.reap_lost_runs()


def watch_for_lost_runs() -> None:
    """A thread that fails runs whose worker died (`runs.reap_lost_runs`), so crash recovery needs no beat."""

    def watch() -> None:
        failing = False
        while True:
            time.sleep(max(1.0, settings.RUN_LEASE_SECONDS / 2))
            try:
                runs.reap_lost_runs()
                failing = False
            except Exception as exc:  # keep watching: a database or Redis outage must not end the watchdog
                if not (failing and _outage(exc)):  # an outage is told once, not at every pass
                    log.warning("watchdog pass failed: %s", exc, exc_info=not _outage(exc))
                failing = True
            finally:
                close_old_connections()

    threading.Thread(target=watch, daemon=True, name="engram-watchdog").start()


def _outage(exc: Exception) -> bool:
    from redis.exceptions import RedisError

    from ade.dbretry import is_disconnect

    return isinstance(exc, RedisError) or is_disconnect(exc)


@worker_process_init.connect
def start_watchdog(**_kwargs) -> None:
    # In the process that runs tasks: a prefork child, or the solo worker itself. A prefork parent must never
    # touch the database: children forked later would inherit its pooled connections.
    watch_for_lost_runs()


@worker_ready.connect
def start_watchdog_for_threads(sender=None, **_kwargs) -> None:
    # The threads pool runs tasks in the worker process and sends no process-init signal.
    if type(getattr(sender, "pool", None)).__module__ == "celery.concurrency.thread":
        watch_for_lost_runs()


@worker_init.connect
def warm_up(**_kwargs) -> None:
    """Import litellm (about 3 s) before the worker takes work, in the parent so prefork children inherit it."""
    from agents.runtime.llm import litellm

    litellm()
