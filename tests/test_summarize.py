"""Compaction (behaviour spec §5): triggers, the sliding window and its fallback, what is never evicted,
chunked summaries, and recall of evicted messages."""

import json

import pytest

from agents.actions import create_agent
from agents.models import Message
from agents.runtime.packaging import text_parts
from memory.recall import conversation_search
from memory.summarize import all_plan, compact, protected_start
from tests.helpers_loop import context, packaged, turn

SHORT_SYSTEM = "You are a terse assistant."


@pytest.fixture(autouse=True)
def no_retry_wait(settings):
    settings.LLM_RETRY_DELAYS = (0, 0, 0)


def small_agent(user, window=10_000, **spec):
    return create_agent(user, {"system": SHORT_SYSTEM, "context_window_limit": window, **spec})


def add_history(agent, pairs: int, words: int = 12):
    """`pairs` user/assistant exchanges placed in context, as earlier turns would have left them."""
    rows = []
    for i in range(pairs):
        rows.append(
            Message(
                organization_id=agent.organization_id,
                agent=agent,
                role="user",
                content=text_parts(f"question {i} about topic{i} " + "detail " * words),
            )
        )
        rows.append(
            Message(
                organization_id=agent.organization_id,
                agent=agent,
                role="assistant",
                content=text_parts(f"answer {i} on topic{i} " + "reply " * words),
            )
        )
    Message.objects.bulk_create(rows)
    agent.message_ids = agent.message_ids[:1] + [r.id for r in rows]
    agent.save(update_fields=["message_ids"])
    return rows


def test_passing_90_percent_compacts_with_a_sliding_window(alice, scripted_llm):
    agent = small_agent(alice)
    history = add_history(agent, 10)
    scripted_llm.queue_text("Here you go.", usage={"prompt_tokens": 9400, "completion_tokens": 100})
    run, _ = turn(alice, agent, "the latest question")
    assert run.stop_reason == "end_turn", run.error
    rows = context(agent)
    summary = packaged(rows[1])
    assert rows[1].role == "user" and summary["type"] == "system_alert"
    evicted = (1 + len(history) + 2) - 1 - (len(rows) - 2)  # all but the system message and the kept ones
    assert summary["message"].startswith(
        f"Note: {evicted} messages from the beginning of the conversation have "
        "been hidden from view due to memory constraints.\nThe following is a "
        "summary of the previous messages:\n "
    )
    assert summary["compaction_stats"]["trigger"] == "post_step_context_check"
    assert rows[2].role == "assistant"  # the cut lands on an assistant boundary
    assert [r.text for r in rows[-2:]] == ["the latest question", "Here you go."]  # the last turn is kept
    # evicted messages stay in recall and are still searchable
    assert history[0].id not in agent.message_ids and Message.objects.filter(id=history[0].id).exists()
    found = conversation_search(agent, "topic0")
    assert any("question 0 about topic0" in r.get("content", "") for r in found["results"])
    # the system prompt was recompiled: the evicted messages now count as recall
    assert f"- {Message.objects.filter(agent=agent).count() - len(rows)} previous messages" in rows[0].text


def test_too_few_messages_fall_back_to_summarising_all_but_the_last_turn(alice, scripted_llm):
    agent = small_agent(alice)
    old = Message.objects.create(
        organization_id=agent.organization_id,
        agent=agent,
        role="user",
        content=text_parts("an old remark about gardening"),
    )
    agent.message_ids = [agent.message_ids[0], old.id]
    agent.save(update_fields=["message_ids"])
    scripted_llm.queue_text("Sure.", usage={"prompt_tokens": 9400, "completion_tokens": 100})
    turn(alice, agent, "new question")
    rows = context(agent)
    assert packaged(rows[1])["message"].startswith(
        "Note: prior messages have been hidden from view due to conversation memory constraints.\nThe following is "
        "a summary of the previous messages:\n "
    )
    assert [r.text for r in rows[2:]] == ["new question", "Sure."]


def test_compaction_keeps_a_trailing_approval_request(alice, scripted_llm):
    agent = small_agent(alice, window=4_000)
    add_history(agent, 6)
    call = {"id": "call_a", "type": "function", "function": {"name": "memory_insert", "arguments": "{}"}}
    ask = Message.objects.create(
        organization_id=agent.organization_id, agent=agent, role="approval", content=[], tool_calls=[call]
    )
    agent.message_ids = agent.message_ids + [ask.id]
    agent.save(update_fields=["message_ids"])
    rows = context(agent)
    compacted = compact(agent, rows, trigger="test")
    assert compacted[-1].id == ask.id and "summary of the previous" in compacted[1].text
    agent.refresh_from_db()
    assert agent.message_ids == [m.id for m in compacted]


def test_the_whole_context_being_one_turn_keeps_its_question_and_latest_step():
    class Row:
        def __init__(self, role, text="", tool_calls=None):
            self.role, self.content, self.tool_calls, self.step_id = role, text_parts(text), tool_calls, None

        @property
        def text(self):
            return self.content[0]["text"]

    call = [{"id": "c", "function": {"name": "x", "arguments": "{}"}}]
    rows = [
        Row("system"),
        Row("user", "do the big job"),
        Row("assistant", tool_calls=call),
        Row("tool", "r1"),
        Row("assistant", tool_calls=call),
        Row("tool", "r2"),
    ]
    assert protected_start(rows) == 1
    evicted, kept = all_plan(rows)
    assert evicted == rows[2:4] and kept == [rows[1], rows[4], rows[5]]


def test_a_transcript_larger_than_the_summarisers_window_is_summarised_in_chunks(alice, scripted_llm):
    agent = small_agent(alice, window=3_000, compaction_settings={"mode": "all"})
    add_history(agent, 12, words=80)
    rows = context(agent)
    compact(agent, rows, trigger="test")
    summaries = [r for r in scripted_llm.requests() if not r.get("tools")]
    assert len(summaries) > 2
    assert "[summary of part 1]" in summaries[-1]["messages"][-1]["content"]
    assert all(len(json.dumps(r["messages"])) < 3_000 * 4 for r in summaries)


def test_summary_message_is_found_as_summary_memory_by_the_overview(alice, scripted_llm):
    from memory.context import context_overview

    agent = small_agent(alice)
    add_history(agent, 10)
    scripted_llm.queue_text("ok", usage={"prompt_tokens": 9500, "completion_tokens": 10})
    turn(alice, agent, "hi")
    agent.refresh_from_db()
    overview = context_overview(agent)
    assert overview["summary_memory"] and overview["num_tokens_summary_memory"] > 0
