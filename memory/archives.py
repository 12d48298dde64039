"""Shared archival memory: archives of an organization that several agents attach and search like their own.

An archive embeds with one embedding config, fixed at creation; an agent may attach it only when it embeds with
the same model (vectors of different models are never compared). Every agent keeps its own default archive too:
its own archival inserts never land in a shared one (see `archival.default_archive`).
"""

from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from accounts import audit
from accounts.permissions import check
from ade.errors import Invalid, NotFound

from .actions import create_passages, delete_passage
from .archival import HYBRID_DEPTH, clean_tags, default_archive
from .dates import parse_bound
from .embeddings import embed, model_name
from .fulltext import rank_passages
from .models import Archive, Passage
from .queries import filter_passages
from .ranking import fuse
from .vectors import nearest

MAX_BATCH = 1000
MAX_SEARCH = 1000
_UTC = ZoneInfo("UTC")


def archives_for(user):
    return Archive.objects.filter(organization_id=user.organization_id)


def get_archive_for(user, archive_id: str, *, for_update: bool = False) -> Archive:
    """An archive of the user's organization, else 404 (existence elsewhere does not leak)."""
    qs = archives_for(user).select_for_update() if for_update else archives_for(user)
    archive = qs.filter(id=archive_id).first()
    if archive is None:
        raise NotFound(f"Archive {archive_id} not found")
    return archive


def create_archive(user, *, name: str, description=None, embedding=None, embedding_config=None) -> Archive:
    from .folders import embedding_config_for

    check(user, "edit")
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name must not be empty", field="name")
    config = embedding_config_for(embedding, embedding_config)
    with transaction.atomic():
        archive = Archive.objects.create(
            organization_id=user.organization_id,
            name=name.strip(),
            description=description or "",
            embedding_config=config,
            metadata={"created_by_id": user.id},
        )
        audit.record(user.organization_id, user, "archive.create", object_id=archive.id, summary=archive.name)
    return archive


def update_archive(user, archive_id: str, changes: dict) -> Archive:
    check(user, "edit")
    with transaction.atomic():
        archive = get_archive_for(user, archive_id, for_update=True)
        if "name" in changes and changes["name"] is not None:
            if not changes["name"].strip():
                raise Invalid("name must not be empty", field="name")
            archive.name = changes["name"].strip()
        if changes.get("description") is not None:
            archive.description = changes["description"]
        archive.save()
        audit.record(user.organization_id, user, "archive.update", object_id=archive.id, summary=", ".join(changes))
    return archive


def delete_archive(user, archive_id: str) -> None:
    check(user, "edit")
    with transaction.atomic():
        archive = get_archive_for(user, archive_id, for_update=True)
        agents = list(archive.agents.all())
        audit.record(user.organization_id, user, "archive.delete", object_id=archive.id, summary=archive.name)
        archive.delete()
        _refresh(agents)


def own_archive_id(agent) -> str | None:
    """The agent's own archive: the first one attached to it (read only; see archival.default_archive)."""
    links = type(agent).archives.through.objects.filter(agent_id=agent.pk)
    return links.order_by("id").values_list("archive_id", flat=True).first()


def compatible(agent, archive: Archive) -> bool:
    """Whether the agent embeds with the archive's model (else their vectors cannot be compared)."""
    return model_name(agent.embedding_config or {}) == model_name(archive.embedding_config or {})


def attach_archive(user, agent, archive: Archive) -> None:
    """Let the agent search the archive (idempotent). The agent row must belong to the archive's organization
    (the caller got it through get_agent_for with action="edit")."""
    if not compatible(agent, archive):
        raise Invalid(
            f"archive {archive.id} embeds with {model_name(archive.embedding_config)} but the agent embeds with "
            f"{model_name(agent.embedding_config)}: their vectors cannot be compared",
            field="archive_id",
        )
    with transaction.atomic():
        default_archive(agent)  # the agent's own archive exists first, so its inserts never go to a shared one
        agent.archives.add(archive)
        audit.record(agent.organization_id, user, "agent.attach_archive", object_id=agent.id, summary=archive.id)
        _refresh([agent])


def detach_archive(user, agent, archive: Archive) -> None:
    with transaction.atomic():
        if default_archive(agent).id == archive.id:
            raise Invalid("an agent cannot detach its own default archive", field="archive_id")
        agent.archives.remove(archive)
        audit.record(agent.organization_id, user, "agent.detach_archive", object_id=agent.id, summary=archive.id)
        _refresh([agent])


def insert_passages(user, archive: Archive, items: list[dict]) -> list[Passage]:
    """Store passages `[{text, tags?, metadata?, created_at?}]` in the archive; embeddings before the transaction."""
    check(user, "edit")
    if not items:
        raise Invalid("passages must not be empty", field="passages")
    if len(items) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} passages per request", field="passages")
    for i, item in enumerate(items):
        if not isinstance(item.get("text"), str) or not item["text"].strip():
            raise Invalid(f"passages[{i}].text must not be empty", field="text")
    vectors = embed([item["text"] for item in items], archive.embedding_config or {})
    created = []
    with transaction.atomic():
        for item, vector in zip(items, vectors, strict=True):
            when = parse_bound(item.get("created_at"), "created_at", _UTC) if item.get("created_at") else None
            created += create_passages(
                user.organization_id,
                [item["text"]],
                [vector],
                embedding_model=model_name(archive.embedding_config or {}),
                archive=archive,
                tags=item.get("tags") or [],
                metadata=item.get("metadata") or {},
                created_by=user.id,
                created_at=when,
            )
        audit.record(
            user.organization_id, user, "archive.insert", object_id=archive.id, summary=f"{len(created)} passages"
        )
        _refresh(list(archive.agents.all()))
    return created


def delete_archive_passage(user, archive: Archive, passage_id: str) -> None:
    check(user, "edit")
    with transaction.atomic():
        if not archive.passages.filter(id=passage_id).exists():
            raise NotFound(f"Passage {passage_id} not found in archive {archive.id}")
        delete_passage(user.organization_id, passage_id)
        audit.record(user.organization_id, user, "archive.delete_passage", object_id=archive.id, summary=passage_id)
        _refresh(list(archive.agents.all()))


def search_shared(
    user,
    query: str | None,
    *,
    agent=None,
    archive: Archive | None = None,
    tags=None,
    tag_match_mode: str = "any",
    limit: int = 50,
    start_date=None,
    end_date=None,
) -> list[tuple[Passage, float]]:
    """Passages that best match `query` in one archive, an agent's archives, or every archive of the organization:
    [(passage, score)], best first; score = the reciprocal-rank score (higher is better). No query: newest first."""
    if tag_match_mode not in ("any", "all"):
        raise Invalid("tag_match_mode must be 'any' or 'all'", field="tag_match_mode")
    if not 1 <= limit <= MAX_SEARCH:
        raise Invalid(f"limit must be between 1 and {MAX_SEARCH}", field="limit")
    if archive is not None:
        archives = [archive]
    elif agent is not None:
        archives = list(agent.archives.all())
    else:
        archives = list(archives_for(user))
    filters = {
        "tags": clean_tags(tags),
        "tag_match_mode": tag_match_mode,
        "start": parse_bound(start_date, "start_date", _UTC),
        "end": parse_bound(end_date, "end_date", _UTC, end=True),
    }
    if not query or not query.strip():
        return _newest(archives, limit, filters)
    # Ranked as an agent's own archival search ranks (memory.archival): by meaning, by words, or both fused;
    # each embedding model's archives are ranked with their own query vector.
    mode = settings.ARCHIVAL_SEARCH_MODE
    depth = limit if mode != "hybrid" else max(limit * 4, HYBRID_DEPTH)
    rankings = []
    for model, group in _by_model(archives).items():
        scoped = filter_passages(Passage.objects.filter(archive__in=group, embedding_model=model), **filters)
        if mode != "fts":
            vector = embed([query], group[0].embedding_config or {})[0]
            rankings.append([p for p, _distance in nearest(scoped, vector, depth)])
        if mode != "vector":
            rankings.append(rank_passages(scoped, query, depth))
    fused = fuse(rankings, key=lambda passage: passage.id)
    return [(passage, score) for passage, score, _ranks in fused[:limit]]


def _by_model(archives: list[Archive]) -> dict[str, list[Archive]]:
    groups: dict[str, list[Archive]] = {}
    for archive in archives:
        groups.setdefault(model_name(archive.embedding_config or {}), []).append(archive)
    return groups


def _newest(archives, limit, filters) -> list[tuple[Passage, float]]:
    qs = filter_passages(Passage.objects.filter(archive__in=archives), **filters)
    return [(p, 0.0) for p in qs.order_by("-created_at", "-id")[:limit]]


def _refresh(agents) -> None:
    # The compiled context counts the agent's archival passages (its <memory_metadata> section).
    from .context import refresh_memory_metadata

    for agent in agents:
        refresh_memory_metadata(agent)
