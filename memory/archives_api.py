"""/v1 routes of shared archives: CRUD, their passages, attaching them to agents, and searching passages across
the organization's archives. Each route parses, checks access, calls one function of memory.archives, renders."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Query, Router, Schema

from ade.pagination import paginate
from ade.wire import AgentId, Page, PassageId, RequestSchema, collection_route, id_path

from . import archives
from .schemas import EmbeddingConfig, PassageOut

router = Router()
ArchiveId = id_path("archive")


class ArchiveIn(RequestSchema):
    name: str = Field(..., min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    embedding: str | None = Field(None, max_length=300, description="Embedding handle, e.g. openai/text-embedding-3")
    embedding_config: EmbeddingConfig | None = None


class ArchivePatch(RequestSchema):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)


class ArchiveOut(Schema):
    id: str
    name: str
    description: str | None
    organization_id: str
    vector_db_provider: Literal["native"] = "native"
    embedding_config: dict[str, Any] | None
    metadata: dict[str, Any] | None
    created_by_id: str | None = None
    created_at: datetime
    updated_at: datetime | None = None

    @staticmethod
    def resolve_created_by_id(archive) -> str | None:
        return (archive.metadata or {}).get("created_by_id")


class ArchivePassageIn(RequestSchema):
    text: str = Field(..., min_length=1, max_length=1_000_000)
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    created_at: str | None = Field(None, max_length=64)


class ArchivePassagesIn(RequestSchema):
    passages: list[ArchivePassageIn] = Field(..., max_length=archives.MAX_BATCH)


class PassageSearchIn(RequestSchema):
    query: str | None = Field(None, max_length=10_000)
    agent_id: str | None = Field(None, max_length=64)
    archive_id: str | None = Field(None, max_length=64)
    tags: list[str] | None = None
    tag_match_mode: Literal["any", "all"] = "any"
    limit: int = Field(50, ge=1, le=archives.MAX_SEARCH)
    start_date: datetime | None = None
    end_date: datetime | None = None


class PassageSearchResult(Schema):
    passage: PassageOut
    score: float
    metadata: dict[str, Any] = {}


class ArchiveFilters(Page):
    name: str | None = None
    agent_id: str | None = None


def _agent(request, agent_id: str, action: str = "read"):
    from agents.queries import get_agent_for  # memory does not import agents at module level

    return get_agent_for(request.auth, agent_id, action=action)


@collection_route(router, "post", "/archives/", response=ArchiveOut, tags=["archives"], operation_id="create_archive")
def create_archive(request, payload: ArchiveIn):
    config = payload.embedding_config.dict(exclude_none=True) if payload.embedding_config else None
    return archives.create_archive(
        request.auth,
        name=payload.name,
        description=payload.description,
        embedding=payload.embedding,
        embedding_config=config,
    )


@collection_route(
    router, "get", "/archives/", response=list[ArchiveOut], tags=["archives"], operation_id="list_archives"
)
def list_archives(request, f: Query[ArchiveFilters]):
    qs = archives.archives_for(request.auth)
    if f.name:
        qs = qs.filter(name=f.name)
    if f.agent_id:
        qs = qs.filter(agents=_agent(request, f.agent_id))
    return paginate(qs, f, default_limit=50, default_order="desc")


@router.get("/archives/{archive_id}", response=ArchiveOut, tags=["archives"], operation_id="retrieve_archive")
def retrieve_archive(request, archive_id: ArchiveId):
    return archives.get_archive_for(request.auth, archive_id)


@router.patch("/archives/{archive_id}", response=ArchiveOut, tags=["archives"], operation_id="modify_archive")
def modify_archive(request, archive_id: ArchiveId, payload: ArchivePatch):
    return archives.update_archive(request.auth, archive_id, payload.dict(exclude_unset=True))


@router.delete("/archives/{archive_id}", response={204: None}, tags=["archives"], operation_id="delete_archive")
def delete_archive(request, archive_id: ArchiveId):
    archives.delete_archive(request.auth, archive_id)
    return 204, None


@router.post(
    "/archives/{archive_id}/passages",
    response=PassageOut,
    tags=["archives"],
    operation_id="create_passage_in_archive",
)
def create_passage(request, archive_id: ArchiveId, payload: ArchivePassageIn):
    archive = archives.get_archive_for(request.auth, archive_id)
    return archives.insert_passages(request.auth, archive, [payload.dict()])[0]


@router.post(
    "/archives/{archive_id}/passages/batch",
    response=list[PassageOut],
    tags=["archives"],
    operation_id="create_passages_in_archive",
)
def create_passages(request, archive_id: ArchiveId, payload: ArchivePassagesIn):
    archive = archives.get_archive_for(request.auth, archive_id)
    return archives.insert_passages(request.auth, archive, [p.dict() for p in payload.passages])


@router.delete(
    "/archives/{archive_id}/passages/{passage_id}",
    response={204: None},
    tags=["archives"],
    operation_id="delete_passage_from_archive",
)
def delete_passage(request, archive_id: ArchiveId, passage_id: PassageId):
    archive = archives.get_archive_for(request.auth, archive_id)
    archives.delete_archive_passage(request.auth, archive, passage_id)
    return 204, None


@router.patch(
    "/agents/{agent_id}/archives/attach/{archive_id}", tags=["agents"], operation_id="attach_archive_to_agent"
)
def attach_archive(request, agent_id: AgentId, archive_id: ArchiveId):
    archive = archives.get_archive_for(request.auth, archive_id)
    archives.attach_archive(request.auth, _agent(request, agent_id, "edit"), archive)


@router.patch(
    "/agents/{agent_id}/archives/detach/{archive_id}", tags=["agents"], operation_id="detach_archive_from_agent"
)
def detach_archive(request, agent_id: AgentId, archive_id: ArchiveId):
    archive = archives.get_archive_for(request.auth, archive_id)
    archives.detach_archive(request.auth, _agent(request, agent_id, "edit"), archive)


@router.post("/passages/search", response=list[PassageSearchResult], tags=["passages"], operation_id="search_passages")
def search_passages(request, payload: PassageSearchIn):
    """Passages nearest to `query` in one archive, in an agent's archives, or in every archive you can see."""
    found = archives.search_shared(
        request.auth,
        payload.query,
        agent=_agent(request, payload.agent_id) if payload.agent_id else None,
        archive=archives.get_archive_for(request.auth, payload.archive_id) if payload.archive_id else None,
        tags=payload.tags,
        tag_match_mode=payload.tag_match_mode,
        limit=payload.limit,
        start_date=payload.start_date.isoformat() if payload.start_date else None,
        end_date=payload.end_date.isoformat() if payload.end_date else None,
    )
    return [{"passage": passage, "score": score, "metadata": {}} for passage, score in found]
