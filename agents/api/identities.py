"""/v1 routes of identities (CRUD, upsert, properties) and attaching them to agents. Each parses, checks access,
calls one function of agents.identities and renders."""

from typing import Any, Literal

from ninja import Field, Query, Router, Schema

from ade.pagination import paginate
from ade.wire import AgentId, Page, RequestSchema, collection_route, id_path
from agents import identities
from agents.api.agents import IncludePage
from agents.api.render import render_agents
from agents.api.schemas import AgentOut
from agents.queries import get_agent_for
from memory.schemas import BlockOut

router = Router()
IdentityId = id_path("identity")
IdentityType = Literal["org", "user", "other"]


class IdentityProperty(RequestSchema):
    key: str = Field(..., min_length=1, max_length=200)
    value: str | int | float | bool | dict[str, Any] | list[Any]
    type: Literal["string", "number", "boolean", "json"]


class IdentityIn(RequestSchema):
    identifier_key: str = Field(..., min_length=1, max_length=200)
    name: str = Field(..., min_length=1, max_length=200)
    identity_type: IdentityType
    project_id: str | None = Field(None, max_length=100)
    agent_ids: list[str] | None = Field(None, max_length=1000)
    block_ids: list[str] | None = Field(None, max_length=1000)
    properties: list[IdentityProperty] | None = Field(None, max_length=200)


class IdentityPatch(RequestSchema):
    identifier_key: str | None = Field(None, min_length=1, max_length=200)
    name: str | None = Field(None, min_length=1, max_length=200)
    identity_type: IdentityType | None = None
    agent_ids: list[str] | None = Field(None, max_length=1000)
    block_ids: list[str] | None = Field(None, max_length=1000)
    properties: list[IdentityProperty] | None = Field(None, max_length=200)


class IdentityOut(Schema):
    id: str
    identifier_key: str
    name: str
    identity_type: IdentityType
    project_id: str | None
    organization_id: str
    agent_ids: list[str]
    block_ids: list[str]
    properties: list[dict[str, Any]]


class IdentityFilters(Page):
    name: str | None = None
    project_id: str | None = None
    identifier_key: str | None = None
    identity_type: IdentityType | None = None


def _out(identity) -> dict:
    return identities.render_identity(identity)


@collection_route(
    router, "get", "/identities/", response=list[IdentityOut], tags=["identities"], operation_id="list_identities"
)
def list_identities(request, f: Query[IdentityFilters]):
    qs = identities.identities_for(request.auth)
    for field in ("name", "project_id", "identifier_key", "identity_type"):
        if getattr(f, field):
            qs = qs.filter(**{field: getattr(f, field)})
    return [_out(i) for i in paginate(qs, f, default_limit=50, default_order="desc")]


@collection_route(
    router, "post", "/identities/", response=IdentityOut, tags=["identities"], operation_id="create_identity"
)
def create_identity(request, payload: IdentityIn):
    return _out(identities.create_identity(request.auth, payload.dict(exclude_unset=True)))


@collection_route(
    router, "put", "/identities/", response=IdentityOut, tags=["identities"], operation_id="upsert_identity"
)
def upsert_identity(request, payload: IdentityIn):
    return _out(identities.upsert_identity(request.auth, payload.dict(exclude_unset=True)))


@router.get("/identities/{identity_id}", response=IdentityOut, tags=["identities"], operation_id="retrieve_identity")
def retrieve_identity(request, identity_id: IdentityId):
    return _out(identities.get_identity_for(request.auth, identity_id))


@router.patch("/identities/{identity_id}", response=IdentityOut, tags=["identities"], operation_id="update_identity")
def update_identity(request, identity_id: IdentityId, payload: IdentityPatch):
    return _out(identities.update_identity(request.auth, identity_id, payload.dict(exclude_unset=True)))


@router.put("/identities/{identity_id}/properties", tags=["identities"], operation_id="upsert_identity_properties")
def upsert_properties(request, identity_id: IdentityId, payload: list[IdentityProperty]):
    identities.set_properties(request.auth, identity_id, [p.dict() for p in payload])


@router.delete("/identities/{identity_id}", tags=["identities"], operation_id="delete_identity")
def delete_identity(request, identity_id: IdentityId):
    identities.delete_identity(request.auth, identity_id)


@router.get(
    "/identities/{identity_id}/agents",
    response=list[AgentOut],
    tags=["identities"],
    operation_id="list_agents_for_identity",
)
def identity_agents(request, identity_id: IdentityId, page: Query[IncludePage]):
    identity = identities.get_identity_for(request.auth, identity_id)
    return render_agents(paginate(identity.agents.all(), page, default_limit=50, default_order="desc"), page.include)


@router.get(
    "/identities/{identity_id}/blocks",
    response=list[BlockOut],
    tags=["identities"],
    operation_id="list_blocks_for_identity",
)
def identity_blocks(request, identity_id: IdentityId, page: Query[Page]):
    identity = identities.get_identity_for(request.auth, identity_id)
    return paginate(identity.blocks.all(), page, default_limit=50, default_order="desc")


@router.patch(
    "/agents/{agent_id}/identities/attach/{identity_id}", tags=["agents"], operation_id="attach_identity_to_agent"
)
def attach_identity(request, agent_id: AgentId, identity_id: IdentityId):
    identities.attach_identity(request.auth, get_agent_for(request.auth, agent_id, action="edit"), identity_id)


@router.patch(
    "/agents/{agent_id}/identities/detach/{identity_id}", tags=["agents"], operation_id="detach_identity_from_agent"
)
def detach_identity(request, agent_id: AgentId, identity_id: IdentityId):
    identities.detach_identity(request.auth, get_agent_for(request.auth, agent_id, action="edit"), identity_id)
