"""Reading the audit log (admins and owners): filters shared by the page and the /v1 route, and where each entry's
object lives in the ADE."""

from datetime import datetime

from django.urls import reverse

from ade.errors import Invalid

from .models import AuditEntry
from .permissions import check

PAGE_SIZE = 100


def entries_for(user, filters) -> list[AuditEntry]:
    """The current organization's entries, newest first, filtered by `person` (user id or name), `object`
    (object type or id), `action`, `since`/`until` (ISO date-times), and `before` (an entry id: older ones)."""
    check(user, "manage")
    qs = AuditEntry.objects.filter(organization_id=user.organization_id)
    if person := filters.get("person"):
        qs = qs.filter(actor_user_id=person) if person.startswith("user-") else qs.filter(actor_name__icontains=person)
    if obj := filters.get("object"):
        qs = qs.filter(object_id=obj) if "-" in obj else qs.filter(object_type=obj)
    if action := filters.get("action"):
        qs = qs.filter(action__startswith=action)
    for name, lookup in (("since", "created_at__gte"), ("until", "created_at__lte")):
        if value := filters.get(name):
            qs = qs.filter(**{lookup: _when(name, value)})
    if before := filters.get("before"):
        anchor = AuditEntry.objects.filter(id=before, organization_id=user.organization_id).first()
        if anchor is not None:
            qs = qs.filter(created_at__lte=anchor.created_at).exclude(id=anchor.id)
    limit = (
        min(int(filters.get("limit") or PAGE_SIZE), PAGE_SIZE)
        if str(filters.get("limit") or "1").isdigit()
        else PAGE_SIZE
    )
    entries = list(qs[:limit])
    for entry in entries:
        entry.link = link_for(entry)
    return entries


def _when(name: str, value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be an ISO date or date-time", field=name) from None


def link_for(entry: AuditEntry) -> str:
    """The ADE page of an entry's object, when it has one."""
    if entry.object_type == "agent" and entry.action != "agent.delete":
        return reverse("agents:workspace", args=[entry.object_id])
    if entry.object_type in ("member", "invitation"):
        return reverse("accounts:members")
    if entry.object_type == "organization":
        return reverse("accounts:members")
    if entry.object_type == "api_key":
        return reverse("accounts:api_keys")
    if entry.object_type == "mcp_server":
        return reverse("tools:mcp_servers")
    if entry.object_type == "provider":
        return reverse("agents:providers")
    return ""
