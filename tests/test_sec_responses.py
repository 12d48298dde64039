"""Unbounded responses (issue 10, medium): GET /context of an agent with a huge context answers with its most
recent messages only (the counts still cover all of them)."""

from agents.actions import create_agent
from agents.models import Message


def test_context_of_a_huge_agent_is_capped(alice, alice_api, monkeypatch):
    monkeypatch.setattr("memory.context.CONTEXT_MESSAGES_SHOWN", 50)
    agent = create_agent(alice, {"name": "huge"})
    rows = Message.objects.bulk_create(
        Message(organization=alice.organization, agent=agent, role="user", content=[{"type": "text", "text": f"m{i}"}])
        for i in range(120)
    )
    agent.message_ids = [*agent.message_ids, *(m.id for m in rows)]
    agent.save(update_fields=["message_ids"])
    body = alice_api.get(f"/v1/agents/{agent.id}/context").json()
    assert body["num_messages"] == len(agent.message_ids)
    assert len(body["messages"]) == 50 and body["messages"][-1]["id"] == rows[-1].id
