"""An agent's archival memory (spec behaviour §7.1): passages in the agent's archives, searched by meaning, by
words, or both (hybrid: the two rankings fused).

An agent always embeds and searches with its own embedding config; passages of another model are never
compared with its queries.
"""

from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from ade.errors import Conflict, Invalid, NotFound
from ade.prepared import Prepared

from .actions import Actor, create_passages, delete_passage
from .dates import agent_timezone, parse_bound, timestamp
from .embeddings import embed, model_name
from .fulltext import rank_passages
from .models import Archive, Passage, PassageTag, normalize_newlines
from .queries import filter_passages
from .ranking import fuse
from .vectors import nearest

SEARCH_MODES = ("vector", "fts", "hybrid")
HYBRID_DEPTH = 50  # candidates taken from each ranking before fusing
DEFAULT_TOP_K = 5
MAX_TOP_K = 1000
MAX_PAGE = 1000


def agent_passages(agent):
    """Every archival passage the agent can see: those of all archives attached to it."""
    return Passage.objects.filter(archive__agents=agent)


def clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, (list, tuple)):
        raise Invalid("tags must be a list of strings", field="tags")
    if not all(isinstance(t, str) for t in tags):
        raise Invalid("tags must be a list of strings", field="tags")
    return sorted({t.strip() for t in tags if t.strip()})


def default_archive(agent) -> Archive:
    """The agent's first archive, created and attached on first use. Call inside a transaction."""
    # Lock the agent row so two first inserts cannot create two default archives (and concurrent inserts of one
    # agent take turns, so each one's recount of the passages in the system prompt sees the others).
    _LOCK_AGENT.rows(agent.pk)
    # The first archive attached is the agent's own; shared archives attached later never receive its inserts.
    first = _FIRST_ARCHIVE.instances(agent.pk)
    archive = first[0].archive if first else None
    if archive is None:
        archive = Archive.objects.create(
            organization_id=agent.organization_id,
            name=f"{agent.name} archive",
            embedding_config=agent.embedding_config or {},
        )
        agent.archives.add(archive)
    return archive


def insert_archival(agent, text: str, tags=None, *, actor: Actor, created_at=None) -> Passage:
    """Store one passage (no chunking). The embedding is computed before the transaction opens."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("content must not be empty", field="content")
    tags = clean_tags(tags)
    config = agent.embedding_config or {}
    vector = embed([text], config)[0]
    with transaction.atomic():
        archive = default_archive(agent)
        [passage] = create_passages(
            agent.organization_id,
            [text],
            [vector],
            embedding_model=model_name(config),
            archive=archive,
            tags=tags,
            created_by=actor.user_id,
            created_at=created_at,
        )
        _context_changed(agent)
    return passage


class Hit(NamedTuple):
    """One search result with what ranked it: `similarity` = cosine similarity to the query (when the vector
    ranking saw it), `fused` = the reciprocal-rank-fusion score (hybrid only), `ranks` = its rank by meaning and by
    words (None where that ranking did not run or missed it)."""

    passage: Passage
    mode: str
    similarity: float | None
    fused: float | None
    ranks: dict


def search_archival(agent, query: str, **options) -> list[dict]:
    """The passages that best match `query`, filters applied in SQL before the limit: [{id, timestamp, content,
    tags}] (the wire shape of Letta's search; the options are `rank_archival`'s)."""
    tz = agent_timezone(agent)
    return [passage_result(hit.passage, tz) for hit in rank_archival(agent, query, **options)]


def rank_archival(
    agent,
    query: str,
    *,
    tags=None,
    tag_match_mode: str = "any",
    start_datetime=None,
    end_datetime=None,
    top_k: int | None = None,
    search_mode: str | None = None,
) -> list[Hit]:
    """The best `top_k` passages for `query` as `Hit`s. `search_mode`: "vector" (by meaning), "fts" (by words,
    BM25 / ts_rank), or "hybrid" (both rankings fused by reciprocal rank); default `settings.ARCHIVAL_SEARCH_MODE`.
    Tags and the date range filter in SQL before the limit."""
    if not isinstance(query, str) or not query.strip():
        return []
    mode = search_mode or settings.ARCHIVAL_SEARCH_MODE
    if mode not in SEARCH_MODES:
        raise Invalid(f"search_mode must be one of {', '.join(SEARCH_MODES)}", field="search_mode")
    top_k = DEFAULT_TOP_K if top_k is None else top_k
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= MAX_TOP_K:
        raise Invalid(f"top_k must be a whole number between 1 and {MAX_TOP_K}", field="top_k")
    config = agent.embedding_config or {}
    scoped = _filtered(
        agent,
        agent_passages(agent).filter(embedding_model=model_name(config)),
        tags,
        tag_match_mode,
        start_datetime,
        end_datetime,
    )
    depth = top_k if mode != "hybrid" else max(top_k * 4, HYBRID_DEPTH)  # fusion needs more of each ranking
    rankings, similarity = [], {}
    if mode != "fts":
        near = nearest(scoped, embed([query], config)[0], depth)
        similarity = {p.id: 1.0 - distance for p, distance in near}
        rankings.append([p for p, _distance in near])
    if mode != "vector":
        rankings.append(rank_passages(scoped, query, depth))
    names = {"vector": ["meaning"], "fts": ["words"], "hybrid": ["meaning", "words"]}[mode]
    return [
        Hit(p, mode, similarity.get(p.id), score if mode == "hybrid" else None, dict(zip(names, ranks, strict=True)))
        for p, score, ranks in fuse(rankings, key=lambda passage: passage.id)[:top_k]
    ]


def _filtered(agent, qs, tags, tag_match_mode: str, start_datetime, end_datetime):
    """`qs` narrowed to the tags and the date range (bounds in the agent's timezone when they carry none)."""
    tz = agent_timezone(agent)
    start = parse_bound(start_datetime, "start_datetime", tz)
    end = parse_bound(end_datetime, "end_datetime", tz, end=True)
    if tag_match_mode not in ("any", "all"):
        raise Invalid("tag_match_mode must be 'any' or 'all'", field="tag_match_mode")
    return filter_passages(qs, tags=clean_tags(tags), tag_match_mode=tag_match_mode, start=start, end=end)


def passage_result(passage: Passage, tz) -> dict:
    return {
        "id": passage.id,
        "timestamp": timestamp(passage.created_at, tz),
        "content": passage.text,
        "tags": list(passage.tags or []),
    }


def list_archival(
    agent,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 100,
    search: str | None = None,
    ascending: bool = True,
    tags=None,
    start_datetime=None,
    end_datetime=None,
) -> list[Passage]:
    """One page of the agent's passages in creation order; `after`/`before` are passage ids (cursors). Tags (any)
    and the date range filter as in `rank_archival`."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    qs = _filtered(agent, agent_passages(agent), tags, "any", start_datetime, end_datetime)
    if search:
        qs = qs.filter(text__icontains=search)
    for name, cursor, later in (("after", after, ascending), ("before", before, not ascending)):
        if cursor:
            qs = qs.filter(_beyond(agent, name, cursor, later))
    order = ("created_at", "id") if ascending else ("-created_at", "-id")
    return list(qs.order_by(*order)[:limit])


def _beyond(agent, name: str, cursor: str, later: bool) -> Q:
    """Rows strictly later (or earlier) than the cursor passage in (created_at, id) order."""
    pivot = agent_passages(agent).filter(id=cursor).values("created_at", "id").first()
    if pivot is None:
        raise Invalid(f"{name}: no passage {cursor!r} in this agent's archival memory", field=name)
    op = "gt" if later else "lt"
    return Q(**{f"created_at__{op}": pivot["created_at"]}) | Q(created_at=pivot["created_at"], **{f"id__{op}": cursor})


def edit_passage(
    agent, passage_id: str, *, text: str | None = None, tags=None, expected_version: int | None = None
) -> Passage:
    """Change a passage's text and/or tags (None = keep). New text is embedded again before the transaction opens,
    with the model the passage was embedded with; the full-text index follows the text (a generated column on
    PostgreSQL, triggers on SQLite). With `expected_version`, an edit of a passage changed since is refused (409,
    carrying the current passage); without it, the edit applies to the current row."""
    passage = agent_passages(agent).select_related("archive").filter(id=passage_id).first()
    if passage is None:
        raise NotFound("Passage not found")
    _check_version(passage, expected_version)
    if text is not None:
        if not isinstance(text, str) or not text.strip():
            raise Invalid("text must not be empty", field="text")
        text = normalize_newlines(text)
    tags = None if tags is None else clean_tags(tags)
    new_text = text is not None and text != passage.text
    vector = embed([text], _embedding_config(agent, passage))[0] if new_text else None
    with transaction.atomic():
        row = Passage.objects.select_for_update().filter(id=passage.id).first()
        if row is None:
            raise NotFound("Passage not found")
        _check_version(row, expected_version)
        changed = set()
        if new_text and text != row.text:
            row.text, row.embedding, row.embedding_dim = text, vector, len(vector)
            changed |= {"text", "embedding", "embedding_dim"}
        if tags is not None and tags != sorted(row.tags or []):
            row.tags = tags
            changed.add("tags")
            PassageTag.objects.filter(passage=row).delete()
            PassageTag.objects.bulk_create([PassageTag(passage=row, archive_id=row.archive_id, tag=t) for t in tags])
        if changed:
            row.version += 1
            row.save(update_fields=[*changed, "version", "updated_at"])
            _context_changed(agent)
    return row


def _check_version(passage: Passage, expected: int | None) -> None:
    if expected is not None and expected != passage.version:
        raise Conflict(
            f"This passage changed since you opened it (version {passage.version}, you edited {expected})",
            current=passage,
            field="version",
        )


def _embedding_config(agent, passage: Passage) -> dict:
    """The config that made the passage's embedding: the agent's, or its shared archive's when they differ."""
    configs = [agent.embedding_config or {}, (passage.archive.embedding_config if passage.archive else None) or {}]
    return next((c for c in configs if model_name(c) == passage.embedding_model), configs[0])


def delete_archival(agent, passage_id: str) -> None:
    with transaction.atomic():
        if not agent_passages(agent).filter(id=passage_id).exists():
            raise NotFound("Passage not found")
        delete_passage(agent.organization_id, passage_id)
        _context_changed(agent)


def _context_changed(agent) -> None:
    # The compiled context reports the archival count and tags in its metadata section, outside the memory section.
    from .context import refresh_memory_metadata

    refresh_memory_metadata(agent)


def _agent_model():
    from agents.models import Agent  # memory/ does not import agents/ at module level

    return Agent


# Every insert runs them: compiled once per process (ade/prepared.py).
_LOCK_AGENT = Prepared(
    lambda agent_id: _agent_model().objects.select_for_update().filter(pk=agent_id).order_by().values_list("pk")
)
_FIRST_ARCHIVE = Prepared(
    lambda agent_id: (
        _agent_model().archives.through.objects.filter(agent_id=agent_id).select_related("archive").order_by("id")[:1]
    )
)
