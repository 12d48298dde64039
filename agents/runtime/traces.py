"""A step's provider trace: what it sent to the model and what came back, kept on the Step row for debugging.

Bounded (long strings clipped, oldest middle messages dropped past the cap) and never holding secrets: the
request is our own message list and tool schemas (never the litellm kwargs, which carry keys and headers), any
value of the agent's secrets is replaced, and fields named like credentials are masked.
"""

import functools
import json

MAX_STRING = 20_000
MAX_TRACE_CHARS = 200_000
REDACTED = "[redacted]"
SECRET_NAMES = ("api_key", "apikey", "authorization", "token", "password", "secret")


def request_record(llm_config: dict, messages, tools, tool_choice, parallel_tool_calls, stream: bool) -> dict:
    return {
        "model": llm_config.get("model"),
        "model_endpoint_type": llm_config.get("model_endpoint_type"),
        "messages": messages,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": parallel_tool_calls,
        "stream": stream,
    }


def response_record(result) -> dict:
    return {
        "model": result.model or None,
        "content": result.content,
        "reasoning": result.reasoning or None,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in result.tool_calls],
        "finish_reason": result.finish_reason,
        "usage": {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.total_tokens,
        },
    }


class Trace(dict):
    """A built trace and its JSON text: measured once for the size bound, that text is what the Step row stores
    (`TraceEncoder`). Serializing a long request twice was ~4 % of a turn's CPU. Not to be changed once built."""

    __slots__ = ("text",)


class TraceEncoder(json.JSONEncoder):
    """Step.trace's encoder: a `Trace` is written as the text it was measured with; anything else as usual."""

    def encode(self, o):
        return o.text if isinstance(o, Trace) else super().encode(o)


def build_trace(request: dict, response: dict, *, secrets: dict | None = None) -> Trace:
    """{request_json, response_json}, secrets redacted, at most about MAX_TRACE_CHARS of JSON."""
    values = [v for v in (secrets or {}).values() if isinstance(v, str) and len(v) >= 4]
    trace = Trace(request_json=_clean(request, values), response_json=_clean(response, values))
    messages = trace["request_json"].get("messages")
    trace.text = _dumps(trace)
    excess = len(trace.text) - MAX_TRACE_CHARS
    if excess > 0 and isinstance(messages, list) and len(messages) > 2:
        # Keep the system message and the newest ones. A message leaves its JSON and a ", " from the text, so the
        # count is worked out from each one's length: dumping the trace again per message dropped was quadratic
        # (1.9 s for a 300 KB request).
        dropped = 0
        while excess > 0 and len(messages) - dropped > 2:
            excess -= len(_dumps(messages[1 + dropped])) + 2
            dropped += 1
        del messages[1 : 1 + dropped]
        trace["request_json"]["messages_omitted"] = dropped
        trace.text = _dumps(trace)
    return trace


def _clean(value, secrets: list[str], key: str = ""):
    if isinstance(value, dict):
        return {k: _clean(v, secrets, k if isinstance(k, str) else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, secrets) for v in value]
    if isinstance(value, str):
        if key and value and _credential_name(key):
            return REDACTED
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        if len(value) > MAX_STRING:
            return value[:MAX_STRING] + f"… [{len(value) - MAX_STRING} characters clipped]"
    return value


@functools.lru_cache(maxsize=4096)
def _credential_name(key: str) -> bool:
    # Cached: a trace repeats the same few keys (role, content, type, description…) thousands of times.
    lowered = key.lower()
    return any(name in lowered for name in SECRET_NAMES)


def _dumps(trace: dict) -> str:
    return json.dumps(trace, default=str)
