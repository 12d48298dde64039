"""The agent file document as import reads it: unknown keys are ignored, known ones must have the right type, and
every reference must resolve. Problems are Invalid (400) naming what is wrong."""

import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ade.errors import Invalid

PREFIXES = {
    "agents": "agent",
    "groups": "group",
    "blocks": "block",
    "files": "file",
    "sources": "source",
    "tools": "tool",
    "mcp_servers": "mcp_server",
    "archival_passages": "passage",
}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class MessageEntry(_Entry):
    role: Literal["system", "user", "assistant", "tool", "approval"]
    content: list[dict[str, Any]] | str | None = None
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    group_id: str | None = None
    model: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    tool_returns: list[dict[str, Any]] | None = None
    created_at: datetime | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    denial_reason: str | None = None
    approvals: list[dict[str, Any]] | None = None


class AgentEntry(_Entry):
    name: str | None = None
    agent_type: str = "letta_v1_agent"
    system: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    llm_config: dict[str, Any] | None = None
    embedding_config: dict[str, Any] | None = None
    tool_ids: list[str] | None = None
    block_ids: list[str] | None = None
    source_ids: list[str] | None = None
    folder_ids: list[str] | None = None
    tool_rules: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    timezone: str | None = None
    message_buffer_autoclear: bool | None = None
    enable_sleeptime: bool | None = None
    max_files_open: int | None = None
    per_file_view_window_char_limit: int | None = None
    response_format: dict[str, Any] | None = None
    compaction_settings: dict[str, Any] | None = None
    secrets: dict[str, Any] | None = None
    tool_exec_environment_variables: dict[str, Any] | None = None
    hidden: bool | None = None
    messages: list[MessageEntry] = []
    in_context_message_ids: list[str] = []
    files_agents: list[dict[str, Any]] = []
    group_ids: list[str] | None = None


class BlockEntry(_Entry):
    label: str
    value: str = ""
    limit: int | None = None
    description: str | None = None
    read_only: bool | None = None
    hidden: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class ToolEntry(_Entry):
    name: str
    tool_type: str = "custom"
    description: str | None = None
    source_code: str | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = None
    tags: list[str] | None = None
    pip_requirements: list[dict[str, Any]] | None = None
    npm_requirements: list[dict[str, Any]] | None = None
    default_requires_approval: bool | None = None
    enable_parallel_execution: bool | None = None
    metadata_: dict[str, Any] | None = None


class SourceEntry(_Entry):
    name: str
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding_config: dict[str, Any] | None = None


class FileEntry(_Entry):
    source_id: str
    file_name: str | None = None
    original_file_name: str | None = None
    content: str | None = None


class GroupEntry(_Entry):
    agent_ids: list[str] = []
    description: str | None = None
    manager_config: dict[str, Any] = {}


class MCPServerEntry(_Entry):
    server_type: Literal["stdio", "sse", "streamable_http"] = "streamable_http"
    server_name: str = Field(..., min_length=1, max_length=100)
    server_url: str | None = Field(None, max_length=2000)
    stdio_config: dict[str, Any] | None = None


class PassageEntry(_Entry):
    """An archival passage of an agent: Engram's optional section (`archival_passages`, written when an export
    asks for it). Letta's reader ignores keys it does not know, so such a file still imports there."""

    agent_id: str
    text: str = Field(..., min_length=1)
    tags: list[str] = []
    metadata: dict[str, Any] | None = None
    created_at: datetime | None = None


class AgentFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agents: list[AgentEntry]
    groups: list[GroupEntry] = []
    blocks: list[BlockEntry] = []
    files: list[FileEntry] = []
    sources: list[SourceEntry] = []
    tools: list[ToolEntry] = []
    mcp_servers: list[MCPServerEntry] = []
    archival_passages: list[PassageEntry] = []


def parse_agent_file(raw: bytes | str) -> AgentFile:
    """Decode (twice if the file is a JSON string holding the document) and check the document. Invalid (400)
    names what is wrong."""
    try:
        doc = json.loads(raw)
        if isinstance(doc, str):
            doc = json.loads(doc)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"Corrupted agent file format: not JSON ({exc})", field="file") from None
    if not isinstance(doc, dict):
        raise Invalid("Corrupted agent file format: the document must be a JSON object", field="file")
    if "agents" not in doc:
        raise Invalid(
            "This is a legacy (v1) agent file, which is not supported: export the agent again from a current "
            "Letta or Engram server (the document must have an `agents` list)",
            field="file",
        )
    try:
        parsed = AgentFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(
            f"Invalid agent file: {where}: {first['msg']} ({exc.error_count()} problem(s))", field="file"
        ) from None
    _check_references(parsed)
    _check_model_configs(parsed)
    return parsed


def _check_model_configs(doc: "AgentFile") -> None:
    """The configs must be ones clients can read back (known endpoint types, positive sizes)."""
    from agents.api.schemas import LlmConfigOut
    from memory.schemas import EmbeddingConfig

    configs = [
        (f"agents.{i}.{field}", getattr(agent, field), model)
        for i, agent in enumerate(doc.agents)
        for field, model in (("llm_config", LlmConfigOut), ("embedding_config", EmbeddingConfig))
    ]
    configs += [
        (f"sources.{i}.embedding_config", source.embedding_config, EmbeddingConfig)
        for i, source in enumerate(doc.sources)
    ]
    for where, value, model in configs:
        if value is None:
            continue
        try:
            model.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            inner = ".".join(str(p) for p in first["loc"])
            raise Invalid(f"Invalid agent file: {where}.{inner}: {first['msg']}", field="file") from None


def _check_references(doc: AgentFile) -> None:
    if not doc.agents:
        raise Invalid("Invalid agent file: it has no agents", field="file")
    seen = set()
    entities = [(k, e) for k in PREFIXES for e in getattr(doc, k)] + [
        ("messages", m) for a in doc.agents for m in a.messages
    ]
    for kind, entry in entities:
        prefix = PREFIXES.get(kind, "message")
        if not re.fullmatch(rf"{re.escape(prefix)}-\d+", entry.id):
            raise Invalid(f"Invalid agent file: {kind} id {entry.id!r} must look like {prefix}-<number>", field="file")
        if entry.id in seen:
            raise Invalid(f"Invalid agent file: the id {entry.id!r} is used twice", field="file")
        seen.add(entry.id)
    ids = {k: {e.id for e in getattr(doc, k)} for k in PREFIXES}
    for agent in doc.agents:
        messages = {m.id for m in agent.messages}
        refs = [
            ("tools", agent.tool_ids),
            ("blocks", agent.block_ids),
            ("sources", agent.source_ids),
            ("sources", agent.folder_ids),
            ("groups", agent.group_ids),
        ]
        for kind, listed in refs:
            for ref in listed or []:
                if ref not in ids[kind]:
                    raise Invalid(
                        f"Invalid agent file: agent {agent.id} refers to {ref!r}, which the file lacks", field="file"
                    )
        missing = [m for m in agent.in_context_message_ids if m not in messages]
        if missing:
            raise Invalid(
                f"Invalid agent file: agent {agent.id} keeps {missing[0]!r} in context but the file lacks it",
                field="file",
            )
        for link in agent.files_agents:
            if link.get("agent_id") not in (None, agent.id) or link.get("file_id") not in ids["files"]:
                raise Invalid(f"Invalid agent file: a file link of agent {agent.id} does not resolve", field="file")
    for file in doc.files:
        if file.source_id not in ids["sources"]:
            raise Invalid(
                f"Invalid agent file: file {file.id} is in source {file.source_id!r}, which the file lacks",
                field="file",
            )
    for passage in doc.archival_passages:
        if passage.agent_id not in ids["agents"]:
            raise Invalid(f"Invalid agent file: passage {passage.id} belongs to an agent the file lacks", field="file")
    for group in doc.groups:
        manager = group.manager_config.get("manager_agent_id")
        if any(a not in ids["agents"] for a in group.agent_ids) or (manager and manager not in ids["agents"]):
            raise Invalid(f"Invalid agent file: group {group.id} refers to an agent the file lacks", field="file")
