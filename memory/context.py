"""Compiling the context window (behaviour spec §1.2–§1.7) and the context overview (§6).

The compiled system prompt is stored as the agent's first in-context message and rewritten in place whenever
memory changes. Compiling is a pure function of a few rows (blocks, counts, tags, files); `gather` fetches them in
a handful of queries so the hot path stays cheap.
"""

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, F, Func, IntegerField, OuterRef, Subquery
from django.utils import timezone

from ade.prepared import Prepared, PreparedUpdate

from .models import Passage, PassageTag

LINE_NUMBER_TYPES = ("sleeptime_agent", "memgpt_v2_agent", "letta_v1_agent")
NO_BLOCK_TYPES = ("react_agent", "workflow_agent")
LINE_NUMBER_WARNING = (
    "# NOTE: Line numbers shown below (with arrows like '1→') are to help during editing. Do NOT include line "
    "number prefixes in your memory edit tool calls."
)
SUMMARY_MARKER = "The following is a summary of the previous "
_RECOMPILED_RE = re.compile(r"^- System prompt last recompiled: (.*)$", re.MULTILINE)


def format_time(when: datetime | None = None, tz: str = "UTC") -> str:
    """`2025-01-15 09:00:00 AM UTC+0000` in the agent's timezone (the format of every packaged message)."""
    when = when or timezone.now()
    try:
        zone = ZoneInfo(tz or "UTC")
    except Exception:  # an unknown zone must not break a turn; agents validate it on create/update
        zone = ZoneInfo("UTC")
    return when.astimezone(zone).strftime("%Y-%m-%d %I:%M:%S %p %Z%z")


# ---------------------------------------------------------------------------------------------------------------
# Rendering (pure functions)


def uses_line_numbers(agent) -> bool:
    return agent.agent_type in LINE_NUMBER_TYPES and (agent.llm_config or {}).get("model_endpoint_type") == "anthropic"


def render_block(block, line_numbers: bool = False) -> str:
    meta = ("- read_only=true\n" if block.read_only else "") + (
        f"- chars_current={len(block.value)}\n- chars_limit={block.limit}"
    )
    if line_numbers:
        body = "".join(f"{i}→ {line}\n" for i, line in enumerate(block.value.split("\n"), 1)) if block.value else ""
        warning = f"<warning>\n{LINE_NUMBER_WARNING}\n</warning>\n"
    else:
        body, warning = f"{block.value}\n", ""
    return (
        f"<{block.label}>\n<description>\n{block.description or ''}\n</description>\n"
        f"<metadata>\n{meta}\n</metadata>\n{warning}<value>\n{body}</value>\n</{block.label}>"
    )


def render_blocks(blocks, line_numbers: bool = False) -> str:
    if not blocks:
        return ""
    inner = "\n\n".join(render_block(b, line_numbers) for b in blocks)
    return (
        "<memory_blocks>\nThe following memory blocks are currently engaged in your core memory unit:\n\n"
        f"{inner}\n\n</memory_blocks>"
    )


def render_metadata(
    agent_id: str, compiled_at: str, recall_count: int, archival_count: int, archival_tags: list[str]
) -> str:
    lines = [
        f"- AGENT_ID: {agent_id}",
        "- CONVERSATION_ID: default",
        f"- System prompt last recompiled: {compiled_at}",
        f"- {recall_count} previous messages between you and the user are stored in recall memory",
    ]
    if archival_count > 0:
        lines.append(
            f"- {archival_count} total memories you created are stored in archival memory (use tools to access them)"
        )
    if archival_tags:
        lines.append(f"- Available archival memory tags: {', '.join(archival_tags)}")
    return "<memory_metadata>\n" + "\n".join(lines) + "\n</memory_metadata>"


def render_directories(agent, file_links, max_files_open: int, char_limit: int) -> str:
    """The `<directories>` section for attached folders (§1.5). `file_links` are FileAgent rows with file+folder.

    The file-tools work owns what `visible_content` holds (the open window, lines prefixed "N: ").
    """
    by_folder: dict = {}
    for link in file_links:
        by_folder.setdefault(link.file.folder, []).append(link)
    for folder in getattr(agent, "_attached_folders", []):
        by_folder.setdefault(folder, [])
    open_count = sum(1 for link in file_links if link.is_open)
    parts = [
        "<directories>",
        f"<file_limits>\n- current_files_open={open_count}\n- max_files_open={max_files_open}\n</file_limits>",
    ]
    for folder, links in by_folder.items():
        parts.append(f'<directory name="{folder.name}">')
        if folder.description:
            parts.append(f"<description>{folder.description}</description>")
        if folder.instructions:
            parts.append(f"<instructions>{folder.instructions}</instructions>")
        for link in links:
            status = "open" if link.is_open else "closed"
            visible = link.visible_content if link.is_open else ""
            entry = [
                f'<file status="{status}" name="{folder.name}/{link.file.file_name}">',
                f"<metadata>\n- read_only=true\n- chars_current={len(visible)}\n- chars_limit={char_limit}\n"
                "</metadata>",
            ]
            if link.is_open:
                entry.append(f"<value>\n{visible}\n</value>")
            entry.append("</file>")
            parts.append("\n".join(entry))
        parts.append("</directory>")
    parts.append("</directories>")
    return "\n".join(parts)


def file_limits(agent) -> tuple[int, int]:
    """(max_files_open, per-file char limit): the agent's values, else defaults by context window (§0)."""
    window = agent.context_window
    bounds = ((8_000, (3, 5_000)), (32_000, (5, 15_000)), (128_000, (10, 25_000)), (200_000, (10, 40_000)))
    defaults = next((d for bound, d in bounds if window <= bound), (15, 40_000))
    return agent.max_files_open or defaults[0], agent.per_file_view_window_char_limit or defaults[1]


def compile_memory(agent, blocks, directories: str = "") -> str:
    """memory_string: blocks (not for react/workflow), tool rule prompts, directories."""
    from agents.runtime.rules import render_rules_prompt

    text = "" if agent.agent_type in NO_BLOCK_TYPES else render_blocks(blocks, uses_line_numbers(agent))
    text += render_rules_prompt(agent.tool_rules or [])
    if directories:
        text += "\n\n" + directories
    return text


def assemble(base: str, memory_string: str, metadata: str) -> str:
    """Put compiled memory after the base prompt, or where it says {CORE_MEMORY} (plain replace, not format)."""
    full = memory_string + "\n\n" + metadata
    if "{CORE_MEMORY}" in base:
        return base.replace("{CORE_MEMORY}", full)
    return base + "\n\n" + full


# ---------------------------------------------------------------------------------------------------------------
# Gathering rows and compiling


@dataclass
class MemoryState:
    blocks: list
    directories: str
    recall_count: int
    archival_count: int
    archival_tags: list


def _count(qs):
    """COUNT(*) of `qs` as a subquery (no GROUP BY), to read several counts in one round trip."""
    return Subquery(qs.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n"), output_field=IntegerField())


COUNTED = ("n_messages", "n_passages", "has_folders")


def _counts_query(*fields: str) -> Prepared:
    def build(agent_id):
        from agents.models import Agent, AgentFolder, Message

        return (
            Agent.objects.filter(id=agent_id)
            .annotate(
                n_messages=_count(Message.objects.filter(agent_id=OuterRef("id"))),
                n_passages=_count(Passage.objects.filter(archive__agents=OuterRef("id"))),
                has_folders=Exists(AgentFolder.objects.filter(agent_id=OuterRef("id"))),
            )
            .order_by()
            .values_list(*COUNTED, *fields)[:1]
        )

    return Prepared(build)


# Every compile of the system prompt and every archival insert reads them: compiled once per process.
_COUNTS = {(): _counts_query(), ("message_ids",): _counts_query("message_ids")}
_TAGS = Prepared(
    lambda agent_id: (
        PassageTag.objects.filter(passage__archive__agents=agent_id).order_by().values_list("tag").distinct()
    )
)


def _counts(agent, *fields: str) -> dict:
    """{n_messages, n_passages, has_folders, *fields} of the agent (`fields`: none, or message_ids), in one query."""
    rows = _COUNTS[fields].rows(agent.id)
    return dict(zip((*COUNTED, *fields), rows[0], strict=True)) if rows else {}


def _archival_tags(agent, archival_count: int) -> list[str]:
    if not archival_count:
        return []
    return sorted(tag for (tag,) in _TAGS.rows(agent.id))


def gather(agent, in_context_count: int | None = None) -> MemoryState:
    """Read what the system prompt shows: counts in one query, then blocks (tags and files only when present)."""
    from agents.models import FileAgent

    counts = _counts(agent)
    blocks = agent.ordered_blocks()
    in_context = len(agent.message_ids or []) if in_context_count is None else in_context_count
    archival_count = counts.get("n_passages") or 0
    tags = _archival_tags(agent, archival_count)
    directories = ""
    if counts.get("has_folders"):
        agent._attached_folders = list(agent.folders.all())
        links = list(
            FileAgent.objects.filter(agent_id=agent.id)
            .select_related("file__folder")
            .order_by("file__folder__name", "file__file_name")
        )
        directories = render_directories(agent, links, *file_limits(agent))
    recall = max((counts.get("n_messages") or 0) - in_context, 0)
    return MemoryState(blocks, directories, recall, archival_count, tags)


def compile_system_prompt(agent, state: MemoryState | None = None, *, compiled_at: str | None = None) -> str:
    """The full system message text for `agent` as it is now."""
    state = state or gather(agent)
    memory_string = compile_memory(agent, state.blocks, state.directories)
    metadata = render_metadata(
        agent.id,
        compiled_at or format_time(tz=agent.timezone),
        state.recall_count,
        state.archival_count,
        state.archival_tags,
    )
    return assemble(agent.system or "", memory_string, metadata)


def rebuild_system_prompts(agent_ids, *, force: bool = False, update_timestamp: bool = True) -> None:
    """Recompile the stored system message of each agent IN PLACE (same message id).

    Without `force`, an agent whose stored text already contains the current memory section is left alone (this
    keeps provider prompt caches warm). `update_timestamp=False` keeps the old "last recompiled" time.
    """
    from agents.queries import agent_row, message_row

    for agent_id in dict.fromkeys(agent_ids):
        agent = agent_row(agent_id)
        if agent is None or not agent.message_ids:
            continue
        system = message_row(agent.message_ids[0])
        if system is None:
            continue
        old = system.text
        state = gather(agent)
        # The memory section must match up to where the metadata starts: a section that was removed (say the
        # last folder detached) leaves the shorter new text inside the old one.
        if not force and compile_memory(agent, state.blocks, state.directories) + "\n\n<memory_metadata>" in old:
            continue
        kept = _RECOMPILED_RE.search(old) if not update_timestamp else None
        text = compile_system_prompt(agent, state, compiled_at=kept.group(1) if kept else None)
        if text != old:
            _system_text_update().run({"content": [{"type": "text", "text": text}]}, id=system.id)


@functools.cache
def _system_text_update() -> PreparedUpdate:
    """Rewrites a system message's text (every memory change does): built once per process."""
    from agents.models import Message

    return PreparedUpdate(Message, ["content"], ["id"])


def refresh_memory_metadata(agent) -> None:
    """Rewrite only the `<memory_metadata>` section of the agent's stored system message (counts, tags, time): all
    that an archival insert or delete changes. The rest of the text already is what a full compile gives, since
    every change to blocks, rules, files or the base prompt recompiles it; a message without the section (or whose
    section cannot be found) is recompiled whole, as `rebuild_system_prompts(force=True)` would."""

    if not agent.message_ids:
        return
    from agents.queries import message_row

    system = message_row(agent.message_ids[0])
    if system is None:
        return
    old = system.text
    start = old.rfind(f"<memory_metadata>\n- AGENT_ID: {agent.id}\n")
    end = old.find("</memory_metadata>", start) if start >= 0 else -1
    if end < 0:
        rebuild_system_prompts([agent.id], force=True)
        return
    counts = _counts(agent, "message_ids")  # the list as it is now: a turn may have grown it since `agent` was read
    archival_count = counts.get("n_passages") or 0
    recall = max((counts.get("n_messages") or 0) - len(counts.get("message_ids") or []), 0)
    metadata = render_metadata(
        agent.id, format_time(tz=agent.timezone), recall, archival_count, _archival_tags(agent, archival_count)
    )
    text = old[:start] + metadata + old[end + len("</memory_metadata>") :]
    if text != old:
        _system_text_update().run({"content": [{"type": "text", "text": text}]}, id=system.id)


# ---------------------------------------------------------------------------------------------------------------
# Context window overview (§6)


def _section(text: str, tag: str) -> str:
    start = text.find(f"<{tag}>")
    end = text.find(f"</{tag}>", start)
    return text[start : end + len(tag) + 3] if start >= 0 and end >= 0 else ""


def _top_level(text: str, tag: str) -> str:
    """A section that is not nested inside <memory_blocks>."""
    blocks = _section(text, "memory_blocks")
    rest = text.replace(blocks, "") if blocks else text
    return _section(rest, tag)


def _system_part(text: str, fallback: str) -> str:
    base = _section(text, "base_instructions")
    if base:
        return base
    cuts = [
        i
        for i in (
            text.find(f"<{t}>")
            for t in ("memory_blocks", "memory_filesystem", "tool_usage_rules", "directories", "memory_metadata")
        )
        if i >= 0
    ]
    return text[: min(cuts)].rstrip() if cuts else fallback


CONTEXT_MESSAGES_SHOWN = 500


def context_overview(agent) -> dict:
    """Per-section token counts and contents of the agent's context window, on a dry-run compile (§6)."""
    from agents.queries import messages_by_id
    from agents.runtime.llm import chat_messages, tool_schema
    from memory.tokens import count_tokens

    model = (agent.llm_config or {}).get("model", "")
    state = gather(agent)
    system = compile_system_prompt(agent, state)
    ids = list(agent.message_ids or [])[1:]
    rows = {m.id: m for m in messages_by_id(ids)}
    messages = [rows[i] for i in ids if i in rows]
    summary = ""
    if messages and messages[0].role in ("user", "summary") and SUMMARY_MARKER in messages[0].text:
        summary, counted = messages[0].text, messages[1:]
    else:
        counted = messages
    functions = [
        {"type": "function", "function": tool_schema(t)}
        for t in agent.tools.order_by("agenttool__position", "agenttool__id")
    ]
    sections = {
        "system_prompt": _system_part(system, agent.system or ""),
        "core_memory": _section(system, "memory_blocks"),
        "tool_usage_rules": _top_level(system, "tool_usage_rules"),
        "directories": _top_level(system, "directories"),
        "external_memory_summary": _section(system, "memory_metadata"),
        "summary_memory": summary,
    }
    tokens = {name: count_tokens(text, model) if text else 0 for name, text in sections.items()}
    chat = chat_messages(counted, agent)
    num_messages_tokens = count_tokens(json.dumps(chat, ensure_ascii=False), model) if chat else 0
    num_functions_tokens = count_tokens(json.dumps(functions, ensure_ascii=False), model) if functions else 0
    current = sum(tokens.values()) + num_messages_tokens + num_functions_tokens
    return {
        "context_window_size_max": agent.context_window,
        "context_window_size_current": current,
        "num_messages": len(messages) + 1,
        "num_archival_memory": state.archival_count,
        "num_recall_memory": state.recall_count + len(agent.message_ids or []),
        "num_tokens_external_memory_summary": tokens["external_memory_summary"],
        "external_memory_summary": sections["external_memory_summary"],
        "num_tokens_system": tokens["system_prompt"],
        "system_prompt": sections["system_prompt"],
        "num_tokens_core_memory": tokens["core_memory"],
        "core_memory": sections["core_memory"],
        "num_tokens_summary_memory": tokens["summary_memory"],
        "summary_memory": summary or None,
        "num_tokens_tool_usage_rules": tokens["tool_usage_rules"],
        "tool_usage_rules": sections["tool_usage_rules"] or None,
        "num_tokens_directories": tokens["directories"],
        "directories": sections["directories"] or None,
        "num_tokens_memory_filesystem": 0,
        "memory_filesystem": None,
        "num_tokens_functions_definitions": num_functions_tokens,
        "functions_definitions": functions or None,
        "num_tokens_messages": num_messages_tokens,
        # The most recent ones only: an agent with 100k messages in context made a 31 MB answer. The counts above
        # cover them all.
        "messages": messages[-CONTEXT_MESSAGES_SHOWN:],
    }
