"""A step's provider trace: what it sent to the model and what came back, kept on the Step row for debugging.

Bounded (long strings clipped, oldest middle messages dropped past the cap) and never holding secrets: the
request is our own message list and tool schemas (never the litellm kwargs, which carry keys and headers), any
value of the agent's secrets is replaced, and fields named like credentials are masked.
"""

import functools
import json
import uuid

from ade import jsoncodec

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
    """{request_json, response_json}, secrets redacted, at most about MAX_TRACE_CHARS of JSON: past the cap the
    oldest messages after the system message are left out (`messages_omitted` says how many)."""
    values = _Secrets(v for v in (secrets or {}).values() if isinstance(v, str) and len(v) >= 4)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        trace = Trace(request_json=_cleaned(request, values)[0], response_json=_cleaned(response, values)[0])
        trace.text = _dumps(trace)
        return trace
    # The system message, then the newest messages back to the cap, each cleaned and measured once: batches of
    # them while whole batches fit, one by one in the batch where the cap falls. A long context costs what the
    # cap holds (dumping the whole trace again per message dropped took 1.9 s per step for a 300 KB request), and
    # the text is put together from the pieces measured.
    rest = _cleaned({k: v for k, v in request.items() if k != "messages"}, values)[0]
    trace = Trace(
        request_json={k: _SLOT if k == "messages" else rest[k] for k in request},
        response_json=_cleaned(response, values)[0],
    )
    shell = _dumps(trace)
    first, first_text = _cleaned(messages[0], values)
    pieces, kept = [first_text], []  # after the first: newest first, each piece one message or a batch's
    room = MAX_TRACE_CHARS - (len(shell) - len(_SLOT_JSON) + 2) - len(pieces[0])
    end = len(messages)
    while end > 1:
        start = max(1, end - _BATCH)
        batch, text = _cleaned_items(messages[start:end], values)
        if len(text) + 2 <= room:  # with the ", " before it
            room -= len(text) + 2
            pieces.append(text)
            kept.extend(reversed(batch))
            end = start
            continue
        for cleaned in reversed(batch):
            text = _dumps(cleaned)
            room -= len(text) + 2
            if room < 0 and kept:
                break
            pieces.append(text)
            kept.append(cleaned)
        break
    trace["request_json"]["messages"] = [first, *reversed(kept)]
    if len(kept) + 1 < len(messages):
        trace["request_json"]["messages_omitted"] = len(messages) - len(kept) - 1
        trace.text = _dumps(trace)  # at most the cap's worth
    else:
        trace.text = shell.replace(_SLOT_JSON, "[" + ", ".join([pieces[0], *reversed(pieces[1:])]) + "]", 1)
    return trace


def _cleaned(value, secrets: "_Secrets") -> tuple:
    """`_clean(value)` and its JSON text. Walking every value in Python was most of a step's trace (~6 µs a
    message); the JSON text, made anyway, shows in one pass when cleaning would change nothing: no secret to
    replace, no credential-like name anywhere in it, and too short to hold a string past the clip. The value is
    then kept as it is (`_may_need_cleaning`)."""
    text = _dumps(value)
    if _may_need_cleaning(text, secrets):
        value = _clean(value, secrets)
        text = _dumps(value)
    return value, text


def _cleaned_items(items: list, secrets: "_Secrets") -> tuple[list, str]:
    """The items cleaned and their JSON text without its brackets: all at once when that shows nothing to clean,
    else each on its own."""
    text = _dumps(items)
    if not _may_need_cleaning(text, secrets):
        return items, text[1:-1]
    pairs = [_cleaned(item, secrets) for item in items]
    return [value for value, _text in pairs], ", ".join(text for _value, text in pairs)


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


_BATCH = 64
# How a name `_credential_name` masks can show in a JSON text: the names in any case, or, in the json module's ASCII
# text (what orjson refuses goes there), through the two characters outside ASCII that lower() turns into ASCII
# letters, escaped (K, the Kelvin sign: "TO\u212aEN"). orjson writes them as they are, and lower() maps them.
_CREDENTIAL_MARKS = (*SECRET_NAMES, "\\u0130", "\\u212a")


def _may_need_cleaning(text: str, secrets: "_Secrets") -> bool:
    """False only if `_clean` would return the value whose JSON is `text` unchanged. JSON escapes character by
    character, so a secret inside a string shows in the text as the secret's own escaped text, in the form of the
    writer of that text (orjson's UTF-8, or json's ASCII for what orjson refuses: both are looked for)."""
    if len(text) > MAX_STRING or any(escaped in text for escaped in secrets.escaped):
        return True
    lowered = text.lower()
    return any(mark in lowered for mark in _CREDENTIAL_MARKS)


class _Secrets(list):
    """The values to redact, with their JSON-escaped texts."""

    def __init__(self, values):
        super().__init__(values)
        self.escaped = [text for value in self for text in {_dumps(value)[1:-1], json.dumps(value)[1:-1]}]


# Where the messages' text goes in a trace's text: unguessable, so no value of the request can be it.
_SLOT = f"messages-{uuid.uuid4().hex}"
_SLOT_JSON = json.dumps(_SLOT)


def _dumps(value) -> str:
    """JSON text through orjson (ade/jsoncodec.py; a long context's trace took ~3 ms with json); what JSON lacks as
    str() gives it, datetimes included."""
    return jsoncodec.dumps(value, str, datetimes_by_default=True).decode()
