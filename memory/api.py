"""/v1 routes for memory: global blocks, an agent's core memory by label, its archival memory.

Block writes go through memory.actions (versioned, with history). A client that wants to be sure it is not
overwriting someone else's edit sends the version it read, as `"version": n` in the PATCH body or as an
`If-Match: "n"` header; if the block has changed since, the answer is 409 and nothing is written.
"""

from typing import Literal

from django.db.models import Count
from ninja import Field, Query, Router, Schema

from ade.errors import Invalid, NotFound
from ade.pagination import paginate
from ade.wire import AgentId, BlockId, Deleted, Page, PassageId, collection_route

from . import actions, archival
from .models import Block
from .schemas import BlockIn, BlockOut, BlockPatch, PassageIn, PassageOut, SearchResults

router = Router()


def _actor(request):
    return actions.Actor.user(request.auth, via="api")


def _org(request):
    return request.auth.organization


def block_for(user, block_id: str) -> Block:
    """A block of the user's organization, else 404."""
    block = Block.objects.filter(id=block_id, organization_id=user.organization_id).first()
    if block is None:
        raise NotFound("Block not found")
    return block


def expected_version(request, patch: BlockPatch) -> int | None:
    """The version the client says it edited: body `version`, else the `If-Match` header."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return patch.version
    try:
        from_header = int(header.removeprefix("W/").strip('"'))
    except ValueError:
        raise Invalid('If-Match must be a block version, e.g. If-Match: "3"', field="If-Match") from None
    if patch.version is not None and patch.version != from_header:
        raise Invalid("version and If-Match disagree", field="version")
    return from_header


# ---------------------------------------------------------------------------------------------------------------
# Global blocks


class BlockFilters(Page):
    label: str | None = None
    name: str | None = None
    label_search: str | None = None
    value_search: str | None = None
    description_search: str | None = None
    templates_only: bool = False
    tags: list[str] | None = None
    match_all_tags: bool = False
    identity_id: str | None = None
    identifier_keys: list[str] | None = None
    project_id: str | None = None
    connected_to_agents_count_gt: int | None = None
    connected_to_agents_count_lt: int | None = None
    connected_to_agents_count_eq: list[int] | None = None


@collection_route(router, "get", "/blocks/", response=list[BlockOut], tags=["blocks"], operation_id="list_blocks")
def list_blocks(request, filters: Query[BlockFilters]):
    qs = Block.objects.filter(organization_id=request.auth.organization_id)
    f = filters
    if f.label:
        qs = qs.filter(label=f.label)
    if f.name:
        qs = qs.filter(template_name=f.name)
    if f.templates_only:
        qs = qs.filter(is_template=True)
    for text, field in ((f.label_search, "label"), (f.value_search, "value"), (f.description_search, "description")):
        if text:
            qs = qs.filter(**{f"{field}__icontains": text})
    if f.connected_to_agents_count_gt is not None or f.connected_to_agents_count_lt is not None \
            or f.connected_to_agents_count_eq:
        qs = qs.annotate(_agents=Count("agents", distinct=True))
        if f.connected_to_agents_count_gt is not None:
            qs = qs.filter(_agents__gt=f.connected_to_agents_count_gt)
        if f.connected_to_agents_count_lt is not None:
            qs = qs.filter(_agents__lt=f.connected_to_agents_count_lt)
        if f.connected_to_agents_count_eq:
            qs = qs.filter(_agents__in=f.connected_to_agents_count_eq)
    if f.tags:
        qs = qs.filter(id__in=_ids_with_tags(qs, f.tags, f.match_all_tags))
    return paginate(qs, filters, default_limit=50, default_order="asc")


def _ids_with_tags(qs, tags: list[str], match_all: bool) -> list[str]:
    # Block tags are a JSON list; matched here so the filter behaves the same on SQLite and PostgreSQL.
    wanted = set(tags)
    check = wanted.issubset if match_all else (lambda have: bool(wanted & have))
    return [pk for pk, have in qs.values_list("id", "tags") if check(set(have or []))]


@collection_route(router, "post", "/blocks/", response=BlockOut, tags=["blocks"], operation_id="create_block")
def create_block(request, payload: BlockIn):
    return actions.create_block(_org(request), **payload.block_fields(), actor=_actor(request))


@router.get("/blocks/count", response=int, tags=["blocks"], operation_id="count_blocks")
def count_blocks(request):
    return Block.objects.filter(organization_id=request.auth.organization_id).count()


@router.get("/blocks/{block_id}", response=BlockOut, tags=["blocks"], operation_id="retrieve_block")
def retrieve_block(request, block_id: BlockId):
    return block_for(request.auth, block_id)


@router.patch("/blocks/{block_id}", response=BlockOut, tags=["blocks"], operation_id="modify_block")
def modify_block(request, block_id: BlockId, payload: BlockPatch):
    return actions.update_block(_org(request), block_id, payload.changes(), actor=_actor(request),
                                expected_version=expected_version(request, payload))


@router.delete("/blocks/{block_id}", response=Deleted, tags=["blocks"], operation_id="delete_block")
def delete_block(request, block_id: BlockId):
    actions.delete_block(_org(request), block_id)
    return {"message": f"Block id={block_id} successfully deleted"}


# ---------------------------------------------------------------------------------------------------------------
# An agent's core memory, addressed by label


def _agent(request, agent_id: str):
    from agents.queries import get_agent_for  # memory does not import agents at module level

    return get_agent_for(request.auth, agent_id)


def _agent_block(request, agent_id: str, label: str) -> Block:
    block = _agent(request, agent_id).blocks.filter(label=label).first()
    if block is None:
        raise NotFound(f"No block with label {label!r} in this agent's memory")
    return block


@router.get("/agents/{agent_id}/core-memory/blocks", response=list[BlockOut], tags=["agents"],
            operation_id="list_core_memory_blocks")
def list_agent_blocks(request, agent_id: AgentId, page: Query[Page]):
    return paginate(_agent(request, agent_id).blocks.all(), page, default_limit=100, default_order="desc")


@router.get("/agents/{agent_id}/core-memory/blocks/{block_label}", response=BlockOut, tags=["agents"],
            operation_id="retrieve_core_memory_block")
def retrieve_agent_block(request, agent_id: AgentId, block_label: str):
    return _agent_block(request, agent_id, block_label)


@router.patch("/agents/{agent_id}/core-memory/blocks/{block_label}", response=BlockOut, tags=["agents"],
              operation_id="modify_core_memory_block")
def modify_agent_block(request, agent_id: AgentId, block_label: str, payload: BlockPatch):
    block = _agent_block(request, agent_id, block_label)
    return actions.update_block(_org(request), block.id, payload.changes(), actor=_actor(request),
                                expected_version=expected_version(request, payload))



# ---------------------------------------------------------------------------------------------------------------
# Archival memory of an agent


class PassagePage(Schema):
    after: str | None = Field(None, max_length=100)
    before: str | None = Field(None, max_length=100)
    limit: int = Field(100, ge=1, le=1000)
    search: str | None = None
    ascending: bool = True


class PassageSearch(Schema):
    query: str = Field(..., max_length=10_000)
    tags: list[str] | None = None
    tag_match_mode: Literal["any", "all"] = "any"
    top_k: int | None = Field(None, ge=1, le=1000)
    start_datetime: str | None = Field(None, max_length=64)
    end_datetime: str | None = Field(None, max_length=64)


@router.get("/agents/{agent_id}/archival-memory", response=list[PassageOut], tags=["agents"],
            operation_id="list_passages")
def list_passages(request, agent_id: AgentId, page: Query[PassagePage]):
    return archival.list_archival(_agent(request, agent_id), **page.dict())


@router.post("/agents/{agent_id}/archival-memory", response=list[PassageOut], tags=["agents"],
             operation_id="create_passage")
def create_passage(request, agent_id: AgentId, payload: PassageIn):
    passage = archival.insert_archival(_agent(request, agent_id), payload.text, payload.tags, actor=_actor(request),
                                       created_at=payload.created_at)
    return [passage]


@router.get("/agents/{agent_id}/archival-memory/search", response=SearchResults, tags=["agents"],
            operation_id="search_archival_memory")
def search_passages(request, agent_id: AgentId, q: Query[PassageSearch]):
    results = archival.search_archival(_agent(request, agent_id), q.query, **q.dict(exclude={"query"}))
    return {"results": results, "count": len(results)}


@router.delete("/agents/{agent_id}/archival-memory/{memory_id}", response=Deleted, tags=["agents"],
               operation_id="delete_passage")
def delete_passage(request, agent_id: AgentId, memory_id: PassageId):
    archival.delete_archival(_agent(request, agent_id), memory_id)
    return {"message": f"Memory id={memory_id} successfully deleted"}
