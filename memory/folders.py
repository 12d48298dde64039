"""Writes to folders (Letta: sources): create, rename/describe, delete. Files in them: memory/ingest.py."""

from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts import audit
from ade.errors import Conflict, Invalid, NotFound

from .models import Folder

EDITABLE = ("name", "description", "instructions", "metadata", "embedding_config")


def folders_for(user):
    return Folder.objects.filter(organization_id=user.organization_id)


def get_folder_for(user, folder_id: str) -> Folder:
    folder = folders_for(user).filter(id=folder_id).first()
    if folder is None:
        raise NotFound("Folder not found")
    return folder


def embedding_config_for(handle: str | None = None, config: dict | None = None, chunk_size: int | None = None) -> dict:
    """A folder's embedding config: from a handle, a full config, or the server default; with its chunk size."""
    from agents.runtime.providers import resolve_embedding  # memory does not import agents at module level

    if handle:
        config = resolve_embedding(handle)
    elif not config:
        config = resolve_embedding(settings.DEFAULT_EMBEDDING)
    else:
        _check_endpoint(config)
    return {**config, **({"embedding_chunk_size": chunk_size} if chunk_size else {})}


def _check_endpoint(config: dict) -> None:
    from agents.runtime.providers import check_endpoints

    check_endpoints(embedding_config=config)


def create_folder(
    user,
    *,
    name: str,
    description: str | None = None,
    instructions: str | None = None,
    metadata: dict | None = None,
    embedding_config: dict,
) -> Folder:
    name = (name or "").strip()
    if not name:
        raise Invalid("name must not be empty", field="name")
    folder = Folder(
        organization_id=user.organization_id,
        name=name,
        description=description or "",
        instructions=instructions or "",
        metadata=metadata or {},
        embedding_config=embedding_config,
        created_by=user,
    )
    try:
        with transaction.atomic():
            folder.save()
            audit.record(folder.organization_id, user, "folder.create", object_id=folder.id, summary=name)
    except IntegrityError:
        raise Conflict(f"A folder named {name!r} already exists", field="name") from None
    return folder


def update_folder(user, folder_id: str, changes: dict) -> Folder:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(f"unknown folder field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    if "name" in changes and not (changes["name"] or "").strip():
        raise Invalid("name must not be empty", field="name")
    if changes.get("embedding_config"):
        _check_endpoint(changes["embedding_config"])
    try:
        with transaction.atomic():
            folder = folders_for(user).select_for_update().filter(id=folder_id).first()
            if folder is None:
                raise NotFound("Folder not found")
            for field, value in changes.items():
                setattr(folder, field, value.strip() if field == "name" else value)
            folder.save()
            summary = f"{folder.name}: {', '.join(sorted(changes))}"
            audit.record(folder.organization_id, user, "folder.update", object_id=folder.id, summary=summary)
    except IntegrityError:
        raise Conflict(f"A folder named {changes['name']!r} already exists", field="name") from None
    if {"name", "description", "instructions"} & set(changes):
        _agents_changed(list(folder.agents.values_list("id", flat=True)))
    return folder


def delete_folder(user, folder_id: str) -> None:
    """Delete a folder, its files (stored bytes too) and their passages; agents it was attached to forget it."""
    from agents.actions import detach_folder  # memory does not import agents at module level

    with transaction.atomic():
        folder = folders_for(user).select_for_update().filter(id=folder_id).first()
        if folder is None:
            raise NotFound("Folder not found")
        for agent_id in folder.agents.values_list("id", flat=True):
            detach_folder(user, agent_id, folder.id)  # closes its files and drops the file tools if it was the last
        paths = [
            Path(settings.MEDIA_ROOT) / p
            for p in folder.files.exclude(file_path="").values_list("file_path", flat=True)
        ]
        audit.record(folder.organization_id, user, "folder.delete", object_id=folder.id, summary=folder.name)
        folder.delete()
        transaction.on_commit(lambda: [p.unlink(missing_ok=True) for p in paths])


def _agents_changed(agent_ids: list[str]) -> None:
    if agent_ids:
        from .context import rebuild_system_prompts

        rebuild_system_prompts(agent_ids)
