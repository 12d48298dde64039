"""Export: an agent (and the agents of the group it manages) as an agent file with file-local ids and no secret
values."""

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from accounts import audit
from agents.agentfile.passages import export_passages
from agents.models import Agent, Group, Message
from agents.queries import get_agent_for
from memory.models import Block, Folder
from tools.models import Tool

RECENT_MESSAGES = 50
FORMAT_REVISION = "engram-1"


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


def export_agent(user, agent_id: str, *, scrub_messages: bool = False, include_passages: bool = False) -> dict:
    """The agent file of an agent and, when it manages a group (sleep-time), the group's agents. With
    `include_passages`, their own archives' passages too, in Engram's optional `archival_passages` section."""
    agent = get_agent_for(user, agent_id)
    with transaction.atomic():  # exports are recorded too: an agent file carries the agent's memory and messages
        summary = f"{agent.name} as an agent file" + (" (messages scrubbed)" if scrub_messages else "")
        summary += " with archival passages" if include_passages else ""
        audit.record(agent.organization_id, user, "agent.export", object_id=agent.id, summary=summary)
    groups = list(Group.objects.filter(manager_agent=agent).prefetch_related("agents"))
    agents = [agent] + [a for g in groups for a in g.agents.all() if a.id != agent.id]
    local = _LocalIds()
    for a in agents:
        local(a.id)
    exported = [_export_agent(a, local, scrub_messages) for a in agents]
    tools = {t.id: t for a in agents for t in a.tools.order_by("agenttool__position", "agenttool__id")}
    folders = {f.id: f for a in agents for f in a.folders.all()}
    blocks = {b.id: b for a in agents for b in a.ordered_blocks()}
    # a failed upload has no text to carry: it is not part of the agent
    files = [
        f
        for folder in folders.values()
        for f in folder.files.exclude(processing_status="error").order_by("created_at", "id")
    ]
    extra = {"archival_passages": export_passages(agents, local)} if include_passages else {}
    return {
        "agents": exported,
        "groups": [_export_group(g, local, agent) for g in groups],
        "blocks": [_export_block(b, local) for b in blocks.values()],
        "files": [_export_file(f, local) for f in files],
        "sources": [_export_source(f, local) for f in folders.values()],
        "tools": [_export_tool(t, local) for t in tools.values()],
        "mcp_servers": [_export_mcp_server(t.mcp_server, local) for t in _mcp_tools_by_server(tools)],
        "skills": [],
        "metadata": {"revision_id": FORMAT_REVISION},
        "created_at": timezone.now().isoformat(),
        **extra,
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
        "id": local(agent.id),
        "name": agent.name,
        "agent_type": agent.agent_type,
        "system": agent.system,
        "description": agent.description or None,
        "metadata": agent.metadata or {},
        "memory_blocks": [],
        "tools": [],
        "tool_ids": tool_ids,
        "source_ids": folder_ids,
        "folder_ids": folder_ids,
        "block_ids": block_ids,
        "tool_rules": agent.tool_rules or [],
        "tags": [t.tag for t in agent.tag_rows.all()],
        "llm_config": cfg,
        "embedding_config": agent.embedding_config or None,
        "model": agent.model_handle,
        "embedding": (agent.embedding_config or {}).get("handle"),
        "model_settings": None,
        "compaction_settings": agent.compaction_settings,
        "context_window_limit": cfg.get("context_window"),
        "embedding_chunk_size": (agent.embedding_config or {}).get("embedding_chunk_size"),
        "max_tokens": cfg.get("max_tokens"),
        "max_reasoning_tokens": cfg.get("max_reasoning_tokens"),
        "enable_reasoner": cfg.get("enable_reasoner"),
        "reasoning": None,
        "parallel_tool_calls": cfg.get("parallel_tool_calls"),
        "include_base_tools": False,
        "include_multi_agent_tools": False,
        "include_base_tool_rules": False,
        "include_default_source": False,
        "initial_message_sequence": None,
        "from_template": None,
        "template": False,
        "project": None,
        "project_id": None,
        "template_id": None,
        "base_template_id": None,
        "identity_ids": [],
        "hidden": agent.hidden,
        "message_buffer_autoclear": agent.message_buffer_autoclear,
        "enable_sleeptime": agent.enable_sleeptime,
        "response_format": agent.response_format,
        "timezone": agent.timezone,
        "max_files_open": agent.max_files_open,
        "per_file_view_window_char_limit": agent.per_file_view_window_char_limit,
        "tool_exec_environment_variables": wiped,
        "secrets": wiped,
        "memory_variables": None,
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
        "type": "message",
        "id": local_id,
        "role": m.role,
        "content": m.content or [],
        "name": m.name or None,
        "otid": m.otid or None,
        "sender_id": m.sender_id or None,
        "batch_item_id": None,
        "group_id": m.group_id or None,
        "model": m.model or None,
        "agent_id": local(m.agent_id),
        "tool_calls": m.tool_calls,
        "tool_call_id": m.tool_call_id or None,
        "tool_returns": m.tool_returns or [],
        "created_at": m.created_at.isoformat(),
        "approve": m.approve,
        "approval_request_id": local.ids.get(m.approval_request_id) if m.approval_request_id else None,
        "denial_reason": m.denial_reason or None,
        "approvals": m.approvals or [],
    }


def _export_block(b: Block, local: _LocalIds) -> dict:
    return {
        "id": local(b.id),
        "label": b.label,
        "value": b.value,
        "limit": b.limit,
        "description": b.description,
        "read_only": b.read_only,
        "hidden": b.hidden,
        "metadata": b.metadata or {},
        "tags": b.tags or [],
        "is_template": b.is_template,
        "template_name": b.template_name or None,
        "template_id": None,
        "base_template_id": None,
        "deployment_id": None,
        "entity_id": None,
        "preserve_on_migration": False,
        "project_id": None,
    }


def _export_tool(t: Tool, local: _LocalIds) -> dict:
    return {
        "id": local(t.id),
        "name": t.name,
        "tool_type": t.tool_type,
        "description": t.description,
        "source_type": t.source_type,
        "source_code": t.source_code,
        "json_schema": t.json_schema,
        "args_json_schema": t.args_json_schema,
        "return_char_limit": t.return_char_limit,
        "tags": t.tags or [],
        "pip_requirements": t.pip_requirements or None,
        "npm_requirements": t.npm_requirements or None,
        "default_requires_approval": t.default_requires_approval,
        "enable_parallel_execution": t.enable_parallel_execution,
        "created_by_id": None,
        "last_updated_by_id": None,
        "metadata_": _local_mcp_ids(t.metadata or {}, local),
        "project_id": None,
    }


def _mcp_tools_by_server(tools: dict) -> list[Tool]:
    """One exported tool per MCP server its agents use (the server rows come along with them)."""
    return list({t.mcp_server_id: t for t in tools.values() if t.mcp_server_id}.values())


def _local_mcp_ids(metadata: dict, local: _LocalIds) -> dict:
    mcp = metadata.get("mcp")
    if not mcp or not mcp.get("server_id"):
        return metadata
    return {**metadata, "mcp": {**mcp, "server_id": local(mcp["server_id"])}}


def _export_mcp_server(server, local: _LocalIds) -> dict:
    """Where the server is and what it runs; never its token, headers or environment values."""
    stdio = server.server_type == "stdio"
    return {
        "id": local(server.id),
        "server_type": server.server_type,
        "server_name": server.server_name,
        "server_url": None if stdio else server.server_url,
        "stdio_config": {"server_name": server.server_name, "command": server.command, "args": server.args}
        if stdio
        else None,
        "metadata_": {},
    }


def _export_source(f: Folder, local: _LocalIds) -> dict:
    config = f.embedding_config or {}
    return {
        "id": local(f.id),
        "name": f.name,
        "description": f.description or None,
        "instructions": f.instructions or None,
        "metadata": f.metadata or {},
        "embedding": config.get("handle"),
        "embedding_chunk_size": config.get("embedding_chunk_size"),
        "embedding_config": config,
    }


def _export_file(f, local: _LocalIds) -> dict:
    return {
        "id": local(f.id),
        "source_id": local(f.folder_id),
        "file_name": f.file_name,
        "original_file_name": f.original_file_name or f.file_name,
        "file_path": None,
        "file_type": f.file_type,
        "file_size": f.file_size,
        "file_creation_date": None,
        "file_last_modified_date": None,
        "processing_status": f.processing_status,
        "error_message": f.error_message or None,
        "total_chunks": f.total_chunks,
        "chunks_embedded": f.chunks_embedded,
        "content": f.content,
    }


def _export_file_link(link, local: _LocalIds) -> dict:
    return {
        "id": link.id,
        "agent_id": local(link.agent_id),
        "file_id": local(link.file_id),
        "source_id": local(link.file.folder_id),
        "file_name": link.file.file_name,
        "is_open": link.is_open,
        "visible_content": link.visible_content,
        "last_accessed_at": link.last_accessed_at.isoformat(),
        "start_line": link.start_line,
        "end_line": link.end_line,
    }


def _export_group(g: Group, local: _LocalIds, _main: Agent) -> dict:
    return {
        "id": local(g.id),
        "agent_ids": [local(a.id) for a in g.agents.all()],
        "description": g.description,
        "manager_config": {
            "manager_type": g.manager_type,
            "manager_agent_id": local(g.manager_agent_id) if g.manager_agent_id else None,
            "sleeptime_agent_frequency": g.sleeptime_agent_frequency,
        },
        "shared_block_ids": [],
        "project_id": None,
        "hidden": None,
    }
