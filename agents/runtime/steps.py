"""The pieces a step of the loop is made of: how an agent type runs it (`Style`), a parsed tool call and what
came of it (`Call`), the turn's usage totals, and the decoration of tool schemas (behaviour spec §2.4)."""

import json
from dataclasses import dataclass

from ade.prepared import PreparedUpdate
from agents.models import Agent, Conversation

HEARTBEAT_PARAM = {
    "type": "boolean",
    "description": "Ask to be woken up again right after this call, with its result. Set it to true whenever "
    "you want to send a follow-up message or make another tool call; with false your turn ends after this call.",
}
THINKING_PARAM = {"type": "string", "description": "Deep inner monologue, private to you only."}


@dataclass(frozen=True)
class Style:
    """How an agent type runs the loop."""

    heartbeats: bool  # request_heartbeat on tool schemas, heartbeat messages, one call per step
    text_ends_turn: bool  # a plain-text reply is the answer (else: a reply without a tool call is an error)


HEARTBEAT_STYLE = Style(heartbeats=True, text_ends_turn=False)
REPLY_STYLE = Style(heartbeats=False, text_ends_turn=True)


def style_for(agent_type: str) -> Style:
    return REPLY_STYLE if agent_type in ("letta_v1_agent", "sleeptime_agent") else HEARTBEAT_STYLE


class StepFailed(Exception):
    def __init__(self, stop_reason: str, message: str):
        super().__init__(message)
        self.stop_reason = stop_reason


@dataclass
class Call:
    """One tool call as parsed from the model, and what came of it."""

    id: str
    name: str
    args: dict
    heartbeat: bool = False
    violated: bool = False
    ok: bool = True
    message: object = None  # what the tool returned (str or dict)
    stdout: list | None = None
    stderr: list | None = None
    cont: bool = True
    stop: str | None = None
    reason: str | None = None

    def stored(self, heartbeat: bool | None = None) -> dict:
        """The call as persisted: parsed args, with request_heartbeat set to the decided value (V2)."""
        args = dict(self.args)
        if heartbeat is not None:
            args["request_heartbeat"] = heartbeat
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": dumps(args)}}

    def return_dict(self) -> dict:
        text = self.message if isinstance(self.message, str) else dumps(self.message)
        return {
            "tool_call_id": self.id,
            "status": "success" if self.ok else "error",
            "func_response": text,
            "stdout": self.stdout or None,
            "stderr": self.stderr or None,
        }


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


@dataclass
class Usage:
    step_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    context_tokens: int | None = None

    def add(self, result) -> None:
        self.step_count += 1
        self.prompt_tokens += result.prompt_tokens
        self.completion_tokens += result.completion_tokens
        self.total_tokens += result.total_tokens
        self.context_tokens = result.total_tokens
        if result.cached_input_tokens is not None:
            self.cached_input_tokens = (self.cached_input_tokens or 0) + result.cached_input_tokens
        if result.reasoning_tokens is not None:
            self.reasoning_tokens = (self.reasoning_tokens or 0) + result.reasoning_tokens

    def as_event(self) -> dict:
        return {
            "message_type": "usage_statistics",
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "total_tokens": self.total_tokens,
            "step_count": self.step_count,
            "run_ids": None,
            "cached_input_tokens": self.cached_input_tokens,
            "cache_write_tokens": None,
            "reasoning_tokens": self.reasoning_tokens,
            "context_tokens": self.context_tokens,
        }


def decorate_schema(base: dict, *, heartbeat: bool, thinking: bool, response_format: dict | None) -> dict:
    """A tool's schema as sent: request_heartbeat (heartbeat agents, not on exit_loop tools), the inner-thoughts
    kwarg, and send_message's `message` shaped by the agent's response_format."""
    params = dict(base.get("parameters") or {"type": "object", "properties": {}})
    props, required = dict(params.get("properties") or {}), list(params.get("required") or [])
    if response_format:
        fmt = response_format.get("json_schema") or {}
        shape = fmt.get("schema") if response_format.get("type") == "json_schema" else None
        props["message"] = shape or {"type": "object"}
    if thinking:
        props = {"thinking": THINKING_PARAM, **props}
        required = ["thinking", *required]
    if heartbeat:
        props["request_heartbeat"] = HEARTBEAT_PARAM
        required.append("request_heartbeat")
    return {**base, "parameters": {**params, "properties": props, "required": required}}


class StaleContext(Exception):
    """The agent's in-context list changed under a running turn (another turn, an edit, a reset)."""


def replace_message_ids(agent, old: list[str], new: list[str]) -> None:
    """Set the agent's in-context list (its conversation's, during a conversation's turn) to `new` if it is still
    `old`; else StaleContext. Call inside the transaction that writes the messages, so a refused write leaves
    nothing behind."""
    thread = getattr(agent, "thread", None)  # set by agents.conversations.use_thread for a conversation's turn
    update = _CONVERSATION_LIST if thread else _AGENT_LIST
    if not update.run({"message_ids": new}, id=thread.id if thread else agent.id, message_ids=old):
        raise StaleContext(
            "The agent's messages were changed by someone else while this turn ran (another turn, "
            "an edit or a reset); this step was not saved."
        )
    agent.message_ids = new


# Every step that writes swaps the in-context list with this UPDATE: built once per process (ade/prepared.py).
_AGENT_LIST = PreparedUpdate(Agent, ["message_ids"], ["id", "message_ids"])
_CONVERSATION_LIST = PreparedUpdate(Conversation, ["message_ids"], ["id", "message_ids"])
