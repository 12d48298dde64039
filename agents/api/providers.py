"""/v1/providers: Letta's provider routes (what letta-client's `providers` calls). An organization's admins add,
check, refresh and remove its own providers; the operator's (environment variables) are listed read-only. Each
route parses, calls one function of agents.org_providers and renders; keys leave only masked."""

from datetime import datetime
from typing import Literal

from django.http import HttpResponse
from ninja import Field, Query, Router, Schema

from ade.wire import RequestSchema, collection_route
from agents import org_providers as providers
from agents.runtime.providers import operator_provider_rows

router = Router(tags=["providers"])


class ProviderIn(RequestSchema):
    name: str = Field(..., max_length=60)
    provider_type: str = Field(..., description=f"One of: {', '.join(providers.KINDS)}")
    api_key: str = Field(
        ...,
        max_length=4000,
        description="Stored encrypted; returned masked. May be empty for "
        "providers that take none (Ollama, vLLM, LM Studio).",
    )
    access_key: str | None = Field(None, max_length=4000)
    region: str | None = Field(None, max_length=40)
    base_url: str | None = Field(None, max_length=2000, description="Defaults to the provider type's public API.")
    api_version: str | None = Field(None, max_length=40, description="Azure: the API version.")


class ProviderPatch(RequestSchema):
    api_key: str = Field(..., max_length=4000, description="Required: a changed provider takes its key again.")
    access_key: str | None = Field(None, max_length=4000)
    region: str | None = Field(None, max_length=40)
    base_url: str | None = Field(None, max_length=2000)
    api_version: str | None = Field(None, max_length=40)


class ProviderCheckIn(RequestSchema):
    provider_type: str
    api_key: str = Field(..., max_length=4000)
    access_key: str | None = Field(None, max_length=4000)
    region: str | None = Field(None, max_length=40)
    base_url: str | None = Field(None, max_length=2000)
    api_version: str | None = Field(None, max_length=40)


class ProviderOut(Schema):
    id: str | None = None
    name: str
    provider_type: str
    provider_category: Literal["base", "byok"]
    api_key: str | None = None
    base_url: str | None = None
    access_key: str | None = None
    region: str | None = None
    api_version: str | None = None
    organization_id: str | None = None
    updated_at: datetime | None = None
    last_synced: datetime | None = None
    api_key_enc: str | None = None
    access_key_enc: str | None = None
    models: list[str] = Field(default_factory=list, description="Engram: the models last listed by the provider.")
    last_error: str | None = Field(None, description="Engram: why the last listing failed, if it did.")


class CheckOut(Schema):
    message: str
    models: list[str]


class ProviderFilters(Schema):
    name: str | None = None
    provider_type: str | None = None
    after: str | None = Field(None, max_length=100)
    before: str | None = Field(None, max_length=100)
    limit: int | None = Field(None, ge=1, le=1000)
    order: Literal["asc", "desc"] = "asc"
    order_by: Literal["created_at"] = "created_at"


@collection_route(router, "get", "/providers/", response=list[ProviderOut], operation_id="list_providers")
def list_providers(request, f: Query[ProviderFilters]):
    rows = operator_provider_rows() + [providers.render(p) for p in providers.providers_for(request.auth)]
    rows = [
        r
        for r in rows
        if (not f.name or r["name"] == f.name) and (not f.provider_type or r["provider_type"] == f.provider_type)
    ]
    if f.order == "desc":
        rows.reverse()
    ids = [r["id"] for r in rows]
    if f.after in ids:
        rows = rows[ids.index(f.after) + 1 :]
    elif f.before in ids:
        rows = rows[: ids.index(f.before)]
    return rows[: f.limit] if f.limit else rows


@collection_route(router, "post", "/providers/", response=ProviderOut, operation_id="create_provider")
def create_provider(request, payload: ProviderIn):
    return providers.render(providers.create_provider(request.auth, payload.dict()))


@router.post("/providers/check", response=CheckOut, operation_id="check_provider")
def check_provider(request, payload: ProviderCheckIn):
    """Try a key without storing it: 200 with the models it can see, 400 naming `api_key` or `base_url`."""
    return providers.check(request.auth, payload.dict())


@router.get("/providers/{provider_id}", response=ProviderOut, operation_id="retrieve_provider")
def retrieve_provider(request, provider_id: str):
    for row in operator_provider_rows():
        if row["id"] == provider_id:
            return row
    return providers.render(providers.get_provider_for(request.auth, provider_id))


@router.patch("/providers/{provider_id}", response=ProviderOut, operation_id="modify_provider")
def modify_provider(request, provider_id: str, payload: ProviderPatch):
    providers.refuse_operator(provider_id)
    changes = payload.dict(exclude_unset=True)
    return providers.render(providers.update_provider(request.auth, provider_id, changes))


@router.delete("/providers/{provider_id}", response={204: None}, operation_id="delete_provider")
def delete_provider(request, provider_id: str):
    providers.refuse_operator(provider_id)
    providers.delete_provider(request.auth, provider_id)
    return HttpResponse(status=204)


@router.post("/providers/{provider_id}/check", response=CheckOut, operation_id="check_existing_provider")
def check_existing_provider(request, provider_id: str):
    providers.refuse_operator(provider_id)
    return providers.check(request.auth, {}, provider_id)


@router.patch("/providers/{provider_id}/refresh", response=ProviderOut, operation_id="refresh_provider_models")
def refresh_provider_models(request, provider_id: str):
    """List the provider's models again (kept as they were when it fails; `last_error` says why)."""
    providers.refuse_operator(provider_id)
    return providers.render(providers.refresh_models(request.auth, provider_id))
