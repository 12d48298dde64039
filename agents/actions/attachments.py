"""Attach and detach an agent's blocks, tools and folders; the approval flag of a tool."""

from django.db import IntegrityError, transaction

from ade.errors import NotFound
from agents.actions.relations import (
    _add_rules,
    _attach_blocks,
    _attach_folder,
    _audit,
    _blocks_by_id,
    _changed,
    _detach_folder,
    _folders_by_id,
    _locked,
    _tools_by_id,
    group_of,
)
from agents.models import Agent, AgentBlock, AgentFolder, AgentTool
from agents.runtime.defaults import approval_rules


def attach_block(user, agent_id: str, block_id: str) -> Agent:
    """Attach a block (shared, by id); the agent's sleep-time companions get it too (§8.1)."""
    with transaction.atomic():
        agent = _locked(user, agent_id)
        block = _blocks_by_id(user, [block_id])[0]
        if not AgentBlock.objects.filter(agent=agent, block=block).exists():
            _attach_blocks(agent, [block])
            _changed(agent)
            _audit(user, agent, "attach_block", f"{agent.name}: block {block.label}")
            group = group_of(agent)
            for companion in group.agents.all() if group else []:
                if not companion.blocks.filter(label=block.label).exists():
                    _attach_blocks(companion, [block])
                    _changed(companion)
    return agent


def detach_block(user, agent_id: str, block_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        if not AgentBlock.objects.filter(agent=agent, block_id=block_id).delete()[0]:
            raise NotFound("Block not attached to this agent", field="block_id")
        _changed(agent)
        _audit(user, agent, "detach_block", f"{agent.name}: block {block_id}")
    return agent


def attach_tool(user, agent_id: str, tool_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        tool = _tools_by_id(user, [tool_id])[0]
        try:
            AgentTool.objects.create(agent=agent, tool=tool, position=AgentTool.objects.filter(agent=agent).count())
        except IntegrityError:
            return agent  # already attached
        _add_rules(agent, approval_rules([tool], agent.tool_rules))
        _changed(agent)
        _audit(user, agent, "attach_tool", f"{agent.name}: tool {tool.name}")
    return agent


def detach_tool(user, agent_id: str, tool_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        if not AgentTool.objects.filter(agent=agent, tool_id=tool_id).delete()[0]:
            raise NotFound("Tool not attached to this agent", field="tool_id")
        _changed(agent)
        _audit(user, agent, "detach_tool", f"{agent.name}: tool {tool_id}")
    return agent


def set_tool_approval(user, agent_id: str, tool_name: str, required: bool) -> Agent:
    """Whether calls to the agent's tool `tool_name` wait for a human (a `requires_approval` rule)."""
    with transaction.atomic():
        agent = _locked(user, agent_id)
        if not agent.tools.filter(name=tool_name).exists():
            raise NotFound(f"The agent has no tool named {tool_name!r}", field="tool_name")
        rules = [
            r
            for r in agent.tool_rules or []
            if not (r.get("type") == "requires_approval" and r.get("tool_name") == tool_name)
        ]
        if required:
            rules.append({"type": "requires_approval", "tool_name": tool_name})
        agent.tool_rules = rules
        Agent.objects.filter(id=agent.id).update(tool_rules=rules)
        _changed(agent)
        _audit(user, agent, "tool_approval", f"{agent.name}: {tool_name} needs approval: {required}")
    return agent


def attach_folder(user, agent_id: str, folder_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        _attach_folder(agent, _folders_by_id(user, [folder_id])[0])
        _changed(agent)
        _audit(user, agent, "attach_folder", f"{agent.name}: folder {folder_id}")
    return agent


def detach_folder(user, agent_id: str, folder_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        folder = _folders_by_id(user, [folder_id])[0]
        if not AgentFolder.objects.filter(agent=agent, folder=folder).exists():
            raise NotFound("Folder not attached to this agent", field="folder_id")
        _detach_folder(agent, folder)
        _changed(agent)
        _audit(user, agent, "detach_folder", f"{agent.name}: folder {folder.name}")
    return agent
