"""Archival memory at scale: bulk-load passages of one agent's archive, then time top-10 searches and measure recall.

    python manage.py bench archival --passages 100000

* load: binary COPY on PostgreSQL (the HNSW index is maintained as rows arrive, as in production), bulk insert
  through `memory.actions.create_passages` on SQLite; prints rows per second;
* search: `memory.queries.search_passages`, the code path of archival_memory_search, for top-10 without filters and
  with a tag filter; prints p50/p95 and whether PostgreSQL's plan uses the HNSW index;
* recall@10 against exact search (numpy over the same vectors, same filter).

The vectors are synthetic but shaped like real embeddings: `--clusters` topics in a 32-dimensional latent space,
mapped to `--dim` (384) dimensions and normalised; queries are near random passages. Another archive of the same organization holds `--other` passages, so the archive filter has work to do.
Everything lives in a throwaway organization that is deleted at the end (unless `--keep`).
"""

import argparse
import time
import uuid
from datetime import UTC, datetime

import numpy as np
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

TARGET_P95_MS = 20.0
TARGET_RECALL = 0.95
TAGS = [f"topic-{i}" for i in range(8)]
MODEL = "bench/synthetic"
LATENT_DIM = 32  # real sentence embeddings have a low intrinsic dimension; uniform 384-d noise has no neighbours


def run(argv, out) -> None:
    parser = argparse.ArgumentParser(prog="manage.py bench archival")
    parser.add_argument("--passages", type=int, default=100_000, help="passages in the agent's archive")
    parser.add_argument("--other", type=int, default=10_000, help="passages in another archive (filter work)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=200, help="topics the passages are about")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the data (prints the archive id)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    org, archive, other = _owner()
    out.write(
        f"Engram archival benchmark: {connection.vendor} ({connection.settings_dict['NAME']}), "
        f"{args.passages:,} passages × {args.dim} dims in one archive + {args.other:,} in another"
    )
    try:
        space = (
            rng.standard_normal((args.clusters, LATENT_DIM)).astype(np.float32),
            rng.standard_normal((LATENT_DIM, args.dim)).astype(np.float32),
        )
        vectors, latent, tags = _load(out, rng, space, org, [(other, args.other), (archive, args.passages)])
        queries = _embed(
            latent[rng.integers(0, len(latent), args.queries)]
            + 0.2 * rng.standard_normal((args.queries, LATENT_DIM)).astype(np.float32),
            space[1],
        )
        _search(out, archive, vectors, tags, queries)
    finally:
        if args.keep:
            out.write(f"kept: archive {archive.id} (organization {org.id})")
        else:
            _cleanup(org)


def _owner():
    from accounts.models import Organization
    from memory.models import Archive

    org = Organization.objects.create(name=f"Engram benchmark {uuid.uuid4().hex[:8]}")
    return (
        org,
        Archive.objects.create(organization=org, name="agent archive"),
        Archive.objects.create(organization=org, name="other archive"),
    )


def _cleanup(org) -> None:
    with transaction.atomic(), connection.cursor() as cur:  # plain SQL: the ORM's cascade would load every row
        cur.execute(
            "DELETE FROM memory_passagetag WHERE passage_id IN "
            "(SELECT id FROM memory_passage WHERE organization_id = %s)",
            [org.id],
        )
        cur.execute("DELETE FROM memory_passage WHERE organization_id = %s", [org.id])
        org.delete()
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:  # dead entries left in the HNSW index would cost later searches recall
            cur.execute("VACUUM memory_passage")


# ---------------------------------------------------------------------------------------------------------------
# Loading


def _synthetic(rng, space, n: int):
    """n unit vectors with the structure of real embeddings: topics (clusters) in a low-dimensional latent space,
    mapped into the full dimension. Returns (vectors, latent points, tags: one or two per row)."""
    centres, mapping = space
    assign = rng.integers(0, len(centres), n)
    latent = centres[assign] + 0.6 * rng.standard_normal((n, centres.shape[1])).astype(np.float32)
    tags = [
        sorted({TAGS[a % len(TAGS)], TAGS[int(b)]}) for a, b in zip(assign, rng.integers(0, len(TAGS), n), strict=True)
    ]
    return _embed(latent, mapping), latent, tags


def _embed(latent, mapping):
    vectors = latent @ mapping
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _load(out, rng, space, org, plan):
    """Load each (archive, count) of `plan`; return the vectors and tags of the last one (the agent's)."""
    total, seconds = 0, 0.0
    for archive, count in plan:
        vectors, latent, tags = _synthetic(rng, space, count)
        started = time.perf_counter()
        if connection.vendor == "postgresql":
            _copy(org, archive, vectors, tags)
        else:
            _bulk_insert(org, archive, vectors, tags)
        seconds += time.perf_counter() - started
        total += count
    out.write(
        f"  load ({'binary COPY, HNSW index maintained' if connection.vendor == 'postgresql' else 'bulk insert'})"
        f": {total:,} passages in {seconds:.1f} s = {total / seconds:,.0f} passages/s"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE memory_passage; ANALYZE memory_passagetag")
    return vectors, latent, tags


def _copy(org, archive, vectors, tags) -> None:
    """Binary COPY on a connection of its own: pgvector's numpy adapter must not leak into Django's connection."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    now = datetime.now(UTC)
    ids = [f"passage-{uuid.uuid4()}" for _ in range(len(vectors))]
    with psycopg.connect(**connection.get_connection_params()) as raw:
        register_vector(raw)  # before the cursor: a cursor copies the connection's adapters
        cur = raw.cursor()
        with cur.copy(
            "COPY memory_passage (id, organization_id, archive_id, text, tags, metadata, embedding, "
            "embedding_model, embedding_dim, created_at, updated_at, version) FROM STDIN WITH (FORMAT BINARY)"
        ) as cp:
            cp.set_types(
                [
                    "varchar",
                    "varchar",
                    "varchar",
                    "text",
                    "jsonb",
                    "jsonb",
                    "vector",
                    "varchar",
                    "int4",
                    "timestamptz",
                    "timestamptz",
                    "int4",
                ]
            )
            for i, (pid, vec, row_tags) in enumerate(zip(ids, vectors, tags, strict=True)):
                cp.write_row(
                    [
                        pid,
                        org.id,
                        archive.id,
                        f"passage {i} on {', '.join(row_tags)}",
                        Jsonb(row_tags),
                        Jsonb({}),
                        vec,
                        MODEL,
                        len(vec),
                        now,
                        now,
                        1,
                    ]
                )
        with cur.copy("COPY memory_passagetag (passage_id, archive_id, tag) FROM STDIN WITH (FORMAT BINARY)") as cp:
            cp.set_types(["varchar", "varchar", "varchar"])
            for pid, row_tags in zip(ids, tags, strict=True):
                for tag in row_tags:
                    cp.write_row([pid, archive.id, tag])


def _bulk_insert(org, archive, vectors, tags) -> None:
    from memory.actions import create_passages

    groups: dict[tuple, list[int]] = {}  # create_passages takes one tag set per call
    for i, row_tags in enumerate(tags):
        groups.setdefault(tuple(row_tags), []).append(i)
    for row_tags, rows in groups.items():
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            create_passages(
                org,
                [f"passage {i} on {', '.join(row_tags)}" for i in chunk],
                vectors[chunk],
                embedding_model=MODEL,
                archive=archive,
                tags=list(row_tags),
            )


# ---------------------------------------------------------------------------------------------------------------
# Searching


def _search(out, archive, vectors, tags, queries) -> None:
    tag = TAGS[3]
    has_tag = np.array([tag in row for row in tags])
    for label, filters, mask in (
        ("top-10, archive only", {}, None),
        (f"top-10, archive + tag {tag!r} ({has_tag.mean():.0%} of rows)", {"tags": [tag]}, has_tag),
    ):
        timings, recalls = [], []
        for q in queries[:10]:  # warm caches and the connection
            _top10(archive, q, filters)
        for q in queries:
            started = time.perf_counter()
            found = _top10(archive, q, filters)
            timings.append((time.perf_counter() - started) * 1000)
            recalls.append(len(set(found) & _exact(vectors, q, mask)) / 10)
        p50, p95 = np.percentile(timings, 50), np.percentile(timings, 95)
        recall = float(np.mean(recalls))
        out.write(f"  search {label}:")
        out.write(
            f"      p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   (target p95 ≤ {TARGET_P95_MS:g} ms: "
            f"{'met' if p95 <= TARGET_P95_MS else 'MISSED'})"
        )
        out.write(
            f"      recall@10 {recall:.3f} vs exact search   (target ≥ {TARGET_RECALL}: "
            f"{'met' if recall >= TARGET_RECALL else 'MISSED'})"
        )
        if connection.vendor == "postgresql":
            out.write(f"      plan: {_plan(archive, queries[0], filters)}")


def _top10(archive, query, filters) -> list[int]:
    """Row numbers (from the passage text) of the 10 nearest passages, by the production search function."""
    from memory.models import Passage
    from memory.queries import search_passages

    hits = search_passages(Passage.objects.filter(archive=archive), query, top_k=10, embedding_model=MODEL, **filters)
    return [int(p.text.split()[1]) for p, _ in hits]


def _exact(vectors, query, mask) -> set[int]:
    q = query / np.linalg.norm(query)
    scores = vectors @ q
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return set(np.argpartition(-scores, 10)[:10].tolist())


def _plan(archive, query, filters) -> str:
    """Which index the planner picked for the search query, from EXPLAIN of the exact SQL that ran."""
    with CaptureQueriesContext(connection) as ctx:
        _top10(archive, query, filters)
    sql = next(q["sql"] for q in ctx.captured_queries if "<=>" in q["sql"])
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + sql)
        lines = [row[0] for row in cur.fetchall()]
    used = [line.strip() for line in lines if "Index Scan" in line or "Seq Scan" in line or "Bitmap" in line]
    return "; ".join(used) or lines[0]
