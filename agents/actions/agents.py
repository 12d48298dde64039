"""Create, update and delete agents (and a main agent's sleep-time companion)."""

from django.db import transaction

from accounts.permissions import check
from ade.errors import Invalid
from ade.events import agent_group, broadcast
from ade.prepared import PreparedUpdate, insert_rows
from agents.actions.relations import (
    _add_rules,
    _attach_blocks,
    _attach_folder,
    _audit,
    _blocks_by_id,
    _changed,
    _checked_message_ids,
    _detach_folder,
    _folders_by_id,
    _locked,
    _new_blocks,
    _set_tags,
    _set_tools,
    _tools_by_id,
    _tools_for_create,
    group_of,
)
from agents.actions.specs import (
    CREATABLE_TYPES,
    _apply_simple,
    _compaction,
    _name,
    _secrets,
    _system,
    _timezone,
    embedding_config_from,
    keep_masked,
    llm_config_from,
)
from agents.identities import set_agent_identities
from agents.models import Agent, AgentBlock, Group
from agents.queries import get_agent_for
from agents.runtime.defaults import approval_rules, base_rules, initial_messages
from agents.runtime.rules import validate_rules
from memory.context import MemoryState, compile_system_prompt
from memory.models import Archive, Folder

DEFAULT_FREQUENCY = 5  # a sleep-time companion runs after every 5th turn of its main agent
PERSONA = (
    "I look after the memory of a conversational agent. After its conversations I read what was said and keep "
    "the shared memory blocks correct and tidy: I record lasting facts about the user, merge duplicates, drop "
    "what is outdated, and note patterns and careful inferences."
)


def create_agent(user, spec: dict) -> Agent:
    """Create an agent from a Letta CreateAgent-shaped dict (letta-api §2.2) and return it.

    Defaults per agent_type: base prompt, base tools, base tool rules, initial messages. Nothing touches the
    network; everything is written in one transaction.
    """
    spec = dict(spec or {})
    _check_endpoints(spec)
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
        llm_config=llm_config_from(spec, org_id=org.id),
        embedding_config=embedding_config_from(spec),
        timezone=_timezone(spec.get("timezone")),
        secrets=_secrets(spec),
        compaction_settings=_compaction(spec.get("compaction_settings"), org.id),
    )
    _apply_simple(agent, spec)
    agent.message_buffer_autoclear = agent.message_buffer_autoclear or agent_type == "workflow_agent"
    agent.enable_sleeptime = bool(spec.get("enable_sleeptime"))
    user_rules = validate_rules(spec.get("tool_rules"))
    check(user, "edit")
    with transaction.atomic():
        insert_rows([agent])  # a new id: no UPDATE to try first
        blocks = _new_blocks(org, spec.get("memory_blocks"), user) + _blocks_by_id(user, spec.get("block_ids"))
        _attach_blocks(agent, blocks, fresh=True)
        tools = _tools_for_create(user, agent, spec)
        _set_tools(agent, tools, fresh=True)
        agent.tool_rules = user_rules + base_rules(agent, spec, tools, user_rules) + approval_rules(tools, user_rules)
        _set_tags(agent, spec.get("tags"))
        set_agent_identities(user, agent, spec.get("identity_ids"))
        archive = Archive(organization=org, name=f"{agent.name} archive", embedding_config=agent.embedding_config or {})
        insert_rows([archive])
        insert_rows([Agent.archives.through(agent=agent, archive=archive)])
        folders = _folders_by_id(user, spec.get("folder_ids") or spec.get("source_ids"))
        for folder in folders:
            _attach_folder(agent, folder)
        # What the system prompt shows of a new agent is known without reading it back: its blocks in order, all
        # its messages in context, an empty archive. With folders, their files are read.
        state = None if folders else MemoryState(blocks, "", recall_count=0, archival_count=0, archival_tags=[])
        system = compile_system_prompt(agent, state)
        agent.message_ids = initial_messages(agent, spec.get("initial_message_sequence"), system)
        NEW_AGENT_LISTS.run({"tool_rules": agent.tool_rules, "message_ids": agent.message_ids}, id=agent.id)
        _audit(user, agent, "create")
    if agent.enable_sleeptime and agent_type != "sleeptime_agent":
        enable_sleeptime(user, agent)
    return agent


# What a create writes after the agent's row (then known: its tool rules and first messages), built once per process.
NEW_AGENT_LISTS = PreparedUpdate(Agent, ["tool_rules", "message_ids"], ["id"])


def enable_sleeptime(user, agent: Agent) -> Agent:
    """Create the sleep-time companion of `agent` and its group (once; later calls return the companion)."""
    group = group_of(agent)
    if group is not None:
        return group.agents.first()
    with transaction.atomic():
        companion = create_agent(
            user,
            {
                "name": f"{agent.name}-sleeptime",
                "agent_type": "sleeptime_agent",
                "llm_config": agent.llm_config,
                "embedding_config": agent.embedding_config,
                "block_ids": [block.id for block in agent.ordered_blocks()],
                "memory_blocks": [{"label": "memory_persona", "value": PERSONA}],
            },
        )
        group = Group.objects.create(
            organization_id=agent.organization_id,
            manager_type="sleeptime",
            manager_agent=agent,
            sleeptime_agent_frequency=DEFAULT_FREQUENCY,
        )
        group.agents.add(companion)
    return companion


def _check_endpoints(spec: dict) -> None:
    """A custom model or embedding endpoint the server may not call is refused now, naming the field."""
    from agents.runtime.providers import check_endpoints

    llm, embedding = spec.get("llm_config"), spec.get("embedding_config")
    check_endpoints(llm if isinstance(llm, dict) else None, embedding if isinstance(embedding, dict) else None)


def update_agent(user, agent_id: str, changes: dict, *, expected_version: int | None = None) -> Agent:
    """Apply a partial update (letta-api §2.2 PATCH). `tool_ids`, `block_ids`, `folder_ids` and `tags` replace
    the whole set. A stale `expected_version` is refused with Conflict."""
    changes = dict(changes or {})
    if "agent_type" in changes:
        raise Invalid("agent_type cannot be changed", field="agent_type")
    _check_endpoints(changes)  # resolves host names: before the transaction
    with transaction.atomic():
        agent = _locked(user, agent_id, expected_version)
        if "name" in changes:
            agent.name = _name(changes["name"])
        if "system" in changes:
            agent.system = _system(changes["system"], agent.agent_type)
        if "timezone" in changes:
            agent.timezone = _timezone(changes["timezone"])
        if any(
            k in changes
            for k in (
                "model",
                "llm_config",
                "context_window_limit",
                "max_tokens",
                "parallel_tool_calls",
                "model_settings",
            )
        ):
            agent.llm_config = llm_config_from(changes, agent.llm_config, org_id=agent.organization_id)
        if "embedding" in changes or "embedding_config" in changes:
            agent.embedding_config = embedding_config_from(changes)
        if "tool_rules" in changes:
            agent.tool_rules = validate_rules(changes["tool_rules"])
        if "secrets" in changes or "tool_exec_environment_variables" in changes:
            agent.secrets = keep_masked(_secrets(changes), agent.secrets)
        if "compaction_settings" in changes:
            agent.compaction_settings = _compaction(changes["compaction_settings"], agent.organization_id)
        if "enable_sleeptime" in changes:
            agent.enable_sleeptime = bool(changes["enable_sleeptime"])
        _apply_simple(agent, changes)
        if "message_ids" in changes:
            agent.message_ids = _checked_message_ids(agent, changes["message_ids"])
        agent.last_updated_by = user
        agent.save()
        _update_relations(user, agent, changes)
        if changes.get("enable_sleeptime"):
            enable_sleeptime(user, agent)  # creates the companion once; later calls find it
        _changed(agent, force=any(k in changes for k in ("system", "timezone", "message_ids")))
        _audit(user, agent, "update", f"{agent.name}: {', '.join(sorted(changes)) or 'nothing'}")
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
    set_agent_identities(user, agent, changes.get("identity_ids"))


def delete_agent(user, agent_id: str) -> None:
    """Delete the agent, its messages, runs and steps, its sleep-time companion and their group, and the archives
    no other agent uses. Blocks stay (they may be shared); their links to these agents go."""
    with transaction.atomic():
        agent = get_agent_for(user, agent_id, for_update=True, action="edit")
        _audit(user, agent, "delete")
        companions = list(Agent.objects.filter(groups__manager_agent=agent, groups__manager_type="sleeptime"))
        doomed = [agent, *companions]
        doomed_ids = [d.id for d in doomed]
        only_here = {a.id for d in doomed for a in d.archives.all() if not a.agents.exclude(id__in=doomed_ids).exists()}
        for gone in doomed:
            gone.delete()  # the group goes with its manager agent (cascade)
        Archive.objects.filter(id__in=only_here).delete()
        for gone_id in [agent_id, *(c.id for c in companions)]:
            broadcast(agent_group(gone_id), {"type": "agent_deleted", "agent_id": gone_id})
