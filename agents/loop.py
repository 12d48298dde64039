"""THE step loop: `run_turn(run, emit)` runs one turn of an agent (behaviour spec §2).

One loop for every agent type. Heartbeat agents (memgpt/memgpt_v2/react/workflow: reply through send_message,
chain with request_heartbeat) and letta_v1/sleeptime agents (a plain-text reply ends the turn, any tool call
continues) differ only by the `Style` they run with.

A step: check for cancellation → choose the allowed tools → call the model (compacting and retrying on a
context-length error) → run the tool calls → decide whether to continue → write the step's messages, the
in-context id list and the Step row in ONE short transaction → emit the messages → compact if the context is
past 90% of the window. A step that fails writes nothing but a failed Step row; the run then ends with an error
stop reason and a readable error.
"""

import logging
import threading
import time
import traceback
from collections import OrderedDict

from django.db import transaction
from django.utils import timezone

from ade.errors import DomainError
from ade.ids import new_id

from . import llm as llm_client
from . import packaging as pk
from .models import Agent, Message, Run, Step
from .rules import ToolRulesSolver, merge_prefilled_args
from .steps import Call, StaleContext, StepFailed, Usage, decorate_schema, dumps, replace_message_ids, style_for
from .streaming import DeltaStreamer
from .turn_input import TurnInput, read_turn_input

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 50
MAX_OVERFLOW_RETRIES = 3
COMPLETED_STOPS = ("end_turn", "tool_rule", "max_steps", "requires_approval")
# Tools that may change what the system prompt shows; after one runs the loop re-reads the system message.
MEMORY_TOOL_TYPES = ("letta_memory_core", "letta_sleeptime_core", "letta_core", "letta_files_core")
READ_ONLY_TOOLS = ("send_message", "conversation_search", "archival_memory_search")
# ---------------------------------------------------------------------------------------------------------------
# Entry point


def run_turn(run: Run, emit) -> None:
    """Run the turn recorded in `run` to its end and finish the Run row.

    Raises DomainError (e.g. Conflict PENDING_APPROVAL, Invalid approval ids) for input refused before any
    step ran; the run is then marked failed with that error.
    """
    turn = Turn(run, emit)
    try:
        turn_input = read_turn_input(turn.agent, turn.context, run.input or [], run_id=run.id)
    except DomainError as exc:
        turn.finish("error", str(exc))
        raise
    turn.play(turn_input)


class Turn:
    """The state of one turn: the agent, its in-context messages, tools, rules and running totals."""

    def __init__(self, run: Run, emit):
        self.run, self._emit = run, emit
        self.started = time.monotonic_ns()
        self.agent = Agent.objects.get(id=run.agent_id)
        self.options = run.options or {}
        self.style = style_for(self.agent.agent_type)
        self.max_steps = max(int(self.options.get("max_steps") or DEFAULT_MAX_STEPS), 1)
        self.tools = {t.name: t for t in self.agent.tools.order_by("agenttool__position", "agenttool__id")}
        self.client_tools = {c["name"]: c for c in self.options.get("client_tools") or [] if c.get("name")}
        self.solver = ToolRulesSolver(self.agent.tool_rules)
        self.context = load_context(self.agent)
        self.usage = Usage()
        self.messages_out: list[dict] = []
        self.stop: str | None = None
        self.ttft_ns: int | None = None
        self.llm_config = self.agent.llm_config
        if self.options.get("override_model"):
            from .providers import resolve_llm

            self.llm_config = resolve_llm(self.options["override_model"])
        self.system_override = self.options.get("override_system") or None

    def emit(self, event: dict) -> None:
        if self.ttft_ns is None:
            self.ttft_ns = time.monotonic_ns() - self.started
        self._emit(event)

    @property
    def available(self) -> list[str]:
        return list(self.tools) + [n for n in self.client_tools if n not in self.tools]

    # ---- the loop ------------------------------------------------------------------------------------------

    def play(self, turn_input: TurnInput) -> None:
        pending = list(turn_input.messages)
        error = ""
        try:
            for i in range(self.max_steps):
                final = i == self.max_steps - 1
                if i == 0 and turn_input.approval is not None:
                    cont = self.resume_after_approval(turn_input, final)
                    pending = list(turn_input.follow_ups)
                    cont = cont or bool(pending)
                else:
                    if self.cancel_requested():
                        self.stop = "cancelled"
                        break
                    cont = self.model_step(pending, final)
                    pending = []
                if not cont:
                    break
        except StepFailed as exc:
            self.stop, error = exc.stop_reason, str(exc)
        self.finish(self.stop or "end_turn", error)

    def cancel_requested(self) -> bool:
        return Run.objects.filter(id=self.run.id, cancel_requested=True).exists()

    # ---- a model step --------------------------------------------------------------------------------------

    def model_step(self, inputs: list[Message], final: bool) -> bool:
        step_id, started = new_id("step"), time.monotonic_ns()
        ids = {"assistant": new_id("message"), "approval": new_id("message")}
        allowed = self.allowed_tools()
        try:
            result = self.call_model(inputs, allowed, step_id, ids)
            tool_started = time.monotonic_ns()
            rows, cont = self.handle_response(result, allowed, step_id, ids, final)
            timings = {"llm_request_ns": result.llm_ns, "tool_execution_ns": time.monotonic_ns() - tool_started}
        except StepFailed as exc:
            self.record_failed_step(step_id, exc, None)
            raise
        except llm_client.LLMError as exc:
            self.record_failed_step(step_id, exc, None)
            raise StepFailed(exc.stop_reason, str(exc)) from exc
        except DomainError as exc:
            self.record_failed_step(step_id, exc, None)
            raise StepFailed("error", str(exc)) from exc
        except Exception as exc:  # a bug or an unexpected failure: the run must still end readably
            log.exception("step of run %s failed", self.run.id)
            self.record_failed_step(step_id, exc, traceback.format_exc())
            raise StepFailed("error", f"{type(exc).__name__}: {exc}") from exc
        self.usage.add(result)
        step = self.step_row(step_id, result, self.stop if not cont else "", started, timings)
        self.checkpoint(step, inputs + rows)
        if result.total_tokens > int(self.agent.context_window * 0.9):
            self.compact("post_step_context_check")
        return cont

    def allowed_tools(self) -> list[str]:
        allowed = [n for n in self.solver.allowed(self.available) if n in self.tools or n in self.client_tools]
        return allowed or self.available

    def call_model(self, inputs, allowed, step_id, ids) -> llm_client.LLMResult:
        forced = self.style.heartbeats or self.solver.should_force_tool_call()
        schemas = [self.schema(n) for n in allowed]
        tools = [{"type": "function", "function": s} for s in schemas] or None
        choice = self.tool_choice(allowed, forced) if tools else None
        streamer = None
        if self.options.get("stream_tokens"):
            streamer = DeltaStreamer(self, step_id, ids)
        parallel = self.parallel_calls() if tools and not self.style.heartbeats else None
        for attempt in range(MAX_OVERFLOW_RETRIES + 1):
            messages = llm_client.chat_messages(
                self.context + inputs,
                self.agent,
                system_text=self.system_override,
                tool_return_cap=self.tool_return_cap(),
            )
            try:
                return llm_client.complete(
                    self.llm_config,
                    messages,
                    tools=tools,
                    tool_choice=choice,
                    parallel_tool_calls=parallel,
                    stream=streamer is not None,
                    on_delta=streamer.on_delta if streamer else None,
                )
            except llm_client.ContextWindowExceeded as exc:
                if attempt == MAX_OVERFLOW_RETRIES:
                    raise StepFailed(
                        "llm_api_error",
                        f"The context window is still exceeded after {MAX_OVERFLOW_RETRIES} compactions: {exc}",
                    ) from exc
                self.compact("context_window_exceeded")
        raise AssertionError("unreachable")

    def tool_choice(self, allowed: list[str], forced: bool):
        if forced and len(allowed) == 1:
            return {"type": "function", "function": {"name": allowed[0]}}
        if forced or self.agent.agent_type not in ("letta_v1_agent",):
            return "required"
        return "auto"

    def parallel_calls(self) -> bool:
        return bool(self.llm_config.get("parallel_tool_calls")) and not self.solver.has_constraining_rules()

    def tool_return_cap(self) -> int | None:
        return None if self.style.heartbeats else max(5000, int(self.agent.context_window * 0.2 * 4))

    def schema(self, name: str) -> dict:
        """The function schema sent for a tool, decorated for this loop style (§2.4)."""
        tool = self.tools.get(name)
        base = (
            llm_client.tool_schema(tool)
            if tool
            else {
                "name": name,
                "description": self.client_tools[name].get("description") or "",
                "parameters": self.client_tools[name].get("parameters") or {"type": "object", "properties": {}},
            }
        )
        return decorate_schema(
            base,
            heartbeat=self.style.heartbeats and not self.solver.is_terminal(name),
            thinking=self.style.heartbeats and bool(self.llm_config.get("put_inner_thoughts_in_kwargs")),
            response_format=self.agent.response_format if name == "send_message" else None,
        )

    # ---- handling the model's answer -----------------------------------------------------------------------

    def handle_response(self, result, allowed, step_id, ids, final) -> tuple[list[Message], bool]:
        calls = [self.parse_call(c) for c in result.tool_calls]
        if calls and (self.style.heartbeats or not self.parallel_calls()):
            calls = calls[:1]
        content = self.content_parts(result, calls)
        if not calls:
            if not self.style.text_ends_turn:
                raise StepFailed("no_tool_call", "No tool calls found in response, model must make a tool call")
            return self.handle_text(result, content, step_id, ids, final)
        need_approval = [c for c in calls if c.name in allowed and self.needs_approval(c.name)]
        run_now = [c for c in calls if c not in need_approval]
        for call in run_now:
            self.execute(call, allowed, step_id)
        rows, cont, reason = [], False, None
        if run_now:
            cont, reason = self.decide(run_now, final)
        if run_now or content:  # the model's text stays on the assistant message (streamed under its id)
            rows.append(
                self.message(
                    "assistant",
                    content,
                    step_id,
                    id=ids["assistant"],
                    tool_calls=[c.stored(cont if self.style.heartbeats else None) for c in run_now] or None,
                )
            )
        if run_now:
            rows.append(self.tool_message(run_now, step_id))
        if need_approval:
            rows.append(
                self.message(
                    "approval",
                    [],
                    step_id,
                    id=ids["approval"],
                    tool_calls=[c.stored(c.heartbeat if self.style.heartbeats else None) for c in need_approval],
                )
            )
            self.stop = "requires_approval"
            return rows, False
        if cont and self.style.heartbeats:
            rows.append(self.message("user", pk.text_parts(pk.heartbeat_text(reason, self.tz)), step_id))
        return rows, cont

    def handle_text(self, result, content, step_id, ids, final) -> tuple[list[Message], bool]:
        rows = [self.message("assistant", content, step_id, id=ids["assistant"])] if content else []
        missing = self.solver.uncalled_required(self.available)
        if missing and not final:
            rows.append(
                self.message("user", pk.text_parts(pk.heartbeat_text(pk.must_call_reason(missing), self.tz)), step_id)
            )
            return rows, True
        self.stop = "max_tokens_exceeded" if result.finish_reason == "length" else "end_turn"
        return rows, False

    def content_parts(self, result, calls) -> list[dict]:
        parts = []
        if result.reasoning:
            parts.append({"type": "reasoning", "reasoning": result.reasoning, "is_native": True, "signature": None})
        thinking = "".join(c.args.pop("thinking", "") or "" for c in calls if isinstance(c.args.get("thinking"), str))
        text = result.content or ""
        if self.style.heartbeats:  # heartbeat agents think in text; only send_message reaches the user
            thoughts = "\n".join(t for t in (thinking, text) if t)
            if thoughts:
                parts.append({"type": "reasoning", "reasoning": thoughts, "is_native": False, "signature": None})
        elif text:
            parts.append({"type": "text", "text": text})
        return parts

    def parse_call(self, tc: llm_client.ToolCall) -> Call:
        args = llm_client.parse_arguments(tc.arguments)
        beat = args.pop("request_heartbeat", False)
        beat = beat.lower() == "true" if isinstance(beat, str) else bool(beat)
        call_id = tc.id or f"call_{new_id('x')[-8:]}"
        return Call(call_id, tc.name, args, heartbeat=beat and self.style.heartbeats)

    def needs_approval(self, name: str) -> bool:
        return self.solver.requires_approval(name) or (name in self.client_tools and name not in self.tools)

    def execute(self, call: Call, allowed: list[str], step_id: str) -> None:
        """Run one allowed call (or refuse it) and record its outcome on `call`."""
        if call.name not in allowed:
            call.violated, call.ok = True, False
            call.message = self.solver.violation_text(call.name, allowed)
            return
        tool = self.tools.get(call.name)
        try:
            call.args = merge_prefilled_args(
                call.args, self.solver.prefilled_args(call.name), llm_client.tool_schema(tool) if tool else {}
            )
        except ValueError as exc:
            call.ok, call.stop = False, "invalid_tool_call"
            call.message = f"Invalid prefilled tool arguments from tool rules (source=tool_rules): {exc}"
            return
        self.run_tool(call, tool, step_id)

    def run_tool(self, call: Call, tool, step_id: str) -> None:
        from tools.executor import execute_tool

        if tool is None:
            call.ok, call.message = False, "Tool not found"
            return
        result = execute_tool(self.agent, tool, call.args, run=self.run, step_id=step_id)
        call.ok, call.message = result.status == "success", result.func_return
        call.stdout, call.stderr = result.stdout, result.stderr
        if tool.tool_type in MEMORY_TOOL_TYPES and tool.name not in READ_ONLY_TOOLS:
            self.refresh_system_message()  # the next model call sees the edited memory (§1.7, §10 #3)

    def decide(self, calls: list[Call], final: bool) -> tuple[bool, str | None]:
        """Continue or stop after executed calls (§2.7); sets self.stop when stopping for a reason."""
        for call in calls:
            self.decide_one(call)
        return self.settle(calls, final)

    def settle(self, calls: list[Call], final: bool) -> tuple[bool, str | None]:
        """The step's continuation from its calls' own decisions, the step budget and required tools."""
        cont = any(c.cont for c in calls)
        stops = [c.stop for c in calls if c.stop]
        reason = next((c.reason for c in reversed(calls) if c.reason), None)
        if "invalid_tool_call" in stops:
            self.stop = "invalid_tool_call"
            return False, None
        if final and cont:
            self.stop = "max_steps"
            return False, None
        missing = [] if cont else self.solver.uncalled_required(self.available)
        if missing:
            return True, pk.required_tools_reason(missing)
        if not cont:
            self.stop = stops[-1] if stops else "end_turn"
        if cont and reason is None:
            reason = pk.HEARTBEAT_REASON if all(c.ok for c in calls) else pk.FAILED_REASON
        return cont, reason

    def decide_one(self, call: Call) -> None:
        if call.stop == "invalid_tool_call":
            call.cont = False
            return
        if call.violated:
            call.cont, call.reason = True, pk.VIOLATION_REASON
            return
        output = call.message if isinstance(call.message, str) else dumps(call.message)
        self.solver.register(call.name, output)
        call.cont = call.heartbeat if self.style.heartbeats else True
        if self.solver.is_terminal(call.name):
            if call.cont or not self.style.heartbeats:
                call.stop = "tool_rule"
            call.cont = False
        elif self.solver.is_parent(call.name):
            call.cont, call.reason = True, pk.CHILD_RULE_REASON
        elif self.solver.is_continue(call.name):
            call.cont, call.reason = True, pk.CONTINUE_RULE_REASON
        elif self.style.heartbeats and not call.ok and self.continues_on_error():
            call.cont, call.reason = True, pk.FAILED_REASON

    def continues_on_error(self) -> bool:
        default = self.agent.agent_type == "workflow_agent"
        return bool((self.agent.metadata or {}).get("heartbeat_on_tool_error", default))

    # ---- approvals -----------------------------------------------------------------------------------------

    def resume_after_approval(self, turn_input: TurnInput, final: bool) -> bool:
        try:
            return self.approval_step(turn_input, final)
        except Exception as exc:  # the approved tool's own errors are tool results; this is anything else
            log.exception("approval step of run %s failed", self.run.id)
            raise StepFailed("error", f"{type(exc).__name__}: {exc}") from exc

    def approval_step(self, turn_input: TurnInput, final: bool) -> bool:
        """Resume after a human decision: run approved calls (no model call), return denials to the model."""
        request, decisions = turn_input.approval_request, turn_input.decisions
        step_id = request.step_id
        calls = []
        for raw in request.tool_calls or []:
            call = self.parse_call(
                llm_client.ToolCall(raw["id"], raw["function"]["name"], raw["function"].get("arguments") or "{}")
            )
            decision = decisions[call.id]
            if decision.get("type") == "tool":  # a client-side tool's result
                call.ok = decision.get("status", "success") == "success"
                call.message = decision.get("tool_return")
                call.stdout, call.stderr = decision.get("stdout"), decision.get("stderr")
                call.cont = True
            elif decision.get("approve"):
                self.run_tool(call, self.tools.get(call.name), step_id)
                self.decide_one(call)
            else:
                call.ok, call.message = False, pk.denial_text(decision.get("reason"))
                call.cont, call.reason = True, pk.DENIED_REASON
            calls.append(call)
        cont, reason = self.settle(calls, final)
        rows = [turn_input.approval, self.tool_message(calls, step_id)]
        for row in rows:
            row.step_id = step_id
        if cont and self.style.heartbeats:
            rows.append(self.message("user", pk.text_parts(pk.heartbeat_text(reason, self.tz)), step_id))
        self.checkpoint(None, rows)
        return cont

    # ---- messages and persistence --------------------------------------------------------------------------

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

    def checkpoint(self, step: Step | None, rows: list[Message]) -> None:
        """Write a step: its Step row, its messages and the new in-context list, in one transaction. The list is
        only replaced if nobody else changed it meanwhile (else the step is refused, nothing written)."""
        context = self.context + rows
        try:
            with transaction.atomic():
                if step is not None:
                    step.save(force_insert=True)
                Message.objects.bulk_create(rows)
                replace_message_ids(self.agent, list(self.agent.message_ids), [m.id for m in context])
        except StaleContext as exc:
            if step is not None:
                self.record_failed_step(step.id, exc, None)
            raise StepFailed("error", str(exc)) from exc
        self.context = context
        self.emit_rows(rows)

    def record_failed_step(self, step_id: str, exc: Exception, trace: str | None) -> None:
        cfg = self.llm_config
        stop = getattr(exc, "stop_reason", "error")
        Step.objects.create(
            id=step_id,
            organization_id=self.agent.organization_id,
            agent_id=self.agent.id,
            run_id=self.run.id,
            model=cfg.get("model", ""),
            model_handle=self.agent.model_handle,
            context_window_limit=self.agent.context_window,
            status="failed",
            stop_reason=stop,
            error_type=type(exc).__name__,
            error_data={"message": str(exc)[:2000], **({"traceback": trace} if trace else {})},
        )

    def refresh_system_message(self) -> None:
        system = self.context[0]
        content = Message.objects.filter(id=system.id).values_list("content", flat=True).first()
        if content is not None:
            system.content = content

    def compact(self, trigger: str) -> None:
        from memory.summarize import SystemPromptTooLarge, compact

        before = self.context[1] if len(self.context) > 1 else None
        try:
            self.context = compact(self.agent, self.context, trigger=trigger, run=self.run)
        except SystemPromptTooLarge as exc:
            raise StepFailed("context_window_overflow_in_system_prompt", str(exc)) from exc
        except StaleContext as exc:
            raise StepFailed("error", str(exc)) from exc
        except llm_client.LLMError as exc:
            if trigger != "post_step_context_check":
                raise StepFailed(exc.stop_reason, f"Compaction failed: {exc}") from exc
            log.warning("agent %s: compaction after a step failed (%s); retried at the next step", self.agent.id, exc)
            return
        summary = self.context[1] if len(self.context) > 1 else None
        if self.options.get("include_compaction_messages") and summary is not None and summary is not before:
            from .letta_messages import to_letta_messages

            for event in to_letta_messages(summary, include_compaction=True):
                self.messages_out.append(event)
                self.emit(event)

    # ---- events and the end --------------------------------------------------------------------------------

    def letta_events(self, row: Message) -> list[dict]:
        from .letta_messages import to_letta_messages

        types = self.options.get("include_return_message_types")
        opts = {
            k: self.options[k]
            for k in ("use_assistant_message", "assistant_message_tool_name", "assistant_message_tool_kwarg")
            if self.options.get(k) is not None
        }
        events = to_letta_messages(row, **opts)
        return [e for e in events if not types or e.get("message_type") in types]

    def emit_rows(self, rows: list[Message]) -> None:
        streamed = getattr(self, "streamed_ids", set())
        for row in rows:
            if row.role in ("user", "system", "summary") or (row.role == "approval" and not row.tool_calls):
                continue  # inputs, heartbeats and approval responses are not part of the reply
            for event in self.letta_events(row):
                self.messages_out.append(event)
                if row.id not in streamed:
                    self.emit(event)

    def finish(self, stop_reason: str, error: str = "") -> None:
        status = (
            "completed" if stop_reason in COMPLETED_STOPS else "cancelled" if stop_reason == "cancelled" else "failed"
        )
        stop = {"message_type": "stop_reason", "stop_reason": stop_reason}
        usage = self.usage.as_event()
        result = {"messages": self.messages_out, "stop_reason": stop, "usage": usage}
        now = timezone.now()
        metadata = {**(self.run.metadata or {}), "result": result, **({"error": error} if error else {})}
        with transaction.atomic():
            Run.objects.filter(id=self.run.id).update(
                status=status,
                stop_reason=stop_reason,
                usage=usage,
                metadata=metadata,
                completed_at=now,
                error=error[:2000],
                ttft_ns=self.ttft_ns,
            )
            Agent.objects.filter(id=self.agent.id).update(
                last_run_completion=now,
                last_stop_reason=stop_reason,
                last_run_duration_ms=(time.monotonic_ns() - self.started) // 1_000_000,
            )
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


# In-context rows of recent agents, reused by their next turn in this process: reading ~500 rows is the biggest
# cost of a turn. Stored rows never change, with two exceptions: the system message is rewritten in place (so it
# is always read afresh) and an edit through agents.message_edits touches Agent.updated_at (so an entry is only
# used while the agent's updated_at is the one it was made with). Only rows read from the database are kept.
_CONTEXT_CACHE: OrderedDict[str, tuple] = OrderedDict()
_CONTEXT_CACHE_AGENTS = 64
_context_cache_lock = threading.Lock()


def load_context(agent: Agent) -> list[Message]:
    """The in-context messages in order (only the system message for autoclear agents)."""
    ids = list(agent.message_ids or [])
    if agent.message_buffer_autoclear or agent.agent_type == "workflow_agent":
        ids = ids[:1]
    with _context_cache_lock:
        stamp, cached = _CONTEXT_CACHE.get(agent.id, (None, {}))
    if stamp != agent.updated_at:
        cached = {}
    wanted = ids[:1] + [i for i in ids[1:] if i not in cached]
    rows = {**cached, **{m.id: m for m in Message.objects.filter(id__in=wanted)}}
    context = [rows[i] for i in ids if i in rows]
    if not context or context[0].role != "system":
        raise DomainError("The agent has no in-context messages (its system message is missing)")
    with _context_cache_lock:
        _CONTEXT_CACHE[agent.id] = (agent.updated_at, {m.id: m for m in context[1:]})
        _CONTEXT_CACHE.move_to_end(agent.id)
        while len(_CONTEXT_CACHE) > _CONTEXT_CACHE_AGENTS:
            _CONTEXT_CACHE.popitem(last=False)
    return context
