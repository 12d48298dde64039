"""Conversations: threads of one agent, each with its own in-context message list.

A conversation shares everything else with its agent: memory blocks, tools, archival memory, recall (every
message stays the agent's and `conversation_search` finds it) and the system message (its list starts with the
agent's system message row, rewritten in place when memory changes, so a block edit made in one conversation is
in every conversation's next step). The agent's own `message_ids` is the "default" conversation.

A turn of a conversation is a Run with `conversation` set; the loop calls `use_thread` so that it reads and
writes the conversation's list instead of the agent's (agents.runtime.steps.replace_message_ids). Turns of one
conversation run one at a time, turns of different conversations in parallel (agents.runs).
"""

import json

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ade.errors import Invalid, NotFound
from agents.models import Agent, Conversation, Message
from agents.queries import get_agent_for
from agents.threads import thread_llm_config, use_thread

DEFAULT = "default"


def get_conversation_for(user, conversation_id: str, *, action: str = "read") -> Conversation:
    """The conversation if `user` may `action` its agent, else NotFound (a hidden, deleted one too)."""
    conv = Conversation.objects.filter(id=conversation_id, deleted=False).first()
    if conv is None or conv.organization_id != getattr(user, "organization_id", None):
        raise NotFound("Conversation not found")
    conv.agent = get_agent_for(user, conv.agent_id, action=action)
    return conv


def resolve(
    user, conversation_id: str, agent_id: str | None, *, action: str = "read"
) -> tuple[Agent, Conversation | None]:
    """(agent, conversation) for a path id: a `conv-` id, `default` with `agent_id` (the agent's own list), or an
    agent id (the older spelling of the default conversation)."""
    if conversation_id.startswith("conv-"):
        conv = get_conversation_for(user, conversation_id, action=action)
        return conv.agent, conv
    if conversation_id == DEFAULT:
        if not agent_id:
            raise Invalid("agent_id is required with the 'default' conversation", field="agent_id")
        return get_agent_for(user, agent_id, action=action), None
    return get_agent_for(user, conversation_id, action=action), None


def create_conversation(
    user,
    agent_id: str,
    *,
    summary: str | None = None,
    model: str | None = None,
    model_settings: dict | None = None,
    isolated_block_labels=None,
) -> Conversation:
    """A new, empty conversation of the agent (its list holds only the agent's system message)."""
    if isolated_block_labels:
        raise Invalid(
            "isolated_block_labels is not supported by this server: conversations share the agent's blocks",
            field="isolated_block_labels",
        )
    agent = get_agent_for(user, agent_id, action="edit")
    thread_llm_config(agent, model or "", model_settings)  # refuses a bad model or setting now
    return Conversation.objects.create(
        organization_id=agent.organization_id,
        agent=agent,
        summary=summary or "",
        message_ids=list(agent.message_ids or [])[:1],
        model=model or "",
        model_settings=model_settings,
        created_by=_user(user),
        last_updated_by=_user(user),
    )


def list_conversations(user, *, agent_id: str | None = None, summary_search: str | None = None):
    """The organization's live conversations (of one agent when `agent_id` is given)."""
    qs = Conversation.objects.filter(organization_id=user.organization_id, deleted=False).select_related("agent")
    if agent_id:
        qs = qs.filter(agent=get_agent_for(user, agent_id))
    if summary_search:
        qs = qs.filter(summary__icontains=summary_search)
    return qs


def update_conversation(user, conversation_id: str, changes: dict) -> Conversation:
    with transaction.atomic():
        conv = get_conversation_for(user, conversation_id, action="edit")
        conv = Conversation.objects.select_for_update().get(id=conv.id)
        model = changes["model"] if "model" in changes else conv.model
        settings_in = changes["model_settings"] if "model_settings" in changes else conv.model_settings
        thread_llm_config(conv.agent, model or "", settings_in)  # refuses a bad model or setting
        for field in ("summary", "model"):
            if field in changes:
                setattr(conv, field, changes[field] or "")
        for field in ("model_settings", "last_message_at"):
            if field in changes:
                setattr(conv, field, changes[field])
        conv.last_updated_by = _user(user)
        conv.save()
    return conv


def delete_conversation(user, conversation_id: str) -> None:
    """Hide the conversation and stop its turns. Its messages stay in the agent's history (recall)."""
    conv = get_conversation_for(user, conversation_id, action="edit")
    cancel_conversation(user, conv.agent, conv)
    Conversation.objects.filter(id=conv.id).update(deleted=True, updated_at=timezone.now())


def fork_conversation(user, agent: Agent, source: Conversation | None, *, up_to: str | None = None) -> Conversation:
    """A new conversation whose in-context list is a copy of `source`'s (the agent's own when None), up to and
    including the message `up_to` when given. The two then go on independently: both lists start with the same
    rows, new rows belong to one of them."""
    get_agent_for(user, agent.id, action="edit")
    ids = list((source.message_ids if source else Agent.objects.get(id=agent.id).message_ids) or [])
    if up_to is not None:
        if up_to not in ids[1:]:
            raise Invalid("That message is not in this conversation's context", field="message_id")
        ids = ids[: ids.index(up_to) + 1]
    return Conversation.objects.create(
        organization_id=agent.organization_id,
        agent=agent,
        summary=source.summary if source else "",
        message_ids=ids,
        model=source.model if source else "",
        model_settings=source.model_settings if source else None,
        created_by=_user(user),
        last_updated_by=_user(user),
    )


def thread_holding(agent: Agent, message_id: str, preferred: Conversation | None) -> Conversation | None:
    """The conversation whose in-context list holds the message: `preferred` if it does, else the one the message
    was written in, else the agent's own list (None)."""
    if preferred is not None and message_id in (preferred.message_ids or []):
        return preferred
    row = Message.objects.filter(id=message_id, agent=agent).select_related("conversation").first()
    conv = row.conversation if row is not None else None
    if conv is not None and not conv.deleted and message_id in (conv.message_ids or []):
        return conv
    return None


def messages_of(agent: Agent, conv: Conversation | None):
    """The stored messages of a conversation: those written in it and those its list took over from a fork."""
    if conv is None:
        return Message.objects.filter(agent=agent, conversation__isnull=True)
    return Message.objects.filter(Q(conversation=conv) | Q(id__in=conv.message_ids or [], agent=agent))


def cancel_conversation(user, agent: Agent, conv: Conversation | None) -> dict:
    """Cancel the conversation's active turns: {run_id: "cancelled"} ({} when none was active)."""
    from agents import runs

    active = agent.runs.filter(status__in=runs.ACTIVE, conversation=conv).values_list("id", flat=True)
    ids = list(active)
    return runs.cancel(user, agent.id, ids) if ids else {}


def recompile(user, agent: Agent, *, dry_run: bool = False) -> str:
    """The system prompt compiled from the agent's memory now; stored (in place) unless `dry_run`."""
    from memory.context import compile_system_prompt, rebuild_system_prompts

    get_agent_for(user, agent.id, action="read" if dry_run else "edit")
    if dry_run:
        return compile_system_prompt(agent)
    rebuild_system_prompts([agent.id], force=True)
    system_id = (Agent.objects.get(id=agent.id).message_ids or [None])[0]
    row = Message.objects.filter(id=system_id).first()
    return row.text if row else ""


def compact(user, agent: Agent, conv: Conversation | None, compaction_settings: dict | None = None) -> dict:
    """Summarise the oldest in-context messages of the conversation now: {summary, num_messages_before/after}."""
    from agents.runtime.records import load_context
    from memory.summarize import compact as summarise

    agent = get_agent_for(user, agent.id, action="edit")
    if conv is not None:
        use_thread(agent, conv.id)
    if compaction_settings:
        agent.compaction_settings = {**(agent.compaction_settings or {}), **compaction_settings}
    before = load_context(agent)
    after = summarise(agent, before, trigger="manual")
    if [m.id for m in after[1:]] == [m.id for m in before[1:]]:
        raise Invalid("Nothing to compact: the conversation holds too few messages", field="conversation_id")
    return {"summary": _summary_text(after[1]), "num_messages_before": len(before), "num_messages_after": len(after)}


def touch(conv: Conversation | None) -> None:
    """Note that a message request reached the conversation now."""
    if conv is not None:
        Conversation.objects.filter(id=conv.id).update(last_message_at=timezone.now())


def _summary_text(row: Message) -> str:
    try:
        return json.loads(row.text).get("message", row.text)
    except (ValueError, AttributeError):
        return row.text


def _user(user):
    return user if getattr(user, "pk", None) else None
