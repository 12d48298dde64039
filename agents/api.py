"""/v1 routes for agents: the model catalog, agent CRUD, relations (blocks, tools, folders), context window,
agent files. Messages and runs are in agents/messages_api.py.

Every operation: parse, check access (agents.queries), call one domain function, render (`render_agent`).
"""

import json
from typing import Literal

from django.db.models import Prefetch
from ninja import Field, Form, Query, Router, Schema, UploadedFile
from ninja import File as FileParam
from ninja.errors import HttpError

from ade.errors import Invalid, NotFound
from ade.pagination import paginate
from ade.wire import (
    AgentId,
    BlockId,
    Deleted,
    FolderId,
    Page,
    RequestSchema,
    ToolId,
    check_upload_size,
    collection_route,
    expected_version,
)
from memory.schemas import FolderOut
from tools.schemas import ApprovalIn, ToolArgsIn, ToolExecutionResult, ToolOut

from . import actions
from .models import Agent, AgentBlock, AgentTool, FileAgent
from .queries import agents_for, get_agent_for
from .schemas import (
    AgentFilesOut,
    AgentFilters,
    AgentIn,
    AgentOut,
    AgentPatch,
    ContextOut,
    EmbeddingModelOut,
    ImportedAgents,
    IncludeParams,
    MemoryOut,
    ModelOut,
    ResetIn,
)

router = Router()


# ---------------------------------------------------------------------------------------------------------------
# Rendering an agent (Letta's AgentState)


def with_relations(qs):
    """`qs` with everything `render_agent` reads fetched in a fixed number of queries."""
    return qs.prefetch_related(
        Prefetch("agentblock_set", queryset=AgentBlock.objects.select_related("block").order_by("position", "id")),
        Prefetch("agenttool_set", queryset=AgentTool.objects.select_related("tool").order_by("position", "id")),
        Prefetch("file_links", queryset=FileAgent.objects.select_related("file").order_by("file__file_name")),
        "folders",
        "tag_rows",
        "managed_groups__agents",
    )


def render_agent(agent: Agent, include=()) -> dict:
    """The AgentState of `agent` (loaded through `with_relations` for lists). Secret values only on request."""
    blocks = [link.block for link in agent.agentblock_set.all()]
    secrets = (
        [{"agent_id": agent.id, "key": k, "value": v} for k, v in (agent.secrets or {}).items()]
        if "agent.secrets" in include
        else []
    )
    group = next(iter(agent.managed_groups.all()), None)
    return {
        **{f: getattr(agent, f) for f in _PLAIN_FIELDS},
        "llm_config": _llm_config(agent),
        "embedding_config": agent.embedding_config or None,
        "model": agent.model_handle,
        "embedding": (agent.embedding_config or {}).get("handle"),
        "memory": {"agent_type": agent.agent_type, "blocks": blocks, "file_blocks": list(agent.file_links.all())},
        "blocks": blocks,
        "tools": [link.tool for link in agent.agenttool_set.all()],
        "sources": list(agent.folders.all()),
        "tags": [row.tag for row in agent.tag_rows.all()],
        "secrets": secrets,
        "tool_exec_environment_variables": secrets,
        "last_stop_reason": agent.last_stop_reason or None,
        "managed_group": group and _render_group(group),
        "multi_agent_group": group and _render_group(group),
        "pending_approval": _pending_approval(agent) if "agent.pending_approval" in include else None,
    }


def _pending_approval(agent: Agent) -> dict | None:
    """The approval request the agent waits on (the last in-context message), as an approval_request_message."""
    from .letta_messages import to_letta_messages
    from .models import Message

    last = Message.objects.filter(id=(agent.message_ids or [None])[-1]).first()
    if last is None or last.role != "approval" or not last.tool_calls:
        return None
    return next(m for m in to_letta_messages(last) if m["message_type"] == "approval_request_message")


_PLAIN_FIELDS = (
    "id",
    "name",
    "system",
    "agent_type",
    "description",
    "tool_rules",
    "message_ids",
    "metadata",
    "compaction_settings",
    "response_format",
    "message_buffer_autoclear",
    "enable_sleeptime",
    "last_run_completion",
    "last_run_duration_ms",
    "timezone",
    "max_files_open",
    "per_file_view_window_char_limit",
    "hidden",
    "created_by_id",
    "last_updated_by_id",
    "created_at",
    "updated_at",
    "version",
)


def _llm_config(agent: Agent) -> dict:
    # Configs written by older exports may lack the fields clients require; fill them from what we know.
    return {
        "model_endpoint_type": "openai",
        "model": "unknown",
        **(agent.llm_config or {}),
        "context_window": agent.context_window,
    }


def _render_group(group) -> dict:
    return {
        "id": group.id,
        "manager_type": group.manager_type,
        "description": group.description,
        "agent_ids": [a.id for a in group.agents.all()],
        "manager_agent_id": group.manager_agent_id,
        "sleeptime_agent_frequency": group.sleeptime_agent_frequency,
        "turns_counter": group.turns_counter,
        "last_processed_message_id": group.last_processed_message_id or None,
    }


def render_agents(page: list[Agent], include=()) -> list[dict]:
    """Render a page of agents, keeping its order, with relations loaded in one batch."""
    loaded = {a.id: a for a in with_relations(Agent.objects.filter(id__in=[a.id for a in page]))}
    return [render_agent(loaded[a.id], include) for a in page]


def agent_state(user, agent_id: str, include=()) -> dict:
    """Load and render one agent the user may see."""
    agent = get_agent_for(user, agent_id)
    return render_agent(with_relations(Agent.objects.filter(id=agent.id)).get(), include)


# ---------------------------------------------------------------------------------------------------------------
# Models


class ModelFilters(Schema):
    provider_category: list[Literal["base", "byok"]] | None = None
    provider_name: str | None = None
    provider_type: str | None = None


@collection_route(router, "get", "/models/", response=list[ModelOut], tags=["models"], operation_id="list_models")
def list_models(request, f: Query[ModelFilters]):
    from .providers import llm_models

    models = llm_models()
    if f.provider_category:
        models = [m for m in models if m.get("provider_category") in f.provider_category]
    if f.provider_name:
        models = [m for m in models if m.get("provider_name") == f.provider_name]
    if f.provider_type:
        models = [m for m in models if m.get("provider_type") == f.provider_type]
    return models


@router.get(
    "/models/embedding", response=list[EmbeddingModelOut], tags=["models"], operation_id="list_embedding_models"
)
def list_embedding_models(request):
    from .providers import embedding_models

    return embedding_models()


# ---------------------------------------------------------------------------------------------------------------
# Agents: read


def _filtered(user, f: AgentFilters):
    qs = agents_for(user)
    if f.name:
        qs = qs.filter(name=f.name)
    if f.query_text:
        qs = qs.filter(name__icontains=f.query_text)
    if f.last_stop_reason:
        qs = qs.filter(last_stop_reason=f.last_stop_reason)
    if f.created_by_id:
        qs = qs.filter(created_by_id=f.created_by_id)
    tags = sorted(set(f.tags or []))
    if tags and f.match_all_tags:
        for tag in tags:
            qs = qs.filter(tag_rows__tag=tag)
    elif tags:
        qs = qs.filter(id__in=agents_for(user).filter(tag_rows__tag__in=tags).values("id"))
    return qs


class AgentPage(Page, AgentFilters, IncludeParams):
    sort_by: str | None = None  # deprecated spelling of order_by


class IncludePage(Page, IncludeParams):
    pass


@collection_route(router, "get", "/agents/", response=list[AgentOut], tags=["agents"], operation_id="list_agents")
def list_agents(request, params: Query[AgentPage]):
    if params.order_by is None and params.sort_by in ("updated_at", "last_run_completion"):
        params.order_by = params.sort_by
    page = paginate(
        _filtered(request.auth, params),
        params,
        default_limit=50,
        default_order="desc",
        sort_keys={
            "created_at": "created_at",
            "updated_at": "updated_at",
            "last_run_completion": "last_run_completion",
        },
    )
    return render_agents(page, params.include)


@router.get("/agents/count", response=int, tags=["agents"], operation_id="count_agents")
def count_agents(request, filters: Query[AgentFilters]):
    return _filtered(request.auth, filters).count()


class ImportForm(RequestSchema):
    """Form fields of POST /v1/agents/import (booleans arrive as "true"/"false")."""

    name: str | None = Field(None, max_length=200, description="Name of the (first) imported agent.")
    model: str | None = Field(None, max_length=300, description="LLM handle for every imported agent.")
    embedding: str | None = Field(None, max_length=300, description="Embedding handle for agents and folders.")
    override_existing_tools: bool = True
    strip_messages: bool = False
    secrets: str | None = Field(None, description='JSON object of secret values, e.g. {"API_KEY": "..."}.')
    append_copy_suffix: bool = True
    project_id: str | None = None
    override_name: str | None = Field(None, max_length=200, description="Deprecated spelling of name.")
    override_model_handle: str | None = Field(None, max_length=300, description="Deprecated spelling of model.")
    override_embedding_handle: str | None = Field(None, max_length=300, description="Deprecated: embedding.")
    env_vars_json: str | None = Field(None, description="Deprecated spelling of secrets.")


def _secrets(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise Invalid(
            'secrets must be a JSON object of names to string values, e.g. {"API_KEY": "..."}', field="secrets"
        )
    return value


@router.post("/agents/import", response=ImportedAgents, tags=["agents"], operation_id="import_agent")
def import_agent(request, file: FileParam[UploadedFile], form: Form[ImportForm]):
    """Create agents from an agent file (.af): `{"agent_ids": [...]}` in the file's order."""
    from .agentfile import import_agent_file

    check_upload_size(file)
    unknown = sorted(set(request.POST) - set(ImportForm.model_fields))
    if unknown:  # form parsing only reads the fields it knows; say so rather than ignore a typo
        raise HttpError(422, f"form.{unknown[0]}: Extra inputs are not permitted")
    embedding = (
        form.embedding or form.override_embedding_handle or request.headers.get("x-override-embedding-model") or None
    )
    ids = import_agent_file(
        request.auth,
        file.read(),
        name=form.name or form.override_name,
        model=form.model or form.override_model_handle,
        embedding=embedding,
        override_existing_tools=form.override_existing_tools,
        strip_messages=form.strip_messages,
        secrets=_secrets(form.secrets or form.env_vars_json),
        append_copy_suffix=form.append_copy_suffix,
    )
    return {"agent_ids": ids}


@router.get("/agents/{agent_id}/export", response=dict, tags=["agents"], operation_id="export_agent")
def export_agent(
    request,
    agent_id: AgentId,
    scrub_messages: bool = False,
    use_legacy_format: bool = False,
    conversation_id: str | None = None,
    max_steps: int | None = None,
):
    """The agent file (.af, current format) of the agent; secret values are left out."""
    from .agentfile import export_agent as export

    if use_legacy_format:
        raise Invalid("The legacy (v1) agent file format is not supported", field="use_legacy_format")
    return export(request.auth, agent_id, scrub_messages=scrub_messages)


@router.get("/agents/{agent_id}", response=AgentOut, tags=["agents"], operation_id="retrieve_agent")
def retrieve_agent(request, agent_id: AgentId, params: Query[IncludeParams]):
    return agent_state(request.auth, agent_id, params.include)


@router.get("/blocks/{block_id}/agents", response=list[AgentOut], tags=["blocks"], operation_id="list_agents_for_block")
def list_agents_for_block(request, block_id: BlockId, params: Query[IncludePage]):
    from memory.api import block_for

    block = block_for(request.auth, block_id)
    return render_agents(
        paginate(agents_for(request.auth).filter(blocks=block), params, default_limit=50), params.include
    )


# ---------------------------------------------------------------------------------------------------------------
# Agents: write


@collection_route(router, "post", "/agents/", response=AgentOut, tags=["agents"], operation_id="create_agent")
def create_agent(request, payload: AgentIn):
    agent = actions.create_agent(request.auth, payload.dict(exclude_unset=True))
    return agent_state(request.auth, agent.id)


@router.patch("/agents/{agent_id}", response=AgentOut, tags=["agents"], operation_id="modify_agent")
def modify_agent(request, agent_id: AgentId, payload: AgentPatch):
    changes = payload.dict(exclude_unset=True, exclude={"version"})
    actions.update_agent(request.auth, agent_id, changes, expected_version=expected_version(request, payload.version))
    return agent_state(request.auth, agent_id)


@router.delete("/agents/{agent_id}", response=Deleted, tags=["agents"], operation_id="delete_agent")
def delete_agent(request, agent_id: AgentId):
    actions.delete_agent(request.auth, agent_id)
    return {"message": f"Agent id={agent_id} successfully deleted"}


@router.patch("/agents/{agent_id}/reset-messages", response=AgentOut, tags=["agents"], operation_id="reset_messages")
def reset_messages(request, agent_id: AgentId, payload: ResetIn = None):
    actions.reset_messages(
        request.auth, agent_id, add_default_initial_messages=bool(payload and payload.add_default_initial_messages)
    )
    return agent_state(request.auth, agent_id)


# ---------------------------------------------------------------------------------------------------------------
# Relations: blocks, tools, folders, files


@router.get("/agents/{agent_id}/core-memory", response=MemoryOut, tags=["agents"], operation_id="retrieve_agent_memory")
def retrieve_agent_memory(request, agent_id: AgentId):
    return agent_state(request.auth, agent_id)["memory"]


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/attach/{block_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="attach_core_memory_block",
)
def attach_block(request, agent_id: AgentId, block_id: BlockId):
    actions.attach_block(request.auth, agent_id, block_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/detach/{block_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="detach_core_memory_block",
)
def detach_block(request, agent_id: AgentId, block_id: BlockId):
    actions.detach_block(request.auth, agent_id, block_id)
    return agent_state(request.auth, agent_id)


@router.get("/agents/{agent_id}/tools", response=list[ToolOut], tags=["agents"], operation_id="list_tools_for_agent")
def list_agent_tools(request, agent_id: AgentId, page: Query[Page]):
    agent = get_agent_for(request.auth, agent_id)
    return paginate(agent.tools.all(), page, default_limit=10)


@router.patch(
    "/agents/{agent_id}/tools/attach/{tool_id}", response=AgentOut, tags=["agents"], operation_id="attach_tool"
)
def attach_tool(request, agent_id: AgentId, tool_id: ToolId):
    actions.attach_tool(request.auth, agent_id, tool_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/tools/detach/{tool_id}", response=AgentOut, tags=["agents"], operation_id="detach_tool"
)
def detach_tool(request, agent_id: AgentId, tool_id: ToolId):
    actions.detach_tool(request.auth, agent_id, tool_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/tools/approval/{tool_name}",
    response=AgentOut,
    tags=["agents"],
    operation_id="modify_approval_for_tool",
)
def modify_approval(
    request, agent_id: AgentId, tool_name: str, payload: ApprovalIn = None, requires_approval: bool | None = None
):
    """Whether calls to `tool_name` wait for a human's approval (a `requires_approval` tool rule)."""
    wanted = payload.requires_approval if payload is not None else requires_approval
    if wanted is None:
        raise Invalid("requires_approval is required (in the body or the query)", field="requires_approval")
    actions.set_tool_approval(request.auth, agent_id, tool_name, wanted)
    return agent_state(request.auth, agent_id)


@router.post(
    "/agents/{agent_id}/tools/{tool_name}/run",
    response=ToolExecutionResult,
    tags=["agents"],
    operation_id="run_tool_for_agent",
)
def run_agent_tool(request, agent_id: AgentId, tool_name: str, payload: ToolArgsIn):
    """Run one of the agent's tools with the given arguments, as the agent would (custom tools in the sandbox)."""
    from tools.executor import execute_tool

    agent = get_agent_for(request.auth, agent_id)
    tool = agent.tools.filter(name=tool_name).first()
    if tool is None:
        raise NotFound(f"The agent has no tool named {tool_name!r}")
    return execute_tool(agent, tool, payload.args).as_dict()


@router.get(
    "/agents/{agent_id}/folders", response=list[FolderOut], tags=["agents"], operation_id="list_folders_for_agent"
)
def list_agent_folders(request, agent_id: AgentId, page: Query[Page]):
    agent = get_agent_for(request.auth, agent_id)
    return paginate(agent.folders.all(), page, default_limit=100)


@router.patch(
    "/agents/{agent_id}/folders/attach/{folder_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="attach_folder_to_agent",
)
def attach_folder(request, agent_id: AgentId, folder_id: FolderId):
    actions.attach_folder(request.auth, agent_id, folder_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/folders/detach/{folder_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="detach_folder_from_agent",
)
def detach_folder(request, agent_id: AgentId, folder_id: FolderId):
    actions.detach_folder(request.auth, agent_id, folder_id)
    return agent_state(request.auth, agent_id)


class AgentFilePage(Page):
    is_open: bool | None = None
    cursor: str | None = None


@router.get("/agents/{agent_id}/files", response=AgentFilesOut, tags=["agents"], operation_id="list_files_for_agent")
def list_agent_files(request, agent_id: AgentId, page: Query[AgentFilePage]):
    """The files the agent can open, with their open/closed state (a `{files, next_cursor, has_more}` page)."""
    agent = get_agent_for(request.auth, agent_id)
    qs = FileAgent.objects.filter(agent=agent).select_related("file__folder")
    if page.is_open is not None:
        qs = qs.filter(is_open=page.is_open)
    page.after = page.after or page.cursor
    limit = min(page.limit or 100, 1000)
    page.limit = limit + 1  # one more than asked tells whether there is a next page
    rows = paginate(qs, page, default_limit=limit + 1, key="last_accessed_at")
    files = rows[:limit]
    has_more = len(rows) > limit
    return {"files": files, "has_more": has_more, "next_cursor": files[-1].id if has_more else None}


# ---------------------------------------------------------------------------------------------------------------
# Context window


@router.get(
    "/agents/{agent_id}/context", response=ContextOut, tags=["agents"], operation_id="retrieve_agent_context_window"
)
def context_window(request, agent_id: AgentId, conversation_id: str | None = None):
    from memory.context import context_overview

    return context_overview(get_agent_for(request.auth, agent_id))


@router.post("/agents/{agent_id}/recompile", response=str, tags=["agents"], operation_id="recompile_agent")
def recompile(request, agent_id: AgentId, dry_run: bool = False, update_timestamp: bool = False):
    """The compiled system prompt; unless `dry_run`, also stored as the agent's system message."""
    from memory.context import compile_system_prompt, rebuild_system_prompts

    agent = get_agent_for(request.auth, agent_id)
    if not dry_run:
        rebuild_system_prompts([agent.id], force=True, update_timestamp=update_timestamp)
    return compile_system_prompt(agent)


# ---------------------------------------------------------------------------------------------------------------
# Tags


class TagPage(Schema):
    query_text: str | None = None
    name: str | None = None
    after: str | None = Field(None, max_length=200, description="Return tags after this one, in the requested order.")
    before: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=1000)
    order: Literal["asc", "desc"] = "asc"
    order_by: Literal["name"] = "name"


@collection_route(router, "get", "/tags/", response=list[str], tags=["tags"], operation_id="list_tags")
def list_tags(request, page: Query[TagPage]):
    """The distinct tags of the organization's agents, in alphabetical order; `after`/`before` are tags."""
    from .models import AgentTag

    qs = AgentTag.objects.filter(agent__organization_id=request.auth.organization_id)
    text = page.query_text or page.name
    if text:
        qs = qs.filter(tag__icontains=text)
    ascending = page.order == "asc"
    if page.after:
        qs = qs.filter(**{"tag__gt" if ascending else "tag__lt": page.after})
    if page.before:
        qs = qs.filter(**{"tag__lt" if ascending else "tag__gt": page.before})
    ordered = qs.order_by("tag" if ascending else "-tag").values_list("tag", flat=True).distinct()
    return list(ordered[: page.limit])
