"""Rendering an agent as Letta's AgentState: one place for every route that returns agents."""

from django.db.models import Prefetch

from ade.prepared import PreparedRelations
from ade.secrets import mask
from agents.identities import render_identity
from agents.models import Agent, AgentBlock, AgentTool, FileAgent
from agents.queries import get_agent_for


def _lookups() -> list:
    """Everything `render_agent` reads: relation names, or (name, queryset) for those loaded with more."""
    return [
        ("agentblock_set", AgentBlock.objects.select_related("block").order_by("position", "id")),
        ("agenttool_set", AgentTool.objects.select_related("tool").order_by("position", "id")),
        ("file_links", FileAgent.objects.select_related("file").order_by("file__file_name")),
        "folders",
        "tag_rows",
        "managed_groups__agents",
        "identities__agents",
        "identities__blocks",
    ]


def relations() -> tuple:
    """The same as prefetch_related lookups (fresh ones: Django may annotate a Prefetch)."""
    return tuple(Prefetch(*lookup) if isinstance(lookup, tuple) else lookup for lookup in _lookups())


# One agent's relations (GET, and every route that answers an AgentState) in queries compiled once per process:
# compiling the seven prefetch queries anew was most of a GET's server time.
ONE_AGENT = PreparedRelations(Agent, _lookups())


def with_relations(qs):
    """`qs` with every relation `render_agent` reads prefetched in a fixed number of queries."""
    return qs.prefetch_related(*relations())


def render_agent(agent: Agent, include=()) -> dict:
    """The AgentState of `agent` (loaded through `with_relations` for lists). Secret values only on request."""
    blocks = [link.block for link in agent.agentblock_set.all()]
    secrets = (
        [{"agent_id": agent.id, "key": k, "value": mask(v)} for k, v in (agent.secrets or {}).items()]
        if "agent.secrets" in include
        else []
    )
    group = next(iter(agent.managed_groups.all()), None)
    return {
        **{f: getattr(agent, f) for f in _PLAIN_FIELDS},
        "llm_config": _llm_config(agent),
        "embedding_config": agent.embedding_config or None,
        "model": agent.model_handle,
        "model_settings": model_settings(agent.llm_config or {}),
        "project_id": agent.project_id or None,
        "template_id": agent.template_id or None,
        "base_template_id": agent.base_template_id or None,
        "embedding": (agent.embedding_config or {}).get("handle"),
        "memory": {"agent_type": agent.agent_type, "blocks": blocks, "file_blocks": list(agent.file_links.all())},
        "blocks": blocks,
        "tools": [link.tool for link in agent.agenttool_set.all()],
        "sources": list(agent.folders.all()),
        "tags": [row.tag for row in agent.tag_rows.all()],
        "secrets": secrets,
        "tool_exec_environment_variables": secrets,
        "last_stop_reason": agent.last_stop_reason or None,
        "identity_ids": [i.id for i in agent.identities.all()],
        "identities": [render_identity(i) for i in agent.identities.all()],
        "managed_group": group and _render_group(group),
        "multi_agent_group": group and _render_group(group),
        "pending_approval": _pending_approval(agent) if "agent.pending_approval" in include else None,
    }


def _pending_approval(agent: Agent) -> dict | None:
    """The approval request the agent waits on (the last in-context message), as an approval_request_message."""
    from agents.models import Message
    from agents.runtime.letta_messages import to_letta_messages

    last = Message.objects.filter(id=(agent.message_ids or [None])[-1]).first()
    if last is None or last.role != "approval" or not last.tool_calls:
        return None
    return next(m for m in to_letta_messages(last) if m["message_type"] == "approval_request_message")


_PLAIN_FIELDS = (
    "id",
    "name",
    "system",
    "agent_type",
    "description",
    "tool_rules",
    "message_ids",
    "metadata",
    "compaction_settings",
    "response_format",
    "message_buffer_autoclear",
    "enable_sleeptime",
    "last_run_completion",
    "last_run_duration_ms",
    "timezone",
    "max_files_open",
    "per_file_view_window_char_limit",
    "hidden",
    "created_by_id",
    "last_updated_by_id",
    "created_at",
    "updated_at",
    "version",
)


MODEL_SETTINGS_PROVIDERS = (
    "anthropic",
    "azure",
    "baseten",
    "bedrock",
    "deepseek",
    "google_ai",
    "google_vertex",
    "groq",
    "openai",
    "openrouter",
    "sglang",
    "together",
    "xai",
    "zai",
)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def model_settings(cfg: dict) -> dict:
    """The SDK 1.x ModelSettings of an llm_config, in the shape of its provider_type (OpenAI-compatible endpoints
    are "openai"); the inverse of agents.actions.specs.model_settings_overrides."""
    provider = cfg.get("model_endpoint_type") or "openai"
    provider = provider if provider in MODEL_SETTINGS_PROVIDERS else "openai"
    out = {
        "provider_type": provider,
        "temperature": cfg["temperature"] if cfg.get("temperature") is not None else 0.7,
        "max_output_tokens": cfg.get("max_tokens") or 4096,
        "parallel_tool_calls": bool(cfg.get("parallel_tool_calls", False)),
    }
    if provider == "anthropic":
        budget = cfg.get("max_reasoning_tokens") or 1024
        out["thinking"] = {"type": "enabled" if cfg.get("enable_reasoner") else "disabled", "budget_tokens": budget}
    elif provider == "openai" and cfg.get("reasoning_effort") in REASONING_EFFORTS:
        out["reasoning"] = {"reasoning_effort": cfg["reasoning_effort"]}
    return out


def _llm_config(agent: Agent) -> dict:
    # Configs written by older exports may lack the fields clients require; fill them from what we know.
    return {
        "model_endpoint_type": "openai",
        "model": "unknown",
        **(agent.llm_config or {}),
        "context_window": agent.context_window,
    }


def _render_group(group) -> dict:
    return {
        "id": group.id,
        "manager_type": group.manager_type,
        "description": group.description,
        "agent_ids": [a.id for a in group.agents.all()],
        "manager_agent_id": group.manager_agent_id,
        "sleeptime_agent_frequency": group.sleeptime_agent_frequency,
        "turns_counter": group.turns_counter,
        "last_processed_message_id": group.last_processed_message_id or None,
    }


def render_agents(page: list[Agent], include=()) -> list[dict]:
    """Render a page of agents, keeping its order, with relations loaded in one batch."""
    loaded = {a.id: a for a in with_relations(Agent.objects.filter(id__in=[a.id for a in page]))}
    return [render_agent(loaded[a.id], include) for a in page]


def agent_state(user, agent_id: str, include=()) -> dict:
    """Load and render one agent the user may see."""
    agent = get_agent_for(user, agent_id)
    ONE_AGENT.load(agent)
    return render_agent(agent, include)
