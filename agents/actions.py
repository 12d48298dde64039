"""Writes to agents: create, update, delete; attach/detach blocks, tools and folders; reset messages.

Every action checks access through `agents.queries.get_agent_for`, validates its input (Invalid names the field),
writes in one transaction, recompiles the system prompt when what it shows changed, and broadcasts
`{"type": "agent_updated", "agent_id", "version"}` after commit. Approve/deny is handled at the start of a turn
(agents/turn_input.py), not here.
"""

import re
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, transaction

from ade.errors import Conflict, Invalid, NotFound
from ade.events import agent_group, broadcast
from memory.actions import Actor, create_block
from memory.context import compile_system_prompt, rebuild_system_prompts
from memory.models import Archive, Block, Folder
from tools.models import Tool

from . import packaging as pk
from .defaults import approval_rules, base_rules, base_tool_names, initial_messages, starting_rows
from .models import Agent, AgentBlock, AgentFolder, AgentTag, AgentTool, Message
from .prompts import base_prompt
from .queries import get_agent_for
from .rules import validate_rules

NAME_RE = re.compile(r"^[\w '\-]+$")
CREATABLE_TYPES = (
    "letta_v1_agent",
    "memgpt_agent",
    "memgpt_v2_agent",
    "react_agent",
    "workflow_agent",
    "sleeptime_agent",
)
COMPACTION_MODES = ("sliding_window", "all", "self_compact_all", "self_compact_sliding_window")
# Fields copied as they are (after a type check) on create and update.
SIMPLE_FIELDS = {
    "description": str,
    "metadata": dict,
    "message_buffer_autoclear": bool,
    "hidden": bool,
    "max_files_open": int,
    "per_file_view_window_char_limit": int,
    "response_format": dict,
}


# ---------------------------------------------------------------------------------------------------------------
# Create


def create_agent(user, spec: dict) -> Agent:
    """Create an agent from a Letta CreateAgent-shaped dict (letta-api §2.2) and return it.

    Defaults per agent_type: base prompt, base tools, base tool rules, initial messages. Nothing touches the
    network; everything is written in one transaction.
    """
    spec = dict(spec or {})
    agent_type = spec.get("agent_type") or "letta_v1_agent"
    if agent_type not in CREATABLE_TYPES:
        raise Invalid(
            f"agent_type must be one of {', '.join(CREATABLE_TYPES)} (got {agent_type!r})", field="agent_type"
        )
    org = user.organization
    agent = Agent(
        organization=org,
        agent_type=agent_type,
        created_by=user,
        last_updated_by=user,
        name=_name(spec.get("name")),
        system=_system(spec.get("system"), agent_type),
        llm_config=llm_config_from(spec),
        embedding_config=embedding_config_from(spec),
        timezone=_timezone(spec.get("timezone")),
        secrets=_secrets(spec),
        compaction_settings=_compaction(spec.get("compaction_settings")),
    )
    _apply_simple(agent, spec)
    agent.message_buffer_autoclear = agent.message_buffer_autoclear or agent_type == "workflow_agent"
    agent.enable_sleeptime = bool(spec.get("enable_sleeptime"))
    user_rules = validate_rules(spec.get("tool_rules"))
    with transaction.atomic():
        agent.save()
        _attach_blocks(
            agent, _new_blocks(org, spec.get("memory_blocks"), user) + _blocks_by_id(user, spec.get("block_ids"))
        )
        tools = _tools_for_create(user, agent, spec)
        _set_tools(agent, tools)
        agent.tool_rules = user_rules + base_rules(agent, spec, tools, user_rules) + approval_rules(tools, user_rules)
        _set_tags(agent, spec.get("tags"))
        archive = Archive.objects.create(
            organization=org, name=f"{agent.name} archive", embedding_config=agent.embedding_config or {}
        )
        agent.archives.add(archive)
        for folder in _folders_by_id(user, spec.get("folder_ids") or spec.get("source_ids")):
            _attach_folder(agent, folder)
        agent.message_ids = initial_messages(agent, spec.get("initial_message_sequence"))
        agent.save()
        _recompile_now(agent)
    if agent.enable_sleeptime and agent_type != "sleeptime_agent":
        _enable_sleeptime(user, agent)
    return agent


def _name(name) -> str:
    if name is None:
        return f"agent-{uuid.uuid4().hex[:8]}"
    if not isinstance(name, str) or not name.strip() or not NAME_RE.match(name):
        raise Invalid(
            "name may only contain letters, digits, spaces, underscores, apostrophes and hyphens", field="name"
        )
    return name.strip()[:200]


def _system(system, agent_type: str) -> str:
    if system is None:
        return base_prompt(agent_type)
    if not isinstance(system, str):
        raise Invalid("system must be a string", field="system")
    return system.strip()


def _timezone(tz) -> str:
    if tz is None:
        return "UTC"
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            f"timezone must be an IANA time zone name such as Europe/Paris (got {tz!r})", field="timezone"
        ) from None
    return str(tz)


def _secrets(spec: dict) -> dict:
    value = spec.get("secrets") if spec.get("secrets") is not None else spec.get("tool_exec_environment_variables")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise Invalid("secrets must be an object of string names to string values", field="secrets")
    return value


def _compaction(settings_value):
    if settings_value is None:
        return None
    if not isinstance(settings_value, dict):
        raise Invalid("compaction_settings must be an object", field="compaction_settings")
    mode = settings_value.get("mode", "sliding_window")
    if mode not in COMPACTION_MODES:
        raise Invalid(
            f"compaction_settings.mode must be one of {', '.join(COMPACTION_MODES)}", field="compaction_settings.mode"
        )
    pct = settings_value.get("sliding_window_percentage", 0.3)
    if not isinstance(pct, (int, float)) or not 0 < pct < 1:
        raise Invalid(
            "compaction_settings.sliding_window_percentage must be between 0 and 1",
            field="compaction_settings.sliding_window_percentage",
        )
    return settings_value


def _apply_simple(agent: Agent, spec: dict) -> None:
    for name, kind in SIMPLE_FIELDS.items():
        if name not in spec or spec[name] is None:
            continue
        value = spec[name]
        if not isinstance(value, kind) or (kind is int and (isinstance(value, bool) or value < 1)):
            raise Invalid(f"{name} must be a {'positive integer' if kind is int else kind.__name__}", field=name)
        setattr(agent, name, value)


def llm_config_from(spec: dict, current: dict | None = None) -> dict:
    """The agent's llm_config from a handle (`model`) and/or an `llm_config`, plus the shortcut fields."""
    from .providers import TUNABLE, resolve_llm

    given = spec.get("llm_config")
    if given is not None and not isinstance(given, dict):
        raise Invalid("llm_config must be an object", field="llm_config")
    overrides = {k: v for k, v in (given or {}).items() if k in TUNABLE}
    if spec.get("context_window_limit") is not None:
        overrides["context_window"] = spec["context_window_limit"]
    for key in ("max_tokens", "parallel_tool_calls"):
        if spec.get(key) is not None:
            overrides[key] = spec[key]
    handle = spec.get("model") or (given or {}).get("handle")
    if handle:
        return resolve_llm(handle, overrides)
    if given and given.get("model") and given.get("model_endpoint_type"):
        config = {**given, **overrides}
        if not isinstance(config.get("context_window"), int) or config["context_window"] < 1:
            raise Invalid("llm_config.context_window must be a positive integer", field="llm_config.context_window")
        return config
    if current is not None:
        return (
            resolve_llm(current["handle"], {**current, **overrides})
            if current.get("handle")
            else {**current, **overrides}
        )
    return resolve_llm(settings.DEFAULT_MODEL, overrides)


def embedding_config_from(spec: dict) -> dict:
    from .providers import resolve_embedding

    given = spec.get("embedding_config")
    if spec.get("embedding"):
        return resolve_embedding(spec["embedding"])
    if isinstance(given, dict) and given.get("embedding_model"):
        return given
    if given is not None and not isinstance(given, dict):
        raise Invalid("embedding_config must be an object", field="embedding_config")
    return resolve_embedding(settings.DEFAULT_EMBEDDING)


def _new_blocks(org, specs, user) -> list[Block]:
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise Invalid("memory_blocks must be a list", field="memory_blocks")
    blocks = []
    for i, b in enumerate(specs):
        if not isinstance(b, dict) or not isinstance(b.get("label"), str):
            raise Invalid(f"memory_blocks[{i}].label is required", field=f"memory_blocks[{i}].label")
        value = b.get("value", "")
        if not isinstance(value, str):
            raise Invalid(f"memory_blocks[{i}].value must be a string", field=f"memory_blocks[{i}].value")
        blocks.append(
            create_block(
                org,
                label=b["label"],
                value=value,
                limit=b.get("limit"),
                description=b.get("description"),
                read_only=bool(b.get("read_only", False)),
                hidden=bool(b.get("hidden", False)),
                metadata=b.get("metadata"),
                tags=b.get("tags"),
                actor=Actor.user(user),
            )
        )
    return blocks


def _blocks_by_id(user, ids) -> list[Block]:
    return _rows_by_id(Block.objects.filter(organization_id=user.organization_id), ids, "block_ids", "Block")


def _folders_by_id(user, ids) -> list[Folder]:
    return _rows_by_id(Folder.objects.filter(organization_id=user.organization_id), ids, "folder_ids", "Folder")


def _tools_by_id(user, ids) -> list[Tool]:
    return _rows_by_id(Tool.objects.filter(organization_id=user.organization_id), ids, "tool_ids", "Tool")


def _rows_by_id(qs, ids, field: str, what: str) -> list:
    if ids is None:
        return []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Invalid(f"{field} must be a list of ids", field=field)
    rows = {r.id: r for r in qs.filter(id__in=ids)}
    missing = [i for i in ids if i not in rows]
    if missing:
        raise NotFound(f"{what} not found: {', '.join(missing)}", field=field)
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
    by_name = {t.name: t for t in Tool.objects.filter(organization=agent.organization, name__in=extra)}
    unknown = [n for n in extra if n not in by_name]
    if unknown:
        raise NotFound(f"Tool not found: {', '.join(unknown)}", field="tools")
    tools = [base[n] for n in names] + [by_name[n] for n in extra] + _tools_by_id(user, spec.get("tool_ids"))
    return list({t.id: t for t in tools}.values())


def _recompile_now(agent: Agent) -> None:
    """Write the compiled system prompt into the agent's system message (inside the caller's transaction)."""
    text = compile_system_prompt(agent)
    Message.objects.filter(id=agent.message_ids[0]).update(content=pk.text_parts(text))


def _enable_sleeptime(user, agent: Agent) -> None:
    from .sleeptime import enable_sleeptime

    enable_sleeptime(user, agent)


# ---------------------------------------------------------------------------------------------------------------
# Relations (shared by create, update and attach/detach)


def _attach_blocks(agent: Agent, blocks: list[Block]) -> None:
    labels = list(Block.objects.filter(agentblock__agent=agent).values_list("label", flat=True))
    position = len(labels)
    for block in blocks:
        if block.label in labels:
            raise Conflict(f"The agent already has a block labelled {block.label!r}", field="label")
        labels.append(block.label)
        AgentBlock.objects.create(agent=agent, block=block, position=position)
        position += 1


def _set_tools(agent: Agent, tools: list[Tool]) -> None:
    AgentTool.objects.filter(agent=agent).exclude(tool__in=tools).delete()
    have = set(AgentTool.objects.filter(agent=agent).values_list("tool_id", flat=True))
    for position, tool in enumerate(tools):
        if tool.id in have:
            AgentTool.objects.filter(agent=agent, tool=tool).update(position=position)
        else:
            AgentTool.objects.create(agent=agent, tool=tool, position=position)


def _set_tags(agent: Agent, tags) -> None:
    if tags is None:
        return
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise Invalid("tags must be a list of strings", field="tags")
    wanted = sorted({t.strip() for t in tags if t.strip()})
    AgentTag.objects.filter(agent=agent).exclude(tag__in=wanted).delete()
    have = set(AgentTag.objects.filter(agent=agent).values_list("tag", flat=True))
    AgentTag.objects.bulk_create([AgentTag(agent=agent, tag=t) for t in wanted if t not in have])


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
    agent = get_agent_for(user, agent_id, for_update=True)
    if expected_version is not None and expected_version != agent.version:
        raise Conflict(
            f"The agent was changed by someone else (you edited version {expected_version}, current is "
            f"{agent.version})",
            field="version",
            current=agent,
        )
    return agent


# ---------------------------------------------------------------------------------------------------------------
# Update and delete


def update_agent(user, agent_id: str, changes: dict, *, expected_version: int | None = None) -> Agent:
    """Apply a partial update (letta-api §2.2 PATCH). `tool_ids`, `block_ids`, `folder_ids` and `tags` replace
    the whole set. A stale `expected_version` is refused with Conflict."""
    changes = dict(changes or {})
    if "agent_type" in changes:
        raise Invalid("agent_type cannot be changed", field="agent_type")
    with transaction.atomic():
        agent = _locked(user, agent_id, expected_version)
        if "name" in changes:
            agent.name = _name(changes["name"])
        if "system" in changes:
            agent.system = _system(changes["system"], agent.agent_type)
        if "timezone" in changes:
            agent.timezone = _timezone(changes["timezone"])
        if any(
            k in changes for k in ("model", "llm_config", "context_window_limit", "max_tokens", "parallel_tool_calls")
        ):
            agent.llm_config = llm_config_from(changes, agent.llm_config)
        if "embedding" in changes or "embedding_config" in changes:
            agent.embedding_config = embedding_config_from(changes)
        if "tool_rules" in changes:
            agent.tool_rules = validate_rules(changes["tool_rules"])
        if "secrets" in changes or "tool_exec_environment_variables" in changes:
            agent.secrets = _secrets(changes)
        if "compaction_settings" in changes:
            agent.compaction_settings = _compaction(changes["compaction_settings"])
        if "enable_sleeptime" in changes:
            agent.enable_sleeptime = bool(changes["enable_sleeptime"])
        _apply_simple(agent, changes)
        if "message_ids" in changes:
            agent.message_ids = _checked_message_ids(agent, changes["message_ids"])
        agent.last_updated_by = user
        agent.save()
        _update_relations(user, agent, changes)
        if changes.get("enable_sleeptime"):
            _enable_sleeptime(user, agent)  # creates the companion once; later calls find it
        _changed(agent, force=any(k in changes for k in ("system", "timezone", "message_ids")))
    return agent


def _update_relations(user, agent: Agent, changes: dict) -> None:
    if changes.get("block_ids") is not None:
        blocks = _blocks_by_id(user, changes["block_ids"])
        AgentBlock.objects.filter(agent=agent).exclude(block__in=blocks).delete()
        kept = set(AgentBlock.objects.filter(agent=agent).values_list("block_id", flat=True))
        _attach_blocks(agent, [b for b in blocks if b.id not in kept])
    if changes.get("tool_ids") is not None:
        tools = _tools_by_id(user, changes["tool_ids"])
        _set_tools(agent, tools)
        _add_rules(agent, approval_rules(tools, agent.tool_rules))
    if changes.get("folder_ids") is not None or changes.get("source_ids") is not None:
        folders = _folders_by_id(user, changes.get("folder_ids") or changes.get("source_ids"))
        for folder in Folder.objects.filter(agentfolder__agent=agent).exclude(id__in=[f.id for f in folders]):
            _detach_folder(agent, folder)
        for folder in folders:
            _attach_folder(agent, folder)
    _set_tags(agent, changes.get("tags"))


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


def delete_agent(user, agent_id: str) -> None:
    """Delete the agent, its messages, runs and steps, and the archives no other agent uses. Blocks stay (they
    may be shared); their links to this agent go."""
    with transaction.atomic():
        agent = get_agent_for(user, agent_id, for_update=True)
        only_here = [a.id for a in agent.archives.all() if a.agents.count() == 1]
        agent.delete()
        Archive.objects.filter(id__in=only_here).delete()
        broadcast(agent_group(agent_id), {"type": "agent_deleted", "agent_id": agent_id})


# ---------------------------------------------------------------------------------------------------------------
# Attach / detach


def attach_block(user, agent_id: str, block_id: str) -> Agent:
    """Attach a block (shared, by id); the agent's sleep-time companions get it too (§8.1)."""
    from .sleeptime import group_of

    with transaction.atomic():
        agent = _locked(user, agent_id)
        block = _blocks_by_id(user, [block_id])[0]
        if not AgentBlock.objects.filter(agent=agent, block=block).exists():
            _attach_blocks(agent, [block])
            _changed(agent)
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
    return agent


def detach_tool(user, agent_id: str, tool_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        if not AgentTool.objects.filter(agent=agent, tool_id=tool_id).delete()[0]:
            raise NotFound("Tool not attached to this agent", field="tool_id")
        _changed(agent)
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
    return agent


def attach_folder(user, agent_id: str, folder_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        _attach_folder(agent, _folders_by_id(user, [folder_id])[0])
        _changed(agent)
    return agent


def detach_folder(user, agent_id: str, folder_id: str) -> Agent:
    with transaction.atomic():
        agent = _locked(user, agent_id)
        folder = _folders_by_id(user, [folder_id])[0]
        if not AgentFolder.objects.filter(agent=agent, folder=folder).exists():
            raise NotFound("Folder not attached to this agent", field="folder_id")
        _detach_folder(agent, folder)
        _changed(agent)
    return agent


def reset_messages(user, agent_id: str, *, add_default_initial_messages: bool = False) -> Agent:
    """Start the conversation over: every message but the system one is deleted (recall included)."""
    with transaction.atomic():
        agent = _locked(user, agent_id)
        if Agent.objects.filter(id=agent.id, runs__status__in=("created", "running")).exists():
            raise Conflict("The agent is running a turn; cancel it before resetting its messages")
        system_id = agent.message_ids[0]
        Message.objects.filter(agent=agent).exclude(id=system_id).delete()
        rows = starting_rows(agent, None) if add_default_initial_messages else []
        Message.objects.bulk_create(rows)
        agent.message_ids = [system_id] + [r.id for r in rows]
        Agent.objects.filter(id=agent.id).update(message_ids=agent.message_ids)
        _changed(agent, force=True)
    return agent
