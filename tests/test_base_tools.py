"""Base tools through the executor: success texts, the exact error texts, read-only, limits, history."""

import pytest
from django.utils import timezone

from agents.models import Agent, AgentBlock, Message
from memory.actions import Actor, create_block, update_block
from memory.context import LINE_NUMBER_WARNING
from memory.models import READ_ONLY_ERROR, Block, BlockHistory
from tools.actions import create_tool, ensure_base_tools
from tools.executor import execute_tool
from tools.registry import base_tools

SYSTEM = Actor("system")


def make_agent(org, blocks=(), **fields) -> Agent:
    """An agent with blocks [(label, value, {block options})], built with the ORM."""
    agent = Agent.objects.create(
        organization=org,
        name=fields.pop("name", "ada"),
        llm_config={"model": "scripted", "context_window": 8000},
        **fields,
    )
    for position, (label, value, options) in enumerate(blocks):
        block = create_block(org, label=label, value=value, actor=SYSTEM, **options)
        AgentBlock.objects.create(agent=agent, block=block, position=position)
    return agent


@pytest.fixture
def tools(org):
    return ensure_base_tools(org)


@pytest.fixture
def agent(org):
    return make_agent(org, [("persona", "I am Sam.", {}), ("human", "Name: Chad", {})])


def call(agent, tools, name, **args):
    return execute_tool(agent, tools[name], args)


def value(agent, label):
    return Block.objects.get(agents=agent, label=label).value


# ---- registry -------------------------------------------------------------------------------------------------


def test_base_tools_are_created_once_per_organization(org, mallory, django_assert_num_queries):
    rows = ensure_base_tools(org)
    assert set(rows) == set(base_tools())
    assert rows["send_message"].tool_type == "letta_core"
    assert rows["memory_replace"].tool_type == "letta_memory_core"
    assert rows["memory_rethink"].tool_type == "letta_sleeptime_core"
    assert rows["memory_insert"].json_schema["parameters"]["required"] == ["label", "new_string"]
    with django_assert_num_queries(1):
        again = ensure_base_tools(org)
    assert {n: t.id for n, t in again.items()} == {n: t.id for n, t in rows.items()}
    theirs = ensure_base_tools(mallory.organization)
    assert theirs["send_message"].id != rows["send_message"].id


def test_a_changed_base_schema_is_refreshed(org, tools):
    row = tools["send_message"]
    row.json_schema = {"name": "send_message", "description": "old"}
    row.save()
    assert ensure_base_tools(org)["send_message"].json_schema == base_tools()["send_message"].json_schema


def test_base_tools_found_current_are_read_again_once_changed_or_rolled_back(org):
    """The rows a process found current are reused while their ids and update times hold (tools/actions.py)."""
    from django.db import transaction

    from tools.models import Tool

    first = ensure_base_tools(org)
    assert ensure_base_tools(org) is first  # unchanged: the same rows
    Tool.objects.filter(id=first["send_message"].id).update(description="edited", updated_at=timezone.now())
    again = ensure_base_tools(org)
    assert (
        again is not first
        and again["send_message"].description == base_tools()["send_message"].json_schema["description"]
    )
    Tool.objects.filter(organization=org).delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        created = ensure_base_tools(org)  # created inside a transaction that then fails
        raise RuntimeError
    after = ensure_base_tools(org)
    assert not set(t.id for t in after.values()) & set(t.id for t in created.values())
    assert Tool.objects.filter(id__in=[t.id for t in after.values()]).count() == len(base_tools())


def test_schemas_match_the_spec(tools):
    search = tools["archival_memory_search"].json_schema["parameters"]
    assert search["required"] == ["query"]
    assert search["properties"]["tag_match_mode"]["enum"] == ["any", "all"]
    assert search["properties"]["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": search["properties"]["tags"]["description"],
    }
    convo = tools["conversation_search"].json_schema["parameters"]
    assert convo["required"] == []
    assert convo["properties"]["roles"]["items"] == {"type": "string", "enum": ["assistant", "user", "tool"]}
    assert tools["memory"].json_schema["parameters"]["required"] == ["command"]
    assert "ctx" not in tools["send_message"].json_schema["parameters"]["properties"]


# ---- simple tools and the executor ------------------------------------------------------------------------------


def test_send_message_and_finish_edits(agent, tools):
    assert call(agent, tools, "send_message", message="hi").func_return == "Sent message successfully."
    done = call(agent, tools, "memory_finish_edits")
    assert (done.status, done.func_return) == ("success", "None")


def test_missing_tool_and_bad_arguments(agent, tools):
    assert execute_tool(agent, None, {}).func_return == "Tool not found"
    missing = call(agent, tools, "memory_replace", label="human")
    assert missing.status == "error"
    assert missing.func_return == (
        "Error executing function memory_replace: TypeError: missing required argument(s): old_string, new_string"
    )
    extra = call(agent, tools, "send_message", message="hi", mood="happy")
    assert "unexpected argument(s): mood" in extra.func_return
    # request_heartbeat belongs to the loop, not the tool
    assert call(agent, tools, "send_message", message="hi", request_heartbeat=True).status == "success"


# ---- core memory ------------------------------------------------------------------------------------------------


def test_append_writes_history_attributed_to_the_agent(agent, tools):
    result = call(agent, tools, "core_memory_append", label="human", content="Likes tea")
    assert (result.status, result.func_return) == ("success", "Name: Chad\nLikes tea")
    block = Block.objects.get(agents=agent, label="human")
    assert block.value == "Name: Chad\nLikes tea" and block.version == 2
    row = BlockHistory.objects.get(block=block, version=2)
    assert (row.actor_type, row.actor_id, row.actor_name, row.tool_name) == (
        "agent",
        agent.id,
        "ada",
        "core_memory_append",
    )
    assert row.previous == {"value": "Name: Chad"} and row.new == {"value": "Name: Chad\nLikes tea"}


def test_an_edit_recompiles_the_stored_system_prompt(org, agent, tools):
    system = Message.objects.create(
        organization=org, agent=agent, role="system", content=[{"type": "text", "text": "stale"}]
    )
    agent.message_ids = [system.id]
    agent.save()
    call(agent, tools, "memory_replace", label="human", old_string="Chad", new_string="Ada")
    system.refresh_from_db()
    assert "Name: Ada" in system.text and "<memory_blocks>" in system.text


def test_unknown_label_lists_the_available_blocks(agent, tools):
    result = call(agent, tools, "core_memory_append", label="nope", content="x")
    assert result.status == "error"
    assert result.func_return == "Block field nope does not exist (available sections = persona, human)"


def test_core_memory_replace_replaces_every_occurrence_or_says_not_found(agent, tools):
    call(agent, tools, "core_memory_append", label="persona", content="I am kind.")
    result = call(agent, tools, "core_memory_replace", label="persona", old_content="I am", new_content="Sam is")
    assert result.func_return == "Sam is Sam.\nSam is kind."
    missing = call(agent, tools, "core_memory_replace", label="human", old_content="xyz", new_content="q")
    assert (missing.status, missing.func_return) == ("error", "Old content 'xyz' not found in memory block 'human'")
    assert value(agent, "human") == "Name: Chad"


def test_memory_replace_needs_exactly_one_occurrence(org, tools):
    agent = make_agent(org, [("notes", "a\nb a", {})])
    many = call(agent, tools, "memory_replace", label="notes", old_string="a", new_string="z")
    assert many.func_return == (
        "No replacement was performed. Multiple occurrences of old_string `a` in lines [1, 2]. "
        "Please ensure it is unique."
    )
    none = call(agent, tools, "memory_replace", label="notes", old_string="q", new_string="z")
    assert none.func_return == (
        "No replacement was performed, old_string `q` did not appear verbatim in memory block with label `notes`."
    )
    assert value(agent, "notes") == "a\nb a"
    ok = call(agent, tools, "memory_replace", label="notes", old_string="b a", new_string="c")
    assert (ok.status, ok.func_return) == ("success", "a\nc")


def test_memory_insert_line_bounds(org, tools):
    agent = make_agent(org, [("notes", "one\ntwo\nthree", {})])
    assert call(agent, tools, "memory_insert", label="notes", new_string="zero", insert_line=0).func_return == (
        "zero\none\ntwo\nthree"
    )
    assert call(agent, tools, "memory_insert", label="notes", new_string="four").func_return.endswith("three\nfour")
    assert call(agent, tools, "memory_insert", label="notes", new_string="five", insert_line=5).func_return.endswith(
        "four\nfive"
    )
    bad = call(agent, tools, "memory_insert", label="notes", new_string="x", insert_line=7)
    assert bad.func_return == (
        "Invalid `insert_line` parameter: 7. It should be within the range of lines of the "
        "memory block: [0, 6], or -1 to append to the end of the memory block."
    )


@pytest.mark.parametrize(
    ("tool", "args", "subject"),
    [
        ("memory_replace", {"old_string": "1→ Name: Chad", "new_string": "x"}, "old_string"),
        ("memory_replace", {"old_string": "Chad", "new_string": "  2→ Ada"}, "new_string"),
        ("memory_insert", {"new_string": "3→ likes tea"}, "new_string"),
        ("memory_rethink", {"new_memory": "1→ Name: Ada"}, "new_memory"),
    ],
)
def test_line_number_prefixes_are_refused(agent, tools, tool, args, subject):
    result = call(agent, tools, tool, label="human", **args)
    assert result.func_return == (
        f"{subject} contains a line number prefix, which is not allowed. Do not include line "
        "numbers when calling memory tools (line numbers are for display purposes only)."
    )
    assert value(agent, "human") == "Name: Chad"


def test_the_line_number_warning_banner_is_refused(agent, tools):
    result = call(
        agent, tools, "memory_replace", label="human", old_string="Chad", new_string=f"Ada\n{LINE_NUMBER_WARNING}"
    )
    assert result.func_return == (
        "new_string contains a line number warning, which is not allowed. Do not include "
        "line number information when calling memory tools (line numbers are for display "
        "purposes only)."
    )


def test_memory_rethink_rewrites_or_creates(agent, tools):
    assert call(agent, tools, "memory_rethink", label="human", new_memory="Name: Ada").func_return == "Name: Ada"
    created = call(agent, tools, "memory_rethink", label="plans", new_memory="Visit Rome")
    assert created.status == "success"
    assert [b.label for b in agent.ordered_blocks()] == ["persona", "human", "plans"]
    history = BlockHistory.objects.get(block__label="plans")
    assert (history.actor_type, history.tool_name) == ("agent", "memory_rethink")


# ---- read-only and limits on every write path ------------------------------------------------------------------

EDITS = [
    ("core_memory_append", {"label": "human", "content": "x" * 30}),
    ("core_memory_replace", {"label": "human", "old_content": "Chad", "new_content": "x" * 30}),
    ("memory_replace", {"label": "human", "old_string": "Chad", "new_string": "x" * 30}),
    ("memory_insert", {"label": "human", "new_string": "x" * 30}),
    ("memory_rethink", {"label": "human", "new_memory": "x" * 30}),
    ("memory", {"command": "str_replace", "path": "/memories/human", "old_string": "Chad", "new_string": "x" * 30}),
    ("memory", {"command": "insert", "path": "/memories/human", "insert_text": "x" * 30}),
]


@pytest.mark.parametrize(
    ("tool", "args"),
    EDITS
    + [
        ("memory", {"command": "delete", "path": "/memories/human"}),
        ("memory", {"command": "rename", "path": "/memories/human", "description": "d"}),
        ("memory", {"command": "rename", "old_path": "/memories/human", "new_path": "/memories/person"}),
    ],
)
def test_read_only_blocks_refuse_every_edit(org, tools, tool, args):
    agent = make_agent(org, [("human", "Name: Chad", {"read_only": True})])
    result = call(agent, tools, tool, **args)
    assert (result.status, result.func_return) == ("error", READ_ONLY_ERROR)
    block = Block.objects.get(label="human")
    assert (block.value, block.version, block.label) == ("Name: Chad", 1, "human")
    assert AgentBlock.objects.filter(agent=agent, block=block).exists()


@pytest.mark.parametrize(("tool", "args"), EDITS)
def test_the_character_limit_holds_on_every_write_path(org, tools, tool, args):
    agent = make_agent(org, [("human", "Name: Chad", {"limit": 20})])
    result = call(agent, tools, tool, **args)
    assert result.status == "error"
    assert result.func_return.startswith("Edit failed: Exceeds 20 character limit (requested ")
    block = Block.objects.get(label="human")
    assert (block.value, block.version) == ("Name: Chad", 1)


def test_a_stale_read_is_refused_not_overwritten(org, agent, alice):
    from ade.errors import Conflict
    from tools.base import _write
    from tools.registry import ToolContext

    stale = Block.objects.get(agents=agent, label="human")
    update_block(org, stale.id, {"value": "Name: Ada (set by alice)"}, actor=Actor.user(alice))
    with pytest.raises(Conflict):
        _write(ToolContext(agent, "memory_replace"), stale, "Name: Chad the tool")
    assert value(agent, "human") == "Name: Ada (set by alice)"


# ---- the all-in-one memory tool ---------------------------------------------------------------------------------


def test_memory_create_str_replace_insert_rename_delete(agent, tools):
    created = call(
        agent,
        tools,
        "memory",
        command="create",
        path="/memories/projects/engram",
        description="Work notes",
        file_text="Started",
    )
    assert created.func_return.startswith("Successfully created memory block 'projects/engram'.")
    block = Block.objects.get(agents=agent, label="projects/engram")
    assert (block.value, block.description) == ("Started", "Work notes")

    assert (
        call(
            agent,
            tools,
            "memory",
            command="str_replace",
            path="/memories/projects/engram",
            old_string="Started",
            new_string="Going",
        ).func_return
        == "Going"
    )
    assert (
        call(agent, tools, "memory", command="insert", path="projects/engram", insert_text="Tests next").func_return
        == "Going\nTests next"
    )
    renamed = call(
        agent,
        tools,
        "memory",
        command="rename",
        old_path="/memories/projects/engram",
        new_path="/memories/projects/main",
    )
    assert renamed.func_return.startswith("Successfully renamed memory block 'projects/engram' to 'projects/main'.")
    described = call(agent, tools, "memory", command="rename", path="/memories/projects/main", description="Main")
    assert described.func_return.startswith("Successfully updated description of memory block 'projects/main'.")
    deleted = call(agent, tools, "memory", command="delete", path="/memories/projects/main")
    assert deleted.func_return.startswith("Successfully deleted memory block 'projects/main'.")
    block.refresh_from_db()  # detached, not destroyed
    assert (block.label, block.description, block.value) == ("projects/main", "Main", "Going\nTests next")
    assert not AgentBlock.objects.filter(agent=agent, block=block).exists()
    assert [h.tool_name for h in block.history.order_by("version")] == ["memory"] * 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"command": "create", "description": "d"}, "Error: path is required for create command"),
        ({"command": "create", "path": "/memories/x"}, "Error: description is required for create command"),
        (
            {"command": "str_replace", "path": "/memories/human", "old_string": "a"},
            "Error: new_string is required for str_replace command",
        ),
        ({"command": "insert", "path": "/memories/human"}, "Error: insert_text is required for insert command"),
        (
            {"command": "rename", "path": "/memories/human"},
            "Error: path and description are required for update_description command, or old_path and new_path are "
            "required for rename command",
        ),
        (
            {"command": "view"},
            "Error: Unknown command 'view'. Supported commands: create, str_replace, insert, delete, rename",
        ),
        (
            {"command": "delete", "path": "/memories/nope"},
            "Block field nope does not exist (available sections = persona, human)",
        ),
    ],
)
def test_memory_command_errors(agent, tools, args, message):
    result = call(agent, tools, "memory", **args)
    assert (result.status, result.func_return) == ("error", message)


def test_memory_create_refuses_an_existing_label_and_rename_a_taken_one(agent, tools):
    assert call(agent, tools, "memory", command="create", path="/memories/human", description="d").status == "error"
    taken = call(agent, tools, "memory", command="rename", old_path="/memories/human", new_path="/memories/persona")
    assert taken.func_return == "Error: a memory block 'persona' already exists"
    assert value(agent, "human") == "Name: Chad"


# ---- custom tools through the executor --------------------------------------------------------------------------


def test_custom_tools_get_the_agents_secrets_and_id_only(org, alice, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    agent = make_agent(org, secrets={"WEATHER_KEY": "w-123"})
    tool = create_tool(
        alice, "import os\n\ndef env_check() -> dict:\n    '''Report env.'''\n    return dict(os.environ)\n"
    )
    result = execute_tool(agent, tool, {})
    assert result.status == "success"
    assert result.func_return["WEATHER_KEY"] == "w-123"
    assert result.func_return["LETTA_AGENT_ID"] == agent.id
    assert "SECRET_KEY" not in result.func_return


def test_returns_are_clipped_at_the_tools_limit(org, alice):
    agent = make_agent(org)
    tool = create_tool(alice, "def long_text(n: int) -> str:\n    return 'x' * n\n", return_char_limit=10)
    assert execute_tool(agent, tool, {"n": 10}).func_return == "x" * 10
    assert execute_tool(agent, tool, {"n": 100}).func_return == (
        "xxxxxxxxxx... [NOTE: function output was truncated since it exceeded the character limit: 100 > 10]"
    )
    listed = create_tool(alice, "def items() -> list:\n    return [1, None]\n")
    assert execute_tool(agent, listed, {}).func_return == "[1, None]"


def test_a_hanging_custom_tool_returns_an_error_and_the_caller_carries_on(org, alice):
    agent = make_agent(org)
    tool = create_tool(alice, "import time\n\ndef stall() -> str:\n    time.sleep(600)\n")
    result = execute_tool(agent, tool, {}, timeout=1)
    assert result.status == "error"
    assert result.func_return == (
        "Error executing function stall: TimeoutError: the tool did not finish within 1 seconds and was stopped"
    )


# ---- memory_apply_patch -----------------------------------------------------------------------------------------

PATCHED = (
    "Successfully applied memory patch operations. Your system prompt has been recompiled with the updated "
    "memory contents and is now active in your context.\n\nOperations completed:\n"
)


def test_apply_patch_to_one_block(org, tools):
    agent = make_agent(org, [("human", "Name: Chad\nLikes: tea\nCity: Rome", {})])
    patch = "@@\n Name: Chad\n-Likes: tea\n+Likes: coffee\n+Pets: a cat\n@@\n+Job: baker\n"
    result = call(agent, tools, "memory_apply_patch", label="human", patch=patch)
    assert result.func_return == PATCHED + "- Updated block 'human'"
    assert value(agent, "human") == "Name: Chad\nLikes: coffee\nPets: a cat\nCity: Rome\nJob: baker"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("just some words", "No applicable hunks found in patch. Ensure lines start with ' ', '-', or '+'."),
        (
            "@@\n-Likes: milk\n+Likes: tea",
            "Failed to apply patch: expected hunk context not found in the memory block.",
        ),
        ("@@\n-x\n+y", "Failed to apply patch: hunk context matched multiple places in the memory block."),
        ("@@\n-1→ x\n+y", "patch contains a line number prefix"),
    ],
)
def test_apply_patch_errors_leave_the_block_alone(org, tools, patch, message):
    agent = make_agent(org, [("human", "x\nx", {})])
    result = call(agent, tools, "memory_apply_patch", label="human", patch=patch)
    assert result.status == "error" and result.func_return.startswith(message)
    assert value(agent, "human") == "x\nx"


def test_apply_patch_across_blocks_is_all_or_nothing(org, tools):
    agent = make_agent(
        org, [("human", "Name: Chad", {}), ("scratch", "temp", {}), ("locked", "fixed", {"read_only": True})]
    )
    patch = (
        "*** Begin Patch\n"
        "*** Add Block: plans\nDescription: Travel plans\n+Visit Lisbon\n+Learn Portuguese\n"
        "*** Update Block: human\n@@\n-Name: Chad\n+Name: Ada\n"
        "*** Move to: person\n"
        "*** Delete Block: scratch\n"
        "*** End Patch\n"
    )
    result = call(agent, tools, "memory_apply_patch", label="human", patch=patch)
    assert result.func_return == PATCHED + (
        "- Added block 'plans'\n- Updated block 'human'\n- Renamed block 'human' to 'person'\n- Deleted block 'scratch'"
    )
    blocks = {b.label: b for b in agent.ordered_blocks()}
    assert set(blocks) == {"person", "locked", "plans"}
    assert blocks["person"].value == "Name: Ada"
    assert (blocks["plans"].value, blocks["plans"].description) == ("Visit Lisbon\nLearn Portuguese", "Travel plans")

    failing = "*** Update Block: person\n@@\n-Name: Ada\n+Name: Bo\n*** Update Block: locked\n@@\n-fixed\n+free\n"
    refused = call(agent, tools, "memory_apply_patch", label="person", patch=failing)
    assert (refused.status, refused.func_return) == ("error", READ_ONLY_ERROR)
    assert value(agent, "person") == "Name: Ada"  # the first operation was rolled back too
    missing = call(agent, tools, "memory_apply_patch", label="nope", patch="@@\n+x")
    assert missing.func_return == "Error: Memory block 'nope' does not exist"
