"""Nearest-neighbour search over passages, one function for PostgreSQL (pgvector HNSW) and SQLite (numpy).

Both rank by cosine distance and return the same order for the same data (ties aside).
"""

import numpy as np
from django.db import connection as default_connection
from django.db.backends.signals import connection_created
from django.db.models.expressions import RawSQL
from django.dispatch import receiver

_indexed_dims: set[int] = set()
EXACT_SEARCH_MAX_ROWS = 5000  # below this many candidates an exact scan takes a few ms and never misses


def ensure_vector_index(connection, dim: int) -> None:
    """One partial HNSW cosine index per embedding dimension (pgvector indexes need a fixed dimension)."""
    if connection.vendor != "postgresql" or dim in _indexed_dims:
        return
    dim = int(dim)
    if 0 < dim <= 2000:
        with connection.cursor() as cur:
            cur.execute(
                f"CREATE INDEX IF NOT EXISTS passage_embedding_hnsw_{dim} ON memory_passage "
                f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE embedding_dim = {dim}"
            )
    _indexed_dims.add(dim)


@receiver(connection_created)
def _tune_hnsw(sender, connection, **kwargs):
    # Filtered searches keep scanning the index until enough rows pass the filters.
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = 100")


def _normalise(vec) -> np.ndarray:
    v = np.asarray(vec, dtype=np.float32)
    n = np.linalg.norm(v)
    return v / n if n else v


def nearest(queryset, query_vec, k: int):
    """The k passages of `queryset` nearest to `query_vec`, as (passage, cosine distance), nearest first.

    `queryset` carries every filter (archive, tags, dates, model) so they apply before the limit.
    """
    q = _normalise(query_vec)
    dim = int(q.shape[0])
    qs = queryset.filter(embedding_dim=dim, embedding__isnull=False)
    if default_connection.vendor == "postgresql":
        literal = "[" + ",".join(repr(float(x)) for x in q) + "]"
        # HNSW is approximate and can miss a passage; a small candidate set is scanned exactly instead
        # (`+ 0` keeps the planner off the index). The count stops at the threshold, so it stays cheap.
        exact = qs.order_by().values("id")[: EXACT_SEARCH_MAX_ROWS + 1].count() <= EXACT_SEARCH_MAX_ROWS
        distance = f'("memory_passage"."embedding"::vector({dim})) <=> %s::vector({dim})'
        # Safe: dim is an int we computed; the vector is a bound parameter.
        expr = RawSQL(f"({distance}) + 0" if exact else distance, (literal,))  # noqa: S611
        # The vectors themselves stay in the database: 10 × 384 floats as text cost more than the search.
        rows = list(qs.defer("embedding").annotate(distance=expr).order_by("distance")[:k])
        rows.sort(key=lambda p: p.distance)  # relaxed_order may return near-sorted rows
        return [(p, float(p.distance)) for p in rows]
    ids_vecs = list(qs.values_list("id", "embedding"))
    if not ids_vecs:
        return []
    matrix = np.stack([v for _, v in ids_vecs]).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    distances = 1.0 - (matrix @ q) / norms
    k = min(k, len(ids_vecs))
    top = np.argpartition(distances, k - 1)[:k] if k < len(ids_vecs) else np.arange(len(ids_vecs))
    top = top[np.argsort(distances[top], kind="stable")]
    by_id = queryset.model.objects.in_bulk([ids_vecs[i][0] for i in top])
    return [(by_id[ids_vecs[i][0]], float(distances[i])) for i in top]
