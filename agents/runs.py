"""Runs: the one way every entry point (API, pages, consumers, tasks) starts and follows an agent turn.

A Run row is the truth about a turn. `start_turn` records it; `execute` runs it and publishes its events
(LettaMessage-shaped dicts) with increasing `seq_id`s, live to the agent's channel group and into the run's
event log so a stream can resume with `starting_after`.

Embedded default: `execute` runs the loop in this process. (Scale-out issue: on workers, relayed over Redis.)
"""

import logging
import threading
import time
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from ade.errors import Conflict, NotFound
from ade.events import agent_group, send_now

from .models import Run
from .queries import get_agent_for

log = logging.getLogger(__name__)

# Embedded-mode event log: run id -> [(seq_id, event)]. Bounded: oldest runs are dropped.
_LOG: dict[str, list] = defaultdict(list)
_LOG_LOCK = threading.Lock()
_LOG_MAX_RUNS = 200


def start_turn(user, agent_id: str, messages: list[dict], *, options: dict | None = None,
               request_config: dict | None = None, background: bool = False) -> Run:
    """Record a new turn for the agent. Nothing runs yet."""
    agent = get_agent_for(user, agent_id)
    return Run.objects.create(organization_id=agent.organization_id, agent=agent, input=messages,
                              options=options or {}, request_config=request_config or {}, background=background,
                              created_by=user if getattr(user, "pk", None) else None)


def publish(run: Run, event: dict, seq: list) -> dict:
    """Number `event`, keep it in the run's log and send it live to everyone watching the agent."""
    seq[0] += 1
    event = {**event, "seq_id": seq[0], "run_id": run.id}
    with _LOG_LOCK:
        _LOG[run.id].append((seq[0], event))
        while len(_LOG) > _LOG_MAX_RUNS:
            _LOG.pop(next(iter(_LOG)))
    send_now(agent_group(run.agent_id), {"type": "run_event", "run_id": run.id, "event": event})
    return event


def execute(run_id: str, *, on_event=None) -> Run:
    """Run the turn of `run_id` to its end; call `on_event(event)` for each event as it happens."""
    from .loop import run_turn

    with transaction.atomic():
        run = Run.objects.select_for_update().get(id=run_id)
        if run.status != "created":
            raise Conflict(f"Run {run_id} has already started ({run.status})")
        run.status, run.started_at = "running", timezone.now()
        run.save(update_fields=["status", "started_at"])
    seq = [0]

    def emit(event: dict) -> None:
        event = publish(run, event, seq)
        if on_event is not None:
            on_event(event)

    started = time.monotonic_ns()
    try:
        run_turn(run, emit)  # finishes the run: status, stop_reason, usage, metadata.result
    except Exception as exc:  # the loop records step failures; here we make sure the run ends
        log.exception("run %s failed", run_id)
        Run.objects.filter(id=run_id).update(status="failed", stop_reason="error", error=str(exc)[:2000],
                                             completed_at=timezone.now())
        raise
    finally:
        Run.objects.filter(id=run_id).update(total_duration_ns=time.monotonic_ns() - started)
    run.refresh_from_db()
    return run


def events_after(run_id: str, starting_after: int = 0) -> list[dict]:
    """Events of a run with seq_id > starting_after (embedded log)."""
    with _LOG_LOCK:
        return [e for s, e in _LOG.get(run_id, []) if s > starting_after]


def cancel(user, agent_id: str, run_ids: list[str] | None = None) -> dict:
    """Ask active runs of the agent to stop between steps. Returns {run_id: status}."""
    agent = get_agent_for(user, agent_id)
    qs = Run.objects.filter(agent=agent, status__in=["created", "running"])
    if run_ids:
        qs = qs.filter(id__in=run_ids)
    runs = list(qs)
    if not runs:
        raise Conflict("No active runs to cancel")
    Run.objects.filter(id__in=[r.id for r in runs]).update(cancel_requested=True)
    Run.objects.filter(id__in=[r.id for r in runs], status="created").update(status="cancelled",
                                                                              stop_reason="cancelled",
                                                                              completed_at=timezone.now())
    return {r.id: "cancelled" for r in runs}


def get_run_for(user, run_id: str) -> Run:
    run = Run.objects.filter(id=run_id, organization_id=user.organization_id).first()
    if run is None:
        raise NotFound("Run not found")
    return run
