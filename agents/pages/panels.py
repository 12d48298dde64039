"""Template contexts of the workspace panels. Views and the websocket consumer both build their HTML from
these, so a pushed partial is exactly what a fresh page render shows. Reads only: writes go through actions."""

import json
from urllib.parse import urlencode

from django.db.models import Count, F

from agents.runtime.providers import SCRIPTED_HANDLE
from agents.scripted.brain import PHRASES
from memory.models import Block, BlockHistory
from memory.parsing import SUPPORTED_TYPES

LEFT_TABS = [("settings", "Settings"), ("tools", "Tools"), ("folders", "Folders")]
RIGHT_TABS = [("memory", "Core memory"), ("archival", "Archival")]
MOBILE_TABS = [("chat", "Chat"), ("memory", "Memory"), ("context", "Context"), ("settings", "Settings")]  # phones


def workspace(agent, user, *, left: str = "settings", right: str = "memory") -> dict:
    """Everything the full workspace screen shows."""
    ctx = {"agent": agent, "left": left, "right": right, "left_tabs": LEFT_TABS, "right_tabs": RIGHT_TABS}
    ctx["mobile_tabs"] = MOBILE_TABS
    ctx.update(context_window(agent))
    ctx.update(chat(agent))
    ctx.update(LEFT_PANELS[left](agent))
    ctx.update(RIGHT_PANELS[right](agent))
    return ctx


# ---- core memory -----------------------------------------------------------------------------------------------


def _who(row: BlockHistory | None) -> str:
    if row is None:
        return ""
    if row.actor_type == "agent":
        return f"agent · {row.tool_name}" if row.tool_name else "agent"
    return row.actor_name or row.get_actor_type_display()


def block(agent, block: Block, *, latest: BlockHistory | None = None, n_agents: int | None = None, **state) -> dict:
    """One block editor. `state` carries what a save left behind: errors, a conflict, `saved`.
    `latest` (its newest history row) and `n_agents` may be given when rendering many blocks at once."""
    if latest is None:
        latest = block.history.filter(version=block.version).first()
    if n_agents is None:
        n_agents = block.agents.count()
    state = {"mine": None, "conflict": None, "error": "", "error_field": None, "saved": False, **state}
    mine = state["mine"]
    return {
        "agent": agent,
        "block": block,
        "updated_by": _who(latest),
        "updated_at": latest and latest.created_at,
        "shared_with": max(n_agents - 1, 0),
        "value_len": len(block.value if mine is None else mine),
        **state,
    }


def memory(agent) -> dict:
    """Every block editor of the agent (a fixed number of queries however many blocks), and what can be
    attached."""
    from agents.models import AgentBlock

    blocks = agent.ordered_blocks()
    ids = [b.id for b in blocks]
    latest = {h.block_id: h for h in BlockHistory.objects.filter(block_id__in=ids, version=F("block__version"))}
    n_agents = dict(
        AgentBlock.objects.filter(block_id__in=ids)
        .values("block_id")
        .annotate(n=Count("id"))
        .values_list("block_id", "n")
    )
    attachable = (
        Block.objects.filter(organization_id=agent.organization_id, is_template=False)
        .exclude(id__in=ids)
        .annotate(n_agents=Count("agents"))
        .order_by("label", "id")[:200]
    )
    editors = [block(agent, b, latest=latest.get(b.id), n_agents=n_agents.get(b.id, 1)) for b in blocks]
    return {"agent": agent, "blocks": editors, "attachable_blocks": attachable}


def history(agent, block: Block) -> dict:
    rows = list(block.history.order_by("-version")[:100])
    # `memory_block` too: in a page template `{% block %}` tags shadow a variable named `block`.
    return {"agent": agent, "block": block, "memory_block": block, "rows": [{"row": r, "who": _who(r)} for r in rows]}


# ---- context window --------------------------------------------------------------------------------------------

# (key in the overview, label, swatch class)
CONTEXT_SECTIONS = [
    ("system", "System prompt", "sw-system"),
    ("core_memory", "Core memory", "sw-core"),
    ("external_memory_summary", "External memory summary", "sw-external"),
    ("summary_memory", "Summary memory", "sw-summary"),
    ("functions_definitions", "Tool definitions", "sw-tools"),
    ("tool_usage_rules", "Tool rules", "sw-rules"),
    ("directories", "Files", "sw-files"),
    ("messages", "Messages", "sw-messages"),
]


def _section_text(key: str, overview: dict) -> str:
    value = overview.get("system_prompt" if key == "system" else key)
    if key == "functions_definitions":
        return json.dumps(value or [], indent=2)
    if key == "messages":
        return "\n\n".join(
            f"[{m.role}] {m.text or json.dumps(m.tool_calls or m.tool_returns or '')}" for m in value or []
        )
    return value or ""


def context_window(agent) -> dict:
    from memory.context import context_overview

    overview = context_overview(agent)
    maximum = max(int(overview["context_window_size_max"] or 1), 1)
    sections = []
    for key, label, swatch in CONTEXT_SECTIONS:
        tokens = int(overview.get(f"num_tokens_{key}") or 0)
        if key == "directories" and not tokens:
            continue
        sections.append(
            {
                "key": key,
                "label": label,
                "swatch": swatch,
                "tokens": tokens,
                "percent": round(100 * tokens / maximum, 2),
                "text": _section_text(key, overview),
            }
        )
    current = int(overview["context_window_size_current"])
    return {
        "agent": agent,
        "ctx": {
            "max": maximum,
            "current": current,
            "percent": min(100, round(100 * current / maximum, 1)),
            "sections": sections,
            "num_messages": overview["num_messages"],
            "num_archival": overview["num_archival_memory"],
            "num_recall": overview["num_recall_memory"],
        },
    }


# ---- chat ------------------------------------------------------------------------------------------------------


ACTIVE = ("created", "running")
HIDDEN_TYPES = ("system_message",)


def _input_text(run) -> str:
    """What the person typed to start `run` (shown until the loop has stored it as a message)."""
    for item in run.input or []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _parts(rows) -> list[dict]:
    from agents.runtime.letta_messages import to_letta_messages

    parts = [p for row in rows for p in to_letta_messages(row) if p["message_type"] not in HIDDEN_TYPES]
    # From the rows, not the parts: a send_message call is shown as the reply, yet its return still needs a name.
    names = {c.get("id"): (c.get("function") or {}).get("name", "") for row in rows for c in row.tool_calls or []}
    names.update(_approved_call_names(rows, names))
    for p in parts:
        if p["message_type"] == "tool_return_message":
            p["tool_name"] = names.get(p.get("tool_call_id"), "")
    # send_message's own return says only that the reply (already shown as the reply) was sent: not worth a card
    return [p for p in parts if not (p.get("tool_name") == "send_message" and p.get("status") == "success")]


def _approved_call_names(rows, known: dict) -> dict:
    """Calls run after an approval were requested in an earlier turn: their names come from that request."""
    from agents.models import Message

    request_ids = {r.approval_request_id for r in rows if r.role == "approval" and r.approval_request_id}
    if not request_ids or all(r.tool_call_id in known for r in rows if r.role == "tool"):
        return {}
    requests = Message.objects.filter(id__in=request_ids).only("tool_calls")
    return {c.get("id"): (c.get("function") or {}).get("name", "") for m in requests for c in m.tool_calls or []}


def turn(agent, run, rows, *, pending_approval_id: str = "") -> dict:
    """One turn of the chat: the run's messages, then its stop reason and usage (or a live indicator)."""
    parts = _parts(rows)
    for p in parts:
        p["pending"] = p["message_type"] == "approval_request_message" and p["id"] == pending_approval_id
    has_input = any(p["message_type"] == "user_message" for p in parts)
    usage = (run.usage or {}) if run else {}
    duration = run.total_duration_ns / 1e9 if run and run.total_duration_ns else None
    return {
        "id": run.id if run else f"h-{rows[0].id}",
        "run": run,
        "messages": parts,
        "input_text": "" if has_input or run is None else _input_text(run),
        "active": bool(run and run.status in ACTIVE),
        "usage": usage,
        "duration": duration,
    }


def turn_for_run(agent, run) -> dict:
    from agents.models import Message

    rows = list(Message.objects.filter(agent=agent, run=run).exclude(role="system").order_by("seq"))
    return turn(agent, run, rows, pending_approval_id=_pending_approval_id(agent))


def _pending_approval_id(agent) -> str:
    from agents.models import Message

    last_id = (agent.message_ids or [None])[-1]
    last = Message.objects.filter(id=last_id, role="approval").exclude(tool_calls=None).first() if last_id else None
    return last.id if last else ""


def _trailing_runs(agent, rows, shown: set):
    """Turns after the last stored message that stored nothing themselves: those still running, and those that
    failed or were cancelled before their first step was saved (so their error stays visible)."""
    from agents.models import Run

    qs = Run.objects.filter(agent=agent).exclude(id__in=shown)
    active = qs.filter(status__in=ACTIVE)
    ended = qs.filter(status__in=("failed", "cancelled"))
    if rows:
        ended = ended.filter(created_at__gt=rows[-1].created_at)
    else:  # an empty conversation: only what failed after the last turn that completed (e.g. before a reset)
        last_ok = qs.filter(status="completed").order_by("-created_at").values_list("created_at", flat=True).first()
        ended = ended.filter(created_at__gt=last_ok) if last_ok else ended
    return sorted(list(active) + list(ended.order_by("-created_at")[:5]), key=lambda r: (r.created_at, r.id))


def chat(agent, limit: int = 300) -> dict:
    """The in-context conversation grouped into turns, plus turns still running."""
    from agents.models import Message, Run

    ids = list(agent.message_ids or [])[1:][-limit:]
    by_id = {m.id: m for m in Message.objects.filter(id__in=ids)}
    rows = [by_id[i] for i in ids if i in by_id]
    runs = {r.id: r for r in Run.objects.filter(id__in={m.run_id for m in rows if m.run_id})}
    groups: list[tuple] = []
    for row in rows:
        if groups and groups[-1][0] == row.run_id:
            groups[-1][1].append(row)
        else:
            groups.append((row.run_id, [row]))
    pending = _pending_approval_id(agent)
    turns = [turn(agent, runs.get(run_id), group, pending_approval_id=pending) for run_id, group in groups]
    shown = {t["id"] for t in turns}
    for run in _trailing_runs(agent, rows, shown):
        turns.append(turn(agent, run, []))
    from agents.runtime.providers import embedding_handles, llm_handles

    embedding = (agent.embedding_config or {}).get("handle") or ""
    return {
        "agent": agent,
        "turns": turns,
        "running": any(t["active"] for t in turns),
        "model_missing": agent.model_handle not in llm_handles(agent.organization_id),
        "embedding_missing": embedding if embedding and embedding not in embedding_handles() else "",
    }


# ---- settings --------------------------------------------------------------------------------------------------


def settings_panel(agent) -> dict:
    from agents.pages.forms import AgentSettingsForm

    return {"agent": agent, "settings_form": AgentSettingsForm(agent=agent)}


def left_panel(agent, tab: str) -> dict:
    return {"agent": agent, "left": tab, "left_tabs": LEFT_TABS, **LEFT_PANELS[tab](agent)}


def right_panel(agent, tab: str) -> dict:
    return {"agent": agent, "right": tab, "right_tabs": RIGHT_TABS, **context_window(agent), **RIGHT_PANELS[tab](agent)}


# ---- tools -----------------------------------------------------------------------------------------------------


def tools_panel(agent) -> dict:
    from tools.models import Tool

    attached = list(agent.tools.order_by("agenttool__position", "agenttool__id"))
    attachable = (
        Tool.objects.filter(organization_id=agent.organization_id)
        .exclude(id__in=[t.id for t in attached])
        .order_by("tool_type", "name")
    )
    from ade.secrets import mask
    from agents.pages import rules_graph
    from agents.pages.rules_editor import RuleForm, describe

    rules = agent.tool_rules or []
    return {
        "agent": agent,
        "attached_tools": attached,
        "attachable_tools": attachable,
        "attachable_groups": _tool_groups(attachable),
        "tool_rules": rules,
        "rules_json": json.dumps(rules, indent=2),
        "rules_list": [{"index": i, "text": describe(r), "type": r["type"]} for i, r in enumerate(rules)],
        "rules_graph": rules_graph.drawing(rules),
        "rule_form": RuleForm(initial={"version": agent.version}, tools=[t.name for t in attached]),
        "agent_secrets": [(k, mask(v)) for k, v in sorted((agent.secrets or {}).items())],
    }


def _tool_groups(tools) -> list[tuple[str, list]]:
    """Attachable tools grouped for the picker: custom, built-in, then one group per MCP server."""
    groups: dict[str, list] = {}
    for tool in tools:
        if tool.tool_type == "external_mcp":
            label = f"MCP · {(tool.metadata or {}).get('mcp', {}).get('server_name', 'server')}"
        else:
            label = "Custom" if tool.tool_type == "custom" else "Built-in"
        groups.setdefault(label, []).append(tool)
    order = {"Custom": 0, "Built-in": 1}
    return sorted(groups.items(), key=lambda item: (order.get(item[0], 2), item[0]))


# ---- archival memory -------------------------------------------------------------------------------------------

ARCHIVAL_PAGE = 20


ARCHIVAL_TOOLS = ("archival_memory_insert", "archival_memory_search")
ARCHIVAL_MODES = [("hybrid", "Meaning + words"), ("vector", "Meaning"), ("fts", "Words")]


def archival_tools(agent) -> set[str]:
    """Which archival tools the agent has: without them it can neither store nor find passages."""
    return set(agent.tools.filter(name__in=ARCHIVAL_TOOLS).values_list("name", flat=True))


def archival_panel(agent, *, query: str = "", after: str | None = None, filters=None, mode=None) -> dict:
    """A page of passages, newest first (`after` = the last one shown), or the nearest ones to `query` (each with
    its scores as `p.hit`); `filters` = tags / start_datetime / end_datetime for both, `mode` the search mode."""
    from memory.archival import agent_passages, list_archival, rank_archival

    filters = filters or {}
    if query:
        hits = rank_archival(agent, query, top_k=ARCHIVAL_PAGE, search_mode=mode or None, **filters)
        for hit in hits:
            hit.passage.hit = hit
        passages, more = [hit.passage for hit in hits], False
    else:
        passages = list_archival(agent, after=after, limit=ARCHIVAL_PAGE + 1, ascending=False, **filters)
        passages, more = passages[:ARCHIVAL_PAGE], len(passages) > ARCHIVAL_PAGE
    return {
        "agent": agent,
        "passages": passages,
        "archival_query": query,
        "archival_more": more,
        "archival_after": after,
        "archival_filters": filters,
        # the same names as the search form's fields ("tags" would clash with an edit form's own)
        "archival_filter_qs": urlencode(
            {("tag_filter" if k == "tags" else k): v for k, v in filters.items()}, doseq=True
        ),
        "archival_mode": mode or "",
        "archival_modes": ARCHIVAL_MODES,
        "archival_total": agent_passages(agent).count(),
        "archival_tools": archival_tools(agent),
        "simulator_phrases": PHRASES if agent.model_handle == SCRIPTED_HANDLE else [],
        **shared_archives(agent),
    }


def shared_archives(agent) -> dict:
    """The shared archives the agent searches (all but its own, first-attached one) and those it could attach."""
    from memory.archives import compatible, own_archive_id
    from memory.models import Archive

    attached = list(agent.archives.exclude(id=own_archive_id(agent)).order_by("name", "id"))
    others = Archive.objects.filter(organization_id=agent.organization_id).exclude(agents=agent).order_by("name", "id")
    return {"shared_archives": attached, "attachable_archives": [a for a in others if compatible(agent, a)]}


# ---- folders ---------------------------------------------------------------------------------------------------

FILE_DONE = ("completed", "error")


UPLOAD_ACCEPT = ",".join(sorted(SUPPORTED_TYPES))  # the picker offers exactly what the server ingests


def folders_panel(agent) -> dict:
    from memory.models import Folder

    attached = list(Folder.objects.filter(agentfolder__agent=agent).prefetch_related("files").order_by("name"))
    attachable = (
        Folder.objects.filter(organization_id=agent.organization_id)
        .exclude(id__in=[f.id for f in attached])
        .order_by("name")
    )
    return {"agent": agent, "folders": attached, "attachable_folders": attachable, "upload_accept": UPLOAD_ACCEPT}


LEFT_PANELS = {"settings": settings_panel, "tools": tools_panel, "folders": folders_panel}
RIGHT_PANELS = {"memory": memory, "archival": archival_panel}
