"""Steps through the SDK against a live server: list, retrieve, messages, metrics, feedback and the provider trace
(what the step sent to the model and what came back, with the agent's secrets redacted)."""

import json

import pytest
from letta_client import Letta, NotFoundError

from tests.test_sdk import SHOUT, letta, make_agent  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_steps_of_a_turn(letta, scripted_llm):  # noqa: F811
    letta.tools.create(source_code=SHOUT)
    agent = make_agent(letta, tools=["shout"], secrets={"SHOUT_KEY": "sk-very-secret-value"})
    scripted_llm.queue(
        {"tool_calls": [{"name": "shout", "arguments": {"text": "sk-very-secret-value"}}]}, {"text": "Done."}
    )
    response = letta.agents.messages.create(agent.id, input="Shout my key")
    run_id = response.messages[0].run_id

    steps = list(letta.steps.list(agent_id=agent.id, order="asc"))
    assert len(steps) == 2 and all(s.run_id == run_id and s.status == "success" for s in steps)
    assert [s.id for s in letta.runs.steps.list(run_id)] == [s.id for s in steps]
    first = letta.steps.retrieve(steps[0].id)
    assert first.agent_id == agent.id and first.total_tokens == first.prompt_tokens + first.completion_tokens

    kinds = [m.message_type for m in letta.steps.messages.list(steps[0].id)]
    assert "tool_call_message" in kinds and "assistant_message" not in kinds
    assert [m.message_type for m in letta.steps.messages.list(steps[1].id)] == ["assistant_message"]

    metrics = letta.steps.metrics.retrieve(steps[0].id)
    assert metrics.id == steps[0].id and metrics.llm_request_ns > 0 and metrics.step_ns >= metrics.llm_request_ns

    trace = letta.steps.trace.retrieve(steps[0].id)
    sent = trace.request_json
    assert sent["messages"][0]["role"] == "system" and sent["messages"][-1]["content"] == "Shout my key"
    assert "shout" in [t["function"]["name"] for t in sent["tools"]]
    assert trace.response_json["tool_calls"][0]["name"] == "shout"
    text = json.dumps({"request": sent, "response": trace.response_json})
    assert "sk-very-secret-value" not in text and "[redacted]" in text
    assert letta.steps.trace.retrieve(steps[1].id).response_json["content"] == "Done."
    run_traces = letta.runs.trace.retrieve(run_id)
    assert [t["step_id"] for t in run_traces] == [s.id for s in steps]

    rated = letta.steps.feedback.create(steps[1].id, feedback="positive", tags=["good"])
    assert rated.feedback == "positive" and rated.tags == ["good"]
    assert [s.id for s in letta.steps.list(feedback="positive")] == [steps[1].id]
    assert [s.id for s in letta.steps.list(has_feedback=False)] == [steps[0].id]
    assert letta.steps.feedback.create(steps[1].id, feedback=None).feedback is None


def test_steps_of_other_organizations_are_hidden(letta, live_server_url, mallory, scripted_llm):  # noqa: F811
    from accounts.actions import create_api_key

    agent = make_agent(letta)
    letta.agents.messages.create(agent.id, input="Hi")
    [step] = list(letta.steps.list(agent_id=agent.id))
    with Letta(base_url=live_server_url, api_key=create_api_key(mallory)[1], max_retries=0) as intruder:
        assert list(intruder.steps.list()) == []
        for call in (
            intruder.steps.retrieve,
            intruder.steps.trace.retrieve,
            intruder.steps.metrics.retrieve,
            lambda i: intruder.steps.feedback.create(i, feedback="negative"),
        ):
            with pytest.raises(NotFoundError):
                call(step.id)
    assert letta.steps.retrieve(step.id).feedback is None


def test_a_failed_step_keeps_what_it_sent(alice, scripted_llm, settings):
    from agents.actions import create_agent
    from tests.helpers_loop import turn

    settings.LLM_RETRY_DELAYS = []
    agent = create_agent(alice, {"name": "failing", "model": "engram/scripted", "secrets": {"K": "sk-secret-1234"}})
    scripted_llm.queue_error("server_error", repeat=3)
    run, _ = turn(alice, agent, "Please use sk-secret-1234")
    step = run.steps.get()
    assert run.status == "failed" and step.status == "failed"
    assert step.trace["request_json"]["messages"][-1]["content"] == "Please use [redacted]"
    assert step.trace["response_json"]["error"] == "LLMError"
