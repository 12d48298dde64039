"""The scripted model: an OpenAI-compatible HTTP server that ships with Engram (`engram/scripted`).

Routes: `GET /v1/models`, `POST /v1/chat/completions` (JSON, or SSE when `stream` is true), `POST /v1/embeddings`.
What it answers comes from agents/scripted/brain.py (deterministic rules over the request). Tests steer it through
control routes:

* `POST /_control/queue` `{"responses": [R, …]}` — exact answers for the next requests, in order. R is one of
  `{"text": "…"}`, `{"tool_calls": [{"name", "arguments": {…} | "…", "id"?}], "text"?}` (either may carry
  `"reasoning": "…"`, sent as `reasoning_content` like reasoning models behind OpenAI-compatible servers do),
  `{"error": "context_length_exceeded" | "rate_limit" | "server_error" | {"status", "message", "code", "type"}}`,
  optionally with `"usage": {"prompt_tokens", "completion_tokens"}` (forced figures; alone, the brain answers),
  `"finish_reason"`, `"delay_ms"` (wait before answering), `"pace_ms"` (per streamed chunk), `"repeat": n`
  (answer the next n requests with it, e.g. an error that outlasts retries) and
  `"endpoint": "embeddings"` (default `"chat"`): each endpoint has its own queue.
* `POST /_control/reset` — empty the queues and the request log, pace back to the start value.
* `GET /_control/requests` — every request received since the last reset: `[{"endpoint", "body", "elapsed_ms"}]`
  (`elapsed_ms`: how long the model took to answer it, so benchmarks can subtract the model's own time; a stream's
  entry also has `first_byte_at`, when its first chunk was written, in seconds since the epoch).
* `POST /_control/config` `{"pace_ms": N}`.

The control routes exist only when the server is given a control token, and answer 403 unless a request carries it
in the `X-Control-Token` header: they reveal every tenant's prompts and can put words in the model's mouth, so only
the process that started the server (a test, a benchmark) may use them. `ScriptedServer` makes a fresh random token
(`.control_token`); `manage.py scriptedllm` takes it from SCRIPTED_LLM_CONTROL_TOKEN in its environment.

`ScriptedServer` runs it on a background thread (tests, the embedded default); `server_url()` finds or autostarts
the server the `engram/scripted` handle points at. `ScriptedClient` is the small test client for the control routes.
"""

import asyncio
import base64
import hmac
import json
import os
import re
import secrets
import struct
import threading
import time
import uuid
from collections import deque

from aiohttp import web

from ade.errors import Unprocessable
from agents.scripted import brain as scripted_brain
from agents.scripted import configured_url
from agents.scripted import embeddings as scripted_embeddings
from agents.scripted import oracle as scripted_oracle
from memory.tokens import count_message_tokens, count_tokens, count_tool_tokens

MODEL_IDS = ("scripted", "scripted-embed")  # the chat model answers as the oracle when asked for "oracle"
DEFAULT_DIMENSIONS = 384
ARGUMENT_CHUNK = 12
_ERRORS = {
    "context_length_exceeded": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "This model's maximum context length is 32000 tokens. However, your messages resulted "
        "in more tokens than that. Please reduce the length of the messages.",
    ),
    "rate_limit": (429, "requests", "rate_limit_exceeded", "Rate limit reached for scripted. Please try again."),
    "server_error": (500, "server_error", "server_error", "The scripted model had an internal error."),
}


class ScriptState:
    """Queued answers, the request log and the pace. Lives on the server's event loop."""

    def __init__(self, pace_ms: int = 0):
        self.start_pace = self.pace_ms = pace_ms
        self.queues = {"chat": deque(), "embeddings": deque()}
        self.requests = []

    def reset(self):
        self.pace_ms = self.start_pace
        for q in self.queues.values():
            q.clear()
        self.requests.clear()

    async def record(self, request: web.Request, endpoint: str):
        # The body's bytes as received (aiohttp keeps them once read), parsed again only when asked for: a full log of
        # parsed chat requests held ~38 MiB of the process on the embedded default, their bytes under half of that.
        request[LOG_ENTRY] = entry = {"endpoint": endpoint, "body": await request.read(), "elapsed_ms": None}
        self.requests.append(entry)
        del self.requests[:-1000]  # bounded: a long demo must not grow without limit

    def next(self, endpoint: str) -> dict | None:
        """The next queued entry; one with `"repeat": n` answers the next n requests."""
        q = self.queues[endpoint]
        if not q:
            return None
        if q[0].get("repeat", 1) > 1:
            q[0] = {**q[0], "repeat": q[0]["repeat"] - 1}
            return q[0]
        return q.popleft()


# ---- responses ------------------------------------------------------------------------------------------------


def error_response(spec) -> web.Response:
    if isinstance(spec, str):
        status, kind, code, message = _ERRORS.get(spec, _ERRORS["server_error"])
    else:
        status = int(spec.get("status", 500))
        kind = spec.get("type", "server_error" if status >= 500 else "invalid_request_error")
        code = spec.get("code")
        message = spec.get("message", f"Scripted error {status}")
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": code}}, status=status)


def plan_from_queue(entry: dict, body: dict) -> dict:
    """The reply plan for a queued entry (text and/or tool calls), else the brain's own answer."""
    if "text" not in entry and "tool_calls" not in entry:
        plan = (scripted_oracle.reply if body.get("model") == "oracle" else scripted_brain.reply)(body)
    else:
        calls = []
        for i, call in enumerate(entry.get("tool_calls") or []):
            args = call.get("arguments", {})
            calls.append(
                {
                    "id": call.get("id") or f"call_{uuid.uuid4().hex[:20]}",
                    "name": call["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                    "index": i,
                }
            )
        plan = {"content": entry.get("text"), "tool_calls": calls, "finish_reason": "tool_calls" if calls else "stop"}
    if entry.get("reasoning"):
        plan["reasoning"] = entry["reasoning"]
    if entry.get("finish_reason"):
        plan["finish_reason"] = entry["finish_reason"]
    return plan


def usage_for(body: dict, plan: dict, forced: dict | None) -> dict:
    model = body.get("model")
    prompt = count_message_tokens(body.get("messages") or [], model) + count_tool_tokens(body.get("tools"), model)
    completion = count_tokens((plan.get("reasoning") or "") + (plan.get("content") or ""), model) + sum(
        count_tokens(c["name"], model) + count_tokens(c["arguments"], model) + 3 for c in plan["tool_calls"]
    )
    usage = {"prompt_tokens": prompt, "completion_tokens": max(completion, 1)}
    usage.update({k: int(v) for k, v in (forced or {}).items() if k in ("prompt_tokens", "completion_tokens")})
    usage["total_tokens"] = int(
        (forced or {}).get("total_tokens") or usage["prompt_tokens"] + usage["completion_tokens"]
    )
    return usage


def completion_json(body: dict, plan: dict, usage: dict, completion_id: str) -> dict:
    message = {"role": "assistant", "content": plan.get("content")}
    if plan.get("reasoning"):
        message["reasoning_content"] = plan["reasoning"]
    if plan["tool_calls"]:
        message["tool_calls"] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in plan["tool_calls"]
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": plan["finish_reason"]}],
        "usage": usage,
    }


def stream_deltas(plan: dict):
    """The delta dicts of an SSE stream: role, reasoning and content word by word, then tool calls in small
    argument chunks."""
    yield {"role": "assistant", "content": ""}
    for word in _words(plan.get("reasoning") or ""):
        yield {"reasoning_content": word}
    for word in _words(plan.get("content") or ""):
        yield {"content": word}
    for i, call in enumerate(plan["tool_calls"]):
        yield {
            "tool_calls": [
                {"index": i, "id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": ""}}
            ]
        }
        args = call["arguments"]
        for start in range(0, len(args), ARGUMENT_CHUNK):
            yield {"tool_calls": [{"index": i, "function": {"arguments": args[start : start + ARGUMENT_CHUNK]}}]}


def _words(text: str) -> list[str]:
    """Word-sized pieces that concatenate back to `text` exactly."""
    return re.findall(r"\s*\S+|\s+$", text)


# ---- handlers -------------------------------------------------------------------------------------------------

STATE = web.AppKey("state", ScriptState)
LOG_ENTRY = "engram.log_entry"


@web.middleware
async def timed(request: web.Request, handler):
    """Note on the logged request how long the model spent answering it (streams: until the last chunk)."""
    started = time.perf_counter()
    try:
        return await handler(request)
    finally:
        if LOG_ENTRY in request:
            request[LOG_ENTRY]["elapsed_ms"] = (time.perf_counter() - started) * 1000


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": {"message": "Request body is not JSON", "type": "invalid_request_error"}}),
            content_type="application/json",
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"error": {"message": "Body must be an object"}}', content_type="application/json"
        )
    return body


async def list_models(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "engram"} for m in MODEL_IDS],
        }
    )


async def chat_completions(request: web.Request):
    state = request.app[STATE]
    body = await _body(request)
    await state.record(request, "chat")
    entry = state.next("chat") or {}
    if entry.get("delay_ms"):
        await asyncio.sleep(entry["delay_ms"] / 1000)
    if entry.get("error"):
        return error_response(entry["error"])
    plan = plan_from_queue(entry, body)
    usage = usage_for(body, plan, entry.get("usage"))
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if not body.get("stream"):
        return web.json_response(completion_json(body, plan, usage, completion_id))
    pace = entry.get("pace_ms", state.pace_ms)
    return await _stream(request, body, plan, usage, completion_id, pace)


async def _stream(request, body, plan, usage, completion_id, pace_ms):
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
    }

    entry = request.get(LOG_ENTRY) or {}

    async def send(payload):
        await response.write(f"data: {json.dumps({**base, **payload})}\n\n".encode())
        entry.setdefault("first_byte_at", time.time())  # epoch seconds: benchmarks time what follows from it

    try:
        for i, delta in enumerate(stream_deltas(plan)):
            if pace_ms and i > 1:
                await asyncio.sleep(pace_ms / 1000)
            await send({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        await send({"choices": [{"index": 0, "delta": {}, "finish_reason": plan["finish_reason"]}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({"choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        return response  # the client went away (cancelled run): nothing more to say
    return response


def _encode(vector: list[float], fmt: str | None):
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


async def embeddings(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    await state.record(request, "embeddings")
    entry = state.next("embeddings") or {}
    if entry.get("delay_ms"):
        await asyncio.sleep(entry["delay_ms"] / 1000)
    if entry.get("error"):
        return error_response(entry["error"])
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, (str, int)) or (inputs and isinstance(inputs[0], int)) else inputs or []
    texts = [t if isinstance(t, str) else " ".join(map(str, t)) if isinstance(t, list) else str(t) for t in inputs]
    dims = int(body.get("dimensions") or DEFAULT_DIMENSIONS)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encode(scripted_embeddings.embed_text(t, dims), body.get("encoding_format")),
        }
        for i, t in enumerate(texts)
    ]
    tokens = sum(count_tokens(t) for t in texts)
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "model": body.get("model", "scripted-embed"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


async def control_queue(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    responses = body.get("responses", [body] if body else [])
    for entry in responses:
        state.queues["embeddings" if entry.get("endpoint") == "embeddings" else "chat"].append(entry)
    return web.json_response({"queued": {k: len(q) for k, q in state.queues.items()}})


async def control_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"reset": True})


async def control_requests(request: web.Request) -> web.Response:
    return web.json_response([{**entry, "body": json.loads(entry["body"])} for entry in request.app[STATE].requests])


async def control_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    body = await _body(request)
    if "pace_ms" in body:
        state.pace_ms = int(body["pace_ms"])
    return web.json_response({"pace_ms": state.pace_ms})


CONTROL_HEADER = "X-Control-Token"


def _guarded(handler, token: str):
    async def check(request: web.Request):
        if not hmac.compare_digest(request.headers.get(CONTROL_HEADER, "").encode(), token.encode()):
            return web.json_response({"error": f"the control routes need the {CONTROL_HEADER} header"}, status=403)
        return await handler(request)

    return check


def make_app(pace_ms: int = 0, control_token: str | None = None) -> web.Application:
    """The server's routes; the /_control ones only with a `control_token` (required on each call)."""
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[timed])
    app[STATE] = ScriptState(pace_ms)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
    if control_token:
        app.router.add_post("/_control/queue", _guarded(control_queue, control_token))
        app.router.add_post("/_control/reset", _guarded(control_reset, control_token))
        app.router.add_get("/_control/requests", _guarded(control_requests, control_token))
        app.router.add_post("/_control/config", _guarded(control_config, control_token))
    return app


# ---- running it ----------------------------------------------------------------------------------------------


class ScriptedServer:
    """The server on a daemon thread with its own event loop. `start()` returns once it accepts connections."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, pace_ms: int = 0):
        self.host, self.port, self.pace_ms = host, port, pace_ms
        self.control_token = secrets.token_urlsafe(32)  # known to this process only: see the module doc
        self.pid = os.getpid()
        self._loop = asyncio.new_event_loop()
        self._runner = None
        self._ready = threading.Event()
        self._error = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ScriptedServer":
        threading.Thread(target=self._run, name="scripted-llm", daemon=True).start()
        self._ready.wait(10)
        if self._error or not self._ready.is_set():
            raise RuntimeError(f"the scripted model server did not start: {self._error}")
        return self

    def _run(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = web.AppRunner(make_app(self.pace_ms, self.control_token), access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
        except Exception as exc:  # reported to start() on the caller's thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self):
        if self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)


_autostarted: ScriptedServer | None = None
_autostart_lock = threading.Lock()


def server_url(*, start: bool = True) -> str | None:
    """Root URL of the scripted model server: settings.SCRIPTED_LLM_URL, else the one this process autostarted
    (started now when `start`; Unprocessable if SCRIPTED_LLM_AUTOSTART is off), else None."""
    global _autostarted
    from django.conf import settings

    if url := configured_url():
        return url
    with _autostart_lock:
        if _autostarted and _autostarted.pid != os.getpid():
            _autostarted = None  # inherited across fork: the thread did not come with us
        if _autostarted is None and start:
            if not settings.SCRIPTED_LLM_AUTOSTART:
                raise Unprocessable(
                    "The scripted model server is not running: set SCRIPTED_LLM_URL to its address "
                    "or SCRIPTED_LLM_AUTOSTART=1",
                    code="scripted_llm_unavailable",
                )
            _autostarted = ScriptedServer(pace_ms=settings.SCRIPTED_LLM_PACE_MS).start()
        return _autostarted.url if _autostarted else None


class ScriptedClient:
    """Test client for the control routes of a running scripted server (`control_token`: the one it was given)."""

    def __init__(self, url: str, control_token: str):
        import httpx

        self.url = url.rstrip("/")
        self.api_base = self.url + "/v1"
        self._http = httpx.Client(base_url=self.url, timeout=10, headers={CONTROL_HEADER: control_token})

    def queue(self, *responses: dict) -> None:
        self._http.post("/_control/queue", json={"responses": list(responses)}).raise_for_status()

    def queue_text(self, text: str, **extra) -> None:
        self.queue({"text": text, **extra})

    def queue_tool_call(
        self, name: str, arguments: dict | str | None = None, *, id: str | None = None, text: str | None = None, **extra
    ) -> None:
        call = {"name": name, "arguments": arguments or {}, **({"id": id} if id else {})}
        self.queue({"tool_calls": [call], **({"text": text} if text is not None else {}), **extra})

    def queue_error(self, error: str | dict = "context_length_exceeded", **extra) -> None:
        self.queue({"error": error, **extra})

    def reset(self) -> None:
        self._http.post("/_control/reset").raise_for_status()

    def set_pace(self, pace_ms: int) -> None:
        self._http.post("/_control/config", json={"pace_ms": pace_ms}).raise_for_status()

    def requests(self, endpoint: str | None = "chat") -> list[dict]:
        """Bodies of the requests received since the last reset (`endpoint=None` → all, with their endpoint)."""
        log = self._http.get("/_control/requests").json()
        return log if endpoint is None else [r["body"] for r in log if r["endpoint"] == endpoint]

    def last_request(self, endpoint: str = "chat") -> dict | None:
        bodies = self.requests(endpoint)
        return bodies[-1] if bodies else None

    def close(self) -> None:
        self._http.close()
