"""engram/oracle (agents/scripted/oracle.py) on agents driven like the API drives them: it answers from the memory
blocks in its prompt, edits them with the memory tools, and searches when the answer is not in context — the
conversation first, then archival memory."""

import pytest

from agents.actions import create_agent
from agents.runs import execute, start_turn
from evals.sample import reply_text


def say(user, agent, text: str) -> str:
    run = execute(start_turn(user, agent.id, [{"role": "user", "content": text}]).id)
    assert run.status == "completed", run.error
    return reply_text(run.metadata["result"]["messages"])


def tools_called(agent) -> list[str]:
    from agents.models import Message

    calls = Message.objects.filter(agent_id=agent.id, role="assistant").order_by("created_at")
    return [c["function"]["name"] for m in calls for c in (m.tool_calls or [])]


@pytest.mark.django_db
def test_answers_from_memory_and_updates_it(alice, scripted_llm):
    agent = create_agent(
        alice,
        {
            "model": "engram/oracle",
            "memory_blocks": [{"label": "facts", "value": "Ines Baro plays the oboe.\nTomas Reyl keeps goats."}],
        },
    )
    assert "Ines Baro plays the oboe" in say(alice, agent, "Which instrument does Ines Baro play?")
    say(alice, agent, "Here is new information: Ines Baro plays the cello now.")
    assert tools_called(agent) == ["memory_replace"]
    assert agent.blocks.get(label="facts").value == "Ines Baro plays the cello now.\nTomas Reyl keeps goats."
    answer = say(alice, agent, "Which instrument does Ines Baro play?")
    assert "cello" in answer and "oboe" not in answer
    assert scripted_llm.requests()[-1]["model"] == "oracle"


@pytest.mark.django_db
def test_searches_the_conversation_then_archival_memory(alice, scripted_llm):
    from memory.actions import Actor
    from memory.archival import insert_archival

    agent = create_agent(
        alice, {"model": "engram/oracle", "tools": ["archival_memory_search"], "embedding": "local/all-minilm-l6-v2"}
    )
    insert_archival(agent, "The harbour ferry leaves at seven.", [], actor=Actor.user(alice))
    say(alice, agent, "My aunt Odile grows plums in her garden.")
    say(alice, agent, "Nothing else today.")
    from agents.actions import reset_messages

    reset_messages(alice, agent.id)  # the plums are no longer in context
    assert "Odile grows plums" in say(alice, agent, "Who grows plums in her garden?")
    assert tools_called(agent) == ["conversation_search"]
    assert "ferry leaves at seven" in say(alice, agent, "When does the harbour ferry leave?")
    assert tools_called(agent)[1:] == ["conversation_search", "archival_memory_search"]
