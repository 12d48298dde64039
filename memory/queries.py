"""Reads with rules: passage search with filters applied in SQL before the limit."""

from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, QuerySet

from .models import Passage
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
