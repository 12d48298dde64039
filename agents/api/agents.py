"""/v1 routes for agents: the model catalog, agent CRUD, agent files, context window, tags. Relations (blocks,
tools, folders, files) are in agents/api/relations.py; messages and runs in agents/api/messages.py.

Every operation: parse, check access (agents.queries), call one domain function, render (`api.render`).
"""

import json
from typing import Literal

from ninja import Field, Form, Query, Router, Schema, UploadedFile
from ninja import File as FileParam
from ninja.errors import HttpError

from ade.errors import Invalid, NotFound
from ade.pagination import paginate
from ade.wire import (
    AgentId,
    BlockId,
    Deleted,
    Page,
    RequestSchema,
    check_upload_size,
    collection_route,
    expected_version,
)
from agents import actions
from agents.api.render import agent_state, render_agents
from agents.api.schemas import (
    AgentFilters,
    AgentIn,
    AgentOut,
    AgentPatch,
    ContextOut,
    EmbeddingModelOut,
    ImportedAgents,
    IncludeParams,
    ModelOut,
    ResetIn,
)
from agents.identities import scope_by_identity
from agents.queries import agents_for, get_agent_for

router = Router()


# ---------------------------------------------------------------------------------------------------------------
# Models


class ModelFilters(Schema):
    provider_category: list[Literal["base", "byok"]] | None = None
    provider_name: str | None = None
    provider_type: str | None = None


@collection_route(router, "get", "/models/", response=list[ModelOut], tags=["models"], operation_id="list_models")
def list_models(request, f: Query[ModelFilters]):
    from agents.runtime.providers import llm_models

    models = llm_models(request.auth.organization_id)
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
    from agents.runtime.providers import embedding_models

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
    for field in ("project_id", "template_id", "base_template_id"):
        if getattr(f, field):
            qs = qs.filter(**{field: getattr(f, field)})
    if f.exclude_hidden:
        qs = qs.filter(hidden=False)
    tags = sorted(set(f.tags or []))
    if tags and f.match_all_tags:
        for tag in tags:
            qs = qs.filter(tag_rows__tag=tag)
    elif tags:
        qs = qs.filter(id__in=agents_for(user).filter(tag_rows__tag__in=tags).values("id"))
    return scope_by_identity(qs, user, identity_id=f.identity_id, identifier_keys=f.identifier_keys)


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
    keep_free_names: bool = Field(False, description="Keep each agent's name unless it is taken (then _copy).")
    model_map: str | None = Field(
        None,
        description='JSON object of the file\'s model handles to this server\'s, e.g. {"openai/gpt-4o": "ollama/x"}.',
    )
    include_passages: bool = Field(True, description="Store the file's archival passages (Engram's extra section).")
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
    from agents.agentfile import import_agent_file

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
        keep_free_names=form.keep_free_names,
        model_map=_json_object(form.model_map, "model_map"),
        include_passages=form.include_passages,
    )
    return {"agent_ids": ids}


def _json_object(text: str | None, field: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Invalid(f"{field} must be a JSON object", field=field)
    return value


@router.post("/agents/import/preview", response=dict, tags=["agents"], operation_id="preview_agent_import")
def preview_agent_import(request, file: FileParam[UploadedFile]):
    """What importing this agent file would do here, without importing it: agent and folder names already taken,
    archival passages and messages it carries, and the models it names with whether this server has them
    (`unknown_models`; map them with the import's `model_map`) and the models this server offers (`choices`)."""
    from accounts.permissions import check
    from agents.agentfile import parse_agent_file
    from agents.agentfile.preview import preview

    check_upload_size(file)
    check(request.auth, "edit")
    return preview(request.auth, parse_agent_file(file.read()))


@router.get("/agents/{agent_id}/export", response=dict, tags=["agents"], operation_id="export_agent")
def export_agent(
    request,
    agent_id: AgentId,
    scrub_messages: bool = False,
    use_legacy_format: bool = False,
    conversation_id: str | None = None,
    max_steps: int | None = None,
    include_passages: bool = False,
):
    """The agent file (.af, current format) of the agent; secret values are left out. `include_passages` adds the
    archival passages of the agent's own archive as Engram's `archival_passages` section (Letta ignores it)."""
    from agents.agentfile import export_agent as export

    if use_legacy_format:
        raise Invalid("The legacy (v1) agent file format is not supported", field="use_legacy_format")
    return export(request.auth, agent_id, scrub_messages=scrub_messages, include_passages=include_passages)


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
# Context window


@router.get(
    "/agents/{agent_id}/context", response=ContextOut, tags=["agents"], operation_id="retrieve_agent_context_window"
)
def context_window(request, agent_id: AgentId, conversation_id: str | None = None):
    """The context window of the agent's own list, or of one of its conversations (`conversation_id`)."""
    from agents.conversations import resolve, use_thread
    from memory.context import context_overview

    agent, conv = resolve(request.auth, conversation_id or "default", agent_id)
    if conv is not None:
        if conv.agent_id != agent_id:
            raise NotFound("Conversation not found")
        use_thread(agent, conv.id)
    return context_overview(agent)


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
    from agents.models import AgentTag

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
