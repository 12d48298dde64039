"""/v1 routes for agents: the model catalog, agent CRUD, relations (blocks, tools, folders), context window,
agent files. Messages and runs are in agents/messages_api.py.

Every operation: parse, check access (agents.queries), call one domain function, render (`render_agent`).
"""

from django.db.models import Prefetch
from ninja import Query, Router

from ade.pagination import paginate
from ade.wire import AgentId, BlockId, Page, collection_route

from .models import Agent, AgentBlock, AgentTool, FileAgent
from .queries import agents_for, get_agent_for
from .schemas import AgentFilters, AgentOut, EmbeddingModelOut, IncludeParams, ModelOut

router = Router()

# ---------------------------------------------------------------------------------------------------------------
# Rendering an agent (Letta's AgentState)


def with_relations(qs):
    """`qs` with everything `render_agent` reads fetched in a fixed number of queries."""
    return qs.prefetch_related(
        Prefetch("agentblock_set", queryset=AgentBlock.objects.select_related("block").order_by("position", "id")),
        Prefetch("agenttool_set", queryset=AgentTool.objects.select_related("tool").order_by("position", "id")),
        Prefetch("file_links", queryset=FileAgent.objects.select_related("file").order_by("file__file_name")),
        "folders", "tag_rows", "managed_groups__agents",
    )


def render_agent(agent: Agent, include=()) -> dict:
    """The AgentState of `agent` (loaded through `with_relations` for lists). Secret values only on request."""
    blocks = [link.block for link in agent.agentblock_set.all()]
    secrets = [{"agent_id": agent.id, "key": k, "value": v} for k, v in (agent.secrets or {}).items()] \
        if "agent.secrets" in include else []
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
    }


_PLAIN_FIELDS = ("id", "name", "system", "agent_type", "description", "tool_rules", "message_ids", "metadata",
                 "compaction_settings", "response_format", "message_buffer_autoclear", "enable_sleeptime",
                 "last_run_completion", "last_run_duration_ms", "timezone", "max_files_open",
                 "per_file_view_window_char_limit", "hidden", "created_by_id", "last_updated_by_id", "created_at",
                 "updated_at", "version")


def _llm_config(agent: Agent) -> dict:
    # Configs written by older exports may lack the fields clients require; fill them from what we know.
    return {"model_endpoint_type": "openai", "model": "unknown", **(agent.llm_config or {}),
            "context_window": agent.context_window}


def _render_group(group) -> dict:
    return {"id": group.id, "manager_type": group.manager_type, "description": group.description,
            "agent_ids": [a.id for a in group.agents.all()], "manager_agent_id": group.manager_agent_id,
            "sleeptime_agent_frequency": group.sleeptime_agent_frequency, "turns_counter": group.turns_counter,
            "last_processed_message_id": group.last_processed_message_id or None}


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


@collection_route(router, "get", "/models/", response=list[ModelOut], tags=["models"], operation_id="list_models")
def list_models(request, provider_category: list[str] | None = None, provider_name: str | None = None,
                provider_type: str | None = None):
    from .providers import llm_models

    models = llm_models()
    if provider_category:
        models = [m for m in models if m.get("provider_category") in provider_category]
    if provider_name:
        models = [m for m in models if m.get("provider_name") == provider_name]
    if provider_type:
        models = [m for m in models if m.get("provider_type") == provider_type]
    return models


@router.get("/models/embedding", response=list[EmbeddingModelOut], tags=["models"],
            operation_id="list_embedding_models")
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
    page = paginate(_filtered(request.auth, params), params, default_limit=50, default_order="desc",
                    sort_keys={"created_at": "created_at", "updated_at": "updated_at",
                               "last_run_completion": "last_run_completion"})
    return render_agents(page, params.include)


@router.get("/agents/count", response=int, tags=["agents"], operation_id="count_agents")
def count_agents(request, filters: Query[AgentFilters]):
    return _filtered(request.auth, filters).count()


@router.get("/agents/{agent_id}", response=AgentOut, tags=["agents"], operation_id="retrieve_agent")
def retrieve_agent(request, agent_id: AgentId, params: Query[IncludeParams]):
    return agent_state(request.auth, agent_id, params.include)


@router.get("/blocks/{block_id}/agents", response=list[AgentOut], tags=["blocks"],
            operation_id="list_agents_for_block")
def list_agents_for_block(request, block_id: BlockId, params: Query[IncludePage]):
    from memory.api import block_for

    block = block_for(request.auth, block_id)
    return render_agents(paginate(agents_for(request.auth).filter(blocks=block), params, default_limit=50),
                         params.include)
