"""The tool half of a step (spec behaviour §2, §4): run or hold each tool call, apply the tool rules, decide
whether the turn continues, and the approval step that resumes a held call. A mixin of `loop.Turn`: it reads the
turn's state (agent, solver, style, run) and writes its rows through `records.Records`."""

import logging

from agents.runtime import llm as llm_client
from agents.runtime import packaging as pk
from agents.runtime.rules import merge_prefilled_args
from agents.runtime.steps import (
    Call,
    StepFailed,
    dumps,
)
from agents.runtime.turn_input import TurnInput

log = logging.getLogger(__name__)
# Tools that may change what the system prompt shows; after one runs the loop re-reads the system message.
MEMORY_TOOL_TYPES = ("letta_memory_core", "letta_sleeptime_core", "letta_core", "letta_files_core")
READ_ONLY_TOOLS = ("send_message", "conversation_search", "archival_memory_search")


class ToolPhase:
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
        turn_input.approval.step_id = step_id
        self.open_step(None, [turn_input.approval])  # the decision is recorded before an approved tool runs
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
