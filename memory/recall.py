"""Recall memory: every message the agent ever exchanged, searched by `conversation_search` (spec §7.2).

Tool traffic is noise here: tool returns, heartbeats and the search calls themselves never show up. With a query,
results are ranked by relevance, in the mode `CONVERSATION_SEARCH_MODE` sets (or the caller asks for):
- `fts`, by words: a message sharing any word of the query is a candidate, ordered by the exact phrase, then the
  rarer query words it contains (an IDF weight over the candidates), then recency;
- `vector`, by meaning: the messages nearest to the query by the agent's embedding model (memory/recall_vectors.py);
- `hybrid` (the default): both rankings fused by reciprocal rank (memory/ranking.py).
The role and date filters apply first, in SQL, in every mode. Without a query, the newest messages come first.
"""

import json
import math

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ade.errors import Invalid

from .dates import agent_timezone, parse_bound, time_ago, timestamp
from .fulltext import WORD, content_terms
from .ranking import fuse
from .recall_vectors import embed_missing, rank_by_meaning

ROLES = ("assistant", "user", "tool")
MODES = ("fts", "vector", "hybrid")
HYBRID_MIN_COVER = 0.5
DEFAULT_LIMIT = 5
MAX_LIMIT = 100
MAX_CANDIDATES = 2000  # newest messages sharing a query word that are ranked


def conversation_search(
    agent,
    query: str | None = None,
    roles=None,
    limit: int | None = DEFAULT_LIMIT,
    start_date: str | None = None,
    end_date: str | None = None,
    search_mode: str | None = None,
) -> dict:
    """The most relevant (without a query: the newest) messages: {"message": "Showing {n} results:", "results"}."""
    search_mode = search_mode or getattr(settings, "CONVERSATION_SEARCH_MODE", "hybrid")
    if search_mode not in MODES:
        raise Invalid(f"search_mode must be one of {', '.join(MODES)}", field="search_mode")
    tz = agent_timezone(agent)
    start = parse_bound(start_date, "start_date", tz)
    end = parse_bound(end_date, "end_date", tz, end=True)
    roles = _clean_roles(roles)
    limit = DEFAULT_LIMIT if limit is None else limit
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be a whole number between 1 and {MAX_LIMIT}", field="limit")
    query = query.strip() if isinstance(query, str) and query.strip() else None

    now = timezone.now()
    results = [
        {
            "timestamp": timestamp(message.created_at, tz),
            "time_ago": time_ago(message.created_at, now),
            "role": message.role,
            **body,
        }
        for message, body in _ranked(agent, _scope(agent, roles, start, end), query, limit, search_mode)
    ]
    if not results:
        return {"message": "No results found.", "results": []}
    return {"message": f"Showing {len(results)} results:", "results": results}


def _ranked(agent, scope, query: str | None, limit: int, mode: str) -> list[tuple]:
    """[(message, result body)]: the newest `limit` without a query, else the `limit` most relevant."""
    if query is None:
        return _by_words(scope, None, limit)
    near = rank_by_meaning(agent, scope, query, text_of=_text_of) if mode in ("vector", "hybrid") else []
    rankings = []
    if mode in ("fts", "hybrid"):
        # Fused, a message that shares one word of a long question is noise that outranks the meaning ranking's
        # finds: beside one, the word ranking keeps messages holding at least half of the question's word weight.
        cover = HYBRID_MIN_COVER if near else 0.0
        rankings.append(_by_words(_sharing_a_word(scope, query), query, limit=None, min_cover=cover))
    if mode in ("vector", "hybrid"):
        rankings.append([(m, body) for m in near if (body := _result_body(m, None)) is not None])
    fused = fuse(rankings, key=lambda pair: pair[0].id)
    return [pair for pair, _score, _ranks in fused[:limit]]


def _by_words(candidates, query: str | None, limit: int | None, min_cover: float = 0.0) -> list[tuple]:
    """Without a query the first `limit` results of `candidates` (newest first); with one, all candidates that
    match (at most MAX_CANDIDATES), by the phrase, then the rarer query words they hold (IDF weight), then recency;
    those holding less than `min_cover` of the query's total word weight are left out unless they hold the phrase."""
    found = []
    words = content_terms(query) if query else []
    cap = limit if query is None else MAX_CANDIDATES
    for message in candidates.iterator(chunk_size=200):
        body = _result_body(message, query, words)
        if body is not None:
            found.append((message, body))
            if len(found) >= cap:
                break
    if query is None:
        return found
    texts = [_searchable(body).casefold() for _message, body in found]
    vocab = [set(WORD.findall(t)) for t in texts]
    weight = {w: math.log(1 + len(texts) / (1 + sum(w in v for v in vocab))) for w in words}
    phrase = query.casefold()

    def score(i):
        return (phrase in texts[i], sum(weight[w] for w in words if w in vocab[i]))

    total = sum(weight.values()) or 1.0
    kept = [i for i in range(len(found)) if score(i)[0] or score(i)[1] >= min_cover * total]
    order = sorted(kept, key=score, reverse=True)  # stable: newest first among equals
    return [found[i] for i in order]


def embed_conversation(agent, batch: int = 256) -> int:
    """Embed every searchable message of `agent` that has no vector yet (what searches do a little at a time);
    returns how many messages were embedded. For benchmarks and bulk imports."""
    total = 0
    while done := embed_missing(agent, _scope(agent, ROLES, None, None), _text_of, limit=batch):
        total += done
    return total


def _text_of(message) -> str:
    body = _result_body(message, None)
    return _searchable(body) if body is not None else ""


def _searchable(body: dict) -> str:
    return "\n".join(str(body.get(k) or "") for k in ("thinking", "content", "message"))


def _clean_roles(roles) -> list[str]:
    if roles is None:
        return list(ROLES)
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)):
        raise Invalid("roles must be a list of: assistant, user, tool", field="roles")
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise Invalid(
            f"roles: unknown role(s) {', '.join(map(str, unknown))} (use assistant, user or tool)", field="roles"
        )
    return list(roles) or list(ROLES)


def _scope(agent, roles, start, end):
    """The agent's messages a search may return, newest first: the role and date filters, in SQL. Tool-role
    messages are never results, so they are not even read."""
    qs = agent.messages.filter(role__in=[r for r in roles if r != "tool"])
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    return qs.order_by("-seq")


def _sharing_a_word(scope, query: str):
    words = content_terms(query)
    if not words or not all(_safe_for_sql_prefilter(w) for w in words):
        return scope
    # A coarse filter on the stored JSON (it also matches keys); the text match follows in Python.
    coarse = Q()
    for word in words:
        coarse |= Q(content__icontains=word) | Q(tool_calls__icontains=word)
    return scope.filter(coarse)


def _safe_for_sql_prefilter(query: str) -> bool:
    # JSON storage escapes quotes, backslashes, control and (on SQLite) non-ASCII characters, so a LIKE
    # over the JSON text would miss such queries; those are matched in Python only.
    return query.isascii() and not any(c in query for c in '"\\') and all(ord(c) >= 32 for c in query)


def _result_body(message, query: str | None, words=()) -> dict | None:
    """The content fields of one result, or None when the message is noise or does not match."""
    if message.role == "user":
        return _user_body(message.text, query, words)
    if message.role == "assistant":
        return _assistant_body(message, query, words)
    return None


def _user_body(text: str, query: str | None, words) -> dict | None:
    if not text.strip() or not _matches(query, words, text):
        return None
    packaged = _json_object(text)
    if packaged is not None:
        return None if packaged.get("type") == "heartbeat" else packaged
    return {"content": text}


def _assistant_body(message, query: str | None, words) -> dict | None:
    calls = [c.get("function") or {} for c in (message.tool_calls or [])]
    if any(c.get("name") == "conversation_search" for c in calls):
        return None
    thinking = message.text
    sent = [_arguments(c).get("message") for c in calls if c.get("name") == "send_message"]
    sent = [s for s in sent if isinstance(s, str)]
    if sent:
        reply = "\n".join(sent)
        return {"thinking": thinking, "content": reply} if _matches(query, words, f"{thinking}\n{reply}") else None
    if not thinking.strip() or not _matches(query, words, thinking):
        return None
    return {"content": thinking}


def _matches(query: str | None, words, text: str) -> bool:
    """No query matches everything; otherwise the phrase or any of its words."""
    if query is None:
        return True
    text = text.casefold()
    return query.casefold() in text or not set(words).isdisjoint(WORD.findall(text))


def _json_object(text: str) -> dict | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _arguments(call: dict) -> dict:
    args = call.get("arguments")
    if isinstance(args, dict):
        return args
    try:
        value = json.loads(args or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
