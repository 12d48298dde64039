"""Agent files (`.af`, letta-api §5): export an agent with what it needs, import one as new agents.

The document is Letta's v2 "AgentFileSchema": lists of agents, groups, blocks, files, sources (folders), tools and
MCP servers, cross-referenced by file-local ids `<prefix>-<n>`. Export replaces database ids by file-local ones and
wipes secret values; import checks the whole document first, then creates everything in one transaction with new
ids: custom tools are upserted by name, built-in tools map to this server's, blocks are always new, folders get a
fresh name on collision, agents get a `_copy` suffix unless told otherwise. Older v1 files are refused.
"""

import json
import re
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any, Literal

from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, ValidationError

from ade.errors import DomainError, Invalid
from memory.actions import Actor, create_block
from memory.models import Block, Folder
from tools.models import TOOL_TYPES, Tool

from .models import AGENT_TYPES, Agent, Group, Message
from .queries import get_agent_for

RECENT_MESSAGES = 50
FORMAT_REVISION = "engram-1"
PREFIXES = {"agents": "agent", "groups": "group", "blocks": "block", "files": "file", "sources": "source",
            "tools": "tool", "mcp_servers": "mcp_server"}


# ---------------------------------------------------------------------------------------------------------------
# The document (what import reads; unknown keys are ignored, known ones must have the right type)


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


class AgentFile(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agents: list[AgentEntry]
    groups: list[GroupEntry] = []
    blocks: list[BlockEntry] = []
    files: list[FileEntry] = []
    sources: list[SourceEntry] = []
    tools: list[ToolEntry] = []
    mcp_servers: list[_Entry] = []


# ---------------------------------------------------------------------------------------------------------------
# Import


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
        raise Invalid("This is a legacy (v1) agent file, which is not supported: export the agent again from a current "
                      "Letta or Engram server (the document must have an `agents` list)", field="file")
    try:
        parsed = AgentFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"Invalid agent file: {where}: {first['msg']} ({exc.error_count()} problem(s))",
                      field="file") from None
    _check_references(parsed)
    return parsed


def _check_references(doc: AgentFile) -> None:
    if not doc.agents:
        raise Invalid("Invalid agent file: it has no agents", field="file")
    seen = set()
    entities = [(k, e) for k in PREFIXES for e in getattr(doc, k)] + [
        ("messages", m) for a in doc.agents for m in a.messages]
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
        refs = [("tools", agent.tool_ids), ("blocks", agent.block_ids), ("sources", agent.source_ids),
                ("sources", agent.folder_ids), ("groups", agent.group_ids)]
        for kind, listed in refs:
            for ref in listed or []:
                if ref not in ids[kind]:
                    raise Invalid(f"Invalid agent file: agent {agent.id} refers to {ref!r}, which the file lacks",
                                  field="file")
        missing = [m for m in agent.in_context_message_ids if m not in messages]
        if missing:
            raise Invalid(f"Invalid agent file: agent {agent.id} keeps {missing[0]!r} in context but the file lacks it",
                          field="file")
        for link in agent.files_agents:
            if link.get("agent_id") not in (None, agent.id) or link.get("file_id") not in ids["files"]:
                raise Invalid(f"Invalid agent file: a file link of agent {agent.id} does not resolve", field="file")
    for file in doc.files:
        if file.source_id not in ids["sources"]:
            raise Invalid(f"Invalid agent file: file {file.id} is in source {file.source_id!r}, which the file lacks",
                          field="file")
    for group in doc.groups:
        manager = group.manager_config.get("manager_agent_id")
        if any(a not in ids["agents"] for a in group.agent_ids) or (manager and manager not in ids["agents"]):
            raise Invalid(f"Invalid agent file: group {group.id} refers to an agent the file lacks", field="file")


def import_agent_file(user, raw: bytes | str, *, name: str | None = None, model: str | None = None,
                      embedding: str | None = None, override_existing_tools: bool = True,
                      strip_messages: bool = False, secrets: dict | None = None,
                      append_copy_suffix: bool = True) -> list[str]:
    """Create the file's agents (and their tools, blocks, folders, files, messages, groups) for `user`'s
    organization in one transaction; return the new agent ids in file order. Nothing is written on error."""
    doc = parse_agent_file(raw)
    llm_override = _resolved_llm(model)
    embedding_override = _resolved_embedding(embedding)
    with transaction.atomic():
        ids = _IdMap()
        _import_tools(user, doc, ids, override_existing_tools)
        _import_blocks(user, doc, ids)
        _import_folders(user, doc, ids, embedding_override)
        agent_ids = []
        for i, entry in enumerate(doc.agents):
            new_name = name if (name and i == 0) else _copy_name(entry.name, append_copy_suffix)
            agent = _import_agent(user, entry, ids, name=new_name, llm=llm_override, embedding=embedding_override,
                                  secrets=secrets or {}, strip_messages=strip_messages)
            ids.set(entry.id, agent.id)
            agent_ids.append(agent.id)
        _import_groups(user, doc, ids)
        _import_files(user, doc, ids)
    return agent_ids


class _IdMap(dict):
    def set(self, local: str, real: str) -> None:
        self[local] = real

    def many(self, local_ids) -> list[str]:
        return [self[i] for i in local_ids or []]


def _resolved_llm(handle: str | None) -> dict | None:
    from .providers import resolve_llm

    return resolve_llm(handle) if handle else None


def _resolved_embedding(handle: str | None) -> dict | None:
    from .providers import resolve_embedding

    return resolve_embedding(handle) if handle else None


def _copy_name(name: str | None, suffix: bool) -> str | None:
    return f"{name}_copy" if name and suffix else name


def _import_tools(user, doc: AgentFile, ids: _IdMap, override_existing: bool) -> None:
    from tools.actions import ensure_base_tools, upsert_tool
    from tools.registry import base_tools

    base = ensure_base_tools(user.organization)
    known = set(base_tools())
    longest = Tool._meta.get_field("name").max_length
    for entry in doc.tools:
        if len(entry.name) > longest:
            raise Invalid(f"Invalid agent file: tool name {entry.name!r} is longer than {longest} characters",
                          field="file")
        if entry.name in known:
            tool = base[entry.name]
        elif entry.tool_type == "custom" and entry.source_code:
            existing = Tool.objects.filter(organization_id=user.organization_id, name=entry.name).first()
            tool = existing if existing is not None and not override_existing else _upsert(user, upsert_tool, entry)
        else:
            tool = _unavailable_tool(user, entry)
        ids.set(entry.id, tool.id)


def _upsert(user, upsert_tool, entry: ToolEntry) -> Tool:
    try:
        return upsert_tool(user, entry.source_code, json_schema=entry.json_schema, description=entry.description,
                           tags=entry.tags, return_char_limit=entry.return_char_limit,
                           pip_requirements=entry.pip_requirements, npm_requirements=entry.npm_requirements,
                           args_json_schema=entry.args_json_schema,
                           default_requires_approval=entry.default_requires_approval,
                           enable_parallel_execution=entry.enable_parallel_execution, metadata=entry.metadata_)
    except DomainError as exc:
        raise Invalid(f"Invalid agent file: tool {entry.name!r}: {exc.message}", field="file") from None


def _unavailable_tool(user, entry: ToolEntry) -> Tool:
    """A built-in or external tool this server does not implement: kept (so the agent's rules and history make
    sense) as a row without code; calling it returns an error to the model."""
    if entry.tool_type not in dict(TOOL_TYPES):
        raise Invalid(f"Invalid agent file: tool {entry.name!r} has an unknown tool_type {entry.tool_type!r}",
                      field="file")
    tool, _ = Tool.objects.get_or_create(
        organization_id=user.organization_id, name=entry.name,
        defaults={"tool_type": entry.tool_type, "description": entry.description or "", "source_code": None,
                  "json_schema": entry.json_schema or {"name": entry.name, "parameters": {}},
                  "tags": entry.tags or [], "created_by": user, "last_updated_by": user})
    return tool


def _import_blocks(user, doc: AgentFile, ids: _IdMap) -> None:
    for entry in doc.blocks:
        try:
            block = create_block(user.organization, label=entry.label, value=entry.value, limit=entry.limit,
                                 description=entry.description, read_only=bool(entry.read_only),
                                 hidden=bool(entry.hidden), metadata=entry.metadata, tags=entry.tags,
                                 actor=Actor.user(user, via="api"))
        except DomainError as exc:
            raise Invalid(f"Invalid agent file: block {entry.label!r}: {exc.message}", field="file") from None
        ids.set(entry.id, block.id)


def _import_folders(user, doc: AgentFile, ids: _IdMap, embedding: dict | None) -> None:
    from memory.folders import create_folder, embedding_config_for

    taken = set(Folder.objects.filter(organization_id=user.organization_id).values_list("name", flat=True))
    for entry in doc.sources:
        name = entry.name if entry.name not in taken else f"{entry.name}_{uuid.uuid4().hex[:8]}"
        taken.add(name)
        config = embedding or embedding_config_for(config=entry.embedding_config)
        folder = create_folder(user, name=name, description=entry.description, instructions=entry.instructions,
                               metadata=entry.metadata, embedding_config=config)
        ids.set(entry.id, folder.id)


def _import_files(user, doc: AgentFile, ids: _IdMap) -> None:
    """The files' text is ingested again (parsed text is stored as text: `<name>.txt` unless already text)."""
    from memory.ingest import TEXT_TYPES, upload_file

    for entry in doc.files:
        folder = Folder.objects.get(id=ids[entry.source_id])
        name = entry.file_name or entry.original_file_name or f"{entry.id}.txt"
        if not any(name.lower().endswith(suffix) for suffix in TEXT_TYPES):
            name += ".txt"
        file = upload_file(user.organization, folder, name=name, data=(entry.content or "").encode(),
                           created_by=user)
        ids.set(entry.id, file.id)


def _import_agent(user, entry: AgentEntry, ids: _IdMap, *, name, llm, embedding, secrets: dict,
                  strip_messages: bool) -> Agent:
    from .actions import create_agent

    if entry.agent_type not in dict(AGENT_TYPES):
        raise Invalid(f"Invalid agent file: agent {entry.id} has an unknown agent_type {entry.agent_type!r}",
                      field="file")
    wanted_secrets = {**(entry.tool_exec_environment_variables or {}), **(entry.secrets or {})}
    spec = {
        "name": name, "agent_type": entry.agent_type, "system": entry.system, "description": entry.description,
        "metadata": entry.metadata, "tags": entry.tags, "timezone": entry.timezone, "hidden": entry.hidden,
        "message_buffer_autoclear": entry.message_buffer_autoclear, "max_files_open": entry.max_files_open,
        "per_file_view_window_char_limit": entry.per_file_view_window_char_limit,
        "response_format": entry.response_format, "compaction_settings": entry.compaction_settings,
        "secrets": {**{k: "" for k in wanted_secrets}, **secrets},
        "tool_ids": ids.many(entry.tool_ids), "block_ids": ids.many(entry.block_ids),
        "folder_ids": ids.many(entry.folder_ids or entry.source_ids), "tool_rules": entry.tool_rules or [],
        "include_base_tools": False, "include_base_tool_rules": False, "initial_message_sequence": [],
        "enable_sleeptime": False,
        **_model_spec(entry, llm, embedding),
    }
    agent = create_agent(user, {k: v for k, v in spec.items() if v is not None})
    Agent.objects.filter(id=agent.id).update(enable_sleeptime=bool(entry.enable_sleeptime),
                                             llm_config={**agent.llm_config, **_kept_handle(entry, llm)})
    if not strip_messages:
        _import_messages(agent, entry, ids)
    return agent


def _model_spec(entry: AgentEntry, llm: dict | None, embedding: dict | None) -> dict:
    """Which model the agent calls: the override, else the file's handle when this server has that model, else
    the file's config as it is (calls fail until that provider is configured)."""
    from .providers import resolve_llm

    spec = {"embedding_config": embedding or entry.embedding_config}
    if llm is not None:
        return {**spec, "llm_config": llm}
    config = dict(entry.llm_config or {})
    handle = config.pop("handle", None)
    if handle:
        try:
            resolve_llm(handle)
            return {**spec, "model": handle, "llm_config": config}
        except DomainError:
            pass
    if not config:
        raise Invalid(f"Invalid agent file: agent {entry.id} has no llm_config", field="file")
    return {**spec, "llm_config": config}


def _kept_handle(entry: AgentEntry, llm: dict | None) -> dict:
    handle = (entry.llm_config or {}).get("handle")
    return {"handle": handle} if llm is None and handle else {}


def _import_messages(agent: Agent, entry: AgentEntry, ids: _IdMap) -> None:
    """The file's messages as new rows, in order, and its in-context list. The agent's fresh system message stands
    in for the file's in-context one, and is recompiled for this server."""
    context = list(entry.in_context_message_ids)
    roles = {m.id: m.role for m in entry.messages}
    if context and roles[context[0]] == "system":
        ids.set(context.pop(0), agent.message_ids[0])
    rows = []
    for m in entry.messages:
        if m.id in ids:
            continue
        row = Message(organization_id=agent.organization_id, agent=agent, role=m.role,
                      content=_parts(m.content), name=m.name or "", otid=m.otid or "", sender_id=m.sender_id or "",
                      group_id=m.group_id or "", model=m.model or "", tool_calls=m.tool_calls or None,
                      tool_call_id=m.tool_call_id or "", tool_returns=m.tool_returns or None,
                      approve=m.approve, denial_reason=m.denial_reason or "", approvals=m.approvals or None,
                      created_at=m.created_at or timezone.now())
        ids.set(m.id, row.id)  # ids are assigned when a row is built, so requests can point at later rows
        rows.append((m, row))
    for m, row in rows:
        row.approval_request_id = ids.get(m.approval_request_id, "") if m.approval_request_id else ""
    Message.objects.bulk_create([row for _, row in rows])
    Agent.objects.filter(id=agent.id).update(message_ids=[agent.message_ids[0], *ids.many(context)])

    from memory.context import rebuild_system_prompts

    rebuild_system_prompts([agent.id], force=True)


def _parts(content) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


def _import_groups(user, doc: AgentFile, ids: _IdMap) -> None:
    for entry in doc.groups:
        config = entry.manager_config or {}
        manager = config.get("manager_agent_id")
        group = Group.objects.create(organization_id=user.organization_id,
                                     manager_type=config.get("manager_type") or "sleeptime",
                                     manager_agent_id=ids[manager] if manager else None,
                                     description=entry.description or "",
                                     sleeptime_agent_frequency=config.get("sleeptime_agent_frequency"))
        group.agents.add(*ids.many(entry.agent_ids))


# ---------------------------------------------------------------------------------------------------------------
# Export


class _LocalIds:
    """File-local ids `<prefix>-<n>`, numbered per prefix in the order things are met."""

    def __init__(self):
        self.ids: dict[str, str] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def __call__(self, real_id: str) -> str:
        if real_id not in self.ids:
            prefix = real_id.rsplit("-", 5)[0] if real_id.count("-") >= 5 else real_id.split("-")[0]
            self.ids[real_id] = f"{prefix}-{self.counts[prefix]}"
            self.counts[prefix] += 1
        return self.ids[real_id]


def export_agent(user, agent_id: str, *, scrub_messages: bool = False) -> dict:
    """The agent file of an agent and, when it manages a group (sleep-time), the group's agents."""
    agent = get_agent_for(user, agent_id)
    groups = list(Group.objects.filter(manager_agent=agent).prefetch_related("agents"))
    agents = [agent] + [a for g in groups for a in g.agents.all() if a.id != agent.id]
    local = _LocalIds()
    for a in agents:
        local(a.id)
    exported = [_export_agent(a, local, scrub_messages) for a in agents]
    tools = {t.id: t for a in agents for t in a.tools.order_by("agenttool__position", "agenttool__id")}
    folders = {f.id: f for a in agents for f in a.folders.all()}
    blocks = {b.id: b for a in agents for b in a.ordered_blocks()}
    files = [f for folder in folders.values() for f in folder.files.order_by("created_at", "id")]
    return {
        "agents": exported,
        "groups": [_export_group(g, local, agent) for g in groups],
        "blocks": [_export_block(b, local) for b in blocks.values()],
        "files": [_export_file(f, local) for f in files],
        "sources": [_export_source(f, local) for f in folders.values()],
        "tools": [_export_tool(t, local) for t in tools.values()],
        "mcp_servers": [],
        "skills": [],
        "metadata": {"revision_id": FORMAT_REVISION},
        "created_at": timezone.now().isoformat(),
    }


def _export_agent(agent: Agent, local: _LocalIds, scrub_messages: bool) -> dict:
    messages = [] if scrub_messages else _exported_messages(agent)
    in_context = [] if scrub_messages else list(agent.message_ids or [])
    message_ids = [local(m.id) for m in messages]  # numbered right after the agents, as Letta does
    tool_ids = [local(t.id) for t in agent.tools.order_by("agenttool__position", "agenttool__id")]
    folder_ids = [local(f.id) for f in agent.folders.all()]
    block_ids = [local(b.id) for b in agent.ordered_blocks()]
    cfg = agent.llm_config or {}
    wiped = {k: "" for k in agent.secrets or {}}  # names travel, values never do
    return {
        "id": local(agent.id), "name": agent.name, "agent_type": agent.agent_type, "system": agent.system,
        "description": agent.description or None, "metadata": agent.metadata or {}, "memory_blocks": [],
        "tools": [], "tool_ids": tool_ids, "source_ids": folder_ids, "folder_ids": folder_ids,
        "block_ids": block_ids, "tool_rules": agent.tool_rules or [], "tags": [t.tag for t in agent.tag_rows.all()],
        "llm_config": cfg, "embedding_config": agent.embedding_config or None, "model": agent.model_handle,
        "embedding": (agent.embedding_config or {}).get("handle"), "model_settings": None,
        "compaction_settings": agent.compaction_settings, "context_window_limit": cfg.get("context_window"),
        "embedding_chunk_size": (agent.embedding_config or {}).get("embedding_chunk_size"),
        "max_tokens": cfg.get("max_tokens"), "max_reasoning_tokens": cfg.get("max_reasoning_tokens"),
        "enable_reasoner": cfg.get("enable_reasoner"), "reasoning": None,
        "parallel_tool_calls": cfg.get("parallel_tool_calls"), "include_base_tools": False,
        "include_multi_agent_tools": False, "include_base_tool_rules": False, "include_default_source": False,
        "initial_message_sequence": None, "from_template": None, "template": False, "project": None,
        "project_id": None, "template_id": None, "base_template_id": None, "identity_ids": [],
        "hidden": agent.hidden, "message_buffer_autoclear": agent.message_buffer_autoclear,
        "enable_sleeptime": agent.enable_sleeptime, "response_format": agent.response_format,
        "timezone": agent.timezone, "max_files_open": agent.max_files_open,
        "per_file_view_window_char_limit": agent.per_file_view_window_char_limit,
        "tool_exec_environment_variables": wiped, "secrets": wiped, "memory_variables": None,
        "in_context_message_ids": [local(i) for i in in_context if i in local.ids],
        "messages": [_export_message(m, local, mid) for m, mid in zip(messages, message_ids, strict=True)],
        "files_agents": [_export_file_link(link, local) for link in agent.file_links.select_related("file")],
        "group_ids": [local(g.id) for g in agent.managed_groups.all()],
    }


def _exported_messages(agent: Agent) -> list[Message]:
    """The most recent messages plus every in-context one, oldest first."""
    recent = list(Message.objects.filter(agent=agent).order_by("-seq")[:RECENT_MESSAGES])
    have = {m.id for m in recent}
    context = [m for m in Message.objects.filter(id__in=agent.message_ids or []) if m.id not in have]
    return sorted(recent + context, key=lambda m: m.seq)


def _export_message(m: Message, local: _LocalIds, local_id: str) -> dict:
    return {
        "type": "message", "id": local_id, "role": m.role, "content": m.content or [], "name": m.name or None,
        "otid": m.otid or None, "sender_id": m.sender_id or None, "batch_item_id": None,
        "group_id": m.group_id or None, "model": m.model or None, "agent_id": local(m.agent_id),
        "tool_calls": m.tool_calls, "tool_call_id": m.tool_call_id or None, "tool_returns": m.tool_returns or [],
        "created_at": m.created_at.isoformat(), "approve": m.approve,
        "approval_request_id": local.ids.get(m.approval_request_id) if m.approval_request_id else None,
        "denial_reason": m.denial_reason or None, "approvals": m.approvals or [],
    }


def _export_block(b: Block, local: _LocalIds) -> dict:
    return {"id": local(b.id), "label": b.label, "value": b.value, "limit": b.limit, "description": b.description,
            "read_only": b.read_only, "hidden": b.hidden, "metadata": b.metadata or {}, "tags": b.tags or [],
            "is_template": b.is_template, "template_name": b.template_name or None, "template_id": None,
            "base_template_id": None, "deployment_id": None, "entity_id": None, "preserve_on_migration": False,
            "project_id": None}


def _export_tool(t: Tool, local: _LocalIds) -> dict:
    return {"id": local(t.id), "name": t.name, "tool_type": t.tool_type, "description": t.description,
            "source_type": t.source_type, "source_code": t.source_code, "json_schema": t.json_schema,
            "args_json_schema": t.args_json_schema, "return_char_limit": t.return_char_limit, "tags": t.tags or [],
            "pip_requirements": t.pip_requirements or None, "npm_requirements": t.npm_requirements or None,
            "default_requires_approval": t.default_requires_approval,
            "enable_parallel_execution": t.enable_parallel_execution, "created_by_id": None,
            "last_updated_by_id": None, "metadata_": t.metadata or {}, "project_id": None}


def _export_source(f: Folder, local: _LocalIds) -> dict:
    config = f.embedding_config or {}
    return {"id": local(f.id), "name": f.name, "description": f.description or None,
            "instructions": f.instructions or None, "metadata": f.metadata or {}, "embedding": config.get("handle"),
            "embedding_chunk_size": config.get("embedding_chunk_size"), "embedding_config": config}


def _export_file(f, local: _LocalIds) -> dict:
    return {"id": local(f.id), "source_id": local(f.folder_id), "file_name": f.file_name,
            "original_file_name": f.original_file_name or f.file_name, "file_path": None, "file_type": f.file_type,
            "file_size": f.file_size, "file_creation_date": None, "file_last_modified_date": None,
            "processing_status": f.processing_status, "error_message": f.error_message or None,
            "total_chunks": f.total_chunks, "chunks_embedded": f.chunks_embedded, "content": f.content}


def _export_file_link(link, local: _LocalIds) -> dict:
    return {"id": link.id, "agent_id": local(link.agent_id), "file_id": local(link.file_id),
            "source_id": local(link.file.folder_id), "file_name": link.file.file_name, "is_open": link.is_open,
            "visible_content": link.visible_content, "last_accessed_at": link.last_accessed_at.isoformat(),
            "start_line": link.start_line, "end_line": link.end_line}


def _export_group(g: Group, local: _LocalIds, _main: Agent) -> dict:
    return {"id": local(g.id), "agent_ids": [local(a.id) for a in g.agents.all()], "description": g.description,
            "manager_config": {"manager_type": g.manager_type,
                               "manager_agent_id": local(g.manager_agent_id) if g.manager_agent_id else None,
                               "sleeptime_agent_frequency": g.sleeptime_agent_frequency},
            "shared_block_ids": [], "project_id": None, "hidden": None}

