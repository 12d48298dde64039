"""The audit log's one writer. Every action that changes something calls `record` inside its own `atomic()`, so
the entry and the change commit together or not at all."""

from django.db import transaction

from ade.prepared import insert_rows

from .models import AuditEntry


def record(organization_id: str, actor, action: str, *, object_id: str = "", summary: str = "") -> AuditEntry:
    """Append one entry. `actor` is a User (with `api_key` set when the API authenticated them by key), a
    `memory.actions.Actor` (an agent's memory tool, or a person), or None for the system. `action` is
    `<object_type>.<verb>` (block.update, member.remove, ...)."""
    return record_all(organization_id, actor, [(action, object_id, summary)])[0]


def record_all(organization_id: str, actor, entries: list[tuple[str, str, str]]) -> list[AuditEntry]:
    """Append (action, object_id, summary) entries of one actor, in one INSERT."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record belongs inside the atomic() block of the change it records")
    fields = _actor_fields(actor)
    return insert_rows(
        [
            AuditEntry(
                organization_id=organization_id,
                action=action,
                object_type=action.split(".", 1)[0],
                object_id=str(object_id or ""),
                summary=(summary or "")[:500],
                **fields,
            )
            for action, object_id, summary in entries
        ]
    )


def _actor_fields(actor) -> dict:
    if actor is None:
        return {"actor_type": "system", "actor_name": "system"}
    if hasattr(actor, "tool_name"):  # memory.actions.Actor
        if actor.type == "agent":
            return {"actor_type": "agent", "actor_id": actor.id, "actor_name": f"{actor.name} ({actor.tool_name})"}
        if actor.type == "system" or not actor.user_id:
            return {"actor_type": "system", "actor_name": actor.name or "system"}
        key_id = getattr(actor, "key_id", "") or None
        kind = "api_key" if key_id else "user"
        return {"actor_type": kind, "actor_user_id": actor.user_id, "actor_key_id": key_id, "actor_name": actor.name}
    key = getattr(actor, "api_key", None)
    if key is not None:
        name = f"{actor.username} (key {key.name or key.prefix})"
        return {"actor_type": "api_key", "actor_user": actor, "actor_key": key, "actor_name": name[:200]}
    return {"actor_type": "user", "actor_user": actor, "actor_name": actor.username}
