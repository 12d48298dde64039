"""Files in an agent's context (spec behaviour §3.1 file tools, §1.5 `<directories>`).

An agent with attached folders has one FileAgent row per file: open or closed, with the visible window of an
open file in `visible_content` (lines prefixed `N: `, at most the per-file character limit). memory/context.py
renders those rows as `<directories>`. The base tools here let the model open windows, grep the files' text and
search their passages by meaning. Attaching a folder opens its files (least recently used ones close past
`max_files_open`) and adds these tools; detaching the last folder removes them.
"""

import re
import time

from django.db import transaction
from django.utils import timezone

from memory.context import file_limits, rebuild_system_prompts

from .registry import ToolContext, ToolError, base_tool

FILE_TOOLS = ("open_files", "grep_files", "semantic_search_files")
GREP_PAGE = 20
GREP_MAX_MATCHES = 1000
GREP_SECONDS = 30
SEMANTIC_MAX = 50


# ---------------------------------------------------------------------------------------------------------------
# Windows and links


def display_name(file) -> str:
    return f"{file.folder.name}/{file.file_name}"


def window(content: str, offset: int = 0, length: int | None = None, char_limit: int = 50_000):
    """Lines offset.. (0-based) of `content`, numbered `N: ` from 1, cut at whole lines to `char_limit`.
    Returns (text, first line, last line); (``, 0, 0) when the window is empty."""
    lines = content.split("\n")
    end = len(lines) if length is None else min(len(lines), offset + length)
    shown, used = [], 0
    for number in range(offset + 1, end + 1):
        line = f"{number}: {lines[number - 1]}"
        if used + len(line) + 1 > char_limit:
            if not shown:  # one huge line: show what fits rather than nothing
                shown.append(line[:char_limit])
            break
        shown.append(line)
        used += len(line) + 1
    if not shown:
        return "", 0, 0
    return "\n".join(shown), offset + 1, offset + len(shown)


def _links(agent):
    from agents.models import FileAgent

    return FileAgent.objects.filter(agent_id=agent.id).select_related("file__folder")


def _open(link, offset: int, length: int | None, char_limit: int) -> tuple[int, int]:
    link.visible_content, start, end = window(link.file.content, offset, length, char_limit)
    link.is_open, link.start_line, link.end_line = True, start or None, end or None
    link.last_accessed_at = timezone.now()
    link.save(update_fields=["visible_content", "is_open", "start_line", "end_line", "last_accessed_at"])
    return start, end


def _close(link) -> None:
    link.is_open, link.visible_content, link.start_line, link.end_line = False, "", None, None
    link.save(update_fields=["is_open", "visible_content", "start_line", "end_line"])


def _close_least_recent(agent, keep: set, max_open: int) -> list[str]:
    """Close the least recently used open files (not those in `keep`) until at most `max_open` are open."""
    open_links = list(_links(agent).filter(is_open=True).order_by("last_accessed_at", "id"))
    closed = []
    for link in open_links:
        if len(open_links) - len(closed) <= max_open:
            break
        if link.id not in keep:
            _close(link)
            closed.append(display_name(link.file))
    return closed


def open_file_for(agent, file) -> list[str]:
    """Link `file` to `agent` and open its first window; returns the names closed to stay within the limit."""
    from agents.models import FileAgent

    link, _ = FileAgent.objects.get_or_create(agent_id=agent.id, file=file)
    link.file = file
    max_open, char_limit = file_limits(agent)
    _open(link, 0, None, char_limit)
    return _close_least_recent(agent, {link.id}, max_open)


# ---------------------------------------------------------------------------------------------------------------
# Folder attach / detach and new files (called by agents.actions and memory.ingest)


def attach_folder_files(agent, folder) -> None:
    """An agent just got `folder`: add the file tools and open its processed files. Call inside the attach
    transaction; the caller rebuilds the system prompt."""
    for file in folder.files.filter(processing_status="completed").select_related("folder").order_by("created_at"):
        open_file_for(agent, file)
    _set_file_tools(agent, attached=True)


def detach_folder_files(agent, folder) -> None:
    """An agent lost `folder`: forget its files, and drop the file tools when no folder is left."""
    _links(agent).filter(file__folder=folder).delete()
    if not agent.folders.exclude(id=folder.id).exists():
        _set_file_tools(agent, attached=False)


def attach_file_to_agents(file) -> None:
    """A file finished processing: every agent that has its folder sees it, opened."""
    agents = list(file.folder.agents.all())
    for agent in agents:
        open_file_for(agent, file)
    if agents:
        transaction.on_commit(lambda: rebuild_system_prompts([a.id for a in agents]))


def _set_file_tools(agent, *, attached: bool) -> None:
    from agents.models import AgentTool
    from tools.models import Tool

    if not attached:
        AgentTool.objects.filter(agent_id=agent.id, tool__name__in=FILE_TOOLS).delete()
        return
    from tools.actions import ensure_base_tools

    ensure_base_tools(agent.organization)
    have = set(AgentTool.objects.filter(agent_id=agent.id).values_list("tool__name", flat=True))
    position = AgentTool.objects.filter(agent_id=agent.id).count()
    for tool in Tool.objects.filter(organization_id=agent.organization_id, name__in=FILE_TOOLS).order_by("name"):
        if tool.name not in have:
            AgentTool.objects.create(agent_id=agent.id, tool=tool, position=position)
            position += 1


# ---------------------------------------------------------------------------------------------------------------
# The tools


def _find(links: list, name: str):
    """The link whose file is `name` ("folder/file", or a file name that is unique among the attached)."""
    exact = [link for link in links if display_name(link.file) == name]
    if exact:
        return exact[0]
    bare = [link for link in links if link.file.file_name == name]
    return bare[0] if len(bare) == 1 else None


@base_tool("letta_files_core")
def open_files(ctx: ToolContext, file_requests: list[dict], close_all_others: bool = False) -> str:
    """Open files of your attached folders, or move the window of an open file. An open file shows in your
    context under <directories> with numbered lines; the least recently used files close when too many are open.

    Args:
        file_requests: The files to open, each an object {"file_name": name as shown in <directories>
            ("folder/file"), "offset": first line to show, counted from 0 (optional), "length": number of
            lines to show (optional)}.
        close_all_others: Close every other open file first.
    """
    agent = ctx.agent
    max_open, char_limit = file_limits(agent)
    if not file_requests:
        raise ToolError("No file requests provided")
    if len(file_requests) > max_open:
        raise ToolError(f"Cannot open {len(file_requests)} files: exceeds configured maximum limit of {max_open} files")
    links = list(_links(agent).order_by("file__folder__name", "file__file_name"))
    plan = [(_checked_request(request, links), request) for request in file_requests]
    report, opened = [], set()
    with transaction.atomic():
        if close_all_others:
            wanted = {link.id for link, _ in plan}
            for link in links:
                if link.is_open and link.id not in wanted:
                    _close(link)
        for link, request in plan:
            before = (link.start_line, link.end_line) if link.is_open else None
            start, end = _open(link, int(request.get("offset") or 0), request.get("length"), char_limit)
            opened.add(link.id)
            line = (
                f"* Opened {display_name(link.file)} (lines {start}-{end})"
                if end
                else f"* Opened {display_name(link.file)} (empty window)"
            )
            if before and before != (start, end) and before[0]:
                line += f" (previously lines {before[0]}-{before[1]})"
            report.append(line)
        closed = _close_least_recent(agent, opened, max_open)
    if closed:
        report.append(
            f"Note: Closed {len(closed)} least recently used file(s) due to open file limit: " + ", ".join(closed)
        )
    rebuild_system_prompts([agent.id])
    return "\n".join(report)


def _checked_request(request, links):
    if not isinstance(request, dict) or not isinstance(request.get("file_name"), str):
        raise ToolError("Each file request needs a file_name")
    link = _find(links, request["file_name"])
    if link is None:
        names = [display_name(link.file) for link in links]
        raise ToolError(
            f"{request['file_name']} not attached - did you get the filename correct? Currently you have "
            f"the following files attached: {names}"
        )
    offset, length = request.get("offset"), request.get("length")
    if offset is not None and (not isinstance(offset, int) or offset < 0):
        raise ToolError(
            f"offset must be a whole number of lines, 0 or more (got {offset!r}) for {request['file_name']}"
        )
    if length is not None and (not isinstance(length, int) or length < 1):
        raise ToolError(
            f"length must be a whole number of lines, at least 1 (got {length!r}) for {request['file_name']}"
        )
    line_count = link.file.content.count("\n") + 1
    if offset is not None and offset >= line_count:
        raise ToolError(f"offset {offset} is past the end of {request['file_name']}, which has {line_count} lines")
    return link


@base_tool("letta_files_core")
def grep_files(
    ctx: ToolContext, pattern: str, include: str | None = None, context_lines: int | None = 1, offset: int | None = None
) -> str:
    """Search the text of your attached files with a regular expression (case-insensitive), like grep.

    Args:
        pattern: The regular expression to look for, e.g. "invoice|receipt".
        include: Only files whose name matches this regular expression, e.g. "\\.md$".
        context_lines: Lines to show before and after each match (default 1).
        offset: Skip this many matches (for the next page of results).
    """
    if not pattern or not pattern.strip():
        raise ToolError("Empty search pattern provided")
    if len(pattern) > 1000:
        raise ToolError("Search pattern is too long (at most 1000 characters)")
    regex = _compile(pattern, "Invalid regex pattern")
    name_filter = _compile(include, "Invalid include pattern") if include else None
    context_lines = max(0, min(int(context_lines if context_lines is not None else 1), 20))
    offset = max(0, int(offset or 0))
    links = [
        link
        for link in _links(ctx.agent).order_by("file__folder__name", "file__file_name")
        if not name_filter or name_filter.search(display_name(link.file))
    ]
    if not links:
        raise ToolError(
            "No files are currently attached to search"
            if not include
            else f"No attached files match include pattern {include!r}"
        )
    matches, per_file, cut_short = _grep(links, regex, context_lines)
    if not matches:
        return f"No matches found for pattern: '{pattern}'"
    page = matches[offset : offset + GREP_PAGE]
    head = f"Found {len(matches)}{'+' if cut_short else ''} matches in {len(per_file)} files for pattern: '{pattern}'"
    lines = [head, "Matches per file: " + ", ".join(f"{name} ({n})" for name, n in per_file.items())]
    if not page:
        return "\n".join(lines + [f"No matches at offset {offset}."])
    lines.append(f"Showing matches {offset + 1}-{offset + len(page)}:")
    current = None
    for name, block in page:
        if name != current:
            lines.append(f"\n=== {name} ===")
            current = name
        lines.append(block)
    if offset + len(page) < len(matches):
        lines.append(f"\nMore matches: call grep_files again with offset={offset + len(page)}.")
    return "\n".join(lines)


def _compile(pattern: str, what: str):
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ToolError(f"{what}: {exc}") from exc


def _grep(links, regex, context_lines: int):
    """[(file name, rendered match with context)], {file name: count}, whether the cap or clock cut it short."""
    matches, per_file = [], {}
    deadline = time.monotonic() + GREP_SECONDS
    for link in links:
        name, lines = display_name(link.file), link.file.content.split("\n")
        for i, line in enumerate(lines):
            if len(matches) >= GREP_MAX_MATCHES or time.monotonic() > deadline:
                return matches, per_file, True
            if regex.search(line):
                lo, hi = max(0, i - context_lines), min(len(lines), i + context_lines + 1)
                block = "\n".join(f"{'>' if j == i else ' '} {j + 1}: {lines[j]}" for j in range(lo, hi))
                matches.append((name, block))
                per_file[name] = per_file.get(name, 0) + 1
    return matches, per_file, False


@base_tool("letta_files_core")
def semantic_search_files(ctx: ToolContext, query: str, limit: int | None = 5) -> str:
    """Find the passages of your attached files closest in meaning to a question or topic.

    Args:
        query: What to look for, in plain words.
        limit: How many passages to return (default 5, at most 50).
    """
    if not query or not query.strip():
        raise ToolError("Empty search query provided")
    limit = max(1, min(int(limit or 5), SEMANTIC_MAX))
    hits = search_attached_files(ctx.agent, query, limit)
    if not hits:
        return f"No semantic matches found for query: '{query}'"
    files = {display_name(p.file) for p, _ in hits}
    lines = [f"Found {len(hits)} semantic matches in {len(files)} files for query: '{query}'"]
    for passage, distance in hits:
        lines.append(f"\n=== {display_name(passage.file)} (similarity {1 - distance:.3f}) ===\n{passage.text}")
    return "\n".join(lines)


def search_attached_files(agent, query: str, limit: int) -> list:
    """[(passage, cosine distance)] over the passages of the agent's attached folders, nearest first. Each folder
    is searched with its own embedding model (a query vector per model)."""
    from memory.embeddings import embed, model_name
    from memory.models import Passage
    from memory.queries import search_passages

    by_model: dict = {}
    for folder in agent.folders.all():
        by_model.setdefault(model_name(folder.embedding_config), (folder.embedding_config, []))[1].append(folder.id)
    hits = []
    for model, (config, folder_ids) in by_model.items():
        vector = embed([query], config)[0]
        scope = Passage.objects.filter(folder_id__in=folder_ids, file__isnull=False).select_related("file__folder")
        hits.extend(search_passages(scope, vector, top_k=limit, embedding_model=model))
    return sorted(hits, key=lambda hit: hit[1])[:limit]
