"""Wire shapes of conversations: the message-sending request (Letta's LettaRequest and its streaming/async
variants), LettaMessages and LettaResponse, runs, steps and usage."""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict, Discriminator, Tag

from ade.wire import RequestSchema
from agents.api.schemas import StopReason
from memory.schemas import INT32

MessageType = Literal[
    "system_message",
    "user_message",
    "assistant_message",
    "reasoning_message",
    "hidden_reasoning_message",
    "tool_call_message",
    "tool_return_message",
    "approval_request_message",
    "approval_response_message",
    "summary_message",
    "event_message",
]


class MessageCreateIn(RequestSchema):
    type: Literal["message"] | None = None
    role: Literal["user", "system", "assistant"]
    content: str | list[dict[str, Any]]
    name: str | None = Field(None, max_length=200)
    otid: str | None = Field(None, max_length=64)
    sender_id: str | None = Field(None, max_length=200)
    group_id: str | None = Field(None, max_length=64)
    batch_item_id: str | None = Field(None, max_length=64)


class ApprovalCreateIn(RequestSchema):
    """A human's answer to an approval request: `approvals` (one per pending tool call), or the older flat form."""

    type: Literal["approval"] | None = None
    approvals: list[dict[str, Any]] | None = None
    approve: bool | None = None
    approval_request_id: str | None = Field(None, max_length=64)
    reason: str | None = None
    otid: str | None = Field(None, max_length=64)
    group_id: str | None = Field(None, max_length=64)


class ToolReturnCreateIn(RequestSchema):
    """Results of client-side tools the agent called."""

    type: Literal["tool_return"] | None = None
    tool_returns: list[dict[str, Any]]
    otid: str | None = Field(None, max_length=64)
    group_id: str | None = Field(None, max_length=64)


def _input_kind(value) -> str:
    """Which input message a dict is: its `type` when it has one, else what its fields say. Tried as a plain union,
    a message with one unknown field got an error from every kind of message, each under a validator's name."""
    if not isinstance(value, dict):
        return getattr(value, "type", None) or "message"
    if value.get("type") is not None:
        return str(value["type"])  # an unknown type is refused, naming the three there are
    if "role" in value:
        return "message"
    if "tool_returns" in value:
        return "tool_return"
    if {"approvals", "approve", "approval_request_id"} & value.keys():
        return "approval"
    return "message"


InputMessage = Annotated[
    Annotated[MessageCreateIn, Tag("message")]
    | Annotated[ApprovalCreateIn, Tag("approval")]
    | Annotated[ToolReturnCreateIn, Tag("tool_return")],
    Discriminator(_input_kind),
]


class ClientTool(RequestSchema):
    name: str = Field(..., min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class TurnIn(RequestSchema):
    """The body of POST /v1/agents/{id}/messages (and /stream, /async): `messages` or `input`, exactly one."""

    messages: list[InputMessage] | None = None
    input: str | list[dict[str, Any]] | None = None
    max_steps: int = Field(50, ge=1, le=1000)
    use_assistant_message: bool = True
    assistant_message_tool_name: str = Field("send_message", max_length=64)
    assistant_message_tool_kwarg: str = Field("message", max_length=64)
    include_return_message_types: list[MessageType] | None = None
    enable_thinking: str | bool | None = None
    client_tools: list[ClientTool] | None = None
    client_skills: list[dict[str, Any]] | None = None
    override_model: str | None = Field(None, description="Not supported by Engram (400 if set).")
    override_system: str | None = Field(None, description="Not supported by Engram (400 if set).")
    include_compaction_messages: bool = False
    return_logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    return_token_ids: bool = False


class StreamingTurnIn(TurnIn):
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = True
    background: bool = False


class AsyncTurnIn(TurnIn):
    callback_url: str | None = Field(None, max_length=2000, description="Not supported by Engram (400 if set).")


class CancelIn(RequestSchema):
    run_ids: list[str] | None = None


class StreamResumeIn(RequestSchema):
    starting_after: int = Field(0, ge=0, le=INT32)
    include_pings: bool | None = True
    poll_interval: float | None = Field(None, ge=0, le=60)
    batch_size: int | None = Field(None, ge=1, le=10_000)
    run_id: str | None = None
    otid: str | None = None
    agent_id: str | None = None


class MessageEditIn(RequestSchema):
    """PATCH /v1/agents/{id}/messages/{message_id}: new text for a user, system, reasoning or assistant message."""

    message_type: Literal["system_message", "user_message", "reasoning_message", "assistant_message"]
    content: str | list[dict[str, Any]] | None = None
    reasoning: str | None = None


class LettaMessageOut(BaseModel):
    """A LettaMessage; `message_type` says which kind and which other fields it carries (letta-api §3)."""

    model_config = ConfigDict(extra="allow")

    id: str
    date: str
    message_type: MessageType


class StopReasonOut(BaseModel):
    message_type: Literal["stop_reason"] = "stop_reason"
    stop_reason: StopReason


class UsageOut(BaseModel):
    message_type: Literal["usage_statistics"] = "usage_statistics"
    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0
    step_count: int = 0
    run_ids: list[str] | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    context_tokens: int | None = None


class LettaResponseOut(BaseModel):
    messages: list[LettaMessageOut]
    stop_reason: StopReasonOut
    usage: UsageOut


class RunOut(Schema):
    id: str
    agent_id: str
    status: Literal["created", "running", "completed", "failed", "cancelled"]
    stop_reason: StopReason | None
    background: bool
    conversation_id: str | None = None
    metadata: dict[str, Any]
    request_config: dict[str, Any] | None
    callback_url: str | None = None
    callback_sent_at: datetime | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None
    created_at: datetime
    completed_at: datetime | None
    ttft_ns: int | None
    total_duration_ns: int | None
    error: str | None = None  # why a failed run failed (Engram; also in metadata.error, where Letta puts it)

    @staticmethod
    def resolve_stop_reason(run) -> str | None:
        return run.stop_reason or None

    @staticmethod
    def resolve_error(run) -> str | None:
        return run.error or None

    @staticmethod
    def resolve_metadata(run) -> dict:
        metadata = dict(run.metadata or {})
        metadata.pop("idempotency_key", None)  # the client's own key or otid: internal
        if run.error and "error" not in metadata:  # failed by the watchdog, a cancel or a crash
            metadata["error"] = run.error
        return metadata

    @staticmethod
    def resolve_request_config(run) -> dict | None:
        return run.request_config or None


class StepOut(Schema):
    id: str
    agent_id: str
    run_id: str | None
    status: Literal["pending", "success", "failed", "cancelled"]
    stop_reason: StopReason | None
    model: str | None
    model_endpoint: str | None
    model_handle: str | None
    provider_name: str | None
    context_window_limit: int | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: int | None
    cached_input_tokens: int | None
    error_type: str | None
    error_data: dict[str, Any] | None
    tags: list[str] = []
    created_at: datetime

    @staticmethod
    def resolve_stop_reason(step) -> str | None:
        return step.stop_reason or None

    @staticmethod
    def resolve_error_type(step) -> str | None:
        return step.error_type or None


class RunUsageOut(Schema):
    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    completion_tokens_details: dict[str, Any] | None = None
    prompt_tokens_details: dict[str, Any] | None = None
