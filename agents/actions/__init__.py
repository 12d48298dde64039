"""Writes to agents, one module per kind of change. Every action checks access through
`agents.queries.get_agent_for`, validates its input (Invalid names the field), writes in one transaction,
recompiles the system prompt when what it shows changed, and broadcasts `{"type": "agent_updated", "agent_id",
"version"}` after commit. Approve/deny is handled at the start of a turn (agents/runtime/turn_input.py), not here.

The names below are the public interface; import them from `agents.actions`.
"""

from agents.actions.agents import create_agent, delete_agent, enable_sleeptime, update_agent
from agents.actions.attachments import (
    attach_block,
    attach_folder,
    attach_tool,
    detach_block,
    detach_folder,
    detach_tool,
    set_tool_approval,
)
from agents.actions.messages import edit_message, reset_messages
from agents.actions.relations import group_of
from agents.actions.specs import COMPACTION_MODES, CREATABLE_TYPES, embedding_config_from, llm_config_from

__all__ = [
    "COMPACTION_MODES",
    "CREATABLE_TYPES",
    "attach_block",
    "attach_folder",
    "attach_tool",
    "create_agent",
    "delete_agent",
    "detach_block",
    "detach_folder",
    "detach_tool",
    "edit_message",
    "embedding_config_from",
    "enable_sleeptime",
    "group_of",
    "llm_config_from",
    "reset_messages",
    "set_tool_approval",
    "update_agent",
]
