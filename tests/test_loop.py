"""The step loop against the scripted model over real HTTP through litellm (behaviour spec §2, §10)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ade.errors import Conflict, Invalid
from agents.actions import create_agent
from agents.models import Message, Run, Step
from agents.runs import start_turn
from agents.runtime.letta_messages import part_otid
from agents.runtime.loop import run_turn
from agents.runtime.turn_input import check_turn_input
from memory.models import Block, BlockHistory
from tests.helpers_loop import context, custom_tool, packaged, tool_names, turn

LOOKUP = '''
def lookup(topic: str) -> str:
    """Look a topic up.

    Args:
        topic: What to look up.
    """
    return "found " + topic
'''


@pytest.fixture(autouse=True)
def no_retry_wait(settings):
    settings.LLM_RETRY_DELAYS = (0, 0, 0)


@pytest.fixture
def v1_agent(alice, scripted_llm):
    return create_agent(
        alice,
        {
            "name": "helper",
            "memory_blocks": [
                {"label": "persona", "value": "I am a helpful assistant."},
                {"label": "human", "value": ""},
            ],
        },
    )


@pytest.fixture
def v2_agent(alice, scripted_llm):
    custom_tool(alice, LOOKUP)
    return create_agent(
        alice,
        {
            "agent_type": "memgpt_v2_agent",
            "tools": ["lookup"],
            "memory_blocks": [{"label": "persona", "value": "I am Sam."}, {"label": "human", "value": "Name: Chad"}],
        },
    )


# ---- memory --------------------------------------------------------------------------------------------------------


def test_my_name_is_ada_edits_the_human_block_with_history(alice, v1_agent):
    run, events = turn(alice, v1_agent, "my name is Ada")
    assert run.status == "completed", run.error
    assert run.stop_reason == "end_turn"
    human = v1_agent.blocks.get(label="human")
    assert "Ada" in human.value
    history = BlockHistory.objects.filter(block=human).order_by("-version").first()
    assert (history.actor_type, history.actor_id) == ("agent", v1_agent.id) and history.tool_name
    rows = context(v1_agent)
    assert [m.role for m in rows] == ["system", "user", "assistant", "tool", "assistant"]  # no heartbeat in V3
    assert "Ada" in rows[0].text  # recompiled in place
    assert [e["message_type"] for e in events][-2:] == ["stop_reason", "usage_statistics"]
    assert Step.objects.filter(run=run, status="success").count() == 2
    assert run.metadata["result"]["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    assert all(m["message_type"] != "user_message" for m in run.metadata["result"]["messages"])


def test_append_is_seen_by_the_next_model_call_of_the_same_request(alice, scripted_llm):
    agent = create_agent(
        alice, {"agent_type": "memgpt_agent", "memory_blocks": [{"label": "human", "value": "Name: Chad"}]}
    )
    system_id = agent.message_ids[0]
    scripted_llm.queue_tool_call(
        "core_memory_append", {"label": "human", "content": "Likes tea", "request_heartbeat": True}
    )
    scripted_llm.queue_tool_call("send_message", {"message": "Noted."})
    turn(alice, agent, "I like tea")
    assert Block.objects.get(label="human", agentblock__agent=agent).value == "Name: Chad\nLikes tea"
    rows = context(agent)
    assert rows[0].id == system_id and "chars_current=20" in rows[0].text
    tool = next(m for m in rows if m.role == "tool" and m.name == "core_memory_append")
    assert packaged(tool)["status"] == "OK" and packaged(tool)["message"] == "Name: Chad\nLikes tea"
    first, second = scripted_llm.requests()
    assert "Likes tea" not in first["messages"][0]["content"]
    assert "Name: Chad\nLikes tea" in second["messages"][0]["content"]


@pytest.mark.parametrize(
    "block,args,error",
    [
        (
            {"label": "human", "value": "Name: Chad", "read_only": True},
            {"label": "human", "old_string": "Chad", "new_string": "Ada"},
            "Error This block is read-only and cannot be edited.",
        ),
        (
            {"label": "human", "value": "Name: Chad", "limit": 20},
            {"label": "human", "old_string": "Chad", "new_string": "Ada Lovelace of London"},
            "Edit failed: Exceeds 20 character limit (requested 28)",
        ),
    ],
)
def test_refused_edit_leaves_the_block_unchanged(alice, scripted_llm, block, args, error):
    agent = create_agent(alice, {"memory_blocks": [block]})
    human = agent.blocks.get()
    scripted_llm.queue_tool_call("memory_replace", args)
    scripted_llm.queue_text("Sorry, I could not save that.")
    run, _ = turn(alice, agent, "call me Ada")
    human.refresh_from_db()
    assert human.value == "Name: Chad" and human.history.count() == 1
    tool = next(m for m in context(agent) if m.role == "tool")
    assert packaged(tool)["status"] == "Failed" and error in packaged(tool)["message"]
    assert tool.tool_returns[0]["status"] == "error"
    assert run.stop_reason == "end_turn" and run.status == "completed"


# ---- heartbeat agents (V2) ---------------------------------------------------------------------------------------


def test_v2_heartbeat_chain(alice, v2_agent, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea", "request_heartbeat": True})
    scripted_llm.queue_tool_call("send_message", {"message": "hi"})
    run, _ = turn(alice, v2_agent, "tell me about tea")
    assert run.stop_reason == "end_turn" and Step.objects.filter(run=run).count() == 2
    tail = context(v2_agent)[-6:]
    assert [m.role for m in tail] == ["user", "assistant", "tool", "user", "assistant", "tool"]
    assert json.loads(tail[1].tool_calls[0]["function"]["arguments"]) == {"topic": "tea", "request_heartbeat": True}
    assert packaged(tail[2])["message"] == "found tea"
    assert packaged(tail[3]) == {
        "type": "heartbeat",
        "time": packaged(tail[3])["time"],
        "reason": "[This is an automated system message hidden from the user] Function called using "
        "request_heartbeat=true, returning control",
    }
    assert packaged(tail[5])["message"] == "Sent message successfully."
    schemas = {t["function"]["name"]: t["function"] for t in scripted_llm.requests()[0]["tools"]}
    assert "request_heartbeat" in schemas["lookup"]["parameters"]["required"]
    assert "request_heartbeat" not in schemas["send_message"]["parameters"]["properties"]  # exit_loop tool
    assert scripted_llm.requests()[0]["tool_choice"] == "required"
    said = [m for m in run.metadata["result"]["messages"] if m["message_type"] == "assistant_message"]
    assert [m["content"] for m in said] == ["hi"]


def test_v2_without_heartbeat_stops_after_one_step(alice, v2_agent, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea", "request_heartbeat": False})
    run, _ = turn(alice, v2_agent, "tell me about tea")
    assert run.stop_reason == "end_turn" and run.usage["step_count"] == 1


def test_v2_text_only_reply_fails_the_run_and_keeps_the_input_out_of_context(alice, v2_agent, scripted_llm):
    before = list(v2_agent.message_ids)
    scripted_llm.queue_text("just words")
    run, events = turn(alice, v2_agent, "hello")
    assert (run.status, run.stop_reason) == ("failed", "no_tool_call")
    assert "must make a tool call" in run.error
    assert Step.objects.get(run=run).status == "failed"
    assert context(v2_agent)[-1].id == before[-1] and len(v2_agent.message_ids) == len(before)
    assert not Message.objects.filter(run=run).exists()
    assert {"message_type": "stop_reason", "stop_reason": "no_tool_call"} in [
        {k: e[k] for k in ("message_type", "stop_reason")} for e in events if e["message_type"] == "stop_reason"
    ]


# ---- letta_v1 agents (V3) ----------------------------------------------------------------------------------------


def test_v1_tool_call_continues_and_text_ends_the_turn(alice, v1_agent, scripted_llm):
    scripted_llm.queue_tool_call("memory_insert", {"label": "human", "new_string": "Likes jazz"})
    scripted_llm.queue_text("Noted!")
    run, events = turn(alice, v1_agent, "I like jazz")
    assert [m.role for m in context(v1_agent)] == ["system", "user", "assistant", "tool", "assistant"]
    steps = list(Step.objects.filter(run=run).order_by("created_at"))
    assert len(steps) == 2 and all(s.prompt_tokens > 0 and s.llm_request_ns > 0 for s in steps)
    assert steps[-1].stop_reason == "end_turn"
    # step streaming: the tool call and its return were emitted before the second step's reply
    kinds = [e["message_type"] for e in events]
    assert kinds == ["tool_call_message", "tool_return_message", "assistant_message", "stop_reason", "usage_statistics"]
    assert run.usage["step_count"] == 2 and run.usage["total_tokens"] == sum(s.total_tokens for s in steps)


def test_max_steps(alice, v1_agent, scripted_llm):
    for _ in range(3):
        scripted_llm.queue_tool_call("conversation_search", {"query": "x"})
    run, _ = turn(alice, v1_agent, "search forever", max_steps=2)
    assert run.stop_reason == "max_steps" and run.status == "completed"
    assert len(scripted_llm.requests()) == 2


def test_text_cut_off_by_the_token_limit(alice, v1_agent, scripted_llm):
    scripted_llm.queue_text("half a sen", finish_reason="length")
    run, _ = turn(alice, v1_agent, "talk")
    assert (run.status, run.stop_reason) == ("failed", "max_tokens_exceeded")


# ---- human in the loop -------------------------------------------------------------------------------------------


@pytest.fixture
def gated(alice, scripted_llm):
    custom_tool(alice, LOOKUP)
    return create_agent(
        alice, {"tools": ["lookup"], "tool_rules": [{"type": "requires_approval", "tool_name": "lookup"}]}
    )


def test_approval_request_blocks_new_messages(alice, gated, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea"}, id="call_gate1")
    run, events = turn(alice, gated, "look up tea")
    assert (run.status, run.stop_reason) == ("completed", "requires_approval")
    tail = context(gated)[-1]
    assert tail.role == "approval" and tail.tool_calls[0]["function"]["name"] == "lookup"
    assert "approval_request_message" in [e["message_type"] for e in events]
    with pytest.raises(Conflict) as err:
        check_turn_input(gated, [{"role": "user", "content": "hello?"}])
    assert err.value.code == "PENDING_APPROVAL"
    blocked = start_turn(alice, gated.id, [{"role": "user", "content": "hello?"}])
    with pytest.raises(Conflict):
        run_turn(blocked, lambda e: None)
    blocked.refresh_from_db()
    assert blocked.status == "failed" and context(gated)[-1].id == tail.id


def test_approve_runs_the_tool_without_a_model_call_then_resumes(alice, gated, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea"}, id="call_gate2")
    turn(alice, gated, "look up tea")
    scripted_llm.reset()
    scripted_llm.queue_text("Tea is a drink.")
    run, _ = turn(
        alice,
        gated,
        messages=[
            {"type": "approval", "approvals": [{"type": "approval", "tool_call_id": "call_gate2", "approve": True}]}
        ],
    )
    assert run.stop_reason == "end_turn", run.error
    roles = [m.role for m in context(gated)][-4:]
    assert roles == ["approval", "approval", "tool", "assistant"]
    tool = context(gated)[-2]
    assert packaged(tool)["message"] == "found tea" and tool.step_id == context(gated)[-4].step_id
    assert len(scripted_llm.requests()) == 1  # only the reply after the tool; the tool ran without a model call
    assert Step.objects.filter(run=run).count() == 1


def test_deny_returns_the_reason_to_the_model(alice, gated, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea"}, id="call_gate3")
    turn(alice, gated, "look up tea")
    scripted_llm.queue_text("Alright, I won't.")
    run, _ = turn(
        alice, gated, messages=[{"approve": False, "approval_request_id": context(gated)[-1].id, "reason": "no"}]
    )
    tool = context(gated)[-2]
    assert packaged(tool)["message"] == "Error: request to call tool denied. User reason: no"
    assert tool.tool_returns[0]["status"] == "error"
    assert run.stop_reason == "end_turn" and context(gated)[-1].role == "assistant"


def test_bad_approvals_are_refused(alice, gated, scripted_llm):
    with pytest.raises(Invalid, match="No tool call is currently awaiting approval"):
        check_turn_input(
            gated,
            [{"type": "approval", "approvals": [{"type": "approval", "tool_call_id": "call_x", "approve": True}]}],
        )
    scripted_llm.queue_tool_call("lookup", {"topic": "tea"}, id="call_gate4")
    turn(alice, gated, "look up tea")
    gated.refresh_from_db()
    with pytest.raises(Invalid, match="Invalid tool call IDs"):
        check_turn_input(
            gated,
            [{"type": "approval", "approvals": [{"type": "approval", "tool_call_id": "call_other", "approve": True}]}],
        )
    with pytest.raises(Invalid) as err:
        check_turn_input(gated, [{"type": "approval", "approvals": [{"tool_call_id": "call_gate4"}]}])
    assert err.value.field == "messages[0].approvals[0].approve"


def test_client_side_tool_result_is_returned_by_the_caller(alice, v1_agent, scripted_llm):
    client_tools = [
        {
            "name": "get_weather",
            "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    scripted_llm.queue_tool_call("get_weather", {"city": "Paris"}, id="call_wx")
    run, _ = turn(alice, v1_agent, "weather?", client_tools=client_tools)
    assert run.stop_reason == "requires_approval" and "get_weather" in tool_names(scripted_llm.requests()[0])
    scripted_llm.queue_text("It is sunny in Paris.")
    run, _ = turn(
        alice,
        v1_agent,
        messages=[
            {
                "type": "tool_return",
                "tool_returns": [{"tool_call_id": "call_wx", "status": "success", "tool_return": "sunny"}],
            }
        ],
        client_tools=client_tools,
    )
    assert run.stop_reason == "end_turn"
    assert packaged(context(v1_agent)[-2])["message"] == "sunny"


# ---- failures, retries, overflow, cancel -------------------------------------------------------------------------


def test_failed_step_leaves_nothing_half_written(alice, v1_agent, scripted_llm):
    before = list(v1_agent.message_ids)
    scripted_llm.queue_error({"status": 400, "message": "model exploded", "code": "bad_thing"})
    run, events = turn(alice, v1_agent, "hello")
    assert (run.status, run.stop_reason) == ("failed", "llm_api_error")
    assert "model exploded" in run.error and run.metadata["error"] == run.error
    step = Step.objects.get(run=run)
    assert step.status == "failed" and "model exploded" in step.error_data["message"]
    v1_agent.refresh_from_db()
    assert v1_agent.message_ids == before and not Message.objects.filter(run=run).exists()
    assert events[-1]["message_type"] == "error_message"


def test_rate_limit_is_retried(alice, v1_agent, scripted_llm):
    scripted_llm.queue_error("rate_limit")
    scripted_llm.queue_text("Hello!")
    run, _ = turn(alice, v1_agent, "hi")
    assert run.stop_reason == "end_turn" and len(scripted_llm.requests()) == 2
    assert Step.objects.filter(run=run).count() == 1


def test_context_length_error_compacts_and_retries_within_the_step(alice, scripted_llm):
    agent = create_agent(alice, {"context_window_limit": 4000})
    for i in range(4):
        scripted_llm.queue_text(f"Reply number {i} " + "blah " * 40)
        turn(alice, agent, f"message {i} " + "words " * 40)
    scripted_llm.reset()
    scripted_llm.queue_error("context_length_exceeded")  # then the summariser and the retry: the brain answers
    run, _ = turn(alice, agent, "and now?")
    assert run.stop_reason == "end_turn", run.error
    assert Step.objects.filter(run=run).count() == 1
    rows = context(agent)
    assert "The following is a summary of the previous " in rows[1].text
    assert rows[-2].text == "and now?" and rows[-1].role == "assistant"
    summariser = [r for r in scripted_llm.requests() if not r.get("tools")]
    assert summariser and "<start_transcript>" in summariser[0]["messages"][-1]["content"]


def test_system_prompt_larger_than_the_window(alice, scripted_llm):
    agent = create_agent(alice, {"context_window_limit": 300})
    scripted_llm.queue_error("context_length_exceeded")
    run, _ = turn(alice, agent, "hi")
    assert (run.status, run.stop_reason) == ("failed", "context_window_overflow_in_system_prompt")


def test_cancel_requested_before_a_step(alice, v1_agent, scripted_llm):
    run = start_turn(alice, v1_agent.id, [{"role": "user", "content": "hi"}])
    Run.objects.filter(id=run.id).update(cancel_requested=True, status="running")
    run.refresh_from_db()
    events = []
    run_turn(run, events.append)
    run.refresh_from_db()
    assert (run.status, run.stop_reason) == ("cancelled", "cancelled")
    assert scripted_llm.requests() == []


# ---- streaming -----------------------------------------------------------------------------------------------------


def test_token_deltas_share_ids_with_the_stored_messages(alice, v2_agent, scripted_llm):
    scripted_llm.queue_tool_call("send_message", {"message": "Hello there, Chad!"}, text="Greeting him.")
    run, events = turn(alice, v2_agent, "hi", stream_tokens=True)
    assistant = context(v2_agent)[-2]
    said = [e for e in events if e["message_type"] == "assistant_message"]
    thought = [e for e in events if e["message_type"] == "reasoning_message"]
    assert len(said) > 1 and "".join(e["content"] for e in said) == "Hello there, Chad!"
    assert "".join(e["reasoning"] for e in thought) == "Greeting him."
    assert {e["id"] for e in said + thought} == {assistant.id}
    assert thought[0]["otid"] == part_otid(assistant.id, 0) and said[0]["otid"] == part_otid(assistant.id, 1)
    assert [e["message_type"] for e in events].count("tool_return_message") == 1  # whole messages after the step
    stored = run.metadata["result"]["messages"]
    assert [m["message_type"] for m in stored] == ["reasoning_message", "assistant_message", "tool_return_message"]


def test_v1_tool_call_deltas(alice, v1_agent, scripted_llm):
    scripted_llm.queue_tool_call("conversation_search", {"query": "tea and biscuits"})
    scripted_llm.queue_text("Nothing found.")
    _, events = turn(alice, v1_agent, "what did we say about tea?", stream_tokens=True)
    calls = [e for e in events if e["message_type"] == "tool_call_message"]
    assert calls[0]["tool_call"]["name"] == "conversation_search" and len(calls) > 2
    assert json.loads("".join(e["tool_call"]["arguments"] for e in calls)) == {"query": "tea and biscuits"}


# ---- the hot path ----------------------------------------------------------------------------------------------


def test_queries_per_step_stay_few(alice, v1_agent, scripted_llm):
    turn(alice, v1_agent, "warm up")
    scripted_llm.queue_text("ok")
    run = start_turn(alice, v1_agent.id, [{"role": "user", "content": "hi"}])
    Run.objects.filter(id=run.id).update(status="running")
    with CaptureQueriesContext(connection) as queries:
        run_turn(run, lambda e: None)
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    # load agent, tools, context; cancel check; the step (insert step, insert messages, update agent ids);
    # the end (update run, update agent)
    assert len(statements) <= 9, "\n".join(q[:150] for q in statements)


def test_request_options_override_system_and_shape_the_reply(alice, scripted_llm):
    agent = create_agent(
        alice,
        {
            "agent_type": "memgpt_v2_agent",
            "response_format": {
                "type": "json_schema",
                "json_schema": {"schema": {"type": "object", "properties": {"mood": {}}}},
            },
        },
    )
    scripted_llm.queue_tool_call("send_message", {"message": {"mood": "happy"}})
    run, _ = turn(alice, agent, "how are you?", override_system="Answer in JSON.")
    request = scripted_llm.requests()[0]
    assert request["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    send = next(t["function"] for t in request["tools"] if t["function"]["name"] == "send_message")
    assert send["parameters"]["properties"]["message"] == {"type": "object", "properties": {"mood": {}}}
    assert run.ttft_ns and run.ttft_ns > 0
    assert "Answer in JSON." not in context(agent)[0].text  # the stored prompt is untouched


def test_compaction_messages_are_emitted_on_request(alice, scripted_llm):
    agent = create_agent(alice, {"system": "Be terse.", "context_window_limit": 10_000})
    for i in range(6):
        scripted_llm.queue_text(f"answer {i}")
        turn(alice, agent, f"question {i}")
    scripted_llm.queue_text("ok", usage={"prompt_tokens": 9500, "completion_tokens": 10})
    run, events = turn(alice, agent, "last", include_compaction_messages=True)
    summaries = [e for e in events if e["message_type"] == "summary_message"]
    assert len(summaries) == 1 and summaries[0]["compaction_stats"]["trigger"] == "post_step_context_check"
    assert summaries[0]["id"] in [m["id"] for m in run.metadata["result"]["messages"]]


def test_legacy_approval_must_name_the_pending_request(alice, gated, scripted_llm):
    scripted_llm.queue_tool_call("lookup", {"topic": "tea"}, id="call_gate5")
    turn(alice, gated, "look up tea")
    gated.refresh_from_db()
    with pytest.raises(Invalid) as err:
        check_turn_input(gated, [{"approve": True, "approval_request_id": "message-nope"}])
    assert err.value.field == "messages[0].approval_request_id"


def test_remember_then_recall_among_a_thousand_passages(alice, scripted_llm):
    import numpy as np

    from memory.actions import create_passages
    from memory.embeddings import embed, model_name

    agent = create_agent(alice, {"tools": ["archival_memory_insert", "archival_memory_search"]})
    run, _ = turn(alice, agent, "remember that my sister's birthday is on March 3")
    assert run.stop_reason == "end_turn", run.error
    assert agent.archives.get().passages.filter(text__icontains="March 3").exists()
    # 1,000 other passages: real embeddings of unrelated sentences and close neighbours of them
    topics = [
        f"Note {i}: the {w} meeting moved to room {i}"
        for i, w in enumerate(
            ["budget", "design", "hiring", "release", "security", "roadmap", "support", "sales", "legal", "travel"] * 5
        )
    ]
    base = embed(topics, agent.embedding_config)
    rng = np.random.default_rng(3)
    vectors = np.vstack([base] + [base + 0.05 * rng.normal(size=base.shape) for _ in range(19)]).astype(np.float32)
    create_passages(
        alice.organization,
        [topics[i % 50] + f" ({i})" for i in range(1000)],
        vectors,
        embedding_model=model_name(agent.embedding_config),
        archive=agent.archives.get(),
    )
    run, _ = turn(alice, agent, "what do you remember about my sister's birthday?")
    search = next(m for m in context(agent) if m.role == "tool" and m.name == "archival_memory_search")
    assert "March 3" in packaged(search)["message"]
    assert "March 3" in context(agent)[-1].text


def test_workflow_agent_starts_every_request_from_its_system_message(alice, scripted_llm):
    agent = create_agent(
        alice,
        {
            "agent_type": "workflow_agent",
            "tools": ["send_message"],
            "tool_rules": [{"type": "exit_loop", "tool_name": "send_message"}],
        },
    )
    scripted_llm.queue_tool_call("send_message", {"message": "one"})
    scripted_llm.queue_tool_call("send_message", {"message": "two"})
    turn(alice, agent, "first")
    turn(alice, agent, "second")
    second = scripted_llm.requests()[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user"] and second[1]["content"] == "second"


@pytest.mark.django_db(transaction=True)
def test_a_step_is_refused_when_the_context_changed_under_it(alice, scripted_llm):
    import threading
    import time

    from agents.actions import update_agent

    agent = create_agent(alice, {})
    scripted_llm.queue_text("first")
    turn(alice, agent, "one")
    agent.refresh_from_db()
    kept = agent.message_ids[:1]
    scripted_llm.queue_text("too late", delay_ms=1500)
    result = {}
    worker = threading.Thread(target=lambda: result.update(zip(("run", "events"), turn(alice, agent, "two"))))
    worker.start()
    deadline = time.monotonic() + 10
    while len(scripted_llm.requests()) < 2 and time.monotonic() < deadline:  # the turn is inside its model call
        time.sleep(0.02)
    update_agent(alice, agent.id, {"message_ids": kept})  # someone trims the context meanwhile
    worker.join(15)
    run = result["run"]
    assert (run.status, run.stop_reason) == ("failed", "error") and "changed by someone else" in run.error
    agent.refresh_from_db()
    assert agent.message_ids == kept and not Message.objects.filter(run=run).exists()
    assert Step.objects.get(run=run).status == "failed"


def test_heartbeat_agent_denial_continues_with_a_heartbeat(alice, v2_agent, scripted_llm):
    from agents.actions import update_agent

    update_agent(
        alice, v2_agent.id, {"tool_rules": v2_agent.tool_rules + [{"type": "requires_approval", "tool_name": "lookup"}]}
    )
    scripted_llm.queue_tool_call("lookup", {"topic": "tea", "request_heartbeat": True}, id="call_v2gate")
    run, _ = turn(alice, v2_agent, "look up tea")
    assert run.stop_reason == "requires_approval"
    ask = context(v2_agent)[-1]
    assert json.loads(ask.tool_calls[0]["function"]["arguments"])["request_heartbeat"] is True
    scripted_llm.queue_tool_call("send_message", {"message": "OK, I won't."})
    run, _ = turn(
        alice,
        v2_agent,
        messages=[
            {
                "type": "approval",
                "approvals": [
                    {"type": "approval", "tool_call_id": "call_v2gate", "approve": False, "reason": "not now"}
                ],
            }
        ],
    )
    tail = context(v2_agent)[-5:]
    assert [m.role for m in tail] == ["approval", "tool", "user", "assistant", "tool"]
    assert packaged(tail[1])["message"] == "Error: request to call tool denied. User reason: not now"
    assert packaged(tail[2])["reason"].endswith("Continuing: user denied request to call tool.")
    assert run.stop_reason == "end_turn"


@pytest.mark.parametrize(
    "raw,args",
    [('{"a": 1}{"b": 2}', {"a": 1}), ('"{\\"a\\": 1}"', {"a": 1}), ("not json", {}), ("", {}), ("[1, 2]", {})],
)
def test_tool_call_arguments_are_parsed_leniently(raw, args):
    from agents.runtime.llm import parse_arguments

    assert parse_arguments(raw) == args


@pytest.mark.parametrize(
    "text,hit",
    [
        ("This model's maximum context length is 8192 tokens", True),
        ("prompt is too long: 210000 tokens", True),
        ("Error code: context_length_exceeded", True),
        ("rate limit reached", False),
    ],
)
def test_context_length_errors_are_recognised(text, hit):
    from agents.runtime.llm import is_context_error

    assert is_context_error(Exception(text)) is hit


def test_a_half_json_string_is_streamed_as_it_grows():
    from agents.runtime.streaming import partial_string_value

    assert partial_string_value('{"message": "Hel', "message") == "Hel"
    assert partial_string_value('{"message": "a\\nb\\u00e9', "message") == "a\nbé"
    assert partial_string_value('{"message": "cut \\', "message") == "cut "
    assert partial_string_value('{"other": 1', "message") is None


def test_a_streamed_string_read_piece_by_piece_reads_as_the_whole_and_never_splits_a_character():
    import json

    from agents.runtime.streaming import PartialString

    message = 'Grüße 😀 "quoted" \\ back\nslash\t' * 20 + "\U0001f680 end"
    for ensure_ascii in (True, False):
        args = json.dumps({"message": message, "request_heartbeat": True}, ensure_ascii=ensure_ascii)
        reader, buffer, seen = PartialString("message"), "", []
        for ch in args:  # the worst case: one character per piece, every escape and surrogate pair cut apart
            buffer += ch
            said = reader.read(buffer)
            if said is not None:
                assert said.startswith(seen[-1] if seen else "")  # only ever grows
                said.encode("utf-8")  # no lone surrogate, which could not be sent
                seen.append(said)
        assert seen[-1] == message and reader.closed
    assert PartialString("message").read('{"message": "lone \\ud83d then"}') == "lone \ufffd then"
    assert PartialString("message").read('{"message": "bad \\uzzzz!"}') == "bad \ufffd!"
