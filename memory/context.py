"""Compiling the context window (system prompt with memory). Filled in by the agent-runtime work."""


def rebuild_system_prompts(agent_ids) -> None:
    """Recompile the stored system message of each agent after its memory changed (runtime issue #3)."""
