"""/v1 routes of an agent's relations: core memory blocks, tools (and their approval flag and test runs), folders
and open files. Each parses, checks access, calls one action and renders the agent."""

from ninja import Query, Router

from ade.errors import Invalid, NotFound
from ade.pagination import paginate
from ade.wire import (
    AgentId,
    BlockId,
    FolderId,
    Page,
    ToolId,
)
from agents import actions
from agents.api.render import agent_state
from agents.api.schemas import (
    AgentFilesOut,
    AgentOut,
    MemoryOut,
)
from agents.models import FileAgent
from agents.queries import get_agent_for
from memory.schemas import FolderOut
from tools.schemas import ApprovalIn, ToolArgsIn, ToolExecutionResult, ToolOut

router = Router()


@router.get("/agents/{agent_id}/core-memory", response=MemoryOut, tags=["agents"], operation_id="retrieve_agent_memory")
def retrieve_agent_memory(request, agent_id: AgentId):
    return agent_state(request.auth, agent_id)["memory"]


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/attach/{block_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="attach_core_memory_block",
)
def attach_block(request, agent_id: AgentId, block_id: BlockId):
    actions.attach_block(request.auth, agent_id, block_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/core-memory/blocks/detach/{block_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="detach_core_memory_block",
)
def detach_block(request, agent_id: AgentId, block_id: BlockId):
    actions.detach_block(request.auth, agent_id, block_id)
    return agent_state(request.auth, agent_id)


@router.get("/agents/{agent_id}/tools", response=list[ToolOut], tags=["agents"], operation_id="list_tools_for_agent")
def list_agent_tools(request, agent_id: AgentId, page: Query[Page]):
    agent = get_agent_for(request.auth, agent_id)
    return paginate(agent.tools.all(), page, default_limit=10)


@router.patch(
    "/agents/{agent_id}/tools/attach/{tool_id}", response=AgentOut, tags=["agents"], operation_id="attach_tool"
)
def attach_tool(request, agent_id: AgentId, tool_id: ToolId):
    actions.attach_tool(request.auth, agent_id, tool_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/tools/detach/{tool_id}", response=AgentOut, tags=["agents"], operation_id="detach_tool"
)
def detach_tool(request, agent_id: AgentId, tool_id: ToolId):
    actions.detach_tool(request.auth, agent_id, tool_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/tools/approval/{tool_name}",
    response=AgentOut,
    tags=["agents"],
    operation_id="modify_approval_for_tool",
)
def modify_approval(
    request, agent_id: AgentId, tool_name: str, payload: ApprovalIn = None, requires_approval: bool | None = None
):
    """Whether calls to `tool_name` wait for a human's approval (a `requires_approval` tool rule)."""
    wanted = payload.requires_approval if payload is not None else requires_approval
    if wanted is None:
        raise Invalid("requires_approval is required (in the body or the query)", field="requires_approval")
    actions.set_tool_approval(request.auth, agent_id, tool_name, wanted)
    return agent_state(request.auth, agent_id)


@router.post(
    "/agents/{agent_id}/tools/{tool_name}/run",
    response=ToolExecutionResult,
    tags=["agents"],
    operation_id="run_tool_for_agent",
)
def run_agent_tool(request, agent_id: AgentId, tool_name: str, payload: ToolArgsIn):
    """Run one of the agent's tools with the given arguments, as the agent would (custom tools in the sandbox)."""
    from tools.executor import execute_tool

    agent = get_agent_for(request.auth, agent_id)
    tool = agent.tools.filter(name=tool_name).first()
    if tool is None:
        raise NotFound(f"The agent has no tool named {tool_name!r}")
    return execute_tool(agent, tool, payload.args).as_dict()


@router.get(
    "/agents/{agent_id}/folders", response=list[FolderOut], tags=["agents"], operation_id="list_folders_for_agent"
)
def list_agent_folders(request, agent_id: AgentId, page: Query[Page]):
    agent = get_agent_for(request.auth, agent_id)
    return paginate(agent.folders.all(), page, default_limit=100)


@router.patch(
    "/agents/{agent_id}/folders/attach/{folder_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="attach_folder_to_agent",
)
def attach_folder(request, agent_id: AgentId, folder_id: FolderId):
    actions.attach_folder(request.auth, agent_id, folder_id)
    return agent_state(request.auth, agent_id)


@router.patch(
    "/agents/{agent_id}/folders/detach/{folder_id}",
    response=AgentOut,
    tags=["agents"],
    operation_id="detach_folder_from_agent",
)
def detach_folder(request, agent_id: AgentId, folder_id: FolderId):
    actions.detach_folder(request.auth, agent_id, folder_id)
    return agent_state(request.auth, agent_id)


class AgentFilePage(Page):
    is_open: bool | None = None
    cursor: str | None = None


@router.get("/agents/{agent_id}/files", response=AgentFilesOut, tags=["agents"], operation_id="list_files_for_agent")
def list_agent_files(request, agent_id: AgentId, page: Query[AgentFilePage]):
    """The files the agent can open, with their open/closed state (a `{files, next_cursor, has_more}` page)."""
    agent = get_agent_for(request.auth, agent_id)
    qs = FileAgent.objects.filter(agent=agent).select_related("file__folder")
    if page.is_open is not None:
        qs = qs.filter(is_open=page.is_open)
    page.after = page.after or page.cursor
    limit = min(page.limit or 100, 1000)
    page.limit = limit + 1  # one more than asked tells whether there is a next page
    rows = paginate(qs, page, default_limit=limit + 1, key="last_accessed_at")
    files = rows[:limit]
    has_more = len(rows) > limit
    return {"files": files, "has_more": has_more, "next_cursor": files[-1].id if has_more else None}
