"""Agent actions: create with per-type defaults, update with optimistic versions, delete, attach/detach, reset."""

import json

import pytest

from ade.errors import Conflict, Invalid, NotFound
from agents import actions
from agents.models import Agent, AgentTag, Message
from memory.actions import Actor, create_block
from memory.models import Archive, Block
from tests.helpers_loop import context, custom_tool, turn

LOOKUP = '''
def lookup(topic: str) -> str:
    """Look a topic up.

    Args:
        topic: What to look up.
    """
    return topic
'''


def tool_names(agent):
    return [t.name for t in agent.tools.order_by("agenttool__position")]


# ---- create ------------------------------------------------------------------------------------------------------


def test_default_agent_is_letta_v1_with_scripted_model_and_no_base_rules(alice):
    agent = actions.create_agent(alice, {})
    assert agent.agent_type == "letta_v1_agent" and agent.llm_config["handle"] == "engram/scripted"
    assert agent.embedding_config["handle"] == "local/all-minilm-l6-v2"
    assert tool_names(agent) == ["conversation_search", "memory_replace", "memory_insert"]
    assert agent.tool_rules == []
    assert [m.role for m in context(agent)] == ["system"]
    assert agent.archives.count() == 1 and agent.timezone == "UTC"
    assert context(agent)[0].text.startswith("<base_instructions>")


@pytest.mark.parametrize(
    "agent_type,tools,first_rule",
    [
        (
            "memgpt_v2_agent",
            ["send_message", "conversation_search", "memory_replace", "memory_insert"],
            {"type": "exit_loop", "tool_name": "send_message"},
        ),
        (
            "memgpt_agent",
            ["send_message", "conversation_search", "core_memory_append", "core_memory_replace", "memory"],
            {"type": "exit_loop", "tool_name": "send_message"},
        ),
        (
            "sleeptime_agent",
            ["memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"],
            {"type": "continue_loop", "tool_name": "memory_replace"},
        ),
    ],
)
def test_defaults_per_agent_type(alice, agent_type, tools, first_rule):
    agent = actions.create_agent(alice, {"agent_type": agent_type})
    assert [n for n in tool_names(agent) if n != "memory_apply_patch"] == tools
    assert agent.tool_rules[0] == first_rule
    kinds = {r["tool_name"]: r["type"] for r in agent.tool_rules}
    assert all(
        kinds[n] == ("exit_loop" if n in ("send_message", "memory_finish_edits") else "continue_loop")
        for n in tool_names(agent)
    )
    roles = [m.role for m in context(agent)]
    if agent_type == "sleeptime_agent":
        assert roles == ["system"]
    else:
        assert roles == ["system", "assistant", "tool", "user"]
        assert json.loads(context(agent)[3].text)["type"] == "login"


def test_workflow_agent_clears_its_buffer_and_react_has_no_tools(alice):
    workflow = actions.create_agent(alice, {"agent_type": "workflow_agent"})
    react = actions.create_agent(alice, {"agent_type": "react_agent"})
    assert workflow.message_buffer_autoclear and tool_names(workflow) == tool_names(react) == []


def test_create_with_everything(alice, bob):
    shared = create_block(alice.organization, label="team", value="We ship on Fridays", actor=Actor.user(bob))
    lookup = custom_tool(alice, LOOKUP)
    agent = actions.create_agent(
        alice,
        {
            "name": "Research bot",
            "description": "finds things",
            "system": "Be brief.",
            "memory_blocks": [
                {"label": "human", "value": "Name: Ada", "limit": 500},
                {"label": "notes", "value": "", "description": "scratch", "read_only": True},
            ],
            "block_ids": [shared.id],
            "tools": ["lookup"],
            "include_base_tools": False,
            "tool_rules": [{"type": "exit_loop", "tool_name": "lookup"}],
            "tags": ["b", "a", "a"],
            "metadata": {"team": "x"},
            "timezone": "Europe/Paris",
            "context_window_limit": 9000,
            "secrets": {"API_TOKEN": "s3cret"},
            "initial_message_sequence": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}],
        },
    )
    assert [b.label for b in agent.ordered_blocks()] == ["human", "notes", "team"]
    assert agent.blocks.get(label="human").description.startswith("The human block")
    assert tool_names(agent) == ["lookup"] and agent.tools.get() == lookup
    assert agent.tool_rules == [{"type": "exit_loop", "tool_name": "lookup"}]
    assert sorted(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True)) == ["a", "b"]
    assert agent.llm_config["context_window"] == 9000 and agent.timezone == "Europe/Paris"
    system, user, assistant, tool = context(agent)
    assert system.text.startswith("Be brief.\n\n<memory_blocks>") and "- read_only=true" in system.text
    assert json.loads(user.text)["message"] == "Hello"
    assert json.loads(user.text)["time"].endswith(("+0100", "+0200"))  # the agent's timezone
    assert json.loads(assistant.tool_calls[0]["function"]["arguments"]) == {"message": "Hi!"}
    assert tool.role == "tool"


def test_tool_with_default_approval_gets_a_rule(alice):
    from tools.models import Tool

    tool = custom_tool(alice, LOOKUP)
    Tool.objects.filter(id=tool.id).update(default_requires_approval=True)
    agent = actions.create_agent(alice, {"tool_ids": [tool.id]})
    assert {"type": "requires_approval", "tool_name": "lookup"} in agent.tool_rules


@pytest.mark.parametrize(
    "spec,error,field",
    [
        ({"agent_type": "voice_convo_agent"}, Invalid, "agent_type"),
        ({"name": "bad/name"}, Invalid, "name"),
        ({"timezone": "Mars/Olympus"}, Invalid, "timezone"),
        ({"model": "nonsense"}, Invalid, "model"),
        ({"model": "openai/unknown-key-missing"}, NotFound, "model"),
        ({"tools": ["no_such_tool"]}, NotFound, "tools"),
        ({"block_ids": ["block-00000000-0000-4000-8000-000000000000"]}, NotFound, "block_ids"),
        ({"tool_rules": [{"type": "exit_loop"}]}, Invalid, "tool_rules[0].tool_name"),
        ({"memory_blocks": [{"label": "human", "value": "x" * 30, "limit": 10}]}, Exception, None),
        ({"memory_blocks": [{"label": "human"}, {"label": "human"}]}, Conflict, "label"),
        ({"secrets": {"A": 1}}, Invalid, "secrets"),
        ({"compaction_settings": {"mode": "magic"}}, Invalid, "compaction_settings.mode"),
        ({"max_files_open": 0}, Invalid, "max_files_open"),
    ],
)
def test_bad_create_input_is_refused_and_nothing_is_written(alice, settings, spec, error, field):
    settings.OPENAI_API_KEY = ""
    before = (Agent.objects.count(), Block.objects.count(), Message.objects.count(), Archive.objects.count())
    with pytest.raises(error) as err:
        actions.create_agent(alice, spec)
    if field:
        assert err.value.field == field
    assert (Agent.objects.count(), Block.objects.count(), Message.objects.count(), Archive.objects.count()) == before


def test_blocks_of_another_organization_cannot_be_attached(alice, mallory):
    theirs = create_block(mallory.organization, label="secret", value="x", actor=Actor.user(mallory))
    with pytest.raises(NotFound):
        actions.create_agent(alice, {"block_ids": [theirs.id]})


# ---- update ------------------------------------------------------------------------------------------------------


def test_update_fields_and_replace_sets(alice):
    agent = actions.create_agent(alice, {"memory_blocks": [{"label": "human", "value": "a"}], "tags": ["x"]})
    other = create_block(alice.organization, label="team", value="t", actor=Actor.user(alice))
    tool = custom_tool(alice, LOOKUP)
    version = agent.version
    updated = actions.update_agent(
        alice,
        agent.id,
        {
            "name": "Renamed",
            "system": "New base.",
            "tags": ["y"],
            "block_ids": [other.id],
            "tool_ids": [tool.id],
            "tool_rules": [{"type": "exit_loop", "tool_name": "lookup"}],
            "context_window_limit": 5000,
        },
        expected_version=version,
    )
    assert updated.version == version + 1 and updated.name == "Renamed"
    assert [b.label for b in updated.ordered_blocks()] == ["team"] and tool_names(updated) == ["lookup"]
    assert list(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True)) == ["y"]
    assert updated.llm_config["context_window"] == 5000
    text = context(updated)[0].text
    assert text.startswith("New base.\n\n<memory_blocks>") and "<team>" in text and "<human>" not in text
    assert "lookup ends your response" in text


def test_stale_update_is_refused_and_changes_nothing(alice, bob):
    agent = actions.create_agent(alice, {"name": "first"})
    seen = agent.version
    actions.update_agent(bob, agent.id, {"name": "bobs"}, expected_version=seen)
    with pytest.raises(Conflict) as err:
        actions.update_agent(alice, agent.id, {"name": "alices"}, expected_version=seen)
    assert err.value.field == "version"
    agent.refresh_from_db()
    assert agent.name == "bobs"


def test_update_refuses_bad_values_atomically(alice, mallory):
    agent = actions.create_agent(alice, {"name": "keep"})
    with pytest.raises(Invalid):
        actions.update_agent(alice, agent.id, {"name": "changed", "tool_rules": "nope"})
    with pytest.raises(Invalid):
        actions.update_agent(alice, agent.id, {"agent_type": "memgpt_agent"})
    with pytest.raises(Invalid, match="non-empty list"):
        actions.update_agent(alice, agent.id, {"message_ids": []})
    with pytest.raises(NotFound):
        actions.update_agent(mallory, agent.id, {"name": "mine"})
    agent.refresh_from_db()
    assert agent.name == "keep"


def test_message_ids_can_be_replaced_with_the_agents_own_messages(alice, scripted_llm):
    agent = actions.create_agent(alice, {})
    scripted_llm.queue_text("hello")
    turn(alice, agent, "hi")
    agent.refresh_from_db()
    with pytest.raises(Invalid, match="start with the system message"):
        actions.update_agent(alice, agent.id, {"message_ids": agent.message_ids[1:]})
    actions.update_agent(alice, agent.id, {"message_ids": agent.message_ids[:1]})
    assert len(context(agent)) == 1
    assert "- 2 previous messages" in context(agent)[0].text


# ---- relations, delete, reset --------------------------------------------------------------------------------------


def test_attach_and_detach(alice):
    agent = actions.create_agent(alice, {"memory_blocks": [{"label": "human", "value": "x"}]})
    block = create_block(alice.organization, label="team", value="Fridays", actor=Actor.user(alice))
    duplicate = create_block(alice.organization, label="human", value="y", actor=Actor.user(alice))
    actions.attach_block(alice, agent.id, block.id)
    assert "Fridays" in context(agent)[0].text
    with pytest.raises(Conflict):
        actions.attach_block(alice, agent.id, duplicate.id)
    actions.detach_block(alice, agent.id, block.id)
    assert "Fridays" not in context(agent)[0].text and Block.objects.filter(id=block.id).exists()
    tool = custom_tool(alice, LOOKUP)
    actions.attach_tool(alice, agent.id, tool.id)
    assert "lookup" in tool_names(agent)
    actions.detach_tool(alice, agent.id, tool.id)
    assert "lookup" not in tool_names(agent)
    with pytest.raises(NotFound):
        actions.detach_tool(alice, agent.id, tool.id)


def test_delete_keeps_shared_blocks_and_removes_own_archive(alice):
    agent = actions.create_agent(alice, {"memory_blocks": [{"label": "human", "value": "x"}]})
    block, archive = agent.blocks.get(), agent.archives.get()
    actions.delete_agent(alice, agent.id)
    assert not Agent.objects.filter(id=agent.id).exists() and not Message.objects.filter(agent_id=agent.id).exists()
    assert Block.objects.filter(id=block.id).exists() and not Archive.objects.filter(id=archive.id).exists()


def test_reset_messages(alice, scripted_llm):
    agent = actions.create_agent(alice, {"agent_type": "memgpt_v2_agent"})
    scripted_llm.queue_tool_call("send_message", {"message": "hello"})
    turn(alice, agent, "hi")
    system_id = agent.message_ids[0]
    stored = Message.objects.filter(agent=agent).count()
    actions.reset_messages(alice, agent.id)
    assert [m.id for m in context(agent)] == [system_id]
    assert Message.objects.filter(agent=agent).count() == stored  # kept in recall, as Letta does
    assert f"- {stored - 1} previous messages" in context(agent)[0].text
    actions.reset_messages(alice, agent.id, add_default_initial_messages=True)
    assert [m.role for m in context(agent)] == ["system", "assistant", "tool", "user"]
