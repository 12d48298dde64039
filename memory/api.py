"""/v1 routes for memory: global blocks, an agent's core memory by label, its archival memory, folders and files.

Block writes go through memory.actions (versioned, with history). A client that wants to be sure it is not
overwriting someone else's edit sends the version it read, as `"version": n` in the PATCH body or as an
`If-Match: "n"` header; if the block has changed since, the answer is 409 and nothing is written.
"""

from typing import Annotated, Literal

from django.db.models import Count
from ninja import Field, Query, Router, Schema, UploadedFile
from ninja import File as FileParam

from ade.errors import NotFound
from ade.pagination import paginate
from ade.wire import (
    AgentId,
    BlockId,
    Deleted,
    FileId,
    FolderId,
    Page,
    PassageId,
    check_upload_size,
    collection_route,
    expected_version,
)

from . import actions, archival, folders, ingest
from .models import Block, File
from .schemas import (
    INT32,
    BlockIn,
    BlockOut,
    BlockPatch,
    FileOut,
    FolderIn,
    FolderOut,
    FolderPatch,
    PassageIn,
    PassageOut,
    PassagePatch,
    SearchResults,
)

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


# ---------------------------------------------------------------------------------------------------------------
# Global blocks


class BlockFilters(Schema):
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
    connected_to_agents_count_gt: int | None = Field(None, ge=0, le=INT32)
    connected_to_agents_count_lt: int | None = Field(None, ge=0, le=INT32)
    connected_to_agents_count_eq: list[Annotated[int, Field(ge=0, le=INT32)]] | None = None


class BlockPage(Page, BlockFilters):
    pass


@collection_route(router, "get", "/blocks/", response=list[BlockOut], tags=["blocks"], operation_id="list_blocks")
def list_blocks(request, filters: Query[BlockPage]):
    return paginate(_filtered_blocks(request.auth, filters), filters, default_limit=50, default_order="asc")


def _filtered_blocks(user, f: BlockFilters):
    qs = Block.objects.filter(organization_id=user.organization_id)
    if f.label:
        qs = qs.filter(label=f.label)
    if f.name:
        qs = qs.filter(template_name=f.name)
    if f.templates_only:
        qs = qs.filter(is_template=True)
    for text, field in ((f.label_search, "label"), (f.value_search, "value"), (f.description_search, "description")):
        if text:
            qs = qs.filter(**{f"{field}__icontains": text})
    if (
        f.connected_to_agents_count_gt is not None
        or f.connected_to_agents_count_lt is not None
        or f.connected_to_agents_count_eq
    ):
        qs = qs.annotate(_agents=Count("agents", distinct=True))
        if f.connected_to_agents_count_gt is not None:
            qs = qs.filter(_agents__gt=f.connected_to_agents_count_gt)
        if f.connected_to_agents_count_lt is not None:
            qs = qs.filter(_agents__lt=f.connected_to_agents_count_lt)
        if f.connected_to_agents_count_eq:
            qs = qs.filter(_agents__in=f.connected_to_agents_count_eq)
    if f.tags:
        qs = qs.filter(id__in=_ids_with_tags(qs, f.tags, f.match_all_tags))
    if f.identity_id or f.identifier_keys:
        from agents.identities import scope_by_identity  # memory does not import agents at module level

        qs = scope_by_identity(qs, user, identity_id=f.identity_id, identifier_keys=f.identifier_keys)
    return qs


def _ids_with_tags(qs, tags: list[str], match_all: bool) -> list[str]:
    # Block tags are a JSON list; matched here so the filter behaves the same on SQLite and PostgreSQL.
    wanted = set(tags)
    check = wanted.issubset if match_all else (lambda have: bool(wanted & have))
    return [pk for pk, have in qs.values_list("id", "tags") if check(set(have or []))]


@collection_route(router, "post", "/blocks/", response=BlockOut, tags=["blocks"], operation_id="create_block")
def create_block(request, payload: BlockIn):
    return actions.create_block(_org(request), **payload.block_fields(), actor=_actor(request))


@router.get("/blocks/count", response=int, tags=["blocks"], operation_id="count_blocks")
def count_blocks(request, filters: Query[BlockFilters]):
    return _filtered_blocks(request.auth, filters).count()


@router.get("/blocks/{block_id}", response=BlockOut, tags=["blocks"], operation_id="retrieve_block")
def retrieve_block(request, block_id: BlockId):
    return block_for(request.auth, block_id)


@router.patch("/blocks/{block_id}", response=BlockOut, tags=["blocks"], operation_id="modify_block")
def modify_block(request, block_id: BlockId, payload: BlockPatch):
    return actions.update_block(
        _org(request),
        block_id,
        payload.changes(),
        actor=_actor(request),
        expected_version=expected_version(request, payload.version),
    )


@router.delete("/blocks/{block_id}", response=Deleted, tags=["blocks"], operation_id="delete_block")
def delete_block(request, block_id: BlockId):
    actions.delete_block(_org(request), block_id, actor=_actor(request))
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


@router.get(
    "/agents/{agent_id}/core-memory/blocks",
    response=list[BlockOut],
    tags=["agents"],
    operation_id="list_core_memory_blocks",
)
def list_agent_blocks(request, agent_id: AgentId, page: Query[Page]):
    return paginate(_agent(request, agent_id).blocks.all(), page, default_limit=100, default_order="desc")


@router.get(
    "/agents/{agent_id}/core-memory/blocks/{block_label}",
    response=BlockOut,
    tags=["agents"],
    operation_id="retrieve_core_memory_block",
)
def retrieve_agent_block(request, agent_id: AgentId, block_label: str):
    return _agent_block(request, agent_id, block_label)


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/{block_label}",
    response=BlockOut,
    tags=["agents"],
    operation_id="modify_core_memory_block",
)
def modify_agent_block(request, agent_id: AgentId, block_label: str, payload: BlockPatch):
    block = _agent_block(request, agent_id, block_label)
    return actions.update_block(
        _org(request),
        block.id,
        payload.changes(),
        actor=_actor(request),
        expected_version=expected_version(request, payload.version),
    )


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
    search_mode: Literal["vector", "fts", "hybrid"] | None = Field(
        None, description="Engram: by meaning, by words, or both fused (default: the server's ARCHIVAL_SEARCH_MODE)"
    )


@router.get(
    "/agents/{agent_id}/archival-memory", response=list[PassageOut], tags=["agents"], operation_id="list_passages"
)
def list_passages(request, agent_id: AgentId, page: Query[PassagePage]):
    return archival.list_archival(_agent(request, agent_id), **page.dict())


@router.post(
    "/agents/{agent_id}/archival-memory", response=list[PassageOut], tags=["agents"], operation_id="create_passage"
)
def create_passage(request, agent_id: AgentId, payload: PassageIn):
    passage = archival.insert_archival(
        _agent(request, agent_id), payload.text, payload.tags, actor=_actor(request), created_at=payload.created_at
    )
    return [passage]


@router.get(
    "/agents/{agent_id}/archival-memory/search",
    response=SearchResults,
    tags=["agents"],
    operation_id="search_archival_memory",
)
def search_passages(request, agent_id: AgentId, q: Query[PassageSearch]):
    results = archival.search_archival(_agent(request, agent_id), q.query, **q.dict(exclude={"query"}))
    return {"results": results, "count": len(results)}


@router.patch(
    "/agents/{agent_id}/archival-memory/{memory_id}",
    response=PassageOut,
    tags=["agents"],
    operation_id="modify_passage",
    description="Engram: change a passage's text (embedded again) and/or tags.",
)
def modify_passage(request, agent_id: AgentId, memory_id: PassageId, payload: PassagePatch):
    from agents.queries import get_agent_for

    return archival.edit_passage(
        get_agent_for(request.auth, agent_id, action="edit"),
        memory_id,
        text=payload.text,
        tags=payload.tags,
        expected_version=expected_version(request, payload.version),
    )


@router.delete(
    "/agents/{agent_id}/archival-memory/{memory_id}", response=Deleted, tags=["agents"], operation_id="delete_passage"
)
def delete_passage(request, agent_id: AgentId, memory_id: PassageId):
    archival.delete_archival(_agent(request, agent_id), memory_id)
    return {"message": f"Memory id={memory_id} successfully deleted"}


# ---------------------------------------------------------------------------------------------------------------
# Folders (Letta: sources) and their files


class FolderPage(Page):
    name: str | None = None


class FilePage(Page):
    include_content: bool = False


@collection_route(router, "get", "/folders/", response=list[FolderOut], tags=["folders"], operation_id="list_folders")
def list_folders(request, page: Query[FolderPage]):
    qs = folders.folders_for(request.auth)
    if page.name:
        qs = qs.filter(name=page.name)
    return paginate(qs, page, default_limit=50, default_order="asc")


@collection_route(router, "post", "/folders/", response=FolderOut, tags=["folders"], operation_id="create_folder")
def create_folder(request, payload: FolderIn):
    config = folders.embedding_config_for(
        payload.embedding, payload.embedding_config and payload.embedding_config.dict(), payload.embedding_chunk_size
    )
    return folders.create_folder(
        request.auth,
        **payload.dict(include={"name", "description", "instructions", "metadata"}),
        embedding_config=config,
    )


@router.get("/folders/count", response=int, tags=["folders"], operation_id="count_folders")
def count_folders(request):
    return folders.folders_for(request.auth).count()


@router.get("/folders/{folder_id}", response=FolderOut, tags=["folders"], operation_id="retrieve_folder")
def retrieve_folder(request, folder_id: FolderId):
    return folders.get_folder_for(request.auth, folder_id)


@router.patch("/folders/{folder_id}", response=FolderOut, tags=["folders"], operation_id="modify_folder")
def modify_folder(request, folder_id: FolderId, payload: FolderPatch):
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    return folders.update_folder(request.auth, folder_id, changes)


@router.delete("/folders/{folder_id}", response=Deleted, tags=["folders"], operation_id="delete_folder")
def delete_folder(request, folder_id: FolderId):
    folders.delete_folder(request.auth, folder_id)
    return {"message": f"Folder id={folder_id} successfully deleted"}


@router.post("/folders/{folder_id}/upload", response=FileOut, tags=["folders"], operation_id="upload_file_to_folder")
def upload_file(
    request,
    folder_id: FolderId,
    file: FileParam[UploadedFile],
    duplicate_handling: Literal["suffix", "skip", "error", "replace"] = "suffix",
    name: str | None = Query(None, max_length=255),
):
    """Store the file and ingest it (parse, chunk, embed); poll the file until `processing_status` is
    `completed` or `error`."""
    folder = folders.get_folder_for(request.auth, folder_id)
    check_upload_size(file)
    stored = ingest.upload_file(
        request.auth.organization,
        folder,
        name=name or file.name,
        data=file.read(),
        content_type=file.content_type or "",
        duplicate_handling=duplicate_handling,
        created_by=request.auth,
    )
    return File.objects.get(id=stored.id)  # as ingestion left it (it may have run already)


def _files(request, folder_id: str, include_content: bool):
    folder = folders.get_folder_for(request.auth, folder_id)
    ingest.fail_interrupted_files(folder.id)  # a reader sees an interrupted ingestion as the error it is
    qs = folder.files.all()
    return qs if include_content else qs.defer("content")


@router.get(
    "/folders/{folder_id}/files", response=list[FileOut], tags=["folders"], operation_id="list_files_for_folder"
)
def list_files(request, folder_id: FolderId, page: Query[FilePage]):
    return paginate(_files(request, folder_id, page.include_content), page, default_limit=1000)


@router.get("/folders/{folder_id}/files/{file_id}", response=FileOut, tags=["folders"], operation_id="retrieve_file")
def retrieve_file(request, folder_id: FolderId, file_id: FileId, include_content: bool = False):
    file = _files(request, folder_id, include_content).filter(id=file_id).first()
    if file is None:
        raise NotFound("File not found")
    return file


@router.get("/folders/{folder_id}/agents", response=list[str], tags=["folders"], operation_id="list_agents_for_folder")
def list_agents_for_folder(request, folder_id: FolderId, page: Query[Page]):
    from agents.queries import agents_for

    folder = folders.get_folder_for(request.auth, folder_id)
    return [a.id for a in paginate(agents_for(request.auth).filter(folders=folder), page, default_limit=50)]


@router.delete(
    "/folders/{folder_id}/{file_id}", response=Deleted, tags=["folders"], operation_id="delete_file_from_folder"
)
def delete_file(request, folder_id: FolderId, file_id: FileId):
    folder = folders.get_folder_for(request.auth, folder_id)
    if not folder.files.filter(id=file_id).exists():
        raise NotFound("File not found")
    ingest.delete_file(request.auth.organization, file_id, actor=request.auth)
    return {"message": f"File id={file_id} successfully deleted"}


@router.post(
    "/folders/{folder_id}/files/{file_id}/retry", response=FileOut, tags=["folders"], operation_id="retry_file"
)
def retry_file(request, folder_id: FolderId, file_id: FileId):
    """Engram: ingest a failed file again from its stored bytes (409 when it has not failed or was not kept)."""
    folder = folders.get_folder_for(request.auth, folder_id)
    if not folder.files.filter(id=file_id).exists():
        raise NotFound("File not found")
    return ingest.retry_file(request.auth.organization, file_id, actor=request.auth)
