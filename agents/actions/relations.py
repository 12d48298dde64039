"""Helpers shared by the agent actions: rows by id (404 naming the field), the agent's blocks, tools, tags and
folders, its lock and version, its sleep-time group. Callers hold the transaction."""

from accounts.audit import record
from ade.errors import Conflict, Invalid, NotFound
from ade.events import agent_group, broadcast
from ade.prepared import insert_rows
from agents.models import Agent, AgentBlock, AgentFolder, AgentTag, AgentTool, Group, Message
from agents.queries import get_agent_for
from agents.runtime.defaults import base_tool_names
from memory.actions import Actor, create_blocks, new_block
from memory.context import rebuild_system_prompts
from memory.models import Block, Folder
from tools.models import Tool


def _new_blocks(org, specs, user) -> list[Block]:
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise Invalid("memory_blocks must be a list", field="memory_blocks")
    blocks, actor = [], Actor.user(user)
    for i, b in enumerate(specs):
        if not isinstance(b, dict) or not isinstance(b.get("label"), str):
            raise Invalid(f"memory_blocks[{i}].label is required", field=f"memory_blocks[{i}].label")
        value = b.get("value", "")
        if not isinstance(value, str):
            raise Invalid(f"memory_blocks[{i}].value must be a string", field=f"memory_blocks[{i}].value")
        blocks.append(
            new_block(
                org,
                label=b["label"],
                value=value,
                limit=b.get("limit"),
                description=b.get("description"),
                read_only=bool(b.get("read_only", False)),
                hidden=bool(b.get("hidden", False)),
                metadata=b.get("metadata"),
                tags=b.get("tags"),
                actor=actor,
            )
        )
    return create_blocks(blocks, actor)  # one INSERT for the blocks, one for their histories, one for the audit


def _blocks_by_id(user, ids) -> list[Block]:
    return _rows_by_id(Block, user, ids, "block_ids")


def _folders_by_id(user, ids) -> list[Folder]:
    return _rows_by_id(Folder, user, ids, "folder_ids")


def _tools_by_id(user, ids) -> list[Tool]:
    return _rows_by_id(Tool, user, ids, "tool_ids")


def _rows_by_id(model, user, ids, field: str) -> list:
    """The user's organization's `model` rows with these ids, in their order (None: none asked for)."""
    if ids is None:  # before building a queryset: most creates name no ids
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Invalid(f"{field} must be a list of ids", field=field)
    rows = {r.id: r for r in model.objects.filter(organization_id=user.organization_id, id__in=ids)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"{model.__name__} not found: {', '.join(missing)}", field=field)
    return [rows[i] for i in dict.fromkeys(ids)]


def _tools_for_create(user, agent: Agent, spec: dict) -> list[Tool]:
    from tools.actions import ensure_base_tools

    base = ensure_base_tools(agent.organization)
    names = []
    if spec.get("include_base_tools", True):
        names = [n for n in base_tool_names(agent) if n in base]
    extra = spec.get("tools") or []
    if not isinstance(extra, list) or not all(isinstance(n, str) for n in extra):
        raise Invalid("tools must be a list of tool names", field="tools")
    named = Tool.objects.filter(organization=agent.organization, name__in=extra) if extra else ()  # no empty IN
    by_name = {t.name: t for t in named}
    unknown = [n for n in extra if n not in by_name]
    if unknown:
        raise NotFound(f"Tool not found: {', '.join(unknown)}", field="tools")
    tools = [base[n] for n in names] + [by_name[n] for n in extra] + _tools_by_id(user, spec.get("tool_ids"))
    return list({t.id: t for t in tools}.values())


def _attach_blocks(agent: Agent, blocks: list[Block], *, fresh: bool = False) -> None:
    """Append `blocks` to the agent's (`fresh`: a new agent, which has none yet), refusing a label it has."""
    labels = [] if fresh else list(Block.objects.filter(agentblock__agent=agent).values_list("label", flat=True))
    links = []
    for block in blocks:
        if block.label in labels:
            raise Conflict(f"The agent already has a block labelled {block.label!r}", field="label")
        links.append(AgentBlock(agent=agent, block=block, position=len(labels)))
        labels.append(block.label)
    insert_rows(links)


def _set_tools(agent: Agent, tools: list[Tool], *, fresh: bool = False) -> None:
    """Make `tools` the agent's, in that order (`fresh`: a new agent, which has none yet)."""
    if not fresh:
        AgentTool.objects.filter(agent=agent).exclude(tool__in=tools).delete()
    have = set() if fresh else set(AgentTool.objects.filter(agent=agent).values_list("tool_id", flat=True))
    for position, tool in enumerate(tools):
        if tool.id in have:
            AgentTool.objects.filter(agent=agent, tool=tool).update(position=position)
    insert_rows([AgentTool(agent=agent, tool=tool, position=p) for p, tool in enumerate(tools) if tool.id not in have])


def _set_tags(agent: Agent, tags) -> None:
    if tags is None:
        return
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise Invalid("tags must be a list of strings", field="tags")
    wanted = sorted({t.strip() for t in tags if t.strip()})
    AgentTag.objects.filter(agent=agent).exclude(tag__in=wanted).delete()
    have = set(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True))
    insert_rows([AgentTag(agent=agent, tag=t) for t in wanted if t not in have])


def _attach_folder(agent: Agent, folder: Folder) -> None:
    from tools.files import attach_folder_files

    _, created = AgentFolder.objects.get_or_create(agent=agent, folder=folder)
    if created:
        attach_folder_files(agent, folder)


def _detach_folder(agent: Agent, folder: Folder) -> None:
    from tools.files import detach_folder_files

    if AgentFolder.objects.filter(agent=agent, folder=folder).delete()[0]:
        detach_folder_files(agent, folder)


def _changed(agent: Agent, *, recompile: bool = True, force: bool = False) -> None:
    """Bump the version, save, recompile (after commit of this transaction's writes), announce."""
    Agent.objects.filter(id=agent.id).update(version=agent.version + 1)
    agent.version += 1
    if recompile:
        rebuild_system_prompts([agent.id], force=force)
    broadcast(agent_group(agent.id), {"type": "agent_updated", "agent_id": agent.id, "version": agent.version})


def _locked(user, agent_id: str, expected_version: int | None = None) -> Agent:
    """The agent, row-locked, if the user may edit it (404 / 403), at `expected_version` (409 otherwise)."""
    agent = get_agent_for(user, agent_id, for_update=True, action="edit")
    if expected_version is not None and expected_version != agent.version:
        raise Conflict(
            f"The agent was changed by someone else (you edited version {expected_version}, current is "
            f"{agent.version})",
            field="version",
            current=agent,
        )
    return agent


def _checked_message_ids(agent: Agent, ids) -> list[str]:
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise Invalid("message_ids must be a non-empty list of message ids", field="message_ids")
    rows = dict(Message.objects.filter(agent=agent, id__in=ids).values_list("id", "role"))
    missing = [i for i in ids if i not in rows]
    if missing:
        raise Invalid(
            f"message_ids has messages this agent does not have: {', '.join(missing[:5])}", field="message_ids"
        )
    if rows[ids[0]] != "system":
        raise Invalid("message_ids must start with the system message", field="message_ids")
    return list(dict.fromkeys(ids))


def _add_rules(agent: Agent, rules: list[dict]) -> None:
    if rules:
        agent.tool_rules = list(agent.tool_rules or []) + rules
        Agent.objects.filter(id=agent.id).update(tool_rules=agent.tool_rules)


def group_of(agent) -> Group | None:
    """The sleep-time group that `agent` (an Agent or an agent id) manages, if any."""
    agent_id = getattr(agent, "id", agent)
    return Group.objects.filter(manager_agent_id=agent_id, manager_type="sleeptime").first()


def _audit(user, agent: Agent, verb: str, summary: str = "") -> None:
    """The audit entry of a change to `agent` (call inside the change's atomic block)."""
    record(agent.organization_id, user, f"agent.{verb}", object_id=agent.id, summary=summary or agent.name)
