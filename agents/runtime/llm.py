"""All LLM calls, through litellm (imported lazily: it takes seconds to import).

`complete(llm_config, messages, ...)` makes one chat completion, streamed or not, retried with backoff on rate
limits and server errors, and returns an `LLMResult`. Context-length errors are raised as `ContextWindowExceeded`
so the loop can compact and retry. `chat_messages(rows, agent)` turns Message rows into the provider's format.
"""

import atexit
import importlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

log = logging.getLogger(__name__)

TOOL_CALL_ID_MAX_LEN = 29
RETRY_DELAYS = (0.5, 1.5, 4.0)
CONTEXT_ERROR_PHRASES = (
    "maximum context length",
    "exceeds the context window",
    "context_length_exceeded",
    "prompt is too long",
    "context window",
    "too many tokens",
    "input is too long",
    "reduce the length of the messages",
)

_litellm = None
_import_lock = threading.Lock()
EXIT_WAIT_SECONDS = 60  # the import takes seconds; a bound all the same


def litellm():
    """The litellm module, imported once and configured to stay quiet and offline."""
    global _litellm
    if _litellm is None:
        with _import_lock:
            if _litellm is None:
                import litellm as module

                from agents.runtime.litellm_setup import configure

                configure(module)
                _litellm = module
    return _litellm


def warm_up(then=None, *, first: tuple[str, ...] = ()) -> None:
    """Import litellm on a background thread (it takes seconds): a server's or worker's first turn then finds it
    loaded instead of paying the import. A turn that comes sooner waits on the same lock, never imports twice.
    The modules named in `first` are imported before it, on the same thread. `then()` is called on that thread once
    the warm-up is over.

    A process that exits meanwhile lets the warm-up finish first (at most EXIT_WAIT_SECONDS): the interpreter's
    finalization otherwise waited forever for an import lock the frozen daemon thread held (litellm's HTTP client,
    collected at exit, imports in its __del__). Seen: daphne stopped with Ctrl-C seconds after start never exited.
    daphne's web process now skips both, the wait and the finalization (ade/asgi.py `_end_now`)."""
    _warming.set()
    thread = threading.Thread(target=_warm, args=(then, first), name="litellm-warm-up", daemon=True)
    thread.start()
    atexit.register(thread.join, EXIT_WAIT_SECONDS)


def _warm(then=None, first: tuple[str, ...] = ()) -> None:
    try:
        for module in first:
            importlib.import_module(module)
        _rehearse(litellm())
    except Exception:  # a warm-up must never take the process down; the first turn then pays instead
        log.warning("warming up litellm failed", exc_info=True)
    finally:
        _warming.clear()
        _warm_done.set()
        if then is not None:
            then()


def _rehearse(lit) -> None:
    """A call with tools that litellm answers itself (mock_response: nothing leaves the process), and the token
    encoding of the default model: what a first turn would otherwise load (litellm's provider tables, the
    tiktoken encoding) is loaded now (it took ~0.4 s of the first message after start-up). Not a streamed mock:
    its path loads ~70 MiB that real streams never use."""
    from agents.runtime.litellm_setup import CALL_KWARGS
    from memory.tokens import count_tokens

    tool = {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
    lit.completion(
        model="openai/gpt-4o-mini",
        messages=[{"role": "user", "content": "warm-up"}],
        api_key="-",
        tools=[tool],
        mock_response="ok",
        **CALL_KWARGS,
    )
    count_tokens("warm-up", settings.DEFAULT_MODEL)


_warming = threading.Event()
_warm_done = threading.Event()


def wait_for_warm_up(timeout: float = 30) -> None:
    """Return once a warm-up in progress has ended (at once when none is). Tool processes are started after it: one
    started while litellm was importing on the other thread lost its result now and then (about one run in five
    right after start-up, in tests), and never once the import was over. The rehearsal after the import counts too:
    with httpx no longer loaded at start-up, a tool started during it lost its result in 4 of 6 runs."""
    if _warming.is_set():
        _warm_done.wait(timeout)


class LLMError(Exception):
    """A provider call failed; `stop_reason` is what the run records."""

    stop_reason = "llm_api_error"


class ContextWindowExceeded(LLMError):
    stop_reason = "context_window_overflow_in_system_prompt"


class InvalidLLMResponse(LLMError):
    stop_reason = "invalid_llm_response"


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model sent it

    def as_dict(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class LLMResult:
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    llm_ns: int = 0
    model: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Errors


def is_context_error(exc: Exception) -> bool:
    lit = _litellm
    if lit is not None and isinstance(exc, getattr(lit, "ContextWindowExceededError", ())):
        return True
    text = str(exc).lower()
    return any(p in text for p in CONTEXT_ERROR_PHRASES)


def retryable(exc: Exception) -> bool:
    """A rate limit, a server error or a lost connection: worth another try (never a refused request)."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    lit = _litellm
    kinds = tuple(
        getattr(lit, n)
        for n in ("RateLimitError", "InternalServerError", "ServiceUnavailableError", "APIConnectionError", "Timeout")
        if hasattr(lit, n)
    )
    return isinstance(exc, kinds)


def _readable(exc: Exception, *, tenant: bool = False) -> str:
    """What a caller is told about a failed call. From an endpoint a tenant chose (maybe a service inside the
    host) only the kind of failure and its HTTP status: its response text stays in the server log."""
    if tenant:
        from ade.netguard import provider_error_message

        log.warning("LLM call to a custom endpoint failed: %s", exc)
        return f"the model endpoint failed: {provider_error_message(exc)}"
    text = str(exc)
    for prefix in ("litellm.", "OpenAIException - ", "AnthropicException - "):
        text = text.replace(prefix, "")
    return text[:1000]


# ---------------------------------------------------------------------------------------------------------------
# The call


def complete(
    llm_config: dict,
    messages: list[dict],
    *,
    tools: list[dict] | None = None,
    tool_choice=None,
    parallel_tool_calls: bool | None = None,
    stream: bool = False,
    on_delta=None,
    max_tokens: int | None = None,
    org_id: str | None = None,
) -> LLMResult:
    """One chat completion, for an agent of `org_id` (whose own providers a "byok" config names). `on_delta(kind, data)` receives stream deltas: ("content", text),
    ("reasoning", text), ("tool_call", {"index", "id", "name", "arguments"}).

    Raises ContextWindowExceeded, InvalidLLMResponse or LLMError; retries 429/5xx with backoff first.
    """
    from ade.errors import DomainError, Invalid
    from agents.runtime.litellm_setup import CALL_KWARGS
    from agents.runtime.providers import litellm_kwargs, tenant_endpoint

    lit = litellm()
    try:
        kwargs = {k: v for k, v in litellm_kwargs(llm_config, org_id).items() if v is not None}
    except Invalid as exc:  # an endpoint the server may not call, or a provider the organization does not have
        raise LLMError(exc.message) from exc
    # An endpoint a tenant chose (its own or its organization's provider): only the kind of failure is shown.
    tenant = bool(tenant_endpoint(llm_config)) or llm_config.get("provider_category") == "byok"
    kwargs.update(CALL_KWARGS, messages=messages, timeout=getattr(settings, "LLM_TIMEOUT_SECONDS", 120))
    if llm_config.get("temperature") is not None:
        kwargs["temperature"] = llm_config["temperature"]
    if max_tokens or llm_config.get("max_tokens"):
        kwargs["max_tokens"] = max_tokens or llm_config["max_tokens"]
    if tools:
        kwargs["tools"] = tools
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
    delays = getattr(settings, "LLM_RETRY_DELAYS", RETRY_DELAYS)
    for attempt in range(len(delays) + 1):
        started = time.monotonic_ns()
        try:
            result = _stream(lit, kwargs, on_delta) if stream else _once(lit, kwargs)
            result.llm_ns = time.monotonic_ns() - started
            return result
        except (LLMError, DomainError):  # DomainError: from on_delta (e.g. the run's event log is down)
            raise
        except Exception as exc:  # provider errors come in many classes; sort them by what we can do
            if is_context_error(exc):
                raise ContextWindowExceeded(_readable(exc, tenant=tenant)) from exc
            if attempt < len(delays) and retryable(exc) and not (stream and on_delta and _partial(exc)):
                log.warning("LLM call failed (%s), retrying in %.1fs", type(exc).__name__, delays[attempt])
                time.sleep(delays[attempt])
                continue
            raise LLMError(_readable(exc, tenant=tenant)) from exc
    raise AssertionError("unreachable")


def _partial(exc) -> bool:
    # A stream that already delivered deltas cannot be replayed without duplicating them.
    return getattr(exc, "_engram_partial", True)


def _usage(result: LLMResult, usage) -> None:
    if not usage:
        return
    result.prompt_tokens = int(_get(usage, "prompt_tokens") or 0)
    result.completion_tokens = int(_get(usage, "completion_tokens") or 0)
    result.total_tokens = int(_get(usage, "total_tokens") or 0) or result.prompt_tokens + result.completion_tokens
    details = _get(usage, "prompt_tokens_details")
    if details is not None:
        result.cached_input_tokens = _get(details, "cached_tokens")
    details = _get(usage, "completion_tokens_details")
    if details is not None:
        result.reasoning_tokens = _get(details, "reasoning_tokens")


def _once(lit, kwargs) -> LLMResult:
    from agents.runtime import openai_wire  # not at start-up: httpx took ~45 ms of it (litellm's import brings it)

    response = openai_wire.complete(kwargs) if openai_wire.handles(kwargs) else lit.completion(**kwargs)
    choices = _get(response, "choices") or []
    if not choices:
        raise InvalidLLMResponse("The model returned no choices")
    message = _get(choices[0], "message") or {}
    result = LLMResult(
        content=_get(message, "content") or "",
        finish_reason=_get(choices[0], "finish_reason"),
        reasoning=_get(message, "reasoning_content") or "",
        model=_get(response, "model") or "",
    )
    for call in _get(message, "tool_calls") or []:
        function = _get(call, "function") or {}
        result.tool_calls.append(
            ToolCall(_get(call, "id") or "", _get(function, "name") or "", _get(function, "arguments") or "")
        )
    _usage(result, _get(response, "usage"))
    return result


def _stream(lit, kwargs, on_delta) -> LLMResult:
    result = LLMResult()
    calls: dict[int, dict] = {}
    kwargs = {**kwargs, "stream_options": {"include_usage": True}}
    from agents.runtime import openai_wire

    chunks = openai_wire.stream(kwargs) if openai_wire.handles(kwargs) else lit.completion(**kwargs, stream=True)
    try:
        for chunk in chunks:
            if _get(chunk, "usage"):
                _usage(result, _get(chunk, "usage"))
            for choice in _get(chunk, "choices") or []:
                _apply_delta(result, calls, choice, on_delta)
            result.model = result.model or _get(chunk, "model") or ""
    except Exception as exc:
        try:
            exc._engram_partial = bool(result.content or result.reasoning or calls)
        except AttributeError:  # an exception type without a __dict__: treat as partial, never replay
            pass
        raise
    for index in sorted(calls):
        call = calls[index]
        result.tool_calls.append(ToolCall(call["id"], call["name"], call["arguments"]))
    return result


def _get(obj, name: str, default=None):
    """A field of a response part: a dict from `openai_wire`, an object from litellm.completion."""
    return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)


def _apply_delta(result: LLMResult, calls: dict, choice, on_delta) -> None:
    delta = _get(choice, "delta")
    if _get(choice, "finish_reason"):
        result.finish_reason = _get(choice, "finish_reason")
    if delta is None:
        return
    reasoning = _get(delta, "reasoning_content")
    if reasoning:
        result.reasoning += reasoning
        on_delta and on_delta("reasoning", reasoning)
    content = _get(delta, "content")
    if content:
        result.content += content
        on_delta and on_delta("content", content)
    for tc in _get(delta, "tool_calls") or []:
        index = _get(tc, "index")
        index = index if index is not None else len(calls)
        call = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        fn = _get(tc, "function")
        name, call_id = fn and _get(fn, "name"), _get(tc, "id")
        piece = {"index": index, "id": None, "name": None, "arguments": (fn and _get(fn, "arguments")) or ""}
        if call_id and not call["id"]:
            call["id"] = piece["id"] = call_id
        if name and not call["name"]:
            call["name"] = piece["name"] = name
        call["arguments"] += piece["arguments"]
        on_delta and on_delta("tool_call", piece)


# ---------------------------------------------------------------------------------------------------------------
# Message rows → provider messages


def tool_schema(tool) -> dict:
    """The function schema of a Tool row: {name, description, parameters}."""
    schema = dict(tool.json_schema or {})
    schema.setdefault("name", tool.name)
    schema.setdefault("description", tool.description or "")
    schema.setdefault("parameters", {"type": "object", "properties": {}, "required": []})
    return schema


def _call_for_provider(call: dict) -> dict:
    fn = call.get("function") or {}
    return {
        "id": (call.get("id") or "")[:TOOL_CALL_ID_MAX_LEN],
        "type": "function",
        "function": {"name": fn.get("name", ""), "arguments": fn.get("arguments") or "{}"},
    }


def _clip(text: str, cap: int | None) -> str:
    if cap is None or len(text) <= cap:
        return text
    return f"{text[:cap]}... [truncated {len(text) - cap} chars]"


def _user_content(parts: list) -> str | list:
    if all(p.get("type") in ("text", None) for p in parts):
        return "".join(p.get("text", "") for p in parts)
    out = []
    for p in parts:
        if p.get("type") == "image":
            src = p.get("source") or {}
            url = src.get("url") or (
                f"data:{src.get('media_type')};base64,{src.get('data')}" if src.get("data") else ""
            )
            if url:
                out.append({"type": "image_url", "image_url": {"url": url}})
        elif p.get("text"):
            out.append({"type": "text", "text": p["text"]})
    return out


def chat_messages(rows, agent=None, *, tool_return_cap: int | None = None, system_text: str | None = None) -> list:
    """Provider (OpenAI-format) messages for Message rows, in order.

    summary → user; approval request → assistant with tool_calls; approval response → dropped; inner thoughts
    (non-native reasoning) are the assistant text; native reasoning is not sent back.
    """
    out = []
    for m in rows:
        parts = m.content or []
        if m.role == "system":
            out.append({"role": "system", "content": system_text if system_text is not None else m.text})
        elif m.role in ("user", "summary"):
            out.append({"role": "user", "content": _user_content(parts)})
        elif m.role in ("assistant", "approval"):
            if m.role == "approval" and not m.tool_calls:
                continue
            text = "".join(p.get("text", "") for p in parts if p.get("type") == "text")
            thoughts = "".join(
                p.get("reasoning", "") for p in parts if p.get("type") == "reasoning" and not p.get("is_native")
            )
            msg = {"role": "assistant", "content": (thoughts + ("\n" if thoughts and text else "") + text) or None}
            if m.tool_calls:
                msg["tool_calls"] = [_call_for_provider(c) for c in m.tool_calls]
            out.append(msg)
        elif m.role == "tool":
            returns = m.tool_returns or [{"tool_call_id": m.tool_call_id}]
            texts = [p.get("text", "") for p in parts if p.get("type") in ("text", None)]
            for i, ret in enumerate(returns):
                text = texts[i] if i < len(texts) else (texts[-1] if texts else "")
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": (ret.get("tool_call_id") or "")[:TOOL_CALL_ID_MAX_LEN],
                        "content": _clip(text, tool_return_cap),
                    }
                )
    return out


def parse_arguments(raw: str) -> dict:
    """Tool call arguments as a dict (§2.6): first object of concatenated JSON; a string is decoded again;
    anything unparseable becomes {} (the call then fails on missing parameters)."""
    raw = raw or ""
    if "}{" in raw:
        raw = raw.split("}{", 1)[0] + "}"
    try:
        value = json.loads(raw) if raw.strip() else {}
        if isinstance(value, str):
            value = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
