"""Conversations on real Celery workers: turns of two conversations of one agent run in parallel, turns of one
conversation one at a time and in order (`services`: real Redis, PostgreSQL and worker processes)."""

import pytest

from agents import runs
from agents.actions import create_agent
from agents.conversations import create_conversation
from agents.models import Conversation, Message

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def send(user, agent, conversation, text):
    run = runs.start_turn(
        user, agent.id, [{"role": "user", "content": text}], background=True, conversation=conversation
    )
    runs.submit(run)
    return run


def said(conversation):
    ids = Conversation.objects.get(id=conversation.id).message_ids
    rows = {m.id: m for m in Message.objects.filter(id__in=ids)}
    return [(rows[i].role, rows[i].text) for i in ids[1:]]


def test_two_conversations_run_in_parallel_and_one_conversation_one_at_a_time(alice, scripted_llm, celery_workers):
    agent = create_agent(alice, {"name": "threads", "memory_blocks": [{"label": "human", "value": ""}]})
    first, second = create_conversation(alice, agent.id), create_conversation(alice, agent.id)
    scripted_llm.queue(*[{"text": "noted", "delay_ms": 1000}] * 3)
    one, two = send(alice, agent, first, "one"), send(alice, agent, first, "two")
    other = send(alice, agent, second, "hello")
    one, two, other = [runs.wait(r.id, timeout=60) for r in (one, two, other)]
    assert [r.status for r in (one, two, other)] == ["completed"] * 3, celery_workers.logs()
    assert one.completed_at <= two.started_at  # the same conversation: one turn at a time, in order
    assert other.started_at < one.completed_at and one.started_at < other.completed_at  # the other one alongside
    assert said(first) == [("user", "one"), ("assistant", "noted"), ("user", "two"), ("assistant", "noted")]
    assert said(second) == [("user", "hello"), ("assistant", "noted")]
    agent.refresh_from_db()
    assert len(agent.message_ids) == 1  # the agent's own (default) list was not touched
