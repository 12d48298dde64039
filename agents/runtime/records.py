"""What a turn writes: message rows, the Step row, the per-step checkpoint (one transaction), a failed step, and
the run's finish; plus `load_context`, the in-context rows a turn starts from. A mixin of `loop.Turn`."""

import logging
import os
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ade.dbretry import retrying
from ade.errors import DomainError
from ade.prepared import PreparedUpdate, insert_rows
from agents.models import Agent, Message, Run, Step
from agents.queries import messages_by_id
from agents.runtime import packaging as pk
from agents.runtime import traces
from agents.runtime.steps import (
    Call,
    StaleContext,
    StepFailed,
    replace_message_ids,
)

log = logging.getLogger(__name__)
COMPLETED_STOPS = ("end_turn", "tool_rule", "max_steps", "requires_approval")


class Records:
    @property
    def tz(self) -> str:
        return self.agent.timezone or "UTC"

    def message(self, role: str, content: list, step_id: str | None, **fields) -> Message:
        return Message(
            organization_id=self.agent.organization_id,
            agent_id=self.agent.id,
            role=role,
            content=content,
            step_id=step_id,
            run_id=self.run.id,
            model=self.llm_config.get("model", ""),
            **fields,
        )

    def tool_message(self, calls: list[Call], step_id: str) -> Message:
        parts = [{"type": "text", "text": pk.tool_return_text(c.ok, c.message, self.tz)} for c in calls]
        return self.message(
            "tool",
            parts,
            step_id,
            tool_call_id=calls[0].id,
            name=calls[0].name,
            tool_returns=[c.return_dict() for c in calls],
        )

    def step_row(self, step_id, result, stop_reason, started, timings) -> Step:
        cfg = self.llm_config
        return Step(
            id=step_id,
            organization_id=self.agent.organization_id,
            agent_id=self.agent.id,
            run_id=self.run.id,
            model=cfg.get("model", ""),
            model_endpoint=cfg.get("model_endpoint") or "",
            model_handle=cfg.get("handle") or self.agent.model_handle,
            provider_name=cfg.get("provider_name") or "",
            context_window_limit=self.agent.context_window,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            total_tokens=result.total_tokens,
            reasoning_tokens=result.reasoning_tokens,
            cached_input_tokens=result.cached_input_tokens,
            status="success",
            stop_reason=stop_reason or "",
            step_ns=time.monotonic_ns() - started,
            **timings,
        )

    def open_step(self, step: Step | None, inputs: list[Message]) -> None:
        """Before a step's tools run: its Step row (pending, the model's answer in its trace) and its input
        messages, in one transaction. A tool may change memory (or anything a custom tool reaches) and commit at
        once; if the process dies before the step commits, the change is still explained by a step, its input
        and its run. The in-context list changes only when the step commits (`checkpoint`)."""

        def write():
            with transaction.atomic():
                if step is not None:
                    step.status = "pending"
                    insert_rows([step])
                self._write_rows(inputs)

        retrying(write, what=f"run {self.run.id}: opening a step")
        if step is not None:
            self.opened_step = step.id
        self.written = getattr(self, "written", set()) | {row.id for row in inputs}

    def _write_rows(self, rows: list[Message]) -> None:
        """Insert the rows not written yet (an opened step's inputs are)."""
        thread = getattr(self.agent, "thread", None)
        new = [row for row in rows if row.id not in getattr(self, "written", ())]
        for row in new:
            row.conversation = thread
        insert_rows(new)

    def checkpoint(self, step: Step | None, rows: list[Message]) -> None:
        """Write a step: its Step row, its messages and the new in-context list, in one transaction (again on a
        new connection if the database restarted meanwhile). The list is only replaced if nobody else changed it
        meanwhile (else the step is refused: a failed Step row, and nothing else but what `open_step` wrote)."""
        context, before = self.context + rows, list(self.agent.message_ids)
        opened = step is not None and step.id == getattr(self, "opened_step", None)

        def write():
            self.agent.message_ids = before  # as read, should an earlier attempt have failed at its commit
            with transaction.atomic():
                if opened:
                    STEP_SAVE.save_row(step)
                elif step is not None:
                    insert_rows([step])
                self._write_rows(rows)
                replace_message_ids(self.agent, before, [m.id for m in context])

        try:
            retrying(write, what=f"run {self.run.id}: a step")
        except StaleContext as exc:
            if step is not None:
                self.record_failed_step(step.id, exc, None)
            raise StepFailed("error", str(exc)) from exc
        self.written = getattr(self, "written", set()) | {row.id for row in rows}
        self.context = context
        self.emit_rows(rows)

    def record_failed_step(self, step_id: str, exc: Exception, trace: str | None) -> None:
        cfg = self.llm_config
        stop = getattr(exc, "stop_reason", "error")
        failure = {
            "status": "failed",
            "stop_reason": stop,
            "error_type": type(exc).__name__,
            "error_data": {"message": str(exc)[:2000], **({"traceback": trace} if trace else {})},
        }
        if step_id == getattr(self, "opened_step", None):  # its tools ran: keep what it recorded, mark it failed
            retrying(lambda: Step.objects.filter(id=step_id).update(**failure), what=f"run {self.run.id}: a step")
            return
        row = Step(
            id=step_id,
            organization_id=self.agent.organization_id,
            agent_id=self.agent.id,
            run_id=self.run.id,
            model=cfg.get("model", ""),
            model_handle=self.agent.model_handle,
            context_window_limit=self.agent.context_window,
            trace=self.failed_trace(exc),
            **failure,
        )
        retrying(lambda: row.save(force_insert=True), what=f"run {self.run.id}: a failed step")

    def failed_trace(self, exc: Exception) -> dict | None:
        """What a failed step sent (when it got that far) and the error instead of a response."""
        sent = getattr(self, "sent", None)
        if sent is None:
            return None
        failure = {"error": type(exc).__name__, "message": str(exc)[:2000]}
        return traces.build_trace(sent, failure, secrets=self.agent.secrets)

    def finish(self, stop_reason: str, error: str = "") -> None:
        status = (
            "completed" if stop_reason in COMPLETED_STOPS else "cancelled" if stop_reason == "cancelled" else "failed"
        )
        stop = {"message_type": "stop_reason", "stop_reason": stop_reason}
        usage = self.usage.as_event()
        result = {"messages": self.messages_out, "stop_reason": stop, "usage": usage}
        _test_hold()
        now = timezone.now()
        metadata = {**(self.run.metadata or {}), "result": result, **({"error": error} if error else {})}

        def write():
            with transaction.atomic():
                ended = {
                    "status": status,
                    "stop_reason": stop_reason,
                    "usage": usage,
                    "metadata": metadata,
                    "completed_at": now,
                    "error": error[:2000],
                    "ttft_ns": self.ttft_ns,
                    "total_duration_ns": time.monotonic_ns() - self.started,
                }
                RUN_ENDED.run(ended, id=self.run.id)
                last_run = {
                    "last_run_completion": now,
                    "last_stop_reason": stop_reason,
                    "last_run_duration_ms": (time.monotonic_ns() - self.started) // 1_000_000,
                }
                AGENT_LAST_RUN.run(last_run, id=self.agent.id)

        retrying(write, what=f"run {self.run.id}: its finish")  # a finished turn is not failed by a restart
        self.run.status, self.run.stop_reason = status, stop_reason
        self.emit(stop)
        self.emit(usage)
        if error:
            self.emit(
                {
                    "message_type": "error_message",
                    "run_id": self.run.id,
                    "error_type": stop_reason,
                    "message": error,
                    "detail": None,
                }
            )


# What every turn writes, its SQL built once per process (ade/prepared.py).
STEP_SAVE = PreparedUpdate.whole_rows(Step)
RUN_ENDED = PreparedUpdate(
    Run,
    ["status", "stop_reason", "usage", "metadata", "completed_at", "error", "ttft_ns", "total_duration_ns"],
    ["id"],
)
AGENT_LAST_RUN = PreparedUpdate(Agent, ["last_run_completion", "last_stop_reason", "last_run_duration_ms"], ["id"])


def _test_hold() -> None:
    """TEST ONLY: wait while settings.TEST_HOLD_FINISH_FILE exists (a fault test kills the worker meanwhile)."""
    hold = settings.TEST_HOLD_FINISH_FILE
    while hold and os.path.exists(hold):
        time.sleep(0.1)


# In-context rows of recent agents, reused by their next turn in this process: reading ~500 rows is the biggest
# cost of a turn. Stored rows never change, with two exceptions: the system message is rewritten in place (so it
# is always read afresh) and an edit through agents.actions.edit_message touches Agent.updated_at (so an entry is only
# used while the agent's updated_at is the one it was made with). Only rows read from the database are kept, for
# at most 64 agents and 20,000 rows (~10 MiB of short messages) in all: the least recently used agent goes first.
_CONTEXT_CACHE: OrderedDict[str, tuple] = OrderedDict()
_CONTEXT_CACHE_AGENTS = 64
_CONTEXT_CACHE_ROWS = 20_000
_context_cache_lock = threading.Lock()


def load_context(agent: Agent) -> list[Message]:
    """The in-context messages in order (only the system message for autoclear agents)."""
    ids = list(agent.message_ids or [])
    if agent.message_buffer_autoclear or agent.agent_type == "workflow_agent":
        ids = ids[:1]
    thread = getattr(agent, "thread", None)
    key = f"{agent.id}/{thread.id}" if thread else agent.id  # each conversation has its own list
    with _context_cache_lock:
        stamp, cached = _CONTEXT_CACHE.get(key, (None, {}))
    if stamp != agent.updated_at:
        cached = {}
    wanted = ids[:1] + [i for i in ids[1:] if i not in cached]
    rows = {**cached, **{m.id: m for m in messages_by_id(wanted)}}
    context = [rows[i] for i in ids if i in rows]
    if not context or context[0].role != "system":
        raise DomainError("The agent has no in-context messages (its system message is missing)")
    with _context_cache_lock:
        _CONTEXT_CACHE[key] = (agent.updated_at, {m.id: m for m in context[1:]})
        _CONTEXT_CACHE.move_to_end(key)
        rows_kept = sum(len(kept) for _stamp, kept in _CONTEXT_CACHE.values())
        while len(_CONTEXT_CACHE) > 1 and (
            len(_CONTEXT_CACHE) > _CONTEXT_CACHE_AGENTS or rows_kept > _CONTEXT_CACHE_ROWS
        ):
            rows_kept -= len(_CONTEXT_CACHE.popitem(last=False)[1][1])
    return context
