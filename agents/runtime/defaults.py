"""What a new agent starts with, by agent_type (behaviour spec §3.2, §4.4, §1.8): base tools, base tool rules,
and the initial in-context messages."""

import json
import uuid

from ade.errors import Invalid
from ade.prepared import insert_rows
from agents.models import Agent, Message
from agents.runtime import packaging as pk
from tools.models import Tool

V3_TYPES = ("letta_v1_agent", "sleeptime_agent")
BASE_TOOLS = {
    "memgpt_agent": (
        "send_message",
        "conversation_search",
        "core_memory_append",
        "core_memory_replace",
        "memory",
        "memory_apply_patch",
    ),
    "memgpt_v2_agent": ("send_message", "conversation_search", "memory_replace", "memory_insert"),
    "letta_v1_agent": ("conversation_search", "memory_replace", "memory_insert"),
    "sleeptime_agent": ("memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"),
    "react_agent": (),
    "workflow_agent": (),
}
SLEEPTIME_MAIN_TOOLS = ("send_message", "conversation_search", "archival_memory_search")
EXIT_TOOLS = ("send_message", "send_message_to_agent_async", "memory_finish_edits")
NO_BASE_RULE_MODELS = ("claude-4-sonnet", "claude-3-5-sonnet", "gpt-5", "gemini-2.5-pro")
BOOT_THOUGHT = "Starting up: my persona is loaded. Checking that I can send messages."
BOOT_MESSAGE = "Hi there! I'm up and ready to talk."


def base_tool_names(agent: Agent) -> tuple[str, ...]:
    """The base tools an agent of this type gets (memory editing moves to the companion with sleep-time on)."""
    if agent.enable_sleeptime and agent.agent_type != "sleeptime_agent":
        return SLEEPTIME_MAIN_TOOLS
    return BASE_TOOLS[agent.agent_type]


def base_rules(agent: Agent, spec: dict, tools: list[Tool], user_rules: list[dict]) -> list[dict]:
    include = spec.get("include_base_tool_rules")
    if include is False:
        return []
    if agent.agent_type == "letta_v1_agent" and include is None and not spec.get("tool_rules"):
        return []
    model = (agent.llm_config.get("model") or "").lower()
    if agent.agent_type != "sleeptime_agent" and any(m in model for m in NO_BASE_RULE_MODELS) and "mini" not in model:
        return []
    ruled = {r["tool_name"] for r in user_rules if r["type"] in ("exit_loop", "continue_loop")}
    rules = []
    for tool in tools:
        if not tool.tool_type.startswith("letta_") or tool.name in ruled:
            continue
        kind = "exit_loop" if tool.name in EXIT_TOOLS else "continue_loop"
        rules.append({"type": kind, "tool_name": tool.name})
    return rules


def approval_rules(tools: list[Tool], rules: list[dict]) -> list[dict]:
    have = {r["tool_name"] for r in rules if r["type"] == "requires_approval"}
    return [
        {"type": "requires_approval", "tool_name": t.name}
        for t in tools
        if t.default_requires_approval and t.name not in have
    ]


def initial_messages(agent: Agent, sequence, system: str) -> list[str]:
    """Create the system message (`system`, its text) and the starting conversation; return the in-context ids."""
    rows = [Message(organization_id=agent.organization_id, agent=agent, role="system", content=pk.text_parts(system))]
    rows += starting_rows(agent, sequence)
    insert_rows(rows)
    return [r.id for r in rows]


def starting_rows(agent: Agent, sequence) -> list[Message]:
    """What follows the system message on create: the given sequence, or a boot exchange for heartbeat agents."""
    if sequence is not None:
        return _sequence_rows(agent, sequence)
    if agent.agent_type in V3_TYPES:
        return []
    return [
        *_send_message_rows(agent, BOOT_MESSAGE, BOOT_THOUGHT),
        _row(agent, "user", pk.text_parts(pk.login_text(agent.timezone))),
    ]


def _row(agent: Agent, role: str, content: list, **fields) -> Message:
    return Message(organization_id=agent.organization_id, agent=agent, role=role, content=content, **fields)


def _send_message_rows(agent: Agent, text: str, thought: str | None = None) -> list[Message]:
    """An assistant send_message call saying `text`, and its tool return."""
    call_id = f"call_{uuid.uuid4().hex[:8]}"
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": "send_message", "arguments": json.dumps({"message": text}, ensure_ascii=False)},
    }
    content = [{"type": "reasoning", "reasoning": thought, "is_native": False, "signature": None}] if thought else []
    ret = {"tool_call_id": call_id, "status": "success", "func_response": "None", "stdout": None, "stderr": None}
    return [
        _row(agent, "assistant", content, tool_calls=[call]),
        _row(
            agent,
            "tool",
            pk.text_parts(pk.tool_return_text(True, None, agent.timezone)),
            tool_call_id=call_id,
            name="send_message",
            tool_returns=[ret],
        ),
    ]


def _sequence_rows(agent: Agent, sequence) -> list[Message]:
    if not isinstance(sequence, list):
        raise Invalid("initial_message_sequence must be a list", field="initial_message_sequence")
    rows = []
    for i, item in enumerate(sequence):
        where = f"initial_message_sequence[{i}]"
        if not isinstance(item, dict) or item.get("role") not in ("user", "system", "assistant"):
            raise Invalid(f"{where}.role must be user, system or assistant", field=f"{where}.role")
        content = item.get("content")
        text = (
            content
            if isinstance(content, str)
            else "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
        )
        if item["role"] == "user":
            rows.append(
                _row(agent, "user", pk.text_parts(pk.user_message_text(text, agent.timezone, item.get("name"))))
            )
        elif item["role"] == "system":
            rows.append(_row(agent, "system", pk.text_parts(text)))
        else:
            rows += _send_message_rows(agent, text)
    return rows
