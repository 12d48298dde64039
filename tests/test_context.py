"""Compiling the context window (behaviour spec §1) and the context overview (§6)."""

import re

import pytest

from agents.actions import attach_folder, create_agent
from agents.models import Message
from agents.runtime.prompts import base_prompt
from memory.actions import Actor, create_passages, update_block
from memory.context import context_overview, rebuild_system_prompts
from memory.models import File, Folder

OPENAI = {"model": "gpt-4.1-mini", "model_endpoint_type": "openai", "context_window": 128000}
ANTHROPIC = {"model": "claude-sonnet-4-5", "model_endpoint_type": "anthropic", "context_window": 200000}
STAMP = re.compile(r"^- System prompt last recompiled: .*$", re.MULTILINE)

GOLDEN_MEMORY = """\

<memory_blocks>
The following memory blocks are currently engaged in your core memory unit:

<persona>
<description>
The persona block: Stores details about your current persona, guiding how you behave and respond. This helps you \
to maintain consistency and personality in your interactions.
</description>
<metadata>
- chars_current=54
- chars_limit=100000
</metadata>
<value>
I am Sam, a helpful assistant.
I like concise answers.
</value>
</persona>

<human>
<description>
The human block: Stores key details about the person you are conversing with, allowing for more personalized and \
friend-like conversation.
</description>
<metadata>
- read_only=true
- chars_current=10
- chars_limit=100000
</metadata>
<value>
Name: Chad
</value>
</human>

</memory_blocks>

<tool_usage_rules>
The following constraints define rules for tool usage and guide desired behavior. These rules must be followed to \
ensure proper tool execution and workflow. A single response may contain multiple tool calls.

<tool_rule>
send_message ends your response (yields control) when called
</tool_rule>
</tool_usage_rules>

<memory_metadata>
- AGENT_ID: {agent_id}
- CONVERSATION_ID: default
- System prompt last recompiled: <time>
- 12 previous messages between you and the user are stored in recall memory
- 3 total memories you created are stored in archival memory (use tools to access them)
- Available archival memory tags: meetings, projects
</memory_metadata>"""

BLOCKS = [
    {"label": "persona", "value": "I am Sam, a helpful assistant.\nI like concise answers."},
    {"label": "human", "value": "Name: Chad", "read_only": True},
]


def system_text(agent) -> str:
    agent.refresh_from_db()
    return Message.objects.get(id=agent.message_ids[0]).text


def golden_agent(user, llm_config=OPENAI, agent_type="memgpt_v2_agent"):
    agent = create_agent(
        user,
        {
            "agent_type": agent_type,
            "llm_config": llm_config,
            "memory_blocks": BLOCKS,
            "include_base_tool_rules": False,
            "tool_rules": [{"type": "exit_loop", "tool_name": "send_message"}],
        },
    )
    Message.objects.bulk_create(
        [
            Message(
                organization=user.organization, agent=agent, role="user", content=[{"type": "text", "text": f"old {i}"}]
            )
            for i in range(12)
        ]
    )
    archive = agent.archives.get()
    create_passages(
        user.organization,
        ["Meeting on 2024-03-15", "Standup"],
        None,
        embedding_model="m",
        archive=archive,
        tags=["meetings"],
    )
    create_passages(
        user.organization, ["Project Apollo"], None, embedding_model="m", archive=archive, tags=["projects"]
    )
    rebuild_system_prompts([agent.id], force=True)
    return agent


def test_compile_golden(alice):
    agent = golden_agent(alice)
    text = STAMP.sub("- System prompt last recompiled: <time>", system_text(agent))
    assert text == base_prompt("memgpt_v2_agent") + "\n" + GOLDEN_MEMORY.format(agent_id=agent.id)
    stamp = STAMP.search(system_text(agent)).group(0)
    assert re.fullmatch(r"- System prompt last recompiled: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [AP]M UTC\+0000", stamp)


def test_first_compile_on_create_already_has_tool_rules(alice):
    agent = create_agent(alice, {"agent_type": "memgpt_v2_agent", "llm_config": OPENAI})
    assert "<tool_usage_rules>" in system_text(agent)
    assert "- 0 previous messages between you and the user" in system_text(agent)


@pytest.mark.parametrize(
    "agent_type,llm,numbered",
    [
        ("memgpt_v2_agent", ANTHROPIC, True),
        ("letta_v1_agent", ANTHROPIC, True),
        ("memgpt_agent", ANTHROPIC, False),
        ("memgpt_v2_agent", OPENAI, False),
    ],
)
def test_line_numbered_blocks_only_for_newer_types_on_anthropic(alice, agent_type, llm, numbered):
    text = system_text(golden_agent(alice, llm, agent_type))
    persona = (
        "</metadata>\n<warning>\n# NOTE: Line numbers shown below (with arrows like '1→') are to help during "
        "editing. Do NOT include line number prefixes in your memory edit tool calls.\n</warning>\n<value>\n"
        "1→ I am Sam, a helpful assistant.\n2→ I like concise answers.\n</value>\n</persona>"
    )
    assert (persona in text) is numbered
    assert ("<value>\nI am Sam, a helpful assistant.\nI like concise answers.\n</value>" in text) is not numbered


def test_rebuild_is_in_place_and_only_when_memory_changed(alice):
    agent = golden_agent(alice)
    system_id, before = agent.message_ids[0], system_text(agent)
    rebuild_system_prompts([agent.id])  # nothing changed in memory: left alone (prompt caches stay warm)
    assert system_text(agent) == before
    persona = agent.blocks.get(label="persona")
    update_block(alice.organization, persona.id, {"value": "I am Sam."}, actor=Actor.user(alice))
    agent.refresh_from_db()
    assert agent.message_ids[0] == system_id
    assert "<value>\nI am Sam.\n</value>" in system_text(agent) and "- chars_current=9" in system_text(agent)
    assert Message.objects.filter(agent=agent, role="system").count() == 1


def test_rebuild_without_timestamp_update_keeps_the_time(alice):
    agent = golden_agent(alice)
    Message.objects.filter(id=agent.message_ids[0]).update(
        content=[
            {
                "type": "text",
                "text": STAMP.sub(
                    "- System prompt last recompiled: 2020-01-01 09:00:00 AM UTC+0000", system_text(agent)
                ),
            }
        ]
    )
    rebuild_system_prompts([agent.id], force=True, update_timestamp=False)
    assert "- System prompt last recompiled: 2020-01-01 09:00:00 AM UTC+0000" in system_text(agent)
    rebuild_system_prompts([agent.id], force=True)
    assert "2020-01-01" not in system_text(agent)


def test_shared_block_edit_recompiles_every_agent(alice):
    a = create_agent(alice, {"memory_blocks": [{"label": "team", "value": "Ships on Fridays"}]})
    block = a.blocks.get()
    b = create_agent(alice, {"block_ids": [block.id]})
    update_block(alice.organization, block.id, {"value": "Ships on Mondays"}, actor=Actor.user(alice))
    assert "Ships on Mondays" in system_text(a) and "Ships on Mondays" in system_text(b)


def test_sections_by_agent_type_and_core_memory_placeholder(alice):
    none = create_agent(alice, {"llm_config": OPENAI})
    assert "<memory_blocks>" not in system_text(none)
    react = create_agent(alice, {"agent_type": "react_agent", "llm_config": OPENAI, "memory_blocks": BLOCKS})
    assert "<memory_blocks>" not in system_text(react) and "<memory_metadata>" in system_text(react)
    custom = create_agent(alice, {"system": "Before.\n{CORE_MEMORY}\nAfter {other}.", "memory_blocks": BLOCKS})
    text = system_text(custom)
    assert text.startswith("Before.\n<memory_blocks>") and text.endswith("</memory_metadata>\nAfter {other}.")


def test_directories_when_a_folder_is_attached(alice):
    folder = Folder.objects.create(organization=alice.organization, name="docs", description="Team docs")
    File.objects.create(
        organization=alice.organization,
        folder=folder,
        file_name="notes.txt",
        processing_status="completed",
        content="alpha\nbeta",
    )
    agent = create_agent(alice, {"llm_config": OPENAI})
    attach_folder(alice, agent.id, folder.id)
    text = system_text(agent)
    section = text[text.index("<directories>") : text.index("</directories>")]
    assert "<file_limits>\n- current_files_open=1\n- max_files_open=10\n</file_limits>" in section
    assert '<directory name="docs">\n<description>Team docs</description>' in section
    assert '<file status="open" name="docs/notes.txt">' in section and "1: alpha\n2: beta" in section
    assert text.index("</directories>") < text.index("<memory_metadata>")


def test_context_overview(alice, scripted_llm):
    agent = golden_agent(alice)
    overview = context_overview(agent)
    assert overview["context_window_size_max"] == 128000
    assert overview["system_prompt"].startswith("<base_instructions>")
    assert overview["system_prompt"].endswith("</base_instructions>")
    assert overview["core_memory"].startswith("<memory_blocks>") and "Name: Chad" in overview["core_memory"]
    assert overview["tool_usage_rules"].startswith("<tool_usage_rules>")
    assert overview["external_memory_summary"].startswith("<memory_metadata>")
    assert overview["num_messages"] == 4 and overview["num_archival_memory"] == 3
    assert overview["num_recall_memory"] == 16
    assert overview["summary_memory"] is None and overview["num_tokens_summary_memory"] == 0
    assert {f["function"]["name"] for f in overview["functions_definitions"]} == {
        "send_message",
        "conversation_search",
        "memory_replace",
        "memory_insert",
    }
    parts = [k for k in overview if k.startswith("num_tokens_")]
    assert all(overview[k] >= 0 for k in parts) and overview["num_tokens_core_memory"] > 50
    assert overview["context_window_size_current"] == sum(overview[k] for k in parts)
    assert len(overview["messages"]) == 3


def test_context_overview_detects_the_summary(alice):
    from agents.runtime.packaging import system_alert_text, text_parts

    agent = create_agent(alice, {"llm_config": OPENAI})
    summary = Message.objects.create(
        organization=alice.organization,
        agent=agent,
        role="user",
        content=text_parts(
            system_alert_text(
                "Note: prior messages have been hidden.\nThe following is a summary of the previous "
                "messages:\n We met.",
                "UTC",
            )
        ),
    )
    later = Message.objects.create(
        organization=alice.organization, agent=agent, role="user", content=text_parts("hello")
    )
    agent.message_ids = [agent.message_ids[0], summary.id, later.id]
    agent.save()
    overview = context_overview(agent)
    assert "We met." in overview["summary_memory"] and overview["num_tokens_summary_memory"] > 0
    assert overview["num_messages"] == 3
