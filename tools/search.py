"""Finding tools by what they do (POST /v1/tools/search): words in the name, description and tags (`fts`), meaning
(`vector`: the server's default embedding of "name: description"), or both fused by reciprocal rank (`hybrid`)."""

import re

from django.conf import settings

from ade.errors import Invalid
from memory.ranking import fuse

from .queries import tools_for

MODES = ("fts", "vector", "hybrid")
MAX_LIMIT = 1000


def search_tools(user, query: str | None, *, search_mode="hybrid", tool_types=None, tags=None, limit=50) -> list[dict]:
    """[{tool, embedded_text, fts_rank, vector_rank, combined_score}], best first. No query: newest first."""
    if search_mode not in MODES:
        raise Invalid(f"search_mode must be one of {', '.join(MODES)}", field="search_mode")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    qs = tools_for(user)
    if tool_types:
        qs = qs.filter(tool_type__in=tool_types)
    tools = [t for t in qs.order_by("-created_at", "-id") if not tags or set(tags) & set(t.tags or [])]
    if not query or not query.strip():
        return [_result(t, None, None, 0.0) for t in tools[:limit]]
    rankings = []
    if search_mode in ("fts", "hybrid"):
        rankings.append(_lexical(tools, query))
    if search_mode in ("vector", "hybrid"):
        rankings.append(_semantic(tools, query))
    fused = fuse(rankings, key=lambda t: t.id)
    out = []
    for tool, score, ranks in fused[:limit]:
        fts = ranks[0] if search_mode != "vector" else None
        vector = ranks[-1] if search_mode != "fts" else None
        out.append(_result(tool, fts, vector, score))
    return out


def embedded_text(tool) -> str:
    return f"{tool.name}: {tool.description or ''}".strip()


def _result(tool, fts_rank, vector_rank, score) -> dict:
    return {
        "tool": tool,
        "embedded_text": embedded_text(tool),
        "fts_rank": fts_rank,
        "vector_rank": vector_rank,
        "combined_score": score,
    }


def _lexical(tools, query: str) -> list:
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1]
    scored = []
    for tool in tools:
        text = " ".join([tool.name.replace("_", " "), tool.description or "", *(tool.tags or [])]).lower()
        hits = sum(text.count(w) for w in words)
        if hits:
            scored.append((tool, hits))
    scored.sort(key=lambda pair: -pair[1])
    return [tool for tool, _ in scored]


def _semantic(tools, query: str) -> list:
    from agents.runtime.providers import resolve_embedding  # tools do not import agents at module level
    from memory.embeddings import embed

    if not tools:
        return []
    vectors = embed([query] + [embedded_text(t) for t in tools], resolve_embedding(settings.DEFAULT_EMBEDDING))
    import numpy as np  # not at start-up (~40 ms); embed() above has loaded it

    order = np.argsort(-(vectors[1:] @ vectors[0]), kind="stable")
    return [tools[i] for i in order]
