"""Stored `Message` rows → LettaMessage wire dicts (letta-api §3). One converter for the API, SSE and pages.

How rows are stored is described in docs/architecture.md ("Message rows"). One row can become several wire
messages ("parts"); they share the row's `id` and differ by `otid`, which is the row's uuid with its low 7 bits
replaced by the part index (letta-api §1.4). Choices where the reference is ambiguous:

* an assistant row gives one `tool_call_message` per tool call (each with `tool_calls=[that call]`), and a tool
  row one `tool_return_message` per return (each with `tool_returns=[that return]`), so parts pair up by
  `tool_call_id`; an approval request gives ONE `approval_request_message` listing every call awaiting approval,
  because the client must answer them together;
* `tool_return` is the tool's own return string (`func_response`), not the packaged JSON the model saw.

Pure functions over the row's fields: no queries.
"""

import json
import re
import uuid
from datetime import UTC

SUMMARY_MARKER = "The following is a summary of the previous "
USAGE_FIELDS = (
    "completion_tokens",
    "prompt_tokens",
    "total_tokens",
    "step_count",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_tokens",
    "run_ids",
)


def wire_date(value) -> str:
    """A LettaMessage `date`: seconds precision with an explicit +00:00 offset."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def part_otid(message_id: str, index: int) -> str:
    """The otid of part `index` of a stored message: its uuid with the low 7 bits set to the index."""
    text = message_id.split("-", 1)[1]
    if _CANONICAL_UUID.fullmatch(text):  # our ids: change the last byte in the text (a page has hundreds of parts)
        return f"{text[:-2]}{(int(text[-2:], 16) & 0x80) | (index & 0x7F):02x}"
    raw = uuid.UUID(text)
    return str(uuid.UUID(int=(raw.int & ~0x7F) | (index & 0x7F)))


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


class _Parts:
    """Builds the wire messages of one row, numbering their otids."""

    def __init__(self, message):
        self.message = message
        self.out = []
        self.date = wire_date(message.created_at)

    def add(self, message_type: str, **fields):
        m = self.message
        otid = m.otid if m.role == "user" and m.otid else part_otid(m.id, len(self.out))
        self.out.append(
            {
                "id": m.id,
                "date": self.date,
                "message_type": message_type,
                "otid": otid,
                "name": m.name or None,
                "sender_id": m.sender_id or None,
                "step_id": m.step_id,
                "run_id": m.run_id,
                "seq_id": None,
                "is_err": True if m.is_err else None,
                **fields,
            }
        )


def to_letta_messages(
    message,
    *,
    use_assistant_message: bool = True,
    assistant_message_tool_name: str = "send_message",
    assistant_message_tool_kwarg: str = "message",
    text_is_assistant: bool = True,
    include_compaction: bool = False,
) -> list[dict]:
    """The LettaMessage dicts of one stored message, in order.

    `text_is_assistant`: text parts of an assistant row are the reply (letta_v1) rather than inner thoughts
    (legacy heartbeat agents). `include_compaction`: show summary rows stored as user alerts as summary_message."""
    parts = _Parts(message)
    role = message.role
    if role == "system":
        parts.add("system_message", content=message.text)
    elif role == "user":
        _user(parts, include_compaction)
    elif role == "summary":
        _summary(parts, message.text)
    elif role == "tool":
        _tool_returns(parts)
    elif role == "approval" and message.tool_calls:
        _content(parts, text_is_assistant=False)
        calls = [_tool_call(c) for c in message.tool_calls]
        parts.add("approval_request_message", tool_call=calls[0], tool_calls=calls)
    elif role == "approval":
        _approval_response(parts)
    elif role == "assistant":
        _content(parts, text_is_assistant=text_is_assistant)
        for call in message.tool_calls or []:
            _assistant_call(
                parts, call, use_assistant_message, assistant_message_tool_name, assistant_message_tool_kwarg
            )
    return parts.out


def messages_to_letta(messages, **options) -> list[dict]:
    """`to_letta_messages` over several rows, flattened."""
    return [part for m in messages for part in to_letta_messages(m, **options)]


def _user(parts: _Parts, include_compaction: bool):
    message = parts.message
    content = [p for p in message.content or [] if p.get("type") != "text" or p.get("text")]
    text = message.text
    packaged = _json(text) if text.lstrip().startswith("{") else None
    if isinstance(packaged, dict) and packaged.get("type") == "user_message" and "message" in packaged:
        text = packaged["message"]  # legacy packaged input: show what the person wrote
    elif include_compaction and isinstance(packaged, dict) and SUMMARY_MARKER in str(packaged.get("message")):
        return _summary(parts, text)
    if all(p.get("type") == "text" for p in content) and len(content) <= 1:
        parts.add("user_message", content=text)
    else:
        parts.add("user_message", content=content)


def _summary(parts: _Parts, text: str):
    packaged = _json(text)
    summary, stats = text, None
    if isinstance(packaged, dict):
        summary = str(packaged.get("message", text))
        stats = packaged.get("compaction_stats")
    required = ("trigger", "context_window", "messages_count_before", "messages_count_after")
    if not (isinstance(stats, dict) and all(k in stats for k in required)):
        stats = None
    parts.add("summary_message", summary=summary, compaction_stats=stats)


def _content(parts: _Parts, *, text_is_assistant: bool):
    for part in parts.message.content or []:
        kind = part.get("type")
        if kind == "text" and part.get("text"):
            if text_is_assistant:
                parts.add("assistant_message", content=part["text"])
            else:
                parts.add("reasoning_message", reasoning=part["text"], source="non_reasoner_model", signature=None)
        elif kind == "reasoning":
            source = "reasoner_model" if part.get("is_native") else "non_reasoner_model"
            parts.add(
                "reasoning_message", reasoning=part.get("reasoning", ""), source=source, signature=part.get("signature")
            )
        elif kind == "summarized_reasoning":
            text = "\n".join(s.get("text", "") for s in part.get("summary") or [])
            parts.add("reasoning_message", reasoning=text, source="reasoner_model", signature=None)
        elif kind in ("redacted_reasoning", "omitted_reasoning"):
            parts.add("hidden_reasoning_message", state=kind.split("_")[0], hidden_reasoning=part.get("data"))


def _tool_call(call: dict) -> dict:
    fn = call.get("function") or {}
    arguments = fn.get("arguments")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments or {})
    return {"name": fn.get("name", ""), "arguments": arguments, "tool_call_id": call.get("id", "")}


def _assistant_call(parts: _Parts, call: dict, use_assistant_message: bool, tool_name: str, kwarg: str):
    wire = _tool_call(call)
    if use_assistant_message and wire["name"] == tool_name:
        args = _json(wire["arguments"])
        if isinstance(args, dict) and kwarg in args:
            said = args[kwarg]
            parts.add("assistant_message", content=said if isinstance(said, str) else json.dumps(said))
            return
    parts.add("tool_call_message", tool_call=wire, tool_calls=[wire])


def _tool_returns(parts: _Parts):
    message = parts.message
    texts = [p.get("text", "") for p in message.content or [] if p.get("type") in ("text", None)]
    returns = message.tool_returns or [
        {
            "tool_call_id": message.tool_call_id,
            "status": _status(message.text),
            "func_response": message.text,
            "stdout": None,
            "stderr": None,
        }
    ]
    for i, ret in enumerate(returns):
        value = ret.get("func_response")
        if value is None:
            value = texts[i] if i < len(texts) else message.text
        value = value if isinstance(value, str) else json.dumps(value)
        status = ret.get("status") if ret.get("status") in ("success", "error") else "success"
        wire = {
            "type": "tool",
            "tool_call_id": ret.get("tool_call_id") or message.tool_call_id,
            "status": status,
            "tool_return": value,
            "stdout": ret.get("stdout"),
            "stderr": ret.get("stderr"),
        }
        parts.add(
            "tool_return_message",
            tool_return=value,
            status=status,
            tool_call_id=wire["tool_call_id"],
            stdout=wire["stdout"],
            stderr=wire["stderr"],
            tool_returns=[wire],
        )


def _status(text: str) -> str:
    packaged = _json(text)
    failed = isinstance(packaged, dict) and str(packaged.get("status", "")).lower() in ("failed", "error")
    return "error" if failed else "success"


def _approval_response(parts: _Parts):
    message = parts.message
    approvals = []
    for a in message.approvals or []:
        if a.get("type") == "tool":
            approvals.append(
                {
                    "type": "tool",
                    "tool_call_id": a.get("tool_call_id", ""),
                    "status": a.get("status", "success"),
                    "tool_return": a.get("tool_return", ""),
                    "stdout": a.get("stdout"),
                    "stderr": a.get("stderr"),
                }
            )
        else:
            approvals.append(
                {
                    "type": "approval",
                    "tool_call_id": a.get("tool_call_id", ""),
                    "approve": bool(a.get("approve")),
                    "reason": a.get("reason"),
                }
            )
    parts.add(
        "approval_response_message",
        approvals=approvals,
        approve=message.approve,
        approval_request_id=message.approval_request_id or None,
        reason=message.denial_reason or None,
    )


# ---- responses --------------------------------------------------------------------------------------------------


def usage_dict(usage: dict | None = None, **fields) -> dict:
    """A `usage_statistics` object from a stored usage dict and/or keyword figures (unknown keys are ignored)."""
    merged = {**(usage or {}), **fields}
    out = {"message_type": "usage_statistics"}
    for key in USAGE_FIELDS:
        value = merged.get(key)
        out[key] = (
            (value or 0) if key in ("completion_tokens", "prompt_tokens", "total_tokens", "step_count") else value
        )
    if not out["total_tokens"]:
        out["total_tokens"] = out["prompt_tokens"] + out["completion_tokens"]
    return out


def stop_reason_dict(stop_reason: str) -> dict:
    return {"message_type": "stop_reason", "stop_reason": stop_reason}


def letta_response(messages: list[dict], stop_reason: str, usage: dict | None) -> dict:
    """A LettaResponse from already converted LettaMessage dicts."""
    return {"messages": messages, "stop_reason": stop_reason_dict(stop_reason), "usage": usage_dict(usage)}


def filter_types(messages: list[dict], types) -> list[dict]:
    """Keep only the given message types (`include_return_message_types`); None keeps everything."""
    return messages if types is None else [m for m in messages if m["message_type"] in set(types)]
