"""Full-text ranking of passages, beside vector search (memory/archival.py fuses the two).

PostgreSQL: the generated `text_tsv` column (English stemming, GIN index) ranked by `ts_rank_cd`. SQLite: the
FTS5 table `memory_passage_fts` (porter stemming, kept in step by triggers) ranked by BM25. Either way the query's
words are OR-ed, so a passage that shares any word with the question is a candidate and the ranking decides;
the caller's queryset (archive scope, tags, dates) is applied in the same SQL, before the limit.
"""

import re

from django.db import connection
from django.db.models import QuerySet

WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 32
# Words too common to tell messages apart (PostgreSQL's English configuration drops the same kind): a question's
# "who did I ... with" must not make every message that says "with" a candidate.
STOP_WORDS = frozenset(
    "a about after again all am an and any are as at be been before but by can could did do does doing for from "
    "had has have he her here him his how i if in into is it its me my no not of on or our out over she so some "
    "than that the their them then there these they this those to too up us was we were what when where which "
    "while who whom why will with would you your".split()
)


def content_terms(query: str) -> list[str]:
    """`terms(query)` without the stop words (all of them when the query has nothing else)."""
    words = terms(query)
    return [w for w in words if w not in STOP_WORDS] or words


def terms(query: str) -> list[str]:
    """The distinct words of a query (at most MAX_TERMS), lower-cased; one-letter words dropped."""
    seen = []
    for word in WORD.findall((query or "").lower()):
        word = word.strip("_")
        if len(word) > 1 and word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def rank_passages(qs: QuerySet, query: str, limit: int) -> list:
    """Passages of `qs` that share words with `query`, best first (at most `limit`)."""
    words = terms(query)
    if not words or limit < 1:
        return []
    if connection.vendor == "postgresql":
        return _postgres(qs, words, limit)
    return _sqlite(qs, words, limit)


def _postgres(qs: QuerySet, words: list[str], limit: int) -> list:
    tsquery = " | ".join(words)  # \w+ words only: nothing in them is tsquery syntax
    matched = qs.extra(
        select={"fts_rank": "ts_rank_cd(memory_passage.text_tsv, to_tsquery('english', %s))"},
        select_params=[tsquery],
        where=["memory_passage.text_tsv @@ to_tsquery('english', %s)"],
        params=[tsquery],
    )
    return list(matched.order_by("-fts_rank", "id")[:limit])


def _sqlite(qs: QuerySet, words: list[str], limit: int) -> list:
    match = " OR ".join(f'"{w}"' for w in words)  # quoted: FTS5 keywords (AND, NEAR...) stay plain words
    scope, params = qs.values("id").query.sql_with_params()
    sql = (
        "SELECT p.id FROM memory_passage_fts f JOIN memory_passage p ON p.rowid = f.rowid "
        f"WHERE memory_passage_fts MATCH %s AND p.id IN ({scope}) ORDER BY bm25(memory_passage_fts), p.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [match, *params, limit])
        ranked = [row[0] for row in cursor.fetchall()]
    rows = {p.id: p for p in qs.model.objects.filter(id__in=ranked)}
    return [rows[i] for i in ranked if i in rows]
