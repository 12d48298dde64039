"""Built-in multi-agent tools: an agent messages other agents of its own organization (never another's).

The other agent gets an ordinary turn whose input says who wrote. `..._and_wait_for_reply` and
`..._matching_tags` wait (bounded) for the reply and return what the other agent said; `..._async` only starts
the other agent's turn. The turn is started on behalf of the person who started the caller's run (or who created
the calling agent), so their role must allow chatting with the other agent.
"""

import json

from ade.errors import DomainError

from .registry import ToolContext, ToolError, base_tool

WAIT_SECONDS = 300
MAX_RECIPIENTS = 20


def _other_agent(ctx: ToolContext, agent_id: str):
    from agents.models import Agent  # tools do not import agents at module level

    if agent_id == ctx.agent.id:
        raise ToolError("You cannot send a message to yourself.")
    other = Agent.objects.filter(id=agent_id, organization_id=ctx.agent.organization_id).first()
    if other is None:
        raise ToolError(f"No agent with id {agent_id!r} in your organization.")
    return other


def _sender(ctx: ToolContext):
    user = getattr(ctx.run, "created_by", None) or ctx.agent.created_by
    if user is None:
        raise ToolError("This agent has no owner on whose behalf it could message other agents.")
    return user


def _envelope(ctx: ToolContext, message: str, *, expects_reply: bool) -> list[dict]:
    how = (
        "Your reply is returned to it." if expects_reply else "To answer, use send_message_to_agent_async with its id."
    )
    text = f"[Message from agent {ctx.agent.name!r} (id {ctx.agent.id}). {how}]\n{message}"
    return [{"role": "user", "content": text, "name": ctx.agent.name, "sender_id": ctx.agent.id}]


def _start(ctx: ToolContext, other, message: str, *, expects_reply: bool):
    from agents import runs

    try:
        run = runs.start_turn(
            _sender(ctx), other.id, _envelope(ctx, message, expects_reply=expects_reply), background=not expects_reply
        )
        runs.submit(run)
    except DomainError as exc:
        raise ToolError(f"Could not message agent {other.id}: {exc}") from None
    return run


def _reply(run) -> str:
    from agents import runs

    run = runs.wait(run.id, timeout=WAIT_SECONDS)
    if not run.is_finished:
        raise ToolError(f"Agent {run.agent_id} did not answer within {WAIT_SECONDS} seconds (run {run.id}).")
    said = [
        m.get("content")
        for m in (run.metadata or {}).get("result", {}).get("messages", [])
        if m.get("message_type") == "assistant_message" and isinstance(m.get("content"), str)
    ]
    if run.status != "completed":
        raise ToolError(f"Agent {run.agent_id}'s turn ended with {run.stop_reason or run.status}.")
    return "\n".join(said) or "(the agent did not reply with a message)"


@base_tool("letta_multi_agent_core")
def send_message_to_agent_and_wait_for_reply(ctx: ToolContext, message: str, other_agent_id: str) -> str:
    """Send a message to another agent of your organization and wait for its reply.

    Args:
        message: The message to send.
        other_agent_id: The id of the agent to message.
    """
    other = _other_agent(ctx, other_agent_id)
    return _reply(_start(ctx, other, message, expects_reply=True))


@base_tool("letta_multi_agent_core")
def send_message_to_agent_async(ctx: ToolContext, message: str, other_agent_id: str) -> str:
    """Send a message to another agent of your organization without waiting for its reply.

    Args:
        message: The message to send.
        other_agent_id: The id of the agent to message.
    """
    other = _other_agent(ctx, other_agent_id)
    run = _start(ctx, other, message, expects_reply=False)
    return f"Message sent to agent {other.id} (run {run.id}); it answers in its own turn."


@base_tool("letta_multi_agent_core")
def send_message_to_agents_matching_tags(
    ctx: ToolContext, message: str, match_all: list[str], match_some: list[str]
) -> str:
    """Send a message to every agent of your organization that has all tags of `match_all` and at least one of
    `match_some` (when given), and collect their replies.

    Args:
        message: The message to send.
        match_all: Tags every recipient must have.
        match_some: Tags of which a recipient must have at least one (empty: no such condition).

    Returns:
        str: A JSON list of "<agent id>: <reply>".
    """
    from agents.models import Agent

    qs = Agent.objects.filter(organization_id=ctx.agent.organization_id).exclude(id=ctx.agent.id)
    for tag in set(match_all or []):
        qs = qs.filter(tag_rows__tag=tag)
    if match_some:
        qs = qs.filter(tag_rows__tag__in=list(match_some))
    recipients = list(qs.distinct().order_by("created_at", "id")[: MAX_RECIPIENTS + 1])
    if len(recipients) > MAX_RECIPIENTS:
        raise ToolError(f"More than {MAX_RECIPIENTS} agents match these tags; narrow them down.")
    started = [_start(ctx, other, message, expects_reply=True) for other in recipients]
    return json.dumps([_labelled_reply(run) for run in started], ensure_ascii=False)


def _labelled_reply(run) -> str:
    try:
        return f"{run.agent_id}: {_reply(run)}"
    except ToolError as exc:
        return f"{run.agent_id}: (no reply) {exc}"
