"""Small presentation filters of the ADE templates."""

import ast
import difflib
import json
import re
import time

from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

register = template.Library()
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


@register.filter
def ago(when):
    """How long ago, in words; "just now" under a minute (never "0 minutes ago")."""
    if not when:
        return ""
    if (timezone.now() - when).total_seconds() < 60:
        return "just now"
    return f"{timesince(when)} ago"


@register.filter
def text_diff(old, new):
    """Word-level diff of two texts as HTML: removed words in <del>, added words in <ins>."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    pieces = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            pieces.append(format_html("<del>{}</del>", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(format_html("<ins>{}</ins>", "".join(b[j1:j2])))
        if op == "equal":
            pieces.append("".join(a[i1:i2]))
    return format_html_join("", "{}", ((p,) for p in pieces))


@register.filter
def pretty_json(value):
    """JSON (a string holding JSON, or a value) indented for reading; other text unchanged."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, TypeError):
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


RESULT_PARSE_LIMIT = 200_000  # characters: a longer return is shown as it is


@register.filter
def tool_result(value):
    """A tool return for reading. Tools return Python values, which reach the model as their repr (as Letta does:
    `[{'timestamp': ..., 'content': ...}]` for archival_memory_search): a list of memories is drawn as a list, other
    JSON or Python literals indented, plain text unchanged."""
    parsed = value
    if isinstance(value, str) and len(value) <= RESULT_PARSE_LIMIT:
        for reader in (json.loads, ast.literal_eval):  # literal_eval reads literals only: nothing runs
            try:
                parsed = reader(value)
                break
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
    if isinstance(parsed, list) and parsed and all(isinstance(i, dict) and "content" in i for i in parsed):
        return format_html(
            '<ol class="result-list">{}</ol>',
            format_html_join(
                "",
                '<li><div class="small faint">{}{}</div><div class="result-text">{}</div></li>',
                ((item.get("timestamp") or "", _tags(item.get("tags")), item["content"]) for item in parsed),
            ),
        )
    if not isinstance(parsed, (list, dict)):
        return format_html("<pre>{}</pre>", value if isinstance(value, str) else parsed)
    try:
        return format_html("<pre>{}</pre>", json.dumps(parsed, indent=2, ensure_ascii=False))
    except (TypeError, ValueError):
        return format_html("<pre>{}</pre>", value)


def _tags(tags) -> str:
    return f" · {', '.join(str(t) for t in tags)}" if isinstance(tags, list) and tags else ""


@register.filter
def num(value):
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def content_text(content):
    """A LettaMessage `content`: a string, or a list of parts whose text parts are joined."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


@register.filter
def dom_id(message):
    """The element id of one LettaMessage part, the same for its streamed deltas and its persisted form."""
    return message_dom_id(message)


def message_dom_id(message: dict) -> str:
    key = message.get("otid") or f"{message.get('id', '')}-{message.get('message_type', '')}"
    return "m-" + re.sub(r"[^A-Za-z0-9_-]", "", key)


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def packaged_kind(text):
    """'heartbeat', 'system alert', ... when a user-role text is a packaged system notice rather than typed text."""
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return ""
    kind = data.get("type") if isinstance(data, dict) else None
    return kind.replace("_", " ") if kind in ("heartbeat", "system_alert", "login") else ""


@register.filter
def mcp_served(stdout):
    """Which MCP server answered a tool call and how fast ({"server", "ms"}), or None."""
    from tools.mcp import served_by

    return served_by(stdout)


@register.simple_tag
def render_stamp() -> int:
    """When this region was rendered (µs, exact in a JS number). The page drops a live push of a region that
    was rendered before the copy it already shows (a slow push must not undo a newer response)."""
    return time.time_ns() // 1000
