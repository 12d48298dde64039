"""A conversation's turn: `use_thread` makes an in-memory Agent stand for one of its conversations, so that the loop
reads and writes the conversation's in-context list (agents.runtime.steps.replace_message_ids follows
`agent.thread`) and uses its model. Apart from agents/conversations.py so that the loop needs nothing that
starts or cancels runs."""

from agents.models import Agent, Conversation


def use_thread(agent: Agent, conversation_id: str) -> Conversation:
    """Make `agent` (an in-memory row) stand for one of its conversations during a turn: its `message_ids` is the
    conversation's list, writes of the list go to the conversation, the conversation's model is used."""
    conv = Conversation.objects.get(id=conversation_id, agent_id=agent.id)
    ids = list(conv.message_ids or [])
    agent.message_ids = ids if ids else list(agent.message_ids or [])[:1]
    agent.thread = conv
    if conv.model or conv.model_settings:
        agent.llm_config = thread_llm_config(agent, conv.model, conv.model_settings)
    return conv


def thread_llm_config(agent: Agent, model: str, model_settings: dict | None) -> dict:
    """The agent's llm_config with the conversation's model and model settings over it."""
    from agents.actions.specs import model_settings_overrides
    from agents.runtime.providers import resolve_llm

    current, org_id = agent.llm_config or {}, agent.organization_id
    overrides = model_settings_overrides(model_settings)
    if model:
        return resolve_llm(model, overrides, org_id=org_id)
    if current.get("handle"):
        return resolve_llm(current["handle"], {**current, **overrides}, org_id=org_id)
    return {**current, **overrides}
