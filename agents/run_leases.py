"""A running turn's lease and cancel flag. The executing process holds the lease in Redis (renewed by a watcher
thread) so the watchdog (agents.runs.reap_lost_runs) can tell a lost worker from a busy one; a cancel is flagged in
the run's row (agents.runs.cancel), in Redis for another process, and here for this one. Re-exported by agents.runs."""

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ade.events import failures
from agents.models import Run
from agents.run_events import redis_client

log = logging.getLogger(__name__)
_local_cancel: dict[str, threading.Event] = {}  # runs executing in this process -> their cancel flag


def _lease_key(run_id: str) -> str:
    return f"engram:run:{run_id}:lease"


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # at call time: prefork children have their own pid


def _cancel_key(run_id: str) -> str:
    return f"engram:run:{run_id}:cancel"


@contextmanager
def watch(run_id: str):
    """While a turn executes: hold its lease and yield its cancel flag, set from any process."""
    cancelled, stop = threading.Event(), threading.Event()
    _local_cancel[run_id] = cancelled
    client, watcher, leased = redis_client(), None, False
    if client is not None:
        try:
            leased = client.set(_lease_key(run_id), _holder(), ex=settings.RUN_LEASE_SECONDS)
        except failures() as exc:  # the turn stops at its first event, failed with an error naming Redis
            log.warning("run %s: could not take its lease (%s)", run_id, exc)
        watcher = threading.Thread(
            target=_keep_lease, args=(client, run_id, cancelled, stop, leased), daemon=True, name=f"lease-{run_id}"
        )
        watcher.start()
    try:
        yield cancelled
    finally:
        stop.set()
        _local_cancel.pop(run_id, None)
        if watcher is not None:
            watcher.join()
            try:
                client.delete(_lease_key(run_id))
            except failures() as exc:  # it expires by itself
                log.warning("run %s: could not release its lease (%s)", run_id, exc)


def _keep_lease(client, run_id: str, cancelled: threading.Event, stop: threading.Event, leased: bool) -> None:
    lease = settings.RUN_LEASE_SECONDS
    renew_at, failing = time.monotonic() + (lease / 3 if leased else 0), not leased
    while True:
        try:
            if client.exists(_cancel_key(run_id)):
                cancelled.set()
            if time.monotonic() >= renew_at:
                client.set(_lease_key(run_id), _holder(), ex=lease)
                renew_at = time.monotonic() + lease / 3
            failing = False
        except Exception as exc:  # a Redis hiccup must not kill the turn; the lease has slack
            if not failing:  # once per outage, not every 0.2 s
                log.warning("could not renew the lease of run %s: %s", run_id, exc)
            failing = True
        if stop.wait(0.2):
            return


def lease_holder(run_id: str) -> str | None:
    """ "host:pid" of the process executing the run, while it holds the lease (workers only)."""
    client = redis_client()
    value = client.get(_lease_key(run_id)) if client is not None else None
    return value.decode() if value else None


def lease_alive(run: Run) -> bool:
    """A run just claimed gets a grace period before its lease must exist."""
    client = redis_client()
    if client is None or client.exists(_lease_key(run.id)):
        return True
    grace = timedelta(seconds=settings.RUN_LEASE_SECONDS)
    return run.started_at is not None and run.started_at > timezone.now() - grace


def signal_cancel(run_id: str) -> None:
    flag = _local_cancel.get(run_id)
    if flag is not None:
        flag.set()
    client = redis_client()
    try:
        if client is not None:
            client.set(_cancel_key(run_id), "1", ex=settings.RUN_EVENTS_TTL_SECONDS)
    except failures() as exc:  # its row's flag is set: the loop still stops before its next step
        log.warning("run %s: could not flag its cancel in Redis (%s)", run_id, exc)
