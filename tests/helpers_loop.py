"""Small helpers for tests that run agent turns against the scripted model."""

import json

from agents.models import Message
from agents.runs import execute, start_turn


def turn(user, agent, text=None, *, messages=None, **options):
    """Run one turn in this process (real HTTP to the scripted model); return (run, events)."""
    events = []
    run = start_turn(user, agent.id, messages or [{"role": "user", "content": text}], options=options)
    try:
        execute(run.id, on_event=events.append)
    except Exception:  # the run row records the failure; tests assert on it
        pass
    run.refresh_from_db()
    return run, events


def context(agent) -> list[Message]:
    """The agent's in-context messages as stored now."""
    agent.refresh_from_db()
    rows = {m.id: m for m in Message.objects.filter(id__in=agent.message_ids)}
    return [rows[i] for i in agent.message_ids]


def tool_names(request: dict) -> list[str]:
    """Names of the tool schemas sent in one chat request."""
    return [t["function"]["name"] for t in request.get("tools") or []]


def packaged(message: Message) -> dict:
    return json.loads(message.text)


def custom_tool(user, source: str):
    from tools.actions import create_tool

    return create_tool(user, source)
