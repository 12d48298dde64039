"""Reads with rules: passage search with filters applied in SQL before the limit."""

from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, QuerySet

from ade.prepared import Prepared, attnames

from .models import Block, Passage
from .vectors import nearest


def filter_passages(
    qs: QuerySet,
    *,
    tags: list[str] | None = None,
    tag_match_mode: str = "any",
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet:
    tags = [t for t in (tags or []) if t]
    if tags and connection.vendor == "postgresql":
        # The row's own jsonb tags (?| any, ?& all): checked on each row the vector index yields, with no join,
        # which keeps filtered top-k searches on the HNSW index fast.
        qs = qs.filter(tags__has_keys=tags) if tag_match_mode == "all" else qs.filter(tags__has_any_keys=tags)
    elif tags:
        if tag_match_mode == "all":
            qs = (
                qs.filter(tag_rows__tag__in=tags)
                .annotate(_tag_hits=Count("tag_rows", distinct=True))
                .filter(_tag_hits=len(set(tags)))
            )
        else:
            qs = qs.filter(Q(id__in=Passage.objects.filter(tag_rows__tag__in=tags).values("id")))
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    return qs


def search_passages(qs: QuerySet, query_vec, *, top_k: int = 5, embedding_model: str, **filters):
    """Semantic search over `qs` (already scoped to an archive or folders): [(passage, distance)]."""
    qs = filter_passages(qs.filter(embedding_model=embedding_model), **filters)
    return nearest(qs, query_vec, top_k)


# ---- blocks: every context compile and every memory tool call reads them (compiled once per process) ------------


def agent_blocks(agent_id: str) -> list[Block]:
    """The agent's blocks in their order."""
    return AGENT_BLOCKS.objects(Block, str(agent_id))


def block_to_change(organization_id: str, block_id: str) -> Block | None:
    """The organization's block, locked until the transaction ends (the caller must be inside one)."""
    found = BLOCK_FOR_UPDATE.objects(Block, str(organization_id), str(block_id))
    return found[0] if found else None


def block_agent_ids(block_id: str) -> list[str]:
    """The ids of the agents the block is attached to."""
    return [agent_id for (agent_id,) in BLOCK_AGENTS.rows(str(block_id))]


BLOCK_FIELDS = attnames(Block)
AGENT_BLOCKS = Prepared(
    lambda agent_id: Block.objects.filter(agentblock__agent_id=agent_id).order_by(
        "agentblock__position", "agentblock__id"
    ),
    fields=BLOCK_FIELDS,
)
BLOCK_FOR_UPDATE = Prepared(
    lambda org, block_id: Block.objects.select_for_update().filter(organization_id=org, id=block_id).order_by()[:1],
    fields=BLOCK_FIELDS,
)
BLOCK_AGENTS = Prepared(lambda block_id: Block.agents.through.objects.filter(block_id=block_id).values_list("agent_id"))
