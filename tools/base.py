"""The base tools (spec behaviour §3): replies, recall and archival search, and core-memory editing.

Every block write goes through memory.actions.update_block with the version that was read, so the
character limit, read-only rule, history (attributed to the agent and tool) and conflict detection
apply the same way as for people editing in the pages.
"""

import re
from typing import Literal

from django.db import transaction

from ade.events import agent_group, broadcast
from memory import archival, recall
from memory.actions import create_block, update_block
from memory.context import LINE_NUMBER_WARNING, rebuild_system_prompts
from memory.models import READ_ONLY_ERROR, Block

from . import memory_patch
from .registry import ToolContext, ToolError, base_tool

_LINE_NUMBER_PREFIX = re.compile(r"^[ \t]*\d+→[ \t]*", re.MULTILINE)
_RECOMPILED = "Your system prompt has been recompiled {how} and is now active in your context."


# ---------------------------------------------------------------------------------------------------------------
# Replies and search


@base_tool("letta_core")
def send_message(ctx: ToolContext, message: str) -> str:
    """Send a message to the user. This is the only way the user sees what you say.

    Args:
        message: The message text; markdown is allowed.
    """
    return "Sent message successfully."


@base_tool("letta_core")
def conversation_search(
    ctx: ToolContext,
    query: str | None = None,
    roles: list[Literal["assistant", "user", "tool"]] | None = None,
    limit: int | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
) -> dict:
    """Search earlier messages of this conversation, including ones no longer in your context, newest first.

    Args:
        query: Text to look for (case-insensitive). Leave out to get the most recent messages.
        roles: Only messages from these roles.
        limit: How many results to return (default 5).
        start_date: Only messages from this moment on, ISO 8601 (YYYY-MM-DD or YYYY-MM-DDTHH:MM).
        end_date: Only messages up to this moment, ISO 8601; a bare date includes that whole day.
    """
    return recall.conversation_search(
        ctx.agent, query=query, roles=roles, limit=limit, start_date=start_date, end_date=end_date
    )


@base_tool("letta_core")
def archival_memory_insert(ctx: ToolContext, content: str, tags: list[str] | None = None) -> None:
    """Save a piece of information to archival memory, your long-term store that is searched by meaning.

    Args:
        content: The text to remember; make it self-contained so it reads well when found later.
        tags: Labels to group and filter memories by.
    """
    archival.insert_archival(ctx.agent, content, tags, actor=ctx.actor)


@base_tool("letta_core")
def archival_memory_search(
    ctx: ToolContext,
    query: str,
    tags: list[str] | None = None,
    tag_match_mode: Literal["any", "all"] = "any",
    top_k: int | None = None,
    start_datetime: str | None = None,
    end_datetime: str | None = None,
) -> list:
    """Search archival memory by meaning; the closest memories come first.

    Args:
        query: What you are looking for, in words.
        tags: Only memories with these tags.
        tag_match_mode: "any" keeps memories with at least one of the tags, "all" those with every tag.
        top_k: How many results to return (default 5).
        start_datetime: Only memories saved from this moment on, ISO 8601.
        end_datetime: Only memories saved up to this moment, ISO 8601; a bare date includes that whole day.
    """
    return archival.search_archival(
        ctx.agent,
        query,
        tags=tags,
        tag_match_mode=tag_match_mode,
        top_k=top_k,
        start_datetime=start_datetime,
        end_datetime=end_datetime,
    )


# ---------------------------------------------------------------------------------------------------------------
# Core memory: shared rules (spec §3.0)


def _find_block(ctx: ToolContext, label: str) -> Block | None:
    return next((b for b in ctx.agent.ordered_blocks() if b.label == label), None)


def _block(ctx: ToolContext, label: str) -> Block:
    block = _find_block(ctx, label)
    if block is None:
        labels = ", ".join(b.label for b in ctx.agent.ordered_blocks())
        raise ToolError(f"Block field {label} does not exist (available sections = {labels})")
    return block


def _editable_block(ctx: ToolContext, label: str) -> Block:
    block = _block(ctx, label)
    if block.read_only:
        raise ToolError(READ_ONLY_ERROR)
    return block


def _no_line_numbers(subject: str, text: str) -> None:
    """Refuse text copied from the line-numbered rendering of a block."""
    if _LINE_NUMBER_PREFIX.search(text):
        raise ToolError(
            f"{subject} contains a line number prefix, which is not allowed. Do not include line "
            "numbers when calling memory tools (line numbers are for display purposes only)."
        )
    if LINE_NUMBER_WARNING in text:
        raise ToolError(
            f"{subject} contains a line number warning, which is not allowed. Do not include line "
            "number information when calling memory tools (line numbers are for display purposes only)."
        )


def _write(ctx: ToolContext, block: Block, value: str) -> str:
    """Store a new value; the limit and a concurrent change are checked under the row lock."""
    update_block(ctx.agent.organization_id, block.id, {"value": value}, actor=ctx.actor, expected_version=block.version)
    return value


def _replace_once(block: Block, old_string: str, new_string: str) -> str:
    value, old, new = block.value.expandtabs(), old_string.expandtabs(), new_string.expandtabs()
    starts = [m.start() for m in re.finditer(re.escape(old), value)] if old else []
    if not starts:
        raise ToolError(
            f"No replacement was performed, old_string `{old_string}` did not appear verbatim in "
            f"memory block with label `{block.label}`."
        )
    if len(starts) > 1:
        lines = sorted({value.count("\n", 0, s) + 1 for s in starts})
        raise ToolError(
            f"No replacement was performed. Multiple occurrences of old_string `{old_string}` in lines "
            f"{lines}. Please ensure it is unique."
        )
    return value.replace(old, new, 1)


def _insert_lines(block: Block, text: str, insert_line: int) -> str:
    value, text = block.value.expandtabs(), text.expandtabs()
    lines = value.split("\n")
    n = len(lines)
    line = n if insert_line == -1 else insert_line
    if not isinstance(line, int) or not 0 <= line <= n:
        raise ToolError(
            f"Invalid `insert_line` parameter: {insert_line}. It should be within the range of lines of "
            f"the memory block: [0, {n}], or -1 to append to the end of the memory block."
        )
    if not value:
        return text
    return "\n".join(lines[:line] + text.split("\n") + lines[line:])


def _attach_new_block(ctx: ToolContext, label: str, value: str, description: str = "") -> Block:
    from agents.models import AgentBlock

    agent = ctx.agent
    with transaction.atomic():
        block = create_block(
            agent.organization, label=label, value=value, description=description or None, actor=ctx.actor
        )
        last = AgentBlock.objects.filter(agent=agent).order_by("-position").values_list("position", flat=True).first()
        AgentBlock.objects.create(agent=agent, block=block, position=(last or 0) + 1)
        broadcast(agent_group(agent.id), {"type": "block_attached", "block_id": block.id})
        _recompile(agent)
    return block


def _detach_block(ctx: ToolContext, block: Block) -> None:
    from agents.models import AgentBlock

    with transaction.atomic():
        AgentBlock.objects.filter(agent=ctx.agent, block=block).delete()
        broadcast(agent_group(ctx.agent.id), {"type": "block_detached", "block_id": block.id})
        _recompile(ctx.agent)


def _recompile(agent) -> None:
    rebuild_system_prompts([agent.id])


# ---------------------------------------------------------------------------------------------------------------
# Core memory tools


@base_tool("letta_memory_core")
def core_memory_append(ctx: ToolContext, label: str, content: str) -> str:
    """Add text at the end of a memory block, on a new line.

    Args:
        label: The label of the memory block.
        content: The text to add.
    """
    block = _editable_block(ctx, label)
    return _write(ctx, block, f"{block.value}\n{content}")


@base_tool("letta_memory_core")
def core_memory_replace(ctx: ToolContext, label: str, old_content: str, new_content: str) -> str:
    """Replace every occurrence of some text in a memory block. Use an empty new_content to delete it.

    Args:
        label: The label of the memory block.
        old_content: The exact text to replace.
        new_content: The text to put in its place.
    """
    block = _editable_block(ctx, label)
    if not old_content or old_content not in block.value:
        raise ToolError(f"Old content '{old_content}' not found in memory block '{label}'")
    return _write(ctx, block, block.value.replace(old_content, new_content))


@base_tool("letta_memory_core")
def memory_replace(ctx: ToolContext, label: str, old_string: str, new_string: str) -> str:
    """Replace one exact passage of a memory block. old_string must appear exactly once.

    Args:
        label: The label of the memory block.
        old_string: The exact text to replace, without line numbers.
        new_string: The replacement text, without line numbers. Empty to delete old_string.
    """
    block = _editable_block(ctx, label)
    _no_line_numbers("old_string", old_string)
    _no_line_numbers("new_string", new_string)
    return _write(ctx, block, _replace_once(block, old_string, new_string))


@base_tool("letta_memory_core")
def memory_insert(ctx: ToolContext, label: str, new_string: str, insert_line: int = -1) -> str:
    """Insert text into a memory block after a given line.

    Args:
        label: The label of the memory block.
        new_string: The text to insert, without line numbers.
        insert_line: Insert after this line; 0 puts the text at the top, -1 (the default) at the end.
    """
    block = _editable_block(ctx, label)
    _no_line_numbers("new_string", new_string)
    return _write(ctx, block, _insert_lines(block, new_string, insert_line))


@base_tool("letta_sleeptime_core")
def memory_rethink(ctx: ToolContext, label: str, new_memory: str) -> str:
    """Rewrite a memory block completely, for example to reorganise it. A missing block is created.

    Args:
        label: The label of the memory block.
        new_memory: The complete new content of the block, without line numbers.
    """
    block = _find_block(ctx, label)
    if block is not None and block.read_only:
        raise ToolError(READ_ONLY_ERROR)
    _no_line_numbers("new_memory", new_memory)
    if block is None:
        _attach_new_block(ctx, label, new_memory)
        return new_memory
    return _write(ctx, block, new_memory)


@base_tool("letta_sleeptime_core")
def memory_finish_edits(ctx: ToolContext) -> None:
    """Call when you have finished editing memory."""
    return None


# ---------------------------------------------------------------------------------------------------------------
# The all-in-one `memory` tool (paths name blocks)

MEMORY_COMMANDS = ("create", "str_replace", "insert", "delete", "rename")


def path_to_label(path: str) -> str:
    """The one rule for every command: drop a leading /memories/ and surrounding slashes; inner slashes stay."""
    label = path.strip()
    if label.startswith("/memories/"):
        label = label[len("/memories/") :]
    return label.strip("/")


def _required(command: str, **values) -> None:
    for name, value in values.items():
        if value is None or (name.endswith("path") and not str(value).strip()):
            raise ToolError(f"Error: {name} is required for {command} command")


@base_tool("letta_memory_core")
def memory(
    ctx: ToolContext,
    command: str,
    path: str | None = None,
    file_text: str | None = None,
    description: str | None = None,
    old_string: str | None = None,
    new_string: str | None = None,
    insert_line: int | None = None,
    insert_text: str | None = None,
    old_path: str | None = None,
    new_path: str | None = None,
) -> str:
    """Manage memory blocks as files under /memories/: create, str_replace, insert, delete or rename.

    Args:
        command: One of create, str_replace, insert, delete, rename.
        path: The block's path, e.g. /memories/project_notes (the label is the part after /memories/).
        file_text: create: the initial content of the new block.
        description: create: what the block is for. rename: a new description for the block at path.
        old_string: str_replace: the exact text to replace (it must appear once).
        new_string: str_replace: the replacement text.
        insert_line: insert: insert after this line (0 = top, -1 or leave out = end).
        insert_text: insert: the text to insert.
        old_path: rename: the current path of the block.
        new_path: rename: the new path of the block.
    """
    if command == "create":
        _required(command, path=path, description=description)
        return _memory_create(ctx, path_to_label(path), file_text or "", description)
    if command == "str_replace":
        _required(command, path=path, old_string=old_string, new_string=new_string)
        return memory_replace(ctx, path_to_label(path), old_string, new_string)
    if command == "insert":
        _required(command, path=path, insert_text=insert_text)
        block = _editable_block(ctx, path_to_label(path))
        _no_line_numbers("insert_text", insert_text)
        return _write(ctx, block, _insert_lines(block, insert_text, -1 if insert_line is None else insert_line))
    if command == "delete":
        _required(command, path=path)
        block = _editable_block(ctx, path_to_label(path))
        _detach_block(ctx, block)
        return f"Successfully deleted memory block '{block.label}'. " + _RECOMPILED.format(
            how="without this memory block"
        )
    if command == "rename":
        return _memory_rename(ctx, path, description, old_path, new_path)
    raise ToolError(f"Error: Unknown command '{command}'. Supported commands: {', '.join(MEMORY_COMMANDS)}")


def _memory_create(ctx: ToolContext, label: str, value: str, description: str) -> str:
    if not label:
        raise ToolError("Error: path is required for create command")
    if _find_block(ctx, label) is not None:
        raise ToolError(f"Error: a memory block '{label}' already exists; use str_replace or insert to change it")
    _attach_new_block(ctx, label, value, description)
    return f"Successfully created memory block '{label}'. " + _RECOMPILED.format(how="with the new memory block")


def _memory_rename(ctx, path, description, old_path, new_path) -> str:
    if path and description is not None:
        block = _editable_block(ctx, path_to_label(path))
        update_block(
            ctx.agent.organization_id,
            block.id,
            {"description": description},
            actor=ctx.actor,
            expected_version=block.version,
        )
        return f"Successfully updated description of memory block '{block.label}'. " + _RECOMPILED.format(
            how="with the updated description"
        )
    if old_path and new_path:
        block = _editable_block(ctx, path_to_label(old_path))
        new_label = path_to_label(new_path)
        if not new_label:
            raise ToolError("Error: new_path must name a memory block")
        if new_label != block.label and _find_block(ctx, new_label) is not None:
            raise ToolError(f"Error: a memory block '{new_label}' already exists")
        update_block(
            ctx.agent.organization_id, block.id, {"label": new_label}, actor=ctx.actor, expected_version=block.version
        )
        return f"Successfully renamed memory block '{block.label}' to '{new_label}'. " + _RECOMPILED.format(
            how="with the renamed memory block"
        )
    raise ToolError(
        "Error: path and description are required for update_description command, or old_path and "
        "new_path are required for rename command"
    )


# ---------------------------------------------------------------------------------------------------------------
# memory_apply_patch


@base_tool("letta_memory_core")
def memory_apply_patch(ctx: ToolContext, label: str, patch: str) -> str:
    """Edit memory with a patch. Either hunks for the block `label` (lines starting with ' ' for context, '-' to
    remove, '+' to add, hunks separated by '@@'), or several blocks at once with '*** Add Block: L' (then an
    optional 'Description: ...' line and '+' lines), '*** Delete Block: L', '*** Update Block: L' (then hunks)
    and '*** Move to: L2' (renames the block named just before).

    Args:
        label: The block to patch when the patch has no '*** ... Block:' headers.
        patch: The patch text, without line numbers.
    """
    bodies = "\n".join(line[1:] for line in patch.splitlines() if line[:1] in (" ", "-", "+"))
    _no_line_numbers("patch", bodies)
    with transaction.atomic():  # all operations or none
        if memory_patch.is_multi_block(patch):
            done = [_apply_operation(ctx, op) for op in memory_patch.parse_operations(patch)]
        else:
            block = _patch_target(ctx, label)
            _write(ctx, block, memory_patch.apply_hunks(block.value, memory_patch.parse_hunks(patch.splitlines())))
            done = [f"Updated block '{label}'"]
    if not done:
        raise ToolError(memory_patch.NO_HUNKS)
    return (
        "Successfully applied memory patch operations. "
        + _RECOMPILED.format(how="with the updated memory contents")
        + "\n\nOperations completed:\n"
        + "\n".join(f"- {d}" for d in done)
    )


def _patch_target(ctx: ToolContext, label: str) -> Block:
    block = _find_block(ctx, label)
    if block is None:
        raise ToolError(f"Error: Memory block '{label}' does not exist")
    if block.read_only:
        raise ToolError(READ_ONLY_ERROR)
    return block


def _apply_operation(ctx: ToolContext, op: memory_patch.Operation) -> str:
    if op.kind == "add":
        if _find_block(ctx, op.label) is not None:
            raise ToolError(f"Error: Memory block '{op.label}' already exists")
        _attach_new_block(ctx, op.label, memory_patch.added_text(op.lines), op.description or "")
        return f"Added block '{op.label}'"
    block = _patch_target(ctx, op.label)
    if op.kind == "delete":
        _detach_block(ctx, block)
        return f"Deleted block '{op.label}'"
    if op.kind == "move":
        if _find_block(ctx, op.new_label) is not None:
            raise ToolError(f"Error: Memory block '{op.new_label}' already exists")
        update_block(
            ctx.agent.organization_id,
            block.id,
            {"label": op.new_label},
            actor=ctx.actor,
            expected_version=block.version,
        )
        return f"Renamed block '{op.label}' to '{op.new_label}'"
    _write(ctx, block, memory_patch.apply_hunks(block.value, memory_patch.parse_hunks(op.lines)))
    return f"Updated block '{op.label}'"
