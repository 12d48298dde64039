"""THE step loop: `run_turn(run, emit)` runs one turn of an agent (behaviour spec §2).

One loop for every agent type. Heartbeat agents (memgpt/memgpt_v2/react/workflow: reply through send_message,
chain with request_heartbeat) and letta_v1/sleeptime agents (a plain-text reply ends the turn, any tool call
continues) differ only by the `Style` they run with.

A step: check for cancellation → choose the allowed tools → call the model (compacting and retrying on a
context-length error) → run the tool calls → decide whether to continue → write the step's messages, the
in-context id list and the Step row in ONE short transaction → emit the messages → compact if the context is
past 90% of the window. Before the tools run, the step's Step row (pending) and its inputs are recorded
(`Records.open_step`), so whatever a tool changes has a step even if the process dies. A step that fails writes
nothing but a failed Step row (and those inputs); the run then ends with an error stop reason and a readable error.
"""

import logging
import time
import traceback

from ade.dbretry import readable, retrying
from ade.errors import DomainError
from ade.ids import new_id
from agents.models import Agent, Message, Run
from agents.queries import agent_row, agent_tools, cancel_requested, message_row
from agents.runtime import llm as llm_client
from agents.runtime import packaging as pk
from agents.runtime import traces
from agents.runtime.records import Records, load_context
from agents.runtime.rules import ToolRulesSolver
from agents.runtime.steps import (
    Call,
    StaleContext,
    StepFailed,
    Usage,
    decorate_schema,
    style_for,
)
from agents.runtime.streaming import DeltaStreamer
from agents.runtime.tool_phase import READ_ONLY_TOOLS, ToolPhase
from agents.runtime.turn_input import TurnInput, read_turn_input

log = logging.getLogger(__name__)

DEFAULT_MAX_STEPS = 50
MAX_OVERFLOW_RETRIES = 3
# ---------------------------------------------------------------------------------------------------------------
# Entry point


def run_turn(run: Run, emit) -> None:
    """Run the turn recorded in `run` to its end and finish the Run row.

    Raises DomainError (e.g. Conflict PENDING_APPROVAL, Invalid approval ids) for input refused before any
    step ran; the run is then marked failed with that error.
    """
    turn = retrying(lambda: Turn(run, emit), what=f"run {run.id}: its start")  # reads only: safe to repeat
    try:
        turn_input = retrying(
            lambda: read_turn_input(turn.agent, turn.context, run.input or [], run_id=run.id),
            what=f"run {run.id}: its input",
        )
    except DomainError as exc:
        turn.finish("error", str(exc))
        raise
    turn.play(turn_input)


class Turn(ToolPhase, Records):
    """The state of one turn: the agent, its in-context messages, tools, rules and running totals."""

    def __init__(self, run: Run, emit):
        self.run, self._emit = run, emit
        self.started = time.monotonic_ns()
        self.agent = agent_row(run.agent_id)
        if self.agent is None:
            raise Agent.DoesNotExist(f"agent {run.agent_id} of run {run.id}")
        run.agent = self.agent  # what runs after the turn reads (the sleep-time trigger) needs no query
        if run.conversation_id:
            from agents.threads import use_thread

            use_thread(self.agent, run.conversation_id)
        self.options = run.options or {}
        self.style = style_for(self.agent.agent_type)
        self.max_steps = max(int(self.options.get("max_steps") or DEFAULT_MAX_STEPS), 1)
        self.tools = {t.name: t for t in agent_tools(self.agent.id)}
        self.client_tools = {c["name"]: c for c in self.options.get("client_tools") or [] if c.get("name")}
        self.solver = ToolRulesSolver(self.agent.tool_rules)
        self.context = load_context(self.agent)
        self.usage = Usage()
        self.messages_out: list[dict] = []
        self.stop: str | None = None
        self.ttft_ns: int | None = None
        self.llm_config = self.agent.llm_config
        if self.options.get("override_model"):
            from agents.runtime.providers import resolve_llm

            self.llm_config = resolve_llm(self.options["override_model"], org_id=self.agent.organization_id)
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
        return retrying(lambda: cancel_requested(self.run.id), what=f"run {self.run.id}: the cancel flag")

    # ---- a model step --------------------------------------------------------------------------------------

    def model_step(self, inputs: list[Message], final: bool) -> bool:
        step_id, started = new_id("step"), time.monotonic_ns()
        self.sent = None  # the request of this step, once built (its trace; also for a failed step)
        ids = {"assistant": new_id("message"), "approval": new_id("message")}
        allowed = self.allowed_tools()
        try:
            result = self.call_model(inputs, allowed, step_id, ids)
            tool_started = time.monotonic_ns()
            self.opening = lambda: self.open_step(self.answered_step(step_id, result, started), inputs)
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
            raise StepFailed("error", readable(exc)) from exc
        self.usage.add(result)
        step = self.answered_step(step_id, result, started, self.stop if not cont else "", timings)
        self.checkpoint(step, inputs + rows)
        if result.total_tokens > int(self.agent.context_window * 0.9):
            self.compact("post_step_context_check")
        return cont

    def answered_step(self, step_id, result, started, stop_reason="", timings=None):
        """The Step row of a model step, with its trace (what was sent, what the model answered)."""
        step = self.step_row(step_id, result, stop_reason, started, timings or {})
        step.trace = traces.build_trace(self.sent, traces.response_record(result), secrets=self.agent.secrets)
        return step

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
            self.sent = traces.request_record(
                self.llm_config, messages, tools, choice, parallel, stream=streamer is not None
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
                    org_id=self.agent.organization_id,
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
        if any(c.name not in READ_ONLY_TOOLS for c in run_now):
            self.opening()  # recorded before any tool changes anything (replies and searches change nothing)
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

    def refresh_system_message(self) -> None:
        system = self.context[0]
        stored = retrying(lambda: message_row(system.id), what=f"run {self.run.id}: the system message")
        if stored is not None:
            system.content = stored.content

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
            from agents.runtime.letta_messages import to_letta_messages

            for event in to_letta_messages(summary, include_compaction=True):
                self.messages_out.append(event)
                self.emit(event)

    # ---- events and the end --------------------------------------------------------------------------------

    def letta_events(self, row: Message) -> list[dict]:
        from agents.runtime.letta_messages import to_letta_messages

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
