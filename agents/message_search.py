"""Searching the messages of every agent a user may see (POST /v1/messages/search).

Modes: `fts` ranks messages by the query's words they contain; `vector` embeds the query and the newest
VECTOR_CANDIDATES messages (with the server's default embedding) and ranks by cosine similarity; `hybrid`
fuses both rankings (reciprocal rank). Only what people and agents said is searched: user text (not heartbeats
or system alerts), assistant replies and reasoning.
"""

import json
import re

from django.conf import settings

from ade.errors import Invalid
from agents.models import Message
from agents.queries import agents_for, get_agent_for
from agents.runtime.letta_messages import to_letta_messages
from memory.ranking import fuse

MODES = ("fts", "vector", "hybrid")
KINDS = ("user_message", "assistant_message", "reasoning_message")
VECTOR_CANDIDATES = 200
FTS_CANDIDATES = 2000
MAX_LIMIT = 1000


def search_messages(
    user, query: str, *, search_mode="hybrid", agent_id=None, conversation_id=None, limit=50, start=None, end=None
):
    """[{message_type, content|reasoning, message_id, agent_id, conversation_id, created_at}], best first."""
    if search_mode not in MODES:
        raise Invalid(f"search_mode must be one of {', '.join(MODES)}", field="search_mode")
    if not isinstance(query, str) or not query.strip():
        raise Invalid("query must not be empty", field="query")
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    qs = Message.objects.filter(role__in=("user", "assistant"))
    qs = qs.filter(agent=get_agent_for(user, agent_id)) if agent_id else qs.filter(agent__in=agents_for(user))
    if conversation_id:
        qs = qs.filter(conversation_id=conversation_id)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    rankings = []
    if search_mode in ("fts", "hybrid"):
        rankings.append(_lexical(qs, query))
    if search_mode in ("vector", "hybrid"):
        rankings.append(_semantic(qs, query))
    fused = fuse(rankings, key=lambda i: (i["message_id"], i["message_type"], _text(i)))
    return [item for item, _score, _ranks in fused[:limit]]


def _items(rows) -> list[dict]:
    """The searchable parts of stored rows as search results."""
    out = []
    for row in rows:
        text_reply = row.agent.agent_type in ("letta_v1_agent", "sleeptime_agent")
        for part in to_letta_messages(row, text_is_assistant=text_reply):
            kind = part["message_type"]
            text = part.get("reasoning") if kind == "reasoning_message" else part.get("content")
            if kind not in KINDS or not isinstance(text, str) or not text.strip() or _automated(kind, text):
                continue
            item = {"message_type": kind, "message_id": row.id, "agent_id": row.agent_id, "created_at": row.created_at}
            item["reasoning" if kind == "reasoning_message" else "content"] = text
            item["conversation_id"] = row.conversation_id
            out.append(item)
    return out


def _automated(kind: str, text: str) -> bool:
    # Heartbeats, login notes and system alerts are packaged JSON objects in user rows.
    if kind != "user_message" or not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _text(item: dict) -> str:
    return item.get("content") or item.get("reasoning") or ""


def _lexical(qs, query: str) -> list[dict]:
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1] or [query.lower().strip()]
    coarse = max(words, key=len)  # a coarse SQL filter on one word (JSON text); every word is checked below
    qs = qs.filter(content__icontains=coarse) | qs.filter(tool_calls__icontains=coarse)
    rows = list(qs.select_related("agent").order_by("-seq")[:FTS_CANDIDATES])
    scored = []
    for item in _items(rows):
        text = _text(item).lower()
        hits = [text.count(w) for w in words]
        if all(hits):
            scored.append((item, sum(hits)))
    scored.sort(key=lambda pair: -pair[1])  # stable: newest first among equals
    return [item for item, _ in scored]


def _semantic(qs, query: str) -> list[dict]:
    from agents.runtime.providers import resolve_embedding
    from memory.embeddings import embed

    items = _items(qs.select_related("agent").order_by("-seq")[:VECTOR_CANDIDATES])
    if not items:
        return []
    vectors = embed([query] + [_text(i) for i in items], resolve_embedding(settings.DEFAULT_EMBEDDING))
    import numpy as np  # not at start-up (~40 ms); embed() above has loaded it

    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores, kind="stable")
    return [items[i] for i in order]
