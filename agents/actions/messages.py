"""Writes to an agent's messages: reset the conversation; edit the text of a stored message (Letta's "modify
message": the row keeps its id, role, place and packaging, only the words change)."""

import json

from django.db import transaction
from django.utils import timezone

from ade.errors import Conflict, Invalid, NotFound
from ade.events import agent_group, broadcast
from agents.actions.relations import _audit, _changed, _locked
from agents.models import Agent, Message
from agents.queries import get_agent_for
from agents.runtime import packaging as pk
from agents.runtime.defaults import starting_rows
from memory.models import RecallVector


def reset_messages(user, agent_id: str, *, add_default_initial_messages: bool = False) -> Agent:
    """Start the agent's (default) conversation over: its in-context list keeps only the system message. The
    messages stay stored, as in Letta: the message list and conversation_search still find them."""
    with transaction.atomic():
        agent = _locked(user, agent_id)
        active = ("created", "running")
        if Agent.objects.filter(id=agent.id, runs__status__in=active, runs__conversation__isnull=True).exists():
            raise Conflict("The agent is running a turn; cancel it before resetting its messages")
        system_id = agent.message_ids[0]
        rows = starting_rows(agent, None) if add_default_initial_messages else []
        Message.objects.bulk_create(rows)
        agent.message_ids = [system_id] + [r.id for r in rows]
        Agent.objects.filter(id=agent.id).update(message_ids=agent.message_ids)
        _changed(agent, force=True)
        _audit(user, agent, "reset_messages")
    return agent


ROLE_OF = {
    "system_message": "system",
    "user_message": "user",
    "reasoning_message": "assistant",
    "assistant_message": "assistant",
}


def edit_message(user, agent_id: str, message_id: str, change: dict) -> Message:
    """Apply `change` = {message_type, content | reasoning} to one of the agent's messages and return the row."""
    kind = change.get("message_type")
    if kind not in ROLE_OF:
        raise Invalid(f"message_type must be one of {', '.join(ROLE_OF)}", field="message_type")
    text = _new_text(change, kind)
    with transaction.atomic():
        agent = get_agent_for(user, agent_id, action="edit")
        message = Message.objects.select_for_update().filter(id=message_id, agent=agent).first()
        if message is None:
            raise NotFound("Message not found")
        if message.role != ROLE_OF[kind]:
            raise Invalid(f"This is a {message.role} message; it cannot be edited as a {kind}", field="message_type")
        _EDITORS[kind](message, text)
        message.save(update_fields=["content", "tool_calls"])
        RecallVector.objects.filter(message_id=message.id).delete()  # the next search embeds the new text
        # Turns keep in-context rows in memory while the agent's updated_at stays the same (agents/runtime/records.py).
        Agent.objects.filter(id=agent.id).update(updated_at=timezone.now())
        broadcast(agent_group(agent.id), {"type": "message_updated", "agent_id": agent.id, "message_id": message.id})
        _audit(user, agent, "edit_message", f"{agent.name}: {kind} {message.id}")
    message.agent = agent
    return message


def _new_text(change: dict, kind: str) -> str:
    field = "reasoning" if kind == "reasoning_message" else "content"
    value = change.get(field)
    if isinstance(value, list):
        value = "".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") == "text")
    if not isinstance(value, str):
        raise Invalid(f"{field} is required for a {kind}", field=field)
    return value


def _json(text):
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _plain(message: Message, text: str) -> None:
    message.content = pk.text_parts(text)


def _user(message: Message, text: str) -> None:
    packaged = _json(message.text)
    if isinstance(packaged, dict) and packaged.get("type") == "user_message":  # keep the legacy packaging
        text = pk.packaged({**packaged, "message": text})
    _plain(message, text)


def _reasoning(message: Message, text: str) -> None:
    for part in message.content or []:
        if part.get("type") == "reasoning":
            part["reasoning"] = text
            return
    raise Invalid("This message has no reasoning to edit", field="message_type")


def _assistant(message: Message, text: str) -> None:
    for call in message.tool_calls or []:
        fn = call.get("function") or {}
        args = _json(fn.get("arguments"))
        if fn.get("name") == "send_message" and isinstance(args, dict):
            fn["arguments"] = json.dumps({**args, "message": text}, ensure_ascii=False)
            return
    for part in message.content or []:
        if part.get("type") == "text":
            part["text"] = text
            return
    raise Invalid("This message says nothing to the user; there is no text to edit", field="message_type")


_EDITORS = {
    "system_message": _plain,
    "user_message": _user,
    "reasoning_message": _reasoning,
    "assistant_message": _assistant,
}
