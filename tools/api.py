"""/v1 routes for tools: create/upsert (by name), list, retrieve, modify, delete, and running code in the sandbox.

Letta's POST /v1/tools/ updates a tool of the same name instead of failing, so both POST and PUT upsert.
Running code (POST /v1/tools/run) needs an API key like every route, and the code runs in the sandbox with a
time limit and none of the server's secrets.
"""

import json
import uuid
from typing import Literal

from django.utils import timezone
from ninja import Field, Query, Router, Schema

from ade.pagination import paginate
from ade.wire import Deleted, Page, RequestSchema, ToolId, collection_route

from . import actions
from .queries import get_tool_for, tools_for
from .schemas import ToolIn, ToolOut, ToolPatch, ToolReturnOut, ToolRunIn

router = Router(tags=["tools"])


class ToolFilters(Schema):
    name: str | None = None
    names: list[str] | None = None
    tool_ids: list[str] | None = None
    search: str | None = None
    tool_types: list[str] | None = None
    exclude_tool_types: list[str] | None = None
    return_only_letta_tools: bool | None = False
    exclude_letta_tools: bool | None = False


class ToolPage(Page, ToolFilters):
    pass


@collection_route(router, "get", "/tools/", response=list[ToolOut], operation_id="list_tools")
def list_tools(request, f: Query[ToolPage]):
    return paginate(_filtered_tools(request.auth, f), f, default_limit=50, default_order="desc")


def _filtered_tools(user, f: ToolFilters):
    qs = tools_for(user)
    if f.name:
        qs = qs.filter(name=f.name)
    if f.names:
        qs = qs.filter(name__in=f.names)
    if f.tool_ids:
        qs = qs.filter(id__in=f.tool_ids)
    if f.search:
        qs = qs.filter(name__icontains=f.search)
    if f.tool_types:
        qs = qs.filter(tool_type__in=f.tool_types)
    if f.exclude_tool_types:
        qs = qs.exclude(tool_type__in=f.exclude_tool_types)
    if f.return_only_letta_tools:
        qs = qs.filter(tool_type__startswith="letta_")
    if f.exclude_letta_tools:
        qs = qs.exclude(tool_type__startswith="letta_")
    return qs


@collection_route(router, "post", "/tools/", response=ToolOut, operation_id="create_tool")
def create_tool(request, payload: ToolIn):
    return actions.upsert_tool(request.auth, **payload.dict())


@collection_route(router, "put", "/tools/", response=ToolOut, operation_id="upsert_tool")
def upsert_tool(request, payload: ToolIn):
    return actions.upsert_tool(request.auth, **payload.dict())


@router.get("/tools/count", response=int, operation_id="count_tools")
def count_tools(request, f: Query[ToolFilters]):
    return _filtered_tools(request.auth, f).count()


@router.post("/tools/run", response=ToolReturnOut, operation_id="run_tool_from_source")
def run_tool_from_source(request, payload: ToolRunIn):
    """Run unsaved code in the sandbox; answers a tool_return_message."""
    result = actions.run_tool_from_source(
        request.auth, payload.source_code, payload.args, env=payload.env_vars, name=payload.name
    )
    ret = result.func_return
    text = ret if isinstance(ret, str) else json.dumps(ret, ensure_ascii=False)
    return {
        "id": f"message-{uuid.uuid4()}",
        "date": timezone.now().replace(microsecond=0).isoformat(),
        "message_type": "tool_return_message",
        "tool_return": text,
        "status": result.status,
        "tool_call_id": "null",
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


class ToolSearchIn(RequestSchema):
    query: str | None = Field(None, max_length=10_000)
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"
    tool_types: list[str] | None = None
    tags: list[str] | None = None
    limit: int = Field(50, ge=1, le=1000)


class ToolSearchResultOut(Schema):
    tool: ToolOut
    embedded_text: str | None
    fts_rank: int | None
    vector_rank: int | None
    combined_score: float


# Before /tools/{tool_id}: Django would otherwise match "search" as a tool id (and answer 405).
@router.post("/tools/search", response=list[ToolSearchResultOut], operation_id="search_tools")
def search_tools(request, payload: ToolSearchIn):
    """Tools of your organization by words (fts), meaning (vector) or both (hybrid)."""
    from .search import search_tools as search

    return search(request.auth, payload.query, **payload.dict(exclude={"query"}))


@router.get("/tools/{tool_id}", response=ToolOut, operation_id="retrieve_tool")
def retrieve_tool(request, tool_id: ToolId):
    return get_tool_for(request.auth, tool_id)


@router.patch("/tools/{tool_id}", response=ToolOut, operation_id="modify_tool")
def modify_tool(request, tool_id: ToolId, payload: ToolPatch):
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    if "metadata_" in changes:
        changes["metadata"] = changes.pop("metadata_")
    return actions.update_tool(request.auth, tool_id, changes)


@router.delete("/tools/{tool_id}", response=Deleted, operation_id="delete_tool")
def delete_tool(request, tool_id: ToolId):
    actions.delete_tool(request.auth, tool_id)
    return {"message": f"Tool id={tool_id} successfully deleted"}
