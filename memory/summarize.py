"""Compaction of the in-context messages (behaviour spec §5).

`compact(agent, messages, trigger=...)` replaces the oldest in-context messages by one summary message and
returns the new in-context list `[system, summary, *kept]`. It is called by the loop after a step whose model call
used more than 90% of the context window, and when the provider reports a context-length error.

* sliding_window (default): cut at an assistant boundary so that what is kept fits in (1 - 30%) of the window;
  when no such cut exists, fall back to `all`.
* all: summarise everything before the most recent turn.
The most recent turn (from the last message the user typed) and a trailing approval request are never evicted.
Evicted messages stay in the Message table, so conversation_search still finds them. A transcript larger than
the summariser's own window is summarised in chunks, then the partial summaries are summarised together.
"""

import json
import logging

from django.db import transaction

log = logging.getLogger(__name__)

TRIGGER_RATIO = 0.9
SLIDING_PERCENTAGE = 0.30
CLIP_CHARS = 50_000
TOOL_RETURN_CLIP = 5_000
SUMMARY_REPLY_TOKENS = 800

SLIDING_PROMPT = """\
You are keeping the memory of a conversational agent. The messages below are about to leave the beginning of its
context window; write the note the agent will keep in their place.

Write in the first person, as the agent, and stay factual. Use these sections:
1. Goals: what the user wants overall.
2. What happened: the main exchanges and decisions, in order.
3. Details to keep: names, numbers, dates, identifiers, links and promises, copied exactly.
4. Open threads: questions or tasks that are not finished.
5. Search hints: keywords to look the full messages up later in recall memory.

Stay under 300 words. Reply with the note only."""

ALL_PROMPT = """\
You are keeping the memory of a conversational agent. Its context window is full, and the conversation below is
being replaced by the note you write now.

Write in the first person, as the agent, and stay factual. Use these sections:
1. Goals: what the user wants overall.
2. What happened: the main exchanges and decisions, in order.
3. Details to keep: names, numbers, dates, identifiers, links and promises, copied exactly.
4. Errors and fixes: what went wrong and how it was solved.
5. Current state: where things stand now.
6. Next step: what I was about to do, quoting the user where it matters.
7. Search hints: keywords to look the full messages up later in recall memory.

Stay under 500 words. Reply with the note only."""

SLIDING_NOTE = (
    "Note: {n} messages from the beginning of the conversation have been hidden from view due to memory "
    "constraints.\nThe following is a summary of the previous messages:\n {summary}"
)
ALL_NOTE = (
    "Note: prior messages have been hidden from view due to conversation memory constraints.\n"
    "The following is a summary of the previous messages:\n {summary}"
)


class SystemPromptTooLarge(Exception):
    """The system message alone does not fit in the context window: nothing can be compacted away."""


# ---------------------------------------------------------------------------------------------------------------
# Token counts


def count(agent, messages) -> int:
    from agents.runtime.llm import chat_messages
    from memory.tokens import count_message_tokens

    return count_message_tokens(chat_messages(messages, agent), agent.llm_config.get("model"))


# ---------------------------------------------------------------------------------------------------------------
# Where to cut


def is_automated(message) -> bool:
    """Heartbeats, alerts, summaries and login events: user-role messages nobody typed."""
    from agents.runtime.packaging import NON_USER_MSG_PREFIX

    text = message.text.lstrip()
    if text.startswith(NON_USER_MSG_PREFIX.strip()) or text.startswith("<system-alert>"):
        return True
    if text.startswith("{"):
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return False
        return kind in ("heartbeat", "system_alert", "login")
    return False


def protected_start(messages) -> int:
    """Index where the most recent turn starts (the last message the user typed); len(messages) if none."""
    for i in range(len(messages) - 1, 0, -1):
        m = messages[i]
        if m.role == "user" and not is_automated(m):
            return i
    return len(messages)


def _pending_approval(messages) -> bool:
    last = messages[-1]
    return last.role == "approval" and bool(last.tool_calls)


def _boundary(message) -> bool:
    return message.role == "assistant" or (message.role == "approval" and bool(message.tool_calls))


def sliding_plan(agent, messages, percentage: float):
    """(evicted, kept) for the sliding window, or None when no cut leaves enough room."""
    n = len(messages)
    limit = min(n - 2 if _pending_approval(messages) else n - 1, protected_start(messages))
    goal = (1 - percentage) * agent.context_window
    for tenth in range(round(percentage * 10) + 1, 10):
        c = round(tenth / 10 * n)
        cut = next((i for i in range(min(c, limit - 1), 0, -1) if _boundary(messages[i])), None)
        if cut is None:
            continue
        if count(agent, [messages[0], *messages[cut:]]) < goal:
            return messages[1:cut], messages[cut:]
    return None


def all_plan(messages):
    """(evicted, kept) for summarising everything but the most recent turn and a trailing approval request."""
    n = len(messages)
    keep_from = protected_start(messages)
    if _pending_approval(messages):
        keep_from = min(
            keep_from,
            n - 2
            if n > 2 and messages[n - 2].role == "assistant" and messages[n - 2].step_id == messages[-1].step_id
            else n - 1,
        )
    if keep_from > 1:
        return messages[1:keep_from], messages[keep_from:]
    # The whole context is the current turn: keep what the user said and the latest step, summarise between.
    last_step = next((i for i in range(n - 1, keep_from, -1) if _boundary(messages[i])), None)
    if last_step is None or last_step <= keep_from + 1:
        return None
    return messages[keep_from + 1 : last_step], [messages[keep_from], *messages[last_step:]]


# ---------------------------------------------------------------------------------------------------------------
# The summariser call


def summarizer_config(agent) -> dict:
    from agents.runtime.providers import resolve_llm

    handle = (agent.compaction_settings or {}).get("model")
    return resolve_llm(handle, org_id=agent.organization_id) if handle else agent.llm_config


def transcript_lines(messages) -> list[str]:
    from agents.runtime.llm import chat_messages

    lines = []
    for m in chat_messages(messages, None, tool_return_cap=TOOL_RETURN_CLIP):
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") if p.get("type") == "text" else "[Image omitted]" for p in content)
        line = f"[{m['role']}] {content or ''}"
        for call in m.get("tool_calls") or []:
            fn = call["function"]
            line += f" -> {fn['name']}({fn['arguments']})"
        lines.append(line)
    return lines


def _ask(config: dict, prompt: str, lines: list[str], org_id: str | None) -> str:
    from agents.runtime.llm import complete

    transcript = "<start_transcript>\n" + "\n".join(lines) + "\n<end_transcript>\n. Generate the summary."
    result = complete(
        config,
        [{"role": "system", "content": prompt}, {"role": "user", "content": transcript}],
        max_tokens=SUMMARY_REPLY_TOKENS,
        org_id=org_id,
    )
    return (result.content or "").strip()


def _chunks(lines: list[str], budget: int, model: str) -> list[list[str]]:
    from memory.tokens import count_tokens

    chunks, current, used = [], [], 0
    for line in lines:
        size = count_tokens(line, model) + 1
        if size > budget:  # one huge message: keep its head and tail
            keep = max(budget * 2, 200)
            line = line[:keep] + f"\n[TRUNCATED: dropped {len(line) - 2 * keep} middle chars]\n" + line[-keep:]
            size = budget
        if current and used + size > budget:
            chunks.append(current)
            current, used = [], 0
        current.append(line)
        used += size
    return chunks + ([current] if current else [])


def summarize_lines(config: dict, prompt: str, lines: list[str], depth: int = 0, *, org_id: str | None = None) -> str:
    """Summarise transcript lines (for an agent of `org_id`), in chunks when they exceed the summariser's window."""
    from memory.tokens import count_tokens

    model = config.get("model")
    window = int(config.get("context_window") or 8_000)
    budget = max(int(window * 0.75) - count_tokens(prompt, model) - SUMMARY_REPLY_TOKENS, 200)
    chunks = _chunks(lines, budget, model)
    if len(chunks) == 1 or depth >= 3:
        return _ask(config, prompt, chunks[0] if depth < 3 else [line for c in chunks for line in c][-50:], org_id)
    partial = [_ask(config, prompt, chunk, org_id) for chunk in chunks]
    parts = [f"[summary of part {i + 1}] {s}" for i, s in enumerate(partial)]
    return summarize_lines(config, prompt, parts, depth + 1, org_id=org_id)


def clip_summary(summary: str, limit: int | None = None) -> str:
    limit = limit or CLIP_CHARS
    if len(summary) <= limit:
        return summary
    return summary[:limit] + "... [summary truncated to fit]"


# ---------------------------------------------------------------------------------------------------------------
# Compaction


def compact(agent, messages, *, trigger: str, run=None) -> list:
    """Summarise away the oldest in-context messages; persist the summary and the new in-context list.

    Calls the summariser model first (no transaction open), then writes in one transaction, then recompiles the
    system prompt. Raises SystemPromptTooLarge when the system message alone fills the window.
    """

    window = agent.context_window
    if count(agent, messages[:1]) >= window:
        raise SystemPromptTooLarge(f"The system prompt alone does not fit in the context window ({window} tokens)")
    tokens_before = count(agent, messages)
    mode = (agent.compaction_settings or {}).get("mode", "sliding_window")
    percentage = float((agent.compaction_settings or {}).get("sliding_window_percentage", SLIDING_PERCENTAGE))
    plan, sliding = None, "sliding" in mode
    if sliding:
        plan = sliding_plan(agent, messages, percentage)
    if plan is None:
        plan, sliding = all_plan(messages), False
    if plan is None:
        log.warning("agent %s: nothing can be compacted (%d messages)", agent.id, len(messages))
        return messages
    new = _summarised(agent, messages, plan, sliding, trigger, tokens_before)
    if sliding and count(agent, new) >= int(window * TRIGGER_RATIO):
        again = all_plan(new)
        if again is not None:
            new = _summarised(agent, new, again, False, trigger, tokens_before, before_count=len(messages))
    _persist(agent, new, run)
    return [_refreshed_system(agent, new[0]), *new[1:]]


def _summarised(
    agent, messages, plan, sliding: bool, trigger: str, tokens_before: int, before_count: int | None = None
) -> list:
    from agents.models import Message
    from agents.runtime.packaging import system_alert_text, text_parts

    evicted, kept = plan
    config, chosen = summarizer_config(agent), agent.compaction_settings or {}
    prompt = chosen.get("prompt") or (SLIDING_PROMPT if sliding else ALL_PROMPT)
    summary = summarize_lines(config, prompt, transcript_lines(evicted), org_id=agent.organization_id)
    summary = clip_summary(summary, chosen.get("clip_chars"))
    before = before_count or len(messages)
    after = len(kept) + 2
    hidden = before - 1 - len(kept)  # every message between the system message and the kept ones
    note = SLIDING_NOTE.format(n=hidden, summary=summary) if sliding else ALL_NOTE.format(summary=summary)
    stats = {
        "trigger": trigger,
        "context_tokens_before": tokens_before,
        "context_tokens_after": None,
        "context_window": agent.context_window,
        "messages_count_before": before,
        "messages_count_after": after,
    }
    row = Message(
        organization_id=agent.organization_id,
        agent_id=agent.id,
        role="user",
        content=text_parts(system_alert_text(note, agent.timezone, stats)),
    )
    new = [messages[0], row, *kept]
    stats["context_tokens_after"] = count(agent, new)
    row.content = text_parts(system_alert_text(note, agent.timezone, stats))
    return new


def _persist(agent, new: list, run) -> None:
    """The summary row and the new in-context list, in one transaction (refused if the list changed meanwhile)."""
    from agents.models import Message
    from agents.runtime.steps import replace_message_ids

    summary = new[1]
    summary.run_id = getattr(run, "id", None)
    summary.conversation = getattr(agent, "thread", None)  # compacting a conversation's list
    with transaction.atomic():
        Message.objects.bulk_create([summary])
        replace_message_ids(agent, list(agent.message_ids or []), [m.id for m in new])


def _refreshed_system(agent, system):
    """Recompile the system prompt (fresh counts) and return the system message as stored now."""
    from agents.models import Message

    from .context import rebuild_system_prompts

    rebuild_system_prompts([agent.id], force=True)
    return Message.objects.get(id=system.id)
