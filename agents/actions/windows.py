"""What an agent sees of its context, changed from outside a turn: open and close its file windows, and compact
its in-context messages on request (the same compaction a turn runs when the window fills)."""

import json

from django.db import transaction

from ade.errors import Conflict, Invalid, NotFound
from agents.actions.relations import _audit, _changed, _locked
from agents.models import FileAgent
from agents.queries import get_agent_for

SUMMARY_LEAD = "summary of the previous messages:"  # how memory.summarize introduces the summary


def _link(agent, file_id: str) -> FileAgent:
    link = FileAgent.objects.filter(agent=agent, file_id=file_id).select_related("file__folder").first()
    if link is None:
        raise NotFound(f"File {file_id} is not attached to this agent (attach its folder first)")
    return link


def open_file(user, agent_id: str, file_id: str) -> list[str]:
    """Open the file's first window; answers the names of files closed to stay within the agent's limit."""
    from tools.files import open_file_for

    with transaction.atomic():
        agent = _locked(user, agent_id)
        link = _link(agent, file_id)
        closed = open_file_for(agent, link.file)
        _audit(user, agent, "open_file", f"{agent.name}: {link.file.file_name}")
        _changed(agent)
    return closed


def close_file(user, agent_id: str, file_id: str) -> str:
    from tools.files import display_name

    with transaction.atomic():
        agent = _locked(user, agent_id)
        link = _link(agent, file_id)
        _close(link)
        _audit(user, agent, "close_file", f"{agent.name}: {link.file.file_name}")
        _changed(agent)
    return display_name(link.file)


def close_all_files(user, agent_id: str) -> list[str]:
    from tools.files import display_name

    with transaction.atomic():
        agent = _locked(user, agent_id)
        links = list(FileAgent.objects.filter(agent=agent, is_open=True).select_related("file__folder"))
        for link in links:
            _close(link)
        _audit(user, agent, "close_all_files", f"{agent.name}: {len(links)} files")
        _changed(agent)
    return [display_name(link.file) for link in links]


def _close(link: FileAgent) -> None:
    link.is_open, link.visible_content, link.start_line, link.end_line = False, "", None, None
    link.save(update_fields=["is_open", "visible_content", "start_line", "end_line"])


def compact_messages(user, agent_id: str, compaction_settings: dict | None = None) -> dict:
    """Summarise the oldest in-context messages now: {summary, num_messages_before, num_messages_after}.

    `compaction_settings` apply to this call only. The summariser runs outside any transaction; a turn that
    changes the in-context list meanwhile wins and this call answers 409.
    """
    from agents.actions.specs import _compaction
    from agents.runtime.records import load_context
    from agents.runtime.steps import StaleContext
    from memory.summarize import SystemPromptTooLarge, compact

    agent = get_agent_for(user, agent_id, action="edit")
    if compaction_settings:
        agent.compaction_settings = {
            **(agent.compaction_settings or {}),
            **_compaction(compaction_settings, agent.organization_id),
        }
    before = load_context(agent)
    try:
        after = compact(agent, before, trigger="manual")
    except SystemPromptTooLarge as exc:
        raise Invalid(str(exc), field="agent_id") from exc
    except StaleContext as exc:
        raise Conflict(str(exc), field="agent_id") from exc
    if len(after) == len(before) and after[1:] == before[1:]:
        raise Invalid(
            f"Nothing to compact: the agent has {len(before)} in-context messages and keeps the latest turn whole",
            field="agent_id",
        )
    return {"summary": _summary_text(after[1]), "num_messages_before": len(before), "num_messages_after": len(after)}


def _summary_text(row) -> str:
    """The summary itself, without the note around it that the agent reads."""
    try:
        note = json.loads(row.text).get("message", row.text)
    except (ValueError, AttributeError):
        note = row.text
    return note.rsplit(SUMMARY_LEAD, 1)[-1].strip()
