"""/v1 routes that change what an agent sees outside a turn: its file windows (open, close, close all) and a
compaction of its in-context messages on request (POST .../summarize)."""

from typing import Any

from ninja import Router, Schema

from ade.wire import AgentId, FileId, RequestSchema
from agents.actions import windows

router = Router()


class CompactionIn(RequestSchema):
    compaction_settings: dict[str, Any] | None = None


class CompactionOut(Schema):
    summary: str
    num_messages_before: int
    num_messages_after: int


class Closed(Schema):
    message: str


@router.patch(
    "/agents/{agent_id}/files/{file_id}/open", response=list[str], tags=["agents"], operation_id="open_file_for_agent"
)
def open_file(request, agent_id: AgentId, file_id: FileId):
    """Open the file's first window; answers the names of files closed to stay within the agent's limit."""
    return windows.open_file(request.auth, agent_id, file_id)


@router.patch(
    "/agents/{agent_id}/files/{file_id}/close", response=Closed, tags=["agents"], operation_id="close_file_for_agent"
)
def close_file(request, agent_id: AgentId, file_id: FileId):
    name = windows.close_file(request.auth, agent_id, file_id)
    return {"message": f"File {name} closed"}


@router.patch(
    "/agents/{agent_id}/files/close-all",
    response=list[str],
    tags=["agents"],
    operation_id="close_all_files_for_agent",
)
def close_all_files(request, agent_id: AgentId):
    """Close every open file of the agent; answers their names."""
    return windows.close_all_files(request.auth, agent_id)


@router.post("/agents/{agent_id}/summarize", response=CompactionOut, tags=["agents"], operation_id="summarize_messages")
def compact(request, agent_id: AgentId, payload: CompactionIn = None):
    """Summarise the oldest in-context messages now (the stored messages stay searchable)."""
    settings = payload.compaction_settings if payload else None
    return windows.compact_messages(request.auth, agent_id, settings)
