"""/v1/audit-log (Engram only, not part of Letta's API): the organization's audit entries for admins and owners,
newest first, with the same filters as the audit page."""

from datetime import datetime

from ninja import Field, Query, Router, Schema

from .audit_log import entries_for

router = Router(tags=["audit log (Engram)"])


class AuditEntryOut(Schema):
    id: str
    created_at: datetime
    actor_type: str = Field(..., description="user, api_key, agent (its memory tools) or system")
    actor_user_id: str | None
    actor_key_id: str | None
    actor_id: str = Field(..., description="the agent's id when an agent made the change")
    actor_name: str
    action: str = Field(..., description="<object_type>.<verb>, e.g. block.update, member.remove")
    object_type: str
    object_id: str
    summary: str


class AuditFilters(Schema):
    person: str | None = Field(None, description="a user id, or part of a person's or key's name")
    object: str | None = Field(None, description="an object id, or an object type (agent, block, member, ...)")
    action: str | None = Field(None, description="an action or its prefix (block., member.remove)")
    since: str | None = Field(None, description="ISO date-time: entries at or after it")
    until: str | None = Field(None, description="ISO date-time: entries at or before it")
    before: str | None = Field(None, description="an entry id: only older entries (paging)")
    limit: int = Field(100, ge=1, le=100)


@router.get("/audit-log/", response=list[AuditEntryOut], summary="List audit log entries (Engram)")
def list_audit_entries(request, filters: Query[AuditFilters]):
    """Every change in the caller's organization: who (user, API key or agent), what, when. Admins and owners
    only (403 for editors and viewers)."""
    return entries_for(request.auth, filters.dict(exclude_none=True))
