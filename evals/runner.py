"""Running an eval: one unit of work = one (model, sample) pair, a pending `EvalResult` row claimed atomically.

With workers (`agents.runs.runs_on_workers()`), `launch` enqueues `evals.start` by name: it prepares the suite and
enqueues `concurrency` `evals.work` tasks; each plays one unit and enqueues itself again while units are pending,
so at most `concurrency` samples run at once and other tasks (users' turns) interleave with them. On the embedded
default a thread prepares and then runs `concurrency` lanes in a bounded thread pool. A sample's turns run in the
process that plays it (`evals.sample`). Cancelling marks the eval and its pending units; lanes stop claiming and a
playing sample stops at its next turn (its running turn is cancelled too).
"""

import logging
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from ade.errors import ServiceUnavailable
from ade.events import send_now
from ade.queue import enqueue
from evals.events import eval_group
from evals.models import EvalResult, EvalRun
from evals.sample import Sample, SampleCancelled, SampleFailed
from evals.suites import get_suite

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: the process playing this sample stopped"
QUEUE_DOWN = "The task queue (Redis) is unavailable: this eval was not started."
PREPARE_INTERRUPTED = "The process preparing this eval stopped before its samples began; start it again."
_threads: dict[str, threading.Thread] = {}
_rows: dict[str, list] = {}  # eval id → its suite's rows, read once per process


def launch(run: EvalRun) -> None:
    """Get `run` going once the caller's transaction commits (workers, or a thread of this process)."""
    transaction.on_commit(lambda: _go(run.id))


def _go(eval_id: str) -> None:
    from agents.runs import runs_on_workers

    if not runs_on_workers():
        _in_thread(eval_id)
        return
    try:
        enqueue("evals.start", eval_id)
    except Exception as exc:  # the broker refused: the eval ends now rather than start by surprise later
        log.warning("could not enqueue eval %s: %s", eval_id, exc)
        _finish(eval_id, "failed", error=QUEUE_DOWN)
        raise ServiceUnavailable(QUEUE_DOWN) from exc


def _in_thread(eval_id: str) -> None:
    def play_all():
        try:
            run_here(eval_id)
        finally:
            connection.close()
            _threads.pop(eval_id, None)

    thread = threading.Thread(target=play_all, name=f"eval-{eval_id[-6:]}", daemon=True)
    _threads[eval_id] = thread
    thread.start()


def join(eval_id: str, timeout: float | None = None) -> None:
    """Wait for the embedded runner thread of `eval_id`, if this process started one (tests, the command)."""
    thread = _threads.get(eval_id)
    if thread is not None:
        thread.join(timeout)


def run_here(eval_id: str) -> None:
    """Prepare and play every unit in this process, `concurrency` at a time (embedded default; the command)."""
    run = prepare(eval_id)
    if run is None:
        return
    lanes = max(1, min(run.concurrency, run.total))
    if lanes == 1:
        _lane(eval_id)
        return
    with ThreadPoolExecutor(lanes, thread_name_prefix="eval-lane") as pool:
        for future in [pool.submit(_closing(_lane), eval_id) for _ in range(lanes)]:
            future.result()


def _lane(eval_id: str) -> None:
    while work(eval_id):
        pass


def _closing(fn):
    def wrapped(*args):
        try:
            return fn(*args)
        finally:
            connection.close()  # this thread's own connection

    return wrapped


def start(eval_id: str) -> None:
    """Worker entry (`evals.start`): prepare, then one `evals.work` task per lane."""
    run = prepare(eval_id)
    if run is not None:
        for _ in range(max(1, min(run.concurrency, run.total))):
            enqueue("evals.work", eval_id)


def work_and_continue(eval_id: str) -> None:
    """Worker entry (`evals.work`): one unit, then this lane's next task while units are pending."""
    if work(eval_id) and EvalResult.objects.filter(run_id=eval_id, status="pending").exists():
        enqueue("evals.work", eval_id)


def prepare(eval_id: str) -> EvalRun | None:
    """created → running after the suite's one-time set-up; a failing set-up fails the eval. None: nothing to do."""
    run = EvalRun.objects.select_related("created_by").get(id=eval_id)
    if run.status != "created":
        return run if run.status == "running" else None
    # A sign of life while preparing: if this process dies now, `recover` ends the eval instead of leaving it created.
    EvalRun.objects.filter(id=eval_id, status="created").update(heartbeat_at=timezone.now())
    try:
        get_suite(run.organization_id, run.suite).prepare(run, _acting_user(run))
    except Exception as exc:
        log.exception("eval %s: preparing %s failed", eval_id, run.suite)
        _finish(eval_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        return None
    now = timezone.now()
    if not EvalRun.objects.filter(id=eval_id, status="created").update(
        status="running", started_at=now, heartbeat_at=now
    ):
        return None  # cancelled meanwhile
    _progress(eval_id)
    return EvalRun.objects.get(id=eval_id)


def _acting_user(run: EvalRun):
    user = run.created_by
    if user is None:
        raise RuntimeError("the user who started this eval no longer exists")
    user.organization_id = run.organization_id  # the eval acts in its own organization, whatever the user switched to
    return user


def work(eval_id: str) -> bool:
    """Claim and play one pending unit of the eval; False when none is left (or the eval is not running)."""
    close_old_connections()
    while True:
        if not EvalRun.objects.filter(id=eval_id, status="running").exists():
            return False
        unit = EvalResult.objects.filter(run_id=eval_id, status="pending").order_by("index", "model").first()
        if unit is None:
            return False
        claimed = EvalResult.objects.filter(id=unit.id, status="pending").update(
            status="running", started_at=timezone.now()
        )
        if claimed:
            break
    play(EvalResult.objects.select_related("run", "run__created_by").get(id=unit.id))
    return True


def play(result: EvalResult) -> None:
    run = result.run
    suite = get_suite(run.organization_id, run.suite)
    changes = {"status": "done"}
    sample = None
    try:
        sample = Sample(run, result, _acting_user(run), _rows_of(run, suite)[result.index])
        outcome = suite.play(sample)
        changes.update(
            question=outcome.question,
            expected=outcome.expected,
            answer=outcome.answer,
            score=outcome.score,
            grade=outcome.grade,
        )
    except SampleCancelled:
        changes = {"status": "cancelled"}
    except SampleFailed as exc:
        changes.update(status="error", score=0.0, error=str(exc)[:4000])
    except Exception as exc:  # a bug in a suite or the machinery: recorded on the sample, the eval goes on
        log.exception("eval %s: sample %s of %s failed", run.id, result.index, result.model)
        changes.update(status="error", score=0.0, error=f"{type(exc).__name__}: {exc}"[:4000])
    if sample is not None:
        changes.update(sample.usage, latency_ms=sample.latency_ms, cost=sample.cost)
        changes.setdefault("question", sample.row.get("input", ""))
    with transaction.atomic():  # only if still ours: `recover` may have given it up as interrupted meanwhile
        mine = EvalResult.objects.filter(id=result.id, status="running").update(completed_at=timezone.now(), **changes)
        if mine and changes["status"] != "cancelled":
            EvalRun.objects.filter(id=run.id).update(done=F("done") + 1, heartbeat_at=timezone.now())
    if not EvalResult.objects.filter(run_id=run.id, status__in=("pending", "running")).exists():
        _finish(run.id, "completed")
    _progress(run.id, EvalResult.objects.get(id=result.id))


def _rows_of(run: EvalRun, suite) -> list:
    if run.id not in _rows:
        if len(_rows) > 20:
            _rows.clear()
        _rows[run.id] = suite.rows(run)
    return _rows[run.id]


def _finish(eval_id: str, status: str, *, error: str = "") -> None:
    """End the eval with its final summary in the same write: whoever sees it finished sees every sample."""
    run = EvalRun.objects.get(id=eval_id)
    EvalRun.objects.filter(id=eval_id, status__in=("created", "running")).update(
        status=status, error=error, completed_at=timezone.now(), summary=summarize(run)
    )
    if status != "completed":
        _progress(eval_id)


def _progress(eval_id: str, result: EvalResult | None = None) -> None:
    """Recompute the summary and tell the eval's watchers."""
    from evals.render import render_result

    run = EvalRun.objects.get(id=eval_id)
    run.summary = summarize(run)  # counts at least `run.done` samples: each is committed with its increment
    # Written only while `done` is unchanged: a lane that finished later writes a fuller summary (never overwritten).
    EvalRun.objects.filter(id=eval_id, done=run.done).update(summary=run.summary)
    send_now(
        eval_group(eval_id),
        {
            "type": "eval_progress",
            "eval_id": eval_id,
            "status": run.status,
            "done": run.done,
            "total": run.total,
            "summary": run.summary,
            "result": render_result(result) if result is not None else None,
        },
    )


def summarize(run: EvalRun) -> dict:
    """Per model: score (percent of finished samples), samples, errors, tokens, p50 latency, cost when known."""
    finished = list(EvalResult.objects.filter(run_id=run.id, status__in=("done", "error")))
    out = {}
    for handle in run.model_handles:
        rows = [r for r in finished if r.model == handle]
        latencies = [r.latency_ms for r in rows if r.latency_ms is not None]
        costs = [r.cost for r in rows if r.cost is not None]
        out[handle] = {
            "score": round(100 * sum(r.score or 0 for r in rows) / len(rows), 2) if rows else None,
            "samples": len(rows),
            "passed": sum(1 for r in rows if (r.score or 0) >= 1),
            "errors": sum(1 for r in rows if r.status == "error"),
            "tokens": sum(r.total_tokens for r in rows),
            "p50_latency_ms": int(statistics.median(latencies)) if latencies else None,
            "cost": round(sum(costs), 6) if costs else None,
        }
        if run.suite in ("archival-retrieval", "conversation-retrieval"):  # the suites graded by rank
            from evals.suites.retrieval import summary

            out[handle]["modes"] = summary(rows)
    return out


def wait(eval_id: str, *, on_progress=None, poll: float = 0.25) -> EvalRun:
    """Block until the eval ends (the command, with workers): `on_progress(run)` whenever `done` moves, and once
    with the ended run (its last sample is counted before the eval's status is written)."""
    seen = -1
    while True:
        recover(eval_id)
        run = EvalRun.objects.get(id=eval_id)
        if on_progress and (run.done != seen or run.is_finished):
            seen = run.done
            on_progress(run)
        if run.is_finished:
            return run
        time.sleep(poll)


def finish_cancelled(eval_id: str) -> None:
    EvalRun.objects.filter(id=eval_id, completed_at__isnull=True).update(completed_at=timezone.now())
    _progress(eval_id)


def recover(eval_id: str) -> None:
    """An eval whose set-up stopped (the process preparing it died) fails with PREPARE_INTERRUPTED. An eval whose players stopped (a worker or the server died mid-sample) goes on: after EVAL_STALE_SECONDS
    without a sign of life, its running samples become errors ("interrupted") and the pending ones are played again
    (new lanes), or the eval completes. One caller wins the claim on `heartbeat_at`; readers call this."""
    stale = timezone.now() - timedelta(seconds=settings.EVAL_STALE_SECONDS)
    if EvalRun.objects.filter(id=eval_id, status="created", heartbeat_at__lt=stale).exists():
        _finish(eval_id, "failed", error=PREPARE_INTERRUPTED)  # its set-up began and never ended
        return
    run = EvalRun.objects.filter(id=eval_id, status="running", heartbeat_at__lt=stale).first()
    if run is None:
        return
    if not EvalRun.objects.filter(id=eval_id, heartbeat_at=run.heartbeat_at).update(heartbeat_at=timezone.now()):
        return  # another reader recovers it
    with transaction.atomic():
        lost = EvalResult.objects.filter(run_id=eval_id, status="running").update(
            status="error", score=0.0, error=INTERRUPTED, completed_at=timezone.now()
        )
        EvalRun.objects.filter(id=eval_id).update(done=F("done") + lost)
    log.warning("eval %s: %d interrupted sample(s); going on", eval_id, lost)
    if EvalResult.objects.filter(run_id=eval_id, status="pending").exists():
        _go(eval_id)
    else:
        _finish(eval_id, "completed")
        _progress(eval_id)
