"""A step is recorded before its tools run (`Records.open_step`): whatever a tool changes is explained by a step
and the user's message, even when the step never commits (tests/test_faults.py kills a worker at that point)."""

import pytest

import tools.executor
from agents.actions import create_agent
from agents.models import Message, Step
from tests.helpers_loop import context, turn

pytestmark = pytest.mark.django_db

HUMAN = {"label": "human", "value": "Name: Chad"}
REPLACE = {"label": "human", "old_string": "Chad", "new_string": "Ada"}


@pytest.fixture
def tool_runs(monkeypatch):
    """What was recorded for the run each time a tool started (a spy around the real executor); `fail_after`
    names a tool after which the step breaks, as a crash of the process would leave it."""
    real, seen = tools.executor.execute_tool, []

    def spy(agent, tool, args, **kw):
        steps = list(Step.objects.filter(run=kw["run"]).values_list("id", "status"))
        users = Message.objects.filter(run=kw["run"], role="user").count()
        seen.append((tool.name, steps, users, kw["step_id"]))
        result = real(agent, tool, args, **kw)
        if tool.name == spy.fail_after:
            raise RuntimeError("the process died here")
        return result

    spy.fail_after = None
    monkeypatch.setattr(tools.executor, "execute_tool", spy)
    return spy, seen


def test_a_memory_tool_runs_after_its_step_and_the_users_message_are_recorded(alice, scripted_llm, tool_runs):
    _spy, seen = tool_runs
    agent = create_agent(alice, {"memory_blocks": [HUMAN]})
    scripted_llm.queue_tool_call("memory_replace", REPLACE)
    scripted_llm.queue_text("Hello Ada.")
    run, _ = turn(alice, agent, "call me Ada")
    assert run.status == "completed"
    (name, steps, users, step_id) = seen[0]
    assert name == "memory_replace" and steps == [(step_id, "pending")] and users == 1
    assert Step.objects.get(id=step_id).status == "success"  # the same row, completed with its step
    in_context = [m for m in context(agent) if m.role == "user" and "call me Ada" in m.text]
    assert len(in_context) == 1 and Message.objects.filter(run=run, role="user").count() == 1


def test_a_step_that_breaks_after_an_edit_keeps_the_edit_explained(alice, scripted_llm, tool_runs):
    spy, _seen = tool_runs
    spy.fail_after = "memory_replace"
    agent = create_agent(alice, {"memory_blocks": [HUMAN]})
    scripted_llm.queue_tool_call("memory_replace", REPLACE)
    run, _ = turn(alice, agent, "call me Ada")
    assert run.status == "failed"
    assert agent.blocks.get().value == "Name: Ada"
    step = Step.objects.get(run=run)
    assert step.status == "failed" and "memory_replace" in str(step.trace)
    recorded = Message.objects.get(run=run, role="user")
    assert recorded.id not in [m.id for m in context(agent)]  # recorded, but not in the agent's context


def test_a_trace_is_serialized_once_and_stored_as_measured(alice, monkeypatch):
    """build_trace measures the trace's JSON for its size cap; the Step row stores that same text, so the request
    is not serialized a second time, and what is read back is the capped, redacted trace."""
    import json

    from agents.runtime import traces

    monkeypatch.setattr(traces, "MAX_TRACE_CHARS", 2_000)
    messages = [{"role": "system", "content": "sys"}] + [
        {"role": "user", "content": f"message {i} " + "x" * 200} for i in range(20)
    ]
    messages[-1]["content"] += " sk-secret-value"
    trace = traces.build_trace({"messages": messages}, {"content": "ok"}, secrets={"KEY": "sk-secret-value"})
    assert json.loads(trace.text) == trace and len(trace.text) <= 2_000
    assert trace["request_json"]["messages_omitted"] > 0 and "sk-secret-value" not in trace.text

    agent = create_agent(alice, {"memory_blocks": [HUMAN]})
    encoded, real = [], json.JSONEncoder.iterencode
    monkeypatch.setattr(
        json.JSONEncoder, "iterencode", lambda self, o, *a, **k: encoded.append(o) or real(self, o, *a, **k)
    )
    step = Step.objects.create(organization=agent.organization, agent=agent, trace=trace)
    assert not [o for o in encoded if isinstance(o, dict) and "request_json" in o]  # trace.text went in as it is
    monkeypatch.undo()
    assert Step.objects.get(id=step.id).trace == json.loads(trace.text)


def test_a_trace_over_its_cap_drops_the_fewest_oldest_messages(monkeypatch):
    """The messages dropped are worked out from their lengths: as few as bring the trace under its cap, the oldest
    after the system message, as dropping them one by one and measuring the whole trace each time would."""
    import json
    import random

    from agents.runtime import traces

    monkeypatch.setattr(traces, "MAX_TRACE_CHARS", 5_000)
    rng = random.Random(7)
    for _ in range(30):
        messages = [{"role": "system", "content": "sys " * rng.randint(1, 200)}] + [
            {"role": rng.choice(["user", "assistant"]), "content": 'é"x' * rng.randint(0, 300), "n": i}
            for i in range(rng.randint(0, 60))
        ]
        trace = traces.build_trace({"messages": list(messages), "tools": []}, {"content": "ok"})
        kept = trace["request_json"]["messages"]
        dropped = trace["request_json"].get("messages_omitted", 0)
        assert kept == [messages[0], *messages[1 + dropped :]] and json.loads(trace.text) == trace
        if dropped:  # the fewest: with one more message kept, the trace would not fit
            one_more = {"request_json": {"messages": [messages[0], *messages[dropped:]], "tools": []}}
            one_more["response_json"] = {"content": "ok"}
            assert len(traces._dumps(one_more)) > traces.MAX_TRACE_CHARS  # measured as the trace is written
            without_note = {**trace, "request_json": {"messages": kept, "tools": []}}
            assert len(traces._dumps(without_note)) <= traces.MAX_TRACE_CHARS or len(kept) == 2


def test_a_trace_taken_as_it_is_equals_one_cleaned_value_by_value(monkeypatch):
    """build_trace keeps messages as they are when their JSON shows nothing to clean; every case that must be
    cleaned (a secret, escaped or not, written by orjson or by json; a credential-like key, in any case or through
    the Kelvin sign; a string past the clip) gives the same trace as cleaning every value in turn."""
    import sys

    from agents.runtime import traces

    secret = 'sk-"quoted"\n±-value'
    messages = [{"role": "system", "content": "You are helpful."}]
    messages += [{"role": "user", "content": f"plain message {i}"} for i in range(100)]
    messages[10]["content"] += f" with {secret} inside"
    messages[20]["extra"] = {"nested": [{"Access_TOKEN": "abc"}]}
    messages[30]["extra"] = {"TO\u212aEN": "kelvin"}
    messages[40]["content"] = "y" * (traces.MAX_STRING + 5)
    messages[50]["content"] = "the word token in a sentence is only a word"
    messages[60]["content"] = f"a lone \ud800 surrogate (json writes this batch, in ASCII) and {secret}"
    request = {"messages": messages, "tools": [{"name": "t", "parameters": {"api_key": "schema-value"}}]}
    response = {"content": f"echo {secret}", "password": "hunter2"}
    fast = traces.build_trace(request, response, secrets={"KEY": secret})
    fast_plain = traces.build_trace(request, response)
    monkeypatch.setattr(traces, "_may_need_cleaning", lambda text, secrets: True)  # walk every value
    assert fast.text == traces.build_trace(request, response, secrets={"KEY": secret}).text
    assert fast_plain.text == traces.build_trace(request, response).text
    assert secret not in fast.text and '"hunter2"' not in fast.text and '"kelvin"' not in fast.text
    assert "characters clipped" in fast_plain.text and '"abc"' not in fast_plain.text
    assert [chr(c) for c in range(128, sys.maxunicode + 1) if any(ch.isascii() for ch in chr(c).lower())] == [
        "\u0130",
        "\u212a",
    ]  # the only characters outside ASCII that lower() turns into ASCII letters: both are marks
