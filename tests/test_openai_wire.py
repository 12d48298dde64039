"""Calls to OpenAI-compatible endpoints through litellm's lower-level pieces (agents/runtime/openai_wire.py): the
request litellm would build, litellm's exceptions, one HTTP request per attempt, no redirects followed."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import litellm
import pytest

from agents.runtime import openai_wire
from agents.runtime.llm import LLMError, complete
from agents.runtime.providers import resolve_llm

HELLO = [{"role": "user", "content": "hi"}]


def scripted_kwargs(scripted_llm, **extra) -> dict:
    return {"model": "openai/scripted", "api_base": scripted_llm.api_base, "api_key": "scripted", "timeout": 30} | {
        "messages": HELLO,
        **extra,
    }


@contextmanager
def endpoint_answering(status: int, headers: dict, body: bytes = b""):
    """An endpoint that answers every POST with this status, headers and body; yields its api_base."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1"
    finally:
        server.shutdown()


def test_the_model_gets_the_parameters_litellm_maps_for_it(scripted_llm):
    """An o-series model takes `max_completion_tokens` and no temperature: litellm's config for the model decides."""
    config = {**resolve_llm("engram/scripted"), "model": "o3-mini", "temperature": 0.3}
    scripted_llm.queue_text("Short.")
    assert complete(config, HELLO, max_tokens=50).content == "Short."
    sent = scripted_llm.last_request()
    assert sent["model"] == "o3-mini" and sent["max_completion_tokens"] == 50
    assert "max_tokens" not in sent and "temperature" not in sent

    scripted_llm.queue_text("Short.")
    complete({**config, "model": "scripted"}, HELLO, max_tokens=50)
    sent = scripted_llm.last_request()
    assert (sent["max_tokens"], sent["temperature"]) == (50, 0.3)


@pytest.mark.parametrize(
    "error, raised, status",
    [
        ("rate_limit", litellm.RateLimitError, 429),
        ("context_length_exceeded", litellm.ContextWindowExceededError, 400),
        ("server_error", litellm.InternalServerError, 500),
        ({"status": 400, "message": "model exploded", "code": "bad_thing"}, litellm.BadRequestError, 400),
    ],
)
def test_failures_raise_litellms_exceptions(scripted_llm, error, raised, status):
    scripted_llm.queue_error(error)
    with pytest.raises(raised) as caught:
        openai_wire.complete(scripted_kwargs(scripted_llm))
    assert caught.value.status_code == status
    scripted_llm.queue_error(error)
    with pytest.raises(raised):
        list(openai_wire.stream(scripted_kwargs(scripted_llm)))


def test_an_attempt_is_one_request(scripted_llm, settings):
    """The OpenAI SDK under litellm.completion retried a 5xx twice inside each of our attempts."""
    settings.LLM_RETRY_DELAYS = (0,)
    scripted_llm.queue_error("server_error", repeat=5)
    with pytest.raises(LLMError, match="internal error"):
        complete(resolve_llm("engram/scripted"), HELLO)
    assert len(scripted_llm.requests()) == 2  # the first attempt and our one retry


def test_a_redirect_is_not_followed(scripted_llm):
    """An endpoint could answer with a redirect to a host the outbound check never saw."""
    with endpoint_answering(307, {"Location": f"{scripted_llm.api_base}/chat/completions"}) as api_base:
        kwargs = scripted_kwargs(scripted_llm, api_base=api_base)
        scripted_llm.queue_text("You should not see this.")
        with pytest.raises(litellm.APIError):
            openai_wire.complete(kwargs)
        with pytest.raises(litellm.APIError):
            list(openai_wire.stream(kwargs))
        assert scripted_llm.requests() == []


def test_a_stream_delivers_deltas_and_reassembles_tool_calls(scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"q": "tea"}, id="call_7", text="Let me look.")
    deltas = []
    result = complete(
        resolve_llm("engram/scripted"), HELLO, stream=True, on_delta=lambda kind, data: deltas.append(kind)
    )
    assert result.content == "Let me look." and "content" in deltas and "tool_call" in deltas
    [call] = result.tool_calls
    assert (call.id, call.name, call.arguments) == ("call_7", "lookup", '{"q": "tea"}')
    assert result.prompt_tokens > 0 and result.total_tokens == result.prompt_tokens + result.completion_tokens
    assert scripted_llm.last_request()["stream"] is True


def test_calls_litellm_alone_understands_still_go_through_it():
    assert openai_wire.handles({"model": "openai/gpt-4o", "messages": HELLO, "timeout": 5})
    assert not openai_wire.handles({"model": "anthropic/claude", "messages": HELLO})
    assert not openai_wire.handles({"model": "azure/gpt-4o", "messages": HELLO, "api_version": "2024-06-01"})
    assert not openai_wire.handles({"model": "openai/gpt-4o", "messages": HELLO, "extra_headers": {"X": "1"}})


def test_embeddings_come_back_in_order_with_the_dimensions_litellm_maps(scripted_llm):
    kwargs = {"model": "openai/text-embedding-3-small", "api_base": scripted_llm.api_base, "api_key": "k"}
    vectors = openai_wire.embed({**kwargs, "dimensions": 64, "timeout": 30}, ["one", "two", "three"])
    [sent] = scripted_llm.requests("embeddings")
    assert sent["input"] == ["one", "two", "three"] and sent["dimensions"] == 64
    assert [len(v) for v in vectors] == [64, 64, 64] and vectors[0] != vectors[1]
    assert openai_wire.embed({**kwargs, "dimensions": 64, "timeout": 30}, ["two"]) == [vectors[1]]


def test_an_embedder_s_server_error_is_tried_again_and_a_refusal_is_not(scripted_llm):
    from agents.runtime.providers import resolve_embedding
    from memory.embeddings import EmbeddingError, embed

    config = resolve_embedding("engram/scripted-embed")
    scripted_llm.queue({"endpoint": "embeddings", "error": "server_error"})
    assert embed(["x"], config).shape == (1, 384)
    assert len(scripted_llm.requests("embeddings")) == 2
    scripted_llm.reset()
    scripted_llm.queue({"endpoint": "embeddings", "error": {"status": 400, "message": "bad input"}, "repeat": 3})
    with pytest.raises(EmbeddingError, match="bad input"):
        embed(["x"], config)
    assert len(scripted_llm.requests("embeddings")) == 1


def test_an_error_inside_a_stream_is_raised_as_litellm_s(scripted_llm):
    """Some endpoints answer 200 and then send the failure as a stream event; its `code` may be a name."""
    body = b'data: {"error": {"message": "overloaded right now", "code": "server_busy"}}\n\n'
    with endpoint_answering(200, {"Content-Type": "text/event-stream"}, body) as api_base:
        kwargs = scripted_kwargs(scripted_llm, api_base=api_base)
        with pytest.raises(litellm.InternalServerError, match="overloaded right now"):
            list(openai_wire.stream(kwargs))
