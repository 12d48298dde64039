"""Identities: the people (or organizations) an app serves, by the app's own key, and the agents and blocks that
belong to them. An app scopes its agents per end user with them (`identity_id` / `identifier_keys` filters).

Everything is scoped to the caller's organization; an id from elsewhere is a 404, never silently dropped.
"""

import json

from django.db import IntegrityError, transaction

from accounts import audit
from accounts.permissions import check
from ade.errors import Conflict, Invalid, NotFound
from agents.models import Agent, Identity
from memory.models import Block

TYPES = ("org", "user", "other")
PROPERTY_TYPES = {"string": str, "number": (int, float), "boolean": bool, "json": (dict, list)}
FIELDS = ("identifier_key", "name", "identity_type", "project_id", "properties", "agent_ids", "block_ids")


def identities_for(user):
    return Identity.objects.filter(organization_id=user.organization_id)


def get_identity_for(user, identity_id: str, *, for_update: bool = False) -> Identity:
    qs = identities_for(user).select_for_update() if for_update else identities_for(user)
    identity = qs.filter(id=identity_id).first()
    if identity is None:
        raise NotFound(f"Identity {identity_id} not found")
    return identity


def create_identity(user, spec: dict) -> Identity:
    check(user, "edit")
    spec = _clean(spec, creating=True)
    with transaction.atomic():
        identity = Identity(organization_id=user.organization_id)
        _apply(user, identity, spec)
        _audit(user, identity, "create")
    return identity


def update_identity(user, identity_id: str, changes: dict, *, replace_properties: bool = True) -> Identity:
    check(user, "edit")
    changes = _clean(changes, creating=False)
    with transaction.atomic():
        identity = get_identity_for(user, identity_id, for_update=True)
        if not replace_properties and "properties" in changes:
            changes["properties"] = _merge(identity.properties, changes["properties"])
        _apply(user, identity, changes)
        _audit(user, identity, "update", ", ".join(sorted(changes)))
    return identity


def upsert_identity(user, spec: dict) -> Identity:
    """Create the identity with this identifier_key, or replace the fields of the one that has it."""
    key = spec.get("identifier_key")
    with transaction.atomic():
        existing = identities_for(user).select_for_update().filter(identifier_key=key).first()
        if existing is None:
            return create_identity(user, spec)
        return update_identity(user, existing.id, spec)


def set_properties(user, identity_id: str, properties: list) -> Identity:
    return update_identity(user, identity_id, {"properties": properties})


def delete_identity(user, identity_id: str) -> None:
    check(user, "edit")
    with transaction.atomic():
        identity = get_identity_for(user, identity_id, for_update=True)
        _audit(user, identity, "delete")
        identity.delete()


def attach_identity(user, agent: Agent, identity_id: str) -> None:
    """Link the agent (got through get_agent_for with action="edit") to the identity."""
    with transaction.atomic():
        identity = get_identity_for(user, identity_id)
        identity.agents.add(agent)
        _audit(user, identity, "attach_agent", agent.id)


def detach_identity(user, agent: Agent, identity_id: str) -> None:
    with transaction.atomic():
        identity = get_identity_for(user, identity_id)
        identity.agents.remove(agent)
        _audit(user, identity, "detach_agent", agent.id)


def _audit(user, identity: Identity, verb: str, summary: str = "") -> None:
    audit.record(
        identity.organization_id, user, f"identity.{verb}", object_id=identity.id, summary=summary or identity.name
    )


def set_agent_identities(user, agent: Agent, identity_ids) -> None:
    """Replace the agent's identities (create/modify agent's `identity_ids`); an unknown id is a 404."""
    if identity_ids is None:
        return
    wanted = list(dict.fromkeys(identity_ids))
    found = {i.id: i for i in identities_for(user).filter(id__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"identity_ids: no identity {missing[0]} in your organization")
    agent.identities.set([found[i] for i in wanted])


def scope_by_identity(qs, user, *, identity_id=None, identifier_keys=None, relation: str = "identities"):
    """Narrow agents or blocks to those of an identity (by id) and/or of identities with these keys."""
    if identity_id:
        qs = qs.filter(**{f"{relation}__id": identity_id, f"{relation}__organization_id": user.organization_id})
    if identifier_keys:
        owners = identities_for(user).filter(identifier_key__in=identifier_keys)
        qs = qs.filter(**{f"{relation}__in": owners})
    return qs.distinct() if identity_id or identifier_keys else qs


def render_identity(identity: Identity) -> dict:
    return {
        "id": identity.id,
        "identifier_key": identity.identifier_key,
        "name": identity.name,
        "identity_type": identity.identity_type,
        "project_id": identity.project_id or None,
        "organization_id": identity.organization_id,
        # .all() so that prefetched relations (agent lists) are reused; ordered here.
        "agent_ids": [a.id for a in sorted(identity.agents.all(), key=lambda a: (a.created_at, a.id))],
        "block_ids": [b.id for b in sorted(identity.blocks.all(), key=lambda b: (b.created_at, b.id))],
        "properties": identity.properties or [],
    }


# ---------------------------------------------------------------------------------------------------------------


def _clean(spec: dict, *, creating: bool) -> dict:
    spec = {k: v for k, v in spec.items() if k in FIELDS and (v is not None or k == "project_id")}
    if creating:
        for name in ("identifier_key", "name", "identity_type"):
            if not spec.get(name):
                raise Invalid(f"{name} is required", field=name)
    for name in ("identifier_key", "name"):
        if name in spec and (not isinstance(spec[name], str) or not spec[name].strip()):
            raise Invalid(f"{name} must not be empty", field=name)
    if "identity_type" in spec and spec["identity_type"] not in TYPES:
        raise Invalid(f"identity_type must be one of {', '.join(TYPES)}", field="identity_type")
    if "properties" in spec:
        spec["properties"] = _properties(spec["properties"])
    return spec


def _properties(items) -> list[dict]:
    if not isinstance(items, list):
        raise Invalid("properties must be a list of {key, value, type}", field="properties")
    out, seen = [], set()
    for i, item in enumerate(items):
        key, value, kind = item.get("key"), item.get("value"), item.get("type")
        if not isinstance(key, str) or not key or key in seen:
            raise Invalid(f"properties[{i}].key must be a unique, non-empty string", field="properties")
        if kind not in PROPERTY_TYPES:
            raise Invalid(f"properties[{i}].type must be one of {', '.join(PROPERTY_TYPES)}", field="properties")
        if not _fits(value, kind):
            raise Invalid(f"properties[{i}].value is not a {kind}: {json.dumps(value)[:60]}", field="properties")
        seen.add(key)
        out.append({"key": key, "value": value, "type": kind})
    return out


def _fits(value, kind: str) -> bool:
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, PROPERTY_TYPES[kind])


def _merge(current: list, new: list) -> list:
    by_key = {p["key"]: p for p in current or []}
    by_key.update({p["key"]: p for p in new})
    return list(by_key.values())


def _apply(user, identity: Identity, spec: dict) -> None:
    """Write the fields and relations (inside the caller's transaction); a taken identifier_key is a 409."""
    for name in ("identifier_key", "name", "identity_type", "properties"):
        if name in spec:
            setattr(identity, name, spec[name])
    if "project_id" in spec:
        identity.project_id = spec["project_id"] or ""
    try:
        with transaction.atomic():
            identity.save()
    except IntegrityError:
        raise Conflict(
            f"identifier_key {spec.get('identifier_key')!r} is taken by another identity", field="identifier_key"
        ) from None
    if "agent_ids" in spec:
        identity.agents.set(_owned(user, Agent, spec["agent_ids"], "agent_ids"))
    if "block_ids" in spec:
        identity.blocks.set(_owned(user, Block, spec["block_ids"], "block_ids"))


def _owned(user, model, ids, field: str) -> list:
    wanted = list(dict.fromkeys(ids or []))
    found = {o.id: o for o in model.objects.filter(organization_id=user.organization_id, id__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"{field}: no {model.__name__.lower()} {missing[0]} in your organization")
    return [found[i] for i in wanted]
