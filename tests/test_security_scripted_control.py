"""The scripted model's /_control routes (issue #10, high 7): only the process that started the server may steer it.

Without its token, a local process (or, before the sandbox, any tool) could read every tenant's prompts and inject
answers. A request without the token, or with a wrong one, is refused and changes nothing.
"""

import httpx
import pytest

from agents.scripted.server import CONTROL_HEADER, ScriptedClient, ScriptedServer


@pytest.fixture(scope="module")
def model():
    server = ScriptedServer().start()
    yield server
    server.stop()


def ask(url: str, text: str) -> str:
    body = {"model": "scripted", "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=10).json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("headers", [{}, {CONTROL_HEADER: "guessed"}, {CONTROL_HEADER: ""}])
def test_without_the_token_prompts_cannot_be_read_nor_answers_injected(model, headers):
    owner = ScriptedClient(model.url, model.control_token)
    owner.reset()
    ask(model.url, "tenant A's private question")

    stranger = httpx.Client(base_url=model.url, headers=headers, timeout=10)
    read = stranger.get("/_control/requests")
    inject = stranger.post("/_control/queue", json={"responses": [{"text": "injected answer"}]})
    reset = stranger.post("/_control/reset")
    pace = stranger.post("/_control/config", json={"pace_ms": 5000})

    assert [r.status_code for r in (read, inject, reset, pace)] == [403] * 4
    assert "private question" not in read.text
    assert ask(model.url, "hello") != "injected answer"  # nothing was queued
    assert len(owner.requests()) == 2  # nothing was reset either


def test_the_starting_process_steers_it_with_its_token(model):
    owner = ScriptedClient(model.url, model.control_token)
    owner.reset()
    owner.queue_text("scripted answer")
    assert ask(model.url, "anything") == "scripted answer"
    assert owner.last_request()["messages"][0]["content"] == "anything"
    assert ScriptedServer().control_token != model.control_token  # a fresh secret per server
