"""Wire shapes of tools: create/upsert/update bodies, the Tool object, running a tool from source."""

import warnings
from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

from ade.wire import RequestSchema

from .models import DEFAULT_RETURN_CHAR_LIMIT

ToolType = Literal[
    "custom",
    "letta_core",
    "letta_memory_core",
    "letta_multi_agent_core",
    "letta_sleeptime_core",
    "letta_voice_sleeptime_core",
    "letta_builtin",
    "letta_files_core",
    "external_langchain",
    "external_composio",
    "external_mcp",
]
MAX_SOURCE_CHARS = 200_000
# Letta's wire name `json_schema` shadows ninja's Schema.json_schema() helper, which is never called on these.
warnings.filterwarnings("ignore", message='Field name "json_schema"', category=UserWarning)


class PipRequirement(RequestSchema):
    name: str = Field(..., min_length=1, max_length=200)
    version: str | None = Field(None, max_length=100)


class NpmRequirement(RequestSchema):
    name: str = Field(..., min_length=1, max_length=200)
    version: str | None = Field(None, max_length=100)


class ToolIn(RequestSchema):
    """POST /v1/tools/ and PUT /v1/tools/ (upsert by name). The name comes from the function in source_code."""

    source_code: str = Field(..., min_length=1, max_length=MAX_SOURCE_CHARS)
    source_type: Literal["python", "typescript"] = "python"
    description: str | None = Field(None, max_length=10_000)
    tags: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int = Field(DEFAULT_RETURN_CHAR_LIMIT, ge=1, le=1_000_000)
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[NpmRequirement] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = False


class ToolPatch(RequestSchema):
    source_code: str | None = Field(None, min_length=1, max_length=MAX_SOURCE_CHARS)
    source_type: Literal["python", "typescript"] | None = None
    description: str | None = Field(None, max_length=10_000)
    tags: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = Field(None, ge=1, le=1_000_000)
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[NpmRequirement] | None = None
    metadata_: dict[str, Any] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None


class ToolOut(Schema):
    id: str
    name: str
    tool_type: ToolType
    description: str | None
    source_type: str | None
    source_code: str | None
    json_schema: dict[str, Any] | None = None  # a default, or pydantic takes the shadowed method as one
    args_json_schema: dict[str, Any] | None
    return_char_limit: int
    tags: list[str]
    pip_requirements: list[dict[str, Any]] | None
    npm_requirements: list[dict[str, Any]] | None
    default_requires_approval: bool | None
    enable_parallel_execution: bool | None
    created_by_id: str | None
    last_updated_by_id: str | None
    metadata_: dict[str, Any] | None
    project_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_metadata_(tool) -> dict:
        return tool.metadata or {}


class ToolRunIn(RequestSchema):
    """POST /v1/tools/run: run code that is not saved as a tool, in the sandbox."""

    source_code: str = Field(..., min_length=1, max_length=MAX_SOURCE_CHARS)
    args: dict[str, Any]
    env_vars: dict[str, str] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=48)
    source_type: Literal["python"] | None = None
    args_json_schema: dict[str, Any] | None = None
    json_schema: dict[str, Any] | None = None
    pip_requirements: list[PipRequirement] | None = None
    npm_requirements: list[NpmRequirement] | None = None


class ToolArgsIn(RequestSchema):
    args: dict[str, Any] = Field(default_factory=dict)


class ToolExecutionResult(Schema):
    status: Literal["success", "error"]
    func_return: Any = None
    stdout: list[str] | None = None
    stderr: list[str] | None = None
    agent_state: dict[str, Any] | None = None
    sandbox_config_fingerprint: str | None = None


class ApprovalIn(RequestSchema):
    requires_approval: bool


class ToolReturnOut(Schema):
    """What running code from source answers (a LettaMessage of type tool_return_message)."""

    id: str
    date: str
    message_type: Literal["tool_return_message"] = "tool_return_message"
    tool_return: str
    status: Literal["success", "error"]
    tool_call_id: str
    stdout: list[str] | None
    stderr: list[str] | None
