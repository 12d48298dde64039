"""Runs: the one way every entry point (API, pages, consumers, tasks) starts and follows an agent turn.

A Run row is the truth about a turn. `start_turn` records it. `submit` gets it executed: here and now on the
embedded default, on a Celery worker when REDIS_URL is set (the web process then only enqueues and relays).
`execute` runs the loop and `publish`es each event (LettaMessage-shaped dicts) with an increasing `seq_id` into
the run's event log (agents/run_events.py) and live to the agent's channel group. `follow` relays a run's events
to a stream and resumes after `starting_after`.

On workers three promises hold:
- One turn at a time per conversation (the agent's default one or a `Conversation`). A worker claims the
  conversation's oldest queued run under the agent's row lock, and only when none of its runs is running; when it
  is done it re-enqueues the conversation's next queued run (a task that arrived while it was busy did nothing).
  Other conversations and agents run in parallel, and take turns fairly.
- Cancel. `cancel` flags the run (in the database, in Redis and in the executing process). The loop stops
  between steps; a model call that is streaming is aborted by RunCancelled, raised from `emit` at its next token.
- Crash safety. The executing worker holds a lease in Redis, renewed by a watcher thread (agents/run_leases.py). A
  run whose lease has expired is failed by the watchdog (`reap_lost_runs`, run periodically by every worker) or by
  the next claim for its agent. Steps commit one transaction each, so a killed worker leaves no half-written step.
"""

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from accounts.permissions import allows
from ade.dbretry import DATABASE_LOST, is_disconnect, retrying
from ade.errors import Conflict, NotFound, ServiceUnavailable
from ade.events import agent_group, failures, send_now
from ade.prepared import PreparedUpdate, insert_rows
from ade.queue import enqueue, runs_on_workers
from agents.models import Agent, Message, Run, Step
from agents.queries import get_agent_for
from agents.run_events import event_log, redis_client
from agents.run_leases import lease_alive, lease_holder, signal_cancel, watch  # noqa: F401  (lease_holder: public)
from agents.run_streams import (  # noqa: F401  (the public names of runs: entry points use runs.follow etc.)
    ACTIVE,
    EventsUnavailable,
    ServerStopping,
    events_after,
    follow,
    publish,
    stop_following,
    wait,
)

log = logging.getLogger(__name__)

turn_finished = Signal()  # sent with run= after the loop finished a turn (not on failure or cancel)
LOST_WORKER_ERROR = "The worker running this turn stopped before finishing it."
QUEUE_DOWN_ERROR = "The task queue (Redis) is unavailable: this turn was not started and will not run."
EVENTS_DOWN_ERROR = "Redis (the run's event log) became unavailable during this turn, which was stopped."
NEVER_PICKED_ERROR = "No worker picked this turn up; it was given up and will not run."


class RunCancelled(BaseException):
    """Raised inside a turn, from its `emit`, once the run is cancelled.

    A BaseException (like asyncio.CancelledError) so that the loop's `except Exception` handlers, which
    record failed steps, let it through to `execute`."""


def start_turn(
    user,
    agent_id: str | Agent,
    messages: list[dict],
    *,
    options: dict | None = None,
    request_config: dict | None = None,
    background: bool = False,
    conversation=None,
    idempotency_key: str | None = None,
) -> Run:
    """Record a new turn for the agent (the user's role must allow `chat`). Nothing runs yet: call `submit`.

    Idempotent: a turn sent again with the same `idempotency_key`, or whose messages carry the same `otid`, to
    the same agent (a client retrying a request that timed out) gets the first one's Run back, marked
    `replayed` (`submit` then does nothing; following it streams the first one's events).

    `agent_id` may be the Agent row itself when the caller loaded it with `get_agent_for(user, id, action="chat")`
    (the API checks the input against it first; a second read would cost a query per turn)."""
    agent = agent_id if isinstance(agent_id, Agent) else get_agent_for(user, agent_id, action="chat")
    key = _idempotency_key(messages, idempotency_key)

    def record() -> Run:
        run = Run(
            organization_id=agent.organization_id,
            agent=agent,
            input=messages,
            options=options or {},
            request_config=request_config or {},
            background=background,
            conversation=conversation,
            metadata={"idempotency_key": key} if key else {},
            created_by=user if getattr(user, "pk", None) else None,
        )
        return insert_rows([run])[0]

    if not key:
        return record()  # one INSERT: no transaction around it (on PostgreSQL a BEGIN and a COMMIT less)
    with transaction.atomic():  # the agent's row lock serialises two retries arriving together
        list(Agent.objects.select_for_update().filter(id=agent.id).values_list("id", flat=True))
        earlier = Run.objects.filter(agent=agent, metadata__idempotency_key=key).order_by("created_at").first()
        if earlier is not None:
            earlier.replayed = True
            return earlier
        return record()


def _idempotency_key(messages: list[dict], header: str | None) -> str:
    """The client's Idempotency-Key, else the first `otid` of its messages (Letta clients set one per message)."""
    if header:
        return f"key:{header[:200]}"
    otid = next((m.get("otid") for m in messages if isinstance(m, dict) and m.get("otid")), None)
    return f"otid:{str(otid)[:200]}" if otid else ""


def submit(run: Run) -> None:
    """Get `run` executed: enqueued for a worker once the caller's transaction commits, or (embedded) executed
    here and now. Either way the Run row tells the outcome and `follow(run.id)` relays its events."""
    if getattr(run, "replayed", False):
        return  # a retry of a turn already submitted: it runs (or ran) once
    if runs_on_workers():
        transaction.on_commit(lambda: _enqueue_or_fail(run))
    else:
        _drive(_mark_running(run))


def _enqueue_or_fail(run: Run) -> None:
    """Enqueue the run's task. When the broker refuses, the run is failed at once and the caller gets a 503:
    a turn the client was told failed must never run later by surprise (a `created` run would, at the agent's
    next message)."""
    try:
        enqueue("agents.execute_queued", run.id)
    except Exception as exc:
        log.warning("could not enqueue run %s: %s", run.id, exc)
        metadata = {k: v for k, v in (run.metadata or {}).items() if k != "idempotency_key"}  # a retry may run
        Run.objects.filter(id=run.id, status="created").update(
            status="failed",
            stop_reason="error",
            error=QUEUE_DOWN_ERROR,
            completed_at=timezone.now(),
            metadata={**metadata, "error": QUEUE_DOWN_ERROR},
        )
        raise ServiceUnavailable(QUEUE_DOWN_ERROR) from exc


def execute(run_id: str, *, on_event=None) -> Run:
    """Run the turn of `run_id` in this process to its end; call `on_event(event)` for each event as it happens.
    A loop error is recorded on the run (failed) and raised again."""
    error = _drive(_mark_running(Run.objects.get(id=run_id)), on_event)
    if error is not None:
        raise error
    return Run.objects.get(id=run_id)


def execute_queued(run_id: str) -> None:
    """Worker entry: run the oldest queued turn of `run_id`'s conversation, unless a worker is running one of its
    turns. Afterwards its next queued turn goes to the back of the task queue, so busy agents take turns with
    the others instead of holding a worker."""
    where = Run.objects.filter(id=run_id).values_list("agent_id", "conversation_id")
    agent_id, thread = retrying(where.first, what=f"run {run_id}: its task") or (None, None)
    run = retrying(lambda: _claim_next(agent_id, thread), what=f"run {run_id}: its claim") if agent_id else None
    if run is not None:
        if retrying(lambda: _starter_may_chat(run), what=f"run {run.id}: its sender"):
            _drive(run)
        else:
            _end(run, "failed", "error", error="the person who sent this may no longer chat here", from_statuses=ACTIVE)
            _close(run)
        retrying(lambda: _requeue(agent_id, thread), what=f"run {run_id}: the next turn")


def _starter_may_chat(run: Run) -> bool:
    """A queued turn runs only while its sender may still chat with the agent (they may have been removed since)."""
    return run.created_by is None or allows(run.created_by, "chat", run.organization_id)


def _requeue(agent_id: str, conversation_id: str | None) -> None:
    """Enqueue the conversation's oldest queued run: its own task may have come while the conversation was busy,
    and gone."""
    next_id = (
        Run.objects.filter(agent_id=agent_id, conversation_id=conversation_id, status="created")
        .order_by("created_at", "id")
        .values_list("id", flat=True)
        .first()
    )
    if next_id:
        enqueue("agents.execute_queued", next_id)


def _mark_running(run: Run) -> Run:
    """Claim a created run for this process: one conditional UPDATE, so two claimers cannot both win."""
    now = timezone.now()
    if not RUN_CLAIMED.run({"status": "running", "started_at": now}, id=run.id, status="created"):
        status = Run.objects.filter(id=run.id).values_list("status", flat=True).first()
        raise Conflict(f"Run {run.id} has already started ({status})")
    run.status, run.started_at = "running", now
    return run


RUN_CLAIMED = PreparedUpdate(Run, ["status", "started_at"], ["id", "status"])  # every turn: built once per process


def _claim_next(agent_id: str, conversation_id: str | None) -> Run | None:
    """The conversation's oldest queued run, now marked running; None while another run of the same conversation
    is running (conversation None: the agent's default one). Claimers of one agent are serialised by the agent's
    row lock."""
    with transaction.atomic():
        if not list(Agent.objects.select_for_update().filter(id=agent_id).values_list("id", flat=True)):
            return None
        same = Run.objects.filter(agent_id=agent_id, conversation_id=conversation_id)
        running = same.filter(status="running").first()
        if running is not None and not _fail_if_lost(running):
            return None
        run = same.filter(status="created").order_by("created_at", "id").first()
        if run is None:
            return None
        run.status, run.started_at = "running", timezone.now()
        run.save(update_fields=["status", "started_at"])
    return run


def _drive(run: Run, on_event=None) -> Exception | None:
    """Run the loop for a run already marked running; make sure the run ends and its log is closed."""
    from agents.runtime.loop import run_turn

    started, error, finished = time.monotonic_ns(), None, False
    log_down = threading.Event()
    with watch(run.id) as cancelled:

        def emit(event: dict) -> None:
            if cancelled.is_set() and _in_flight(event):
                raise RunCancelled  # aborts the model call that is streaming this message
            if log_down.is_set():
                return  # the turn is failing already; its last events have nowhere to go
            try:
                event = publish(run, event)
            except failures() as exc:  # the turn stops (a failed step, stop reason `error`)
                log.warning("run %s: the event log is unavailable (%s); the turn stops", run.id, exc)
                log_down.set()
                raise ServiceUnavailable(EVENTS_DOWN_ERROR) from exc
            if on_event is not None:
                on_event(event)

        try:
            run_turn(run, emit)  # finishes the run: status, stop_reason, usage, metadata.result
            finished = True
        except RunCancelled:
            _end(run, "cancelled", "cancelled", from_statuses=ACTIVE, always_publish=True)
        except Exception as exc:  # the loop records step failures; here we make sure the run ends
            if not isinstance(exc, ServiceUnavailable):
                log.exception("run %s failed", run.id)
            reason = DATABASE_LOST if is_disconnect(exc) else str(exc)  # never a driver's text
            _end(run, "failed", "error", error=reason[:2000], from_statuses=ACTIVE)
            error = exc
    if not finished:  # a finished turn wrote its duration with its end (agents/runtime/records.py)
        took = time.monotonic_ns() - started
        retrying(lambda: Run.objects.filter(id=run.id).update(total_duration_ns=took), what=f"run {run.id}: duration")
    _close(run, known=finished)
    if finished:
        _start_sleeptime(run)
    return error


def _start_sleeptime(run: Run) -> None:
    """After a turn the loop finished: tell the receivers (the sleep-time trigger in agents/sleeptime.py, connected
    at start-up; a signal because sleep-time starts runs, so runs must not import it)."""
    for _receiver, outcome in turn_finished.send_robust(sender=Run, run=run):
        if isinstance(outcome, Exception):  # the foreground turn is done and must stay so
            log.error("a turn_finished receiver failed after run %s", run.id, exc_info=outcome)


def _in_flight(event: dict) -> bool:
    """A streamed piece of a message not yet persisted. Events of committed steps (and the loop's own
    cancelled finish: stop_reason, usage) are still delivered; the loop stops between steps by itself."""
    return bool(event.get("id")) and not Message.objects.filter(id=event["id"]).exists()


def _end(
    run: Run, status: str, stop_reason: str, *, from_statuses, error: str = "", always_publish: bool = False
) -> bool:
    """Finish a run that the loop could not finish (cancelled, crashed, lost) and its unfinished steps."""

    def write() -> int:
        with transaction.atomic():
            changed = Run.objects.filter(id=run.id, status__in=from_statuses).update(
                status=status, stop_reason=stop_reason, error=error, completed_at=timezone.now()
            )
            Step.objects.filter(run_id=run.id, status="pending").update(
                status="cancelled" if status == "cancelled" else "failed"
            )
        return changed

    changed = retrying(write, what=f"run {run.id}: its end")
    if changed or always_publish:
        _tell(run, lambda: publish(run, {"message_type": "stop_reason", "stop_reason": stop_reason}))
    return bool(changed)


def _close(run: Run, *, known: bool = False) -> None:
    """End the run's event log (followers stop) and tell pages its new status (`known`: the loop just wrote it
    into `run`; else it is read)."""
    status = run.status
    if not known:
        status = retrying(
            Run.objects.filter(id=run.id).values_list("status", flat=True).first, what=f"run {run.id}: its status"
        )
    _tell(run, lambda: event_log().append(run.id, None))
    _tell(run, lambda: send_now(agent_group(run.agent_id), {"type": "run_updated", "run_id": run.id, "status": status}))


def _tell(run: Run, send) -> None:
    """Send a run's end to its followers; the Run row is the truth, so Redis being down must not stop the end."""
    try:
        send()
    except failures() as exc:
        log.warning("run %s: could not tell its followers it ended (%s)", run.id, exc)


# ---------------------------------------------------------------------------------------------------------------
# The watchdog and cancel (leases and cancel flags: agents/run_leases.py)


def _fail_if_lost(run: Run) -> bool:
    """Fail a running run whose worker is gone. True when it was failed here."""
    if lease_alive(run) or not _end(run, "failed", "error", error=LOST_WORKER_ERROR, from_statuses=("running",)):
        return False
    log.warning("run %s lost its worker; marked failed", run.id)
    _close(run)
    return True


def reap_lost_runs() -> list[str]:
    """Fail the runs whose worker died, and restart their agents' queues. Every worker calls this periodically."""
    if redis_client() is None:
        return []
    cutoff = timezone.now() - timedelta(seconds=settings.RUN_LEASE_SECONDS)
    reaped = [run for run in Run.objects.filter(status="running", started_at__lt=cutoff) if _fail_if_lost(run)]
    for run in reaped:
        _requeue(run.agent_id, run.conversation_id)  # whatever the agent has queued behind it can run now
    _sweep_queued()
    return [run.id for run in reaped]


def _sweep_queued() -> None:
    """Queued runs whose task was lost (a broker that lost its data, an enqueue that failed half-way): a run
    `created` for RUN_QUEUE_STALE_SECONDS while nothing of its conversation runs is enqueued again, at most
    RUN_QUEUE_RETRIES times, RUN_QUEUE_STALE_SECONDS apart; after that it is failed. So no run waits forever,
    and none runs later than about (RUN_QUEUE_RETRIES + 1) x RUN_QUEUE_STALE_SECONDS after it was sent.
    A duplicate task is harmless: claims take the oldest queued run, one per conversation."""
    stale = timezone.now() - timedelta(seconds=settings.RUN_QUEUE_STALE_SECONDS)
    for run_id in Run.objects.filter(status="created", created_at__lt=stale).values_list("id", flat=True)[:100]:
        with transaction.atomic():
            run = Run.objects.select_for_update().filter(id=run_id, status="created").first()
            same = Run.objects.filter(agent_id=run.agent_id, conversation_id=run.conversation_id) if run else None
            if run is None or same.filter(status="running").exists():
                continue  # taken meanwhile, or waiting its turn behind a running one
            meta = dict(run.metadata or {})
            last = meta.get("requeued_at")
            if last and timezone.now().timestamp() - last < settings.RUN_QUEUE_STALE_SECONDS:
                continue  # another watchdog just did it
            tries = int(meta.get("requeued", 0))
            if tries >= settings.RUN_QUEUE_RETRIES:
                run.status, run.stop_reason, run.error = "failed", "error", NEVER_PICKED_ERROR
                run.completed_at, meta["error"] = timezone.now(), NEVER_PICKED_ERROR
            meta.update(requeued=tries + 1, requeued_at=timezone.now().timestamp())
            run.metadata = meta
            run.save(update_fields=["status", "stop_reason", "error", "completed_at", "metadata"])
        if run.status == "failed":
            log.warning("run %s was never picked up; marked failed", run.id)
            _close(run)
        else:
            log.warning("run %s waited %s s without a worker; enqueued again", run.id, settings.RUN_QUEUE_STALE_SECONDS)
            enqueue("agents.execute_queued", run.id)


def cancel(user, agent_id: str, run_ids: list[str] | None = None) -> dict:
    """Cancel active runs of the agent: queued ones never start, running ones stop at their next event.
    Returns {run_id: "cancelled"}. Named runs that have already finished are left as they are (a no-op, as
    Letta does: the SDK would retry a 409); 409 only when no run is named and none is active."""
    agent = get_agent_for(user, agent_id)
    qs = Run.objects.filter(agent=agent, status__in=ACTIVE)
    runs = list(qs.filter(id__in=run_ids) if run_ids else qs)
    if not runs and run_ids:
        return {}
    if not runs:
        raise Conflict("No active runs to cancel")
    Run.objects.filter(id__in=[r.id for r in runs]).update(cancel_requested=True)
    for run in runs:
        signal_cancel(run.id)
        if run.status == "created" and _end(run, "cancelled", "cancelled", from_statuses=("created",)):
            _close(run)
    return {r.id: "cancelled" for r in runs}


def get_run_for(user, run_id: str) -> Run:
    run = Run.objects.filter(id=run_id, organization_id=user.organization_id).first()
    if run is None:
        raise NotFound("Run not found")
    return run
