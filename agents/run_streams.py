"""Following a run: its events numbered into the run's log (agents/run_events.py) and sent live to the agent's
pages; readers that wait for the rest (SSE streams, sync requests) from any process. Re-exported by agents.runs."""

import threading
import time

from django.db import connection

from ade.dbretry import retrying
from ade.errors import ServiceUnavailable
from ade.events import agent_group, failures, send_now
from agents.models import Run
from agents.queries import run_row
from agents.run_events import event_log, redis_client

ACTIVE = ("created", "running")
EVENTS_UNREADABLE = "Redis (the run's event log) is unavailable: ask again with the same otid, or resume the stream."
FOLLOW_GRACE_SECONDS = 5  # how long a follower waits for a finished run's last events before giving up
_stopping = threading.Event()  # set when this web process shuts down: its followers stop at once


class ServerStopping(ServiceUnavailable):
    """This web process is shutting down. A stream ends without [DONE] (its client resumes it on another web
    server with `starting_after`); a client waiting for a reply gets 503 and retries (idempotent by otid)."""


class EventsUnavailable(ServiceUnavailable):
    """The run's event log (Redis) cannot be read. The turn itself may go on or fail: a client waiting for a reply
    gets 503 and retries with the same otid; a stream ends without [DONE], to be resumed with `starting_after`."""


def publish(run: Run, event: dict) -> dict:
    """Number `event` in the run's log and send it live to everyone watching the agent."""
    seq = event_log().append(run.id, event)
    event = {**event, "seq_id": seq, "run_id": run.id}
    send_now(agent_group(run.agent_id), {"type": "run_event", "run_id": run.id, "event": event})
    return event


def events_after(run_id: str, starting_after: int = 0) -> list[dict]:
    """The events stored so far with seq_id > starting_after (does not wait)."""
    events, _ended = _read(event_log(), run_id, starting_after)
    return [{**event, "seq_id": seq, "run_id": run_id} for seq, event in events]


def follow(run_id: str, starting_after: int = 0, *, timeout: float | None = None):
    """Yield the run's events with seq_id > starting_after, each once and in order, waiting for new ones until
    the run ends. Works from any process with Redis, and in the executing process on the embedded default.
    Raises TimeoutError after `timeout` seconds."""
    store, after = event_log(), starting_after
    deadline = None if timeout is None else time.monotonic() + timeout
    quiet_since = time.monotonic()
    finished_at = None  # when the run was seen finished while its log was still open
    while True:
        if _stopping.is_set():
            raise ServerStopping("This server is restarting; the turn goes on: resume its stream or retry.")
        events, ended = _read(store, run_id, after, block=1.0)
        for seq, event in events:
            after = seq
            yield {**event, "seq_id": seq, "run_id": run_id}
        if ended:
            return
        now = time.monotonic()
        if events:
            quiet_since = now
        elif finished_at is not None:
            if now - finished_at > FOLLOW_GRACE_SECONDS:
                return  # finished, and its log expired or was never closed: nothing more will come
        elif now - quiet_since > FOLLOW_GRACE_SECONDS and _is_finished(run_id):
            # Its status is written before its last events and end marker: read on until they come or the grace ends.
            finished_at = now
        if deadline is not None and now > deadline:
            raise TimeoutError(f"run {run_id} did not finish within {timeout} s")


def _read(store, run_id: str, after: int, block: float = 0):
    try:
        return store.read(run_id, after, block=block)
    except failures() as exc:
        raise EventsUnavailable(EVENTS_UNREADABLE) from exc


def stop_following() -> None:
    """Called when this web process begins to shut down (ade/asgi.py): every follower stops within a second, so
    the process exits in a bounded time instead of when its longest turn ends (turns run on workers)."""
    _stopping.set()


def wait(run_id: str, timeout: float | None = None) -> Run:
    """Block until the run has ended (wherever it runs); return its row."""
    if redis_client() is not None and not connection.in_atomic_block:
        connection.close()  # back to the pool while a worker runs the turn; the read after it gets a checked one
    for _event in follow(run_id, timeout=timeout):
        pass
    run = retrying(lambda: run_row(run_id), what=f"run {run_id}: waiting for it")
    if run is None:
        raise Run.DoesNotExist(f"run {run_id} is gone")
    return run


def _is_finished(run_id: str) -> bool:
    status = Run.objects.filter(id=run_id).values_list("status", flat=True).first()
    if not connection.in_atomic_block:
        connection.close()  # a follower can wait for minutes: give its connection back to the pool meanwhile
    return status is None or status not in ACTIVE
