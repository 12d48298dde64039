"""Recall memory: every message the agent ever exchanged, searched by `conversation_search` (spec §7.2).

Tool traffic is noise here: tool returns, heartbeats and the search calls themselves never show up.
"""

import json

from django.db.models import Q
from django.utils import timezone

from ade.errors import Invalid

from .dates import agent_timezone, parse_bound, time_ago, timestamp

ROLES = ("assistant", "user", "tool")
DEFAULT_LIMIT = 5
MAX_LIMIT = 100


def conversation_search(
    agent,
    query: str | None = None,
    roles=None,
    limit: int | None = DEFAULT_LIMIT,
    start_date: str | None = None,
    end_date: str | None = None,
) -> dict:
    """Newest matching messages first: {"message": "Showing {n} results:", "results": [...]}."""
    tz = agent_timezone(agent)
    start = parse_bound(start_date, "start_date", tz)
    end = parse_bound(end_date, "end_date", tz, end=True)
    roles = _clean_roles(roles)
    limit = DEFAULT_LIMIT if limit is None else limit
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be a whole number between 1 and {MAX_LIMIT}", field="limit")
    query = query.strip() if isinstance(query, str) and query.strip() else None

    now = timezone.now()
    results = []
    for message in _candidates(agent, query, roles, start, end).iterator(chunk_size=200):
        body = _result_body(message, query)
        if body is not None:
            results.append(
                {
                    "timestamp": timestamp(message.created_at, tz),
                    "time_ago": time_ago(message.created_at, now),
                    "role": message.role,
                    **body,
                }
            )
            if len(results) >= limit:
                break
    if not results:
        return {"message": "No results found.", "results": []}
    return {"message": f"Showing {len(results)} results:", "results": results}


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


def _candidates(agent, query, roles, start, end):
    # Tool-role messages are never results, so they are not even read.
    qs = agent.messages.filter(role__in=[r for r in roles if r != "tool"])
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lte=end)
    if query and _safe_for_sql_prefilter(query):
        # A coarse filter on the stored JSON (it also matches keys); the exact text match follows in Python.
        qs = qs.filter(Q(content__icontains=query) | Q(tool_calls__icontains=query))
    return qs.order_by("-seq")


def _safe_for_sql_prefilter(query: str) -> bool:
    # JSON storage escapes quotes, backslashes, control and (on SQLite) non-ASCII characters, so a LIKE
    # over the JSON text would miss such queries; those are matched in Python only.
    return query.isascii() and not any(c in query for c in '"\\') and all(ord(c) >= 32 for c in query)


def _result_body(message, query: str | None) -> dict | None:
    """The content fields of one result, or None when the message is noise or does not match."""
    if message.role == "user":
        return _user_body(message.text, query)
    if message.role == "assistant":
        return _assistant_body(message, query)
    return None


def _user_body(text: str, query: str | None) -> dict | None:
    if not text.strip() or not _matches(query, text):
        return None
    packaged = _json_object(text)
    if packaged is not None:
        return None if packaged.get("type") == "heartbeat" else packaged
    return {"content": text}


def _assistant_body(message, query: str | None) -> dict | None:
    calls = [c.get("function") or {} for c in (message.tool_calls or [])]
    if any(c.get("name") == "conversation_search" for c in calls):
        return None
    thinking = message.text
    sent = [_arguments(c).get("message") for c in calls if c.get("name") == "send_message"]
    sent = [s for s in sent if isinstance(s, str)]
    if sent:
        reply = "\n".join(sent)
        return {"thinking": thinking, "content": reply} if _matches(query, f"{thinking}\n{reply}") else None
    if not thinking.strip() or not _matches(query, thinking):
        return None
    return {"content": thinking}


def _matches(query: str | None, text: str) -> bool:
    return query is None or query.casefold() in text.casefold()


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
