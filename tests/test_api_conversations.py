"""Conversations through letta-client 1.12.1 against a live server, with strict response validation: threads of
one agent with their own in-context messages, sharing the agent's memory blocks and history."""

import pytest
from letta_client import Letta, NotFoundError
from letta_client.types import Conversation
from letta_client.types.agents import AssistantMessage, UserMessage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def letta(live_server_url, alice_key):
    with Letta(
        base_url=live_server_url, api_key=alice_key, _strict_response_validation=True, max_retries=0, timeout=60
    ) as client:
        yield client


def make_agent(letta, name="threads"):
    return letta.agents.create(
        name=name,
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        memory_blocks=[{"label": "human", "value": "Name: unknown"}, {"label": "persona", "value": "A helper."}],
    )


def said(letta, conversation_id, **query):
    """(role, text) of the user and assistant messages of a conversation, oldest first."""
    rows = letta.conversations.messages.list(conversation_id, order="asc", **query)
    return [(type(m).__name__, m.content) for m in rows if isinstance(m, UserMessage | AssistantMessage)]


def send(letta, conversation_id, text, **extra):
    """The turn's events (the SDK always reads this route as a stream)."""
    return list(letta.conversations.messages.create(conversation_id, input=text, include_pings=False, **extra))


def test_conversation_crud(letta):
    agent = make_agent(letta)
    conv = letta.conversations.create(agent_id=agent.id, summary="Trip planning")
    assert isinstance(conv, Conversation) and conv.id.startswith("conv-") and conv.agent_id == agent.id
    assert conv.summary == "Trip planning" and len(conv.in_context_message_ids) == 1  # the agent's system message
    assert letta.conversations.retrieve(conv.id).id == conv.id
    other = letta.conversations.create(agent_id=agent.id)
    listed = letta.conversations.list(agent_id=agent.id)
    assert [c.id for c in listed] == [other.id, conv.id]  # newest first
    assert [c.id for c in letta.conversations.list(agent_id=agent.id, summary_search="trip")] == [conv.id]
    assert [c.id for c in letta.conversations.list(agent_id=agent.id, order="asc", limit=1)] == [conv.id]

    renamed = letta.conversations.update(conv.id, summary="Trip to Rome")
    assert renamed.summary == "Trip to Rome" and letta.conversations.retrieve(conv.id).summary == "Trip to Rome"

    letta.conversations.delete(conv.id)
    with pytest.raises(NotFoundError):
        letta.conversations.retrieve(conv.id)
    assert [c.id for c in letta.conversations.list(agent_id=agent.id)] == [other.id]


def test_conversation_refusals(letta, live_server_url, mallory):
    from accounts.actions import create_api_key

    mallory_key = create_api_key(mallory, "tests")[1]
    agent = make_agent(letta)
    conv = letta.conversations.create(agent_id=agent.id)
    with pytest.raises(NotFoundError):
        letta.conversations.create(agent_id="agent-123e4567-e89b-42d3-8456-426614174000")
    with Letta(base_url=live_server_url, api_key=mallory_key, max_retries=0) as mallory:
        with pytest.raises(NotFoundError):
            mallory.conversations.retrieve(conv.id)
        assert mallory.conversations.list() == []
    r = letta.conversations.with_raw_response
    with pytest.raises(Exception) as refused:
        r.create(agent_id=agent.id, isolated_block_labels=["human"])
    assert "isolated_block_labels" in str(refused.value)


def test_each_conversation_has_its_own_history_and_shares_memory(letta, scripted_llm):
    agent = make_agent(letta)
    first = letta.conversations.create(agent_id=agent.id)
    second = letta.conversations.create(agent_id=agent.id)

    scripted_llm.queue(
        {"tool_calls": [{"name": "memory_insert", "arguments": {"label": "human", "new_string": "Likes: tea"}}]},
        {"text": "Noted, you like tea."},
    )
    stream = letta.conversations.messages.create(first.id, input="I like tea")  # streams by default
    events = [e.message_type for e in stream]
    assert events[0] == "ping" and "assistant_message" in events and events[-1] == "usage_statistics"

    scripted_llm.queue_text("Hello there.")
    reply = send(letta, second.id, "Hello")
    assert [m.content for m in reply if m.message_type == "assistant_message"] == ["Hello there."]
    system = scripted_llm.last_request()["messages"][0]["content"]
    assert "Likes: tea" in str(system)  # the block edit made in the first conversation
    assert "I like tea" not in str(scripted_llm.last_request()["messages"])  # but not its messages

    assert said(letta, first.id) == [
        ("UserMessage", "I like tea"),
        ("AssistantMessage", "Noted, you like tea."),
    ]
    assert said(letta, second.id) == [("UserMessage", "Hello"), ("AssistantMessage", "Hello there.")]
    assert said(letta, "default", agent_id=agent.id) == []  # the agent's own list is untouched
    first_only = letta.agents.messages.list(agent.id, conversation_id=first.id, order="asc")
    assert [m.content for m in first_only if isinstance(m, UserMessage)] == ["I like tea"]
    # Recall is the agent's: every conversation's messages are in its history.
    everything = [m.content for m in letta.agents.messages.list(agent.id) if isinstance(m, UserMessage)]
    assert sorted(everything) == ["Hello", "I like tea"]
    assert len(letta.conversations.retrieve(second.id).in_context_message_ids) == 3
    context = f"/v1/agents/{agent.id}/context"  # the SDK has no method for it: through its HTTP client
    window = letta.get(context, cast_to=dict, options={"params": {"conversation_id": second.id}})
    assert window["num_messages"] == 3 and "Likes: tea" in window["core_memory"]
    assert letta.get(context, cast_to=dict)["num_messages"] == 1


def test_fork_continues_independently(letta, scripted_llm):
    agent = make_agent(letta)
    source = letta.conversations.create(agent_id=agent.id)
    scripted_llm.queue_text("Rome it is.")
    send(letta, source.id, "Let's go to Rome")

    fork = letta.conversations.fork(source.id)
    assert fork.id != source.id and fork.agent_id == agent.id
    assert fork.in_context_message_ids == letta.conversations.retrieve(source.id).in_context_message_ids

    scripted_llm.queue_text("Paris instead, then.")
    send(letta, fork.id, "Actually Paris")
    assert "Let's go to Rome" in str(scripted_llm.last_request()["messages"])  # the fork remembers the source
    scripted_llm.queue_text("Still Rome.")
    send(letta, source.id, "Where again?")
    assert "Actually Paris" not in str(scripted_llm.last_request()["messages"])  # the source does not see the fork

    assert [t for _, t in said(letta, fork.id)] == [
        "Let's go to Rome",
        "Rome it is.",
        "Actually Paris",
        "Paris instead, then.",
    ]
    assert [t for _, t in said(letta, source.id)] == ["Let's go to Rome", "Rome it is.", "Where again?", "Still Rome."]

    from_default = letta.conversations.fork("default", agent_id=agent.id)
    assert from_default.in_context_message_ids == letta.agents.retrieve(agent.id).message_ids


def test_default_conversation_is_the_agents_own_list(letta, scripted_llm):
    agent = make_agent(letta)
    scripted_llm.queue_text("Default here.")
    reply = send(letta, "default", "Hi", agent_id=agent.id)
    assert [m.message_type for m in reply] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert said(letta, "default", agent_id=agent.id) == [("UserMessage", "Hi"), ("AssistantMessage", "Default here.")]
    assert said(letta, agent.id) == said(letta, "default", agent_id=agent.id)  # the older spelling
    assert len(letta.agents.retrieve(agent.id).message_ids) == 3


def test_stream_cancel_recompile_and_compact(letta, scripted_llm):
    agent = make_agent(letta)
    conv = letta.conversations.create(agent_id=agent.id)
    for i in range(3):
        scripted_llm.queue_text(f"Answer {i}.")
        send(letta, conv.id, f"Question {i}")

    replay = list(letta.conversations.messages.stream(conv.id, include_pings=False))
    assert [e.message_type for e in replay] == ["assistant_message", "stop_reason", "usage_statistics"]
    assert replay[0].content == "Answer 2."
    assert letta.conversations.cancel(conv.id) == {}  # nothing active: a no-op

    letta.agents.blocks.update("human", agent_id=agent.id, value="Name: Ada")
    assert "Name: Ada" in letta.conversations.recompile(conv.id, dry_run=True)
    assert "Name: Ada" in letta.conversations.recompile(conv.id)

    before = letta.conversations.retrieve(conv.id).in_context_message_ids
    scripted_llm.queue_text("They asked three questions and got three answers.")
    result = letta.conversations.messages.compact(conv.id, compaction_settings={"mode": "all"})
    assert result.num_messages_before == len(before) == 7 and result.num_messages_after == 4  # the last turn kept
    assert "three questions" in result.summary
    after = letta.conversations.retrieve(conv.id).in_context_message_ids
    assert len(after) == result.num_messages_after and after[0] == before[0]
    assert len(letta.agents.retrieve(agent.id).message_ids) == 1  # the agent's own list is not compacted


def test_streaming_false_answers_a_letta_response(alice_api, scripted_llm):
    agent = alice_api.post(
        "/v1/agents/", {"name": "json", "model": "engram/scripted", "embedding": "local/all-minilm-l6-v2"}
    ).json()
    conv = alice_api.post(f"/v1/conversations/?agent_id={agent['id']}", {}).json()
    scripted_llm.queue_text("As JSON.")
    r = alice_api.post(f"/v1/conversations/{conv['id']}/messages", {"input": "Hi", "streaming": False})
    assert r.status_code == 200, r.content
    body = r.json()
    assert [m["message_type"] for m in body["messages"]] == ["assistant_message"]
    assert body["stop_reason"]["stop_reason"] == "end_turn"
    run = alice_api.get(f"/v1/runs/{body['messages'][0]['run_id']}").json()
    assert run["conversation_id"] == conv["id"]
    listed = alice_api.get(f"/v1/runs/?conversation_id={conv['id']}").json()
    assert [r["id"] for r in listed] == [run["id"]]
    assert (
        alice_api.post(
            f"/v1/conversations/{conv['id']}/messages", {"input": "x", "stream_tokens": True, "streaming": False}
        ).status_code
        == 422
    )


def test_a_conversation_can_use_its_own_model_settings(letta, scripted_llm):
    agent = make_agent(letta)
    cool = letta.conversations.create(
        agent_id=agent.id, model_settings={"provider_type": "openai", "temperature": 0.1, "max_output_tokens": 99}
    )
    assert cool.api_model_settings.temperature == 0.1
    scripted_llm.queue_text("Calm.")
    send(letta, cool.id, "Hi")
    sent = scripted_llm.last_request()
    assert sent["temperature"] == 0.1 and 99 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))
    scripted_llm.queue_text("Usual.")
    send(letta, "default", "Hi", agent_id=agent.id)
    assert scripted_llm.last_request()["temperature"] == agent.llm_config.temperature  # the agent's own stays

    with pytest.raises(Exception) as refused:
        letta.conversations.update(cool.id, model_settings={"provider_type": "openai", "max_output_tokens": 0})
    assert getattr(refused.value, "status_code", None) == 400
    with pytest.raises(NotFoundError):
        letta.conversations.create(agent_id=agent.id, model="nowhere/none")
