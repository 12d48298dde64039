"""Sleep-time agents (spec behaviour §8.1): a background companion that shares the main agent's memory blocks
and, every N foreground turns, reads the latest transcript in a worker and reorganises that memory.

`agents.actions.agents.enable_sleeptime` creates the companion and its Group. `after_turn` runs after every turn
(connected to `agents.runs.turn_finished` at start-up):
it advances the group's counter and, on the turns that fire, starts one background Run per companion with the
transcript as its only input. The companion's edits go through the ordinary memory tools, so every change has
its history row (attributed to the companion and tool) and is broadcast to every agent that shares the block.
"""

import json

from django.db import transaction

from agents.actions.relations import group_of
from agents.models import Group, Message, Run
from agents.runs import submit

RUN_TYPE = "sleeptime_agent_send_message_async"
REMINDER = """<system-reminder>
You are a sleep-time agent: you run in the background after a conversation has happened. You are not the agent
that talked to the user. In the transcript below, "assistant" is that primary agent and "user" is the person it
spoke with. Your job is to manage memory: update the shared memory blocks with what the conversation taught,
keep them organised, and then call memory_finish_edits. Read your memory_persona block for any standing
instructions.
</system-reminder>"""


def after_turn(run: Run, **_signal) -> list[Run]:
    """Advance the sleep-time counter of the run's agent; on a firing turn start its companions' runs. Only while
    the agent's `enable_sleeptime` is on (as in Letta: turning it off keeps the companion but stops it)."""
    if not run.agent.enable_sleeptime:  # the turn's own agent row: most agents have none, and no query is made
        return []
    group = group_of(run.agent_id)
    if group is None:
        return []
    responses = list(Message.objects.filter(run_id=run.id).exclude(role__in=("user", "system")).order_by("seq"))
    with transaction.atomic():
        group = Group.objects.select_for_update().get(id=group.id)
        fires = _advance(group)
        previous = group.last_processed_message_id
        if fires and responses:
            group.last_processed_message_id = responses[-1].id
        group.save(update_fields=["turns_counter", "last_processed_message_id"])
        if not (fires and responses):
            return []
        text = f"{REMINDER}\n\nMessages:\n{transcript(run, previous if group.sleeptime_agent_frequency else '')}"
        started = [
            Run.objects.create(
                organization_id=run.organization_id,
                agent=companion,
                background=True,
                input=[{"role": "user", "content": text}],
                metadata={"run_type": RUN_TYPE, "parent_run_id": run.id},
            )
            for companion in group.agents.all()
        ]
    for companion_run in started:
        submit(companion_run)
    return started


def _advance(group: Group) -> bool:
    """Count one turn. Fires on turns 1, 1+f, 1+2f, ... (the counter starts at -1), or always without f."""
    frequency = group.sleeptime_agent_frequency
    if not frequency or frequency <= 0:
        return True
    group.turns_counter = (group.turns_counter + 1) % frequency
    return group.turns_counter == 0


def transcript(run: Run, since_message_id: str = "") -> str:
    """The conversation since `since_message_id` (else just this turn), up to the end of `run`, one line per part."""
    last = Message.objects.filter(run_id=run.id).order_by("-seq").values_list("seq", flat=True).first()
    since = Message.objects.filter(id=since_message_id).values_list("seq", flat=True).first()
    rows = Message.objects.filter(agent_id=run.agent_id).exclude(role="system").order_by("seq")
    rows = rows.filter(seq__gt=since, seq__lte=last) if since is not None else rows.filter(run_id=run.id)
    return "\n".join(line for row in rows for line in _lines(row))


def _lines(row: Message) -> list[str]:
    if row.role == "user":
        text = row.text
        return [] if _is_packaged_notice(text) else [f"{row.name or 'user'}: {text}"]
    if row.role == "tool":
        return [
            f"assistant: Tool call returned {r['func_response']}"
            for r in row.tool_returns or []
            if r.get("func_response") is not None
        ]
    if row.role == "approval" and row.approvals:
        return [
            f"[User {'approved' if a.get('approve') else 'rejected'}"
            f"{': ' + a['reason'] if not a.get('approve') and a.get('reason') else ''}]"
            for a in row.approvals
            if a.get("type") == "approval"
        ]
    if row.role != "assistant":
        return []
    lines = []
    for part in row.content or []:
        if part.get("type") == "reasoning" and part.get("reasoning"):
            lines.append(f"assistant: <thinking>{part['reasoning']}</thinking>")
        elif part.get("type") in ("text", None) and part.get("text"):
            lines.append(f"assistant: {part['text']}")
    for call in row.tool_calls or []:
        name = call.get("function", {}).get("name", "")
        message = _argument(call, "message") if name == "send_message" else None
        lines.append(f"assistant: {message}" if message is not None else f"assistant: Calling tool {name}")
    return lines


def _argument(call: dict, key: str):
    try:
        return json.loads(call["function"].get("arguments") or "{}").get(key)
    except (ValueError, AttributeError):
        return None


def _is_packaged_notice(text: str) -> bool:
    """Heartbeats, login and system alerts are stored as packaged JSON in user messages; they are not speech."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") in ("heartbeat", "login", "system_alert")
