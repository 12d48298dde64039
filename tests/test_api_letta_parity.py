"""Places where Engram answered differently from Letta (issue #12's mismatch list), each checked through
letta-client 1.12.1 against a live server with strict response validation."""

import pytest
from letta_client import Letta, NotFoundError
from letta_client.types.agents import UserMessage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def letta(live_server_url, alice_key):
    with Letta(
        base_url=live_server_url, api_key=alice_key, _strict_response_validation=True, max_retries=0, timeout=60
    ) as client:
        yield client


def make_agent(letta, name="parity", **extra):
    return letta.agents.create(
        name=name,
        model="engram/scripted",
        embedding="local/all-minilm-l6-v2",
        memory_blocks=[{"label": "human", "value": "Name: unknown"}],
        **extra,
    )


def test_reset_keeps_messages_stored(letta, scripted_llm):
    """1: only the in-context list is reset; the message list and conversation_search still find the messages."""
    agent = make_agent(letta)
    scripted_llm.queue_text("Felix is a fine name.")
    letta.agents.messages.create(agent.id, input="My cat is called Felix")
    reset = letta.agents.messages.reset(agent.id)
    assert len(reset.message_ids) == 1
    said = [m.content for m in letta.agents.messages.list(agent.id) if isinstance(m, UserMessage)]
    assert said == ["My cat is called Felix"]

    scripted_llm.queue(
        {"tool_calls": [{"name": "conversation_search", "arguments": {"query": "Felix"}}]}, {"text": "Felix."}
    )
    reply = letta.agents.messages.create(agent.id, input="What is my cat called?")
    found = [m.tool_return for m in reply.messages if m.message_type == "tool_return_message"]
    assert len(found) == 1 and "My cat is called Felix" in found[0]
    assert "My cat is called Felix" not in str(scripted_llm.requests()[-2]["messages"])  # not in context though


def test_model_settings_on_create_and_update(letta, scripted_llm):
    """2: model_settings set temperature and max_output_tokens; AgentState.model_settings shows them."""
    agent = make_agent(letta, model_settings={"provider_type": "openai", "temperature": 0.2, "max_output_tokens": 321})
    assert agent.api_model_settings.provider_type == "openai"
    assert agent.api_model_settings.temperature == 0.2 and agent.api_model_settings.max_output_tokens == 321
    assert agent.llm_config.temperature == 0.2 and agent.llm_config.max_tokens == 321
    scripted_llm.queue_text("Cool and short.")
    letta.agents.messages.create(agent.id, input="Hi")
    sent = scripted_llm.last_request()
    assert sent["temperature"] == 0.2 and 321 in (sent.get("max_tokens"), sent.get("max_completion_tokens"))

    updated = letta.agents.update(agent.id, model_settings={"provider_type": "openai", "temperature": 0.9})
    assert updated.api_model_settings.temperature == 0.9 and updated.api_model_settings.max_output_tokens == 321
    assert letta.agents.retrieve(agent.id).llm_config.temperature == 0.9

    with pytest.raises(Exception) as refused:
        letta.agents.update(agent.id, model_settings={"provider_type": "openai", "max_output_tokens": 0})
    assert getattr(refused.value, "status_code", None) == 400 and "max_tokens" in str(refused.value)
    assert letta.agents.retrieve(agent.id).llm_config.max_tokens == 321


def test_project_and_template_filters(letta):
    """3 (project/template part): the ids an agent was created with are kept, and list filters apply them."""
    inside = make_agent(letta, name="inside", project_id="proj-1", template_id="tmpl-1", base_template_id="base-1")
    outside = make_agent(letta, name="outside")
    assert (inside.project_id, inside.template_id, inside.base_template_id) == ("proj-1", "tmpl-1", "base-1")
    assert outside.project_id is None
    assert [a.id for a in letta.agents.list(project_id="proj-1")] == [inside.id]
    assert [a.id for a in letta.agents.list(template_id="tmpl-1")] == [inside.id]
    assert [a.id for a in letta.agents.list(base_template_id="base-1")] == [inside.id]
    assert list(letta.agents.list(project_id="proj-2")) == []
    assert {a.id for a in letta.agents.list()} == {inside.id, outside.id}


def test_deleting_an_agent_deletes_its_sleeptime_companion(letta):
    """5: the sleep-time agent and the group go with the agent created with enable_sleeptime."""
    from agents.models import Group

    agent = make_agent(letta, enable_sleeptime=True)
    group = agent.multi_agent_group
    assert group is not None and len(group.agent_ids) == 1
    companion = group.agent_ids[0]
    assert letta.agents.retrieve(companion).agent_type == "sleeptime_agent"
    bystander = make_agent(letta, name="bystander")

    letta.agents.delete(agent.id)
    with pytest.raises(NotFoundError):
        letta.agents.retrieve(companion)
    assert not Group.objects.filter(id=group.id).exists()
    assert letta.agents.retrieve(bystander.id).id == bystander.id


def test_cancelling_a_finished_run_is_a_no_op(letta, scripted_llm):
    """6: cancel(run_ids=[finished]) answers 200 and changes nothing (a 409 would be retried by the SDK)."""
    agent = make_agent(letta)
    scripted_llm.queue_text("Done already.")
    run_id = letta.agents.messages.create(agent.id, input="Hi").messages[0].run_id
    assert letta.agents.messages.cancel(agent.id, run_ids=[run_id]) == {}
    run = letta.runs.retrieve(run_id)
    assert run.status == "completed" and run.stop_reason == "end_turn"


def test_hidden_agents_are_left_out_of_lists(letta):
    """7: agents.list() leaves hidden agents out; exclude_hidden=false (the name Letta's count uses) includes them."""
    shown = make_agent(letta, name="shown")
    hidden = make_agent(letta, name="hidden", hidden=True)
    assert [a.id for a in letta.agents.list()] == [shown.id]
    everyone = [a.id for a in letta.agents.list(extra_query={"exclude_hidden": "false"})]
    assert sorted(everyone) == sorted([shown.id, hidden.id])
    assert letta.agents.retrieve(hidden.id).hidden is True


def test_runs_list_filters_as_letta(letta, scripted_llm):
    """8: active=false applies no filter; agent_id wins over agent_ids."""
    first, second = make_agent(letta, name="first"), make_agent(letta, name="second")
    scripted_llm.queue_text("One.")
    done = letta.agents.messages.create(first.id, input="Hi").messages[0].run_id
    scripted_llm.queue_text("Two.")
    other = letta.agents.messages.create(second.id, input="Hi").messages[0].run_id
    scripted_llm.queue({"text": "Slow.", "delay_ms": 3000})
    running = letta.agents.messages.create_async(first.id, input="Take your time").id
    try:
        assert {r.id for r in letta.runs.list(agent_id=first.id, active=False)} == {done, running}
        assert [r.id for r in letta.runs.list(agent_id=first.id, active=True)] == [running]
        assert {r.id for r in letta.runs.list(agent_id=first.id, agent_ids=[second.id])} == {done, running}
        assert [r.id for r in letta.runs.list(agent_ids=[second.id])] == [other]
    finally:
        letta.agents.messages.cancel(first.id, run_ids=[running])
