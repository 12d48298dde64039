"""/v1 routes for MCP servers: Letta's `/v1/mcp-servers/` (what letta-client's `mcp_servers` calls) and the older
`/v1/tools/mcp/servers` routes, which name servers instead of using ids. Each parses, calls one function of
`tools.mcp_servers` and renders; secrets leave only masked.
"""

from typing import Any, Literal

from django.http import HttpResponse
from ninja import Field, Router, Schema

from ade.wire import RequestSchema, collection_route

from . import mcp_servers as servers
from .schemas import ToolExecutionResult, ToolOut

router = Router(tags=["mcp-servers"])
legacy = Router(tags=["tools"])
CONFIG_DOC = (
    "Stdio: {mcp_server_type: 'stdio', command, args, env}; SSE / streamable HTTP: {mcp_server_type: 'sse' | "
    "'streamable_http', server_url, auth_header, auth_token, custom_headers}. Secrets are stored encrypted and "
    "returned masked."
)


class MCPServerIn(RequestSchema):
    server_name: str = Field(..., max_length=100)
    config: dict[str, Any] = Field(..., description=CONFIG_DOC)


class MCPServerPatch(RequestSchema):
    server_name: str | None = Field(None, max_length=100)
    config: dict[str, Any] | None = Field(None, description=CONFIG_DOC)


class StdioMCPServerOut(Schema):
    id: str
    server_name: str
    mcp_server_type: Literal["stdio"]
    command: str
    args: list[str]
    env: dict[str, str] | None = None


class RemoteMCPServerOut(Schema):
    id: str
    server_name: str
    mcp_server_type: Literal["sse", "streamable_http"]
    server_url: str
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None


MCPServerOut = StdioMCPServerOut | RemoteMCPServerOut


class RefreshOut(Schema):
    added: list[str]
    updated: list[str]
    deleted: list[str]
    missing: list[str] = Field(description="tools the server no longer offers but agents still have attached")
    skipped: list[dict[str, str]]
    error: str | None = None


class ToolArgs(RequestSchema):
    args: dict[str, Any] = Field(default_factory=dict)


@collection_route(router, "post", "/mcp-servers/", response=MCPServerOut, operation_id="mcp_create_mcp_server")
def create_server(request, payload: MCPServerIn):
    return servers.render(servers.create_server(request.auth, payload.server_name, payload.config))


@collection_route(router, "get", "/mcp-servers/", response=list[MCPServerOut], operation_id="mcp_list_mcp_servers")
def list_servers(request):
    return [servers.render(s) for s in servers.servers_for(request.auth)]


@router.get("/mcp-servers/{mcp_server_id}", response=MCPServerOut, operation_id="mcp_retrieve_mcp_server")
def retrieve_server(request, mcp_server_id: str):
    return servers.render(servers.get_server_for(request.auth, mcp_server_id))


@router.patch("/mcp-servers/{mcp_server_id}", response=MCPServerOut, operation_id="mcp_update_mcp_server")
def update_server(request, mcp_server_id: str, payload: MCPServerPatch):
    changes = payload.dict(exclude_unset=True)
    return servers.render(servers.update_server(request.auth, mcp_server_id, changes))


@router.delete("/mcp-servers/{mcp_server_id}", response={204: None}, operation_id="mcp_delete_mcp_server")
def delete_server(request, mcp_server_id: str):
    servers.delete_server(request.auth, mcp_server_id)
    return HttpResponse(status=204)


@router.patch("/mcp-servers/{mcp_server_id}/refresh", response=RefreshOut, operation_id="mcp_refresh_mcp_server_tools")
def refresh_server(request, mcp_server_id: str, agent_id: str | None = None):
    return servers.refresh_tools(request.auth, mcp_server_id, agent_id)


@router.get("/mcp-servers/{mcp_server_id}/tools", response=list[ToolOut], operation_id="mcp_list_tools_for_mcp_server")
def list_server_tools(request, mcp_server_id: str):
    return list(servers.get_server_for(request.auth, mcp_server_id).tools.all())


@router.get("/mcp-servers/{mcp_server_id}/tools/{tool_id}", response=ToolOut, operation_id="mcp_retrieve_mcp_tool")
def retrieve_server_tool(request, mcp_server_id: str, tool_id: str):
    return servers.tool_of(servers.get_server_for(request.auth, mcp_server_id), tool_id)


@router.post(
    "/mcp-servers/{mcp_server_id}/tools/{tool_id}/run", response=ToolExecutionResult, operation_id="mcp_run_tool"
)
def run_server_tool(request, mcp_server_id: str, tool_id: str, payload: ToolArgs = None):
    return servers.run_tool(request.auth, mcp_server_id, tool_id, (payload.args if payload else {})).as_dict()


# ---------------------------------------------------------------------------------------------------------------
# The older routes (servers by name)


class LegacyServerIn(RequestSchema):
    server_name: str = Field(..., max_length=100)
    type: Literal["stdio", "sse", "streamable_http"] | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: dict[str, str] | None = None

    def config(self) -> dict:
        data = self.dict(exclude_unset=True, exclude={"server_name", "type"})
        return {"mcp_server_type": self.type or ("stdio" if self.command else "streamable_http"), **data}


class LegacyServerPatch(RequestSchema):
    server_name: str | None = Field(None, max_length=100)
    server_url: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    token: str | None = Field(None, description="SSE servers: the token (same as auth_token)")
    custom_headers: dict[str, str] | None = None
    stdio_config: dict[str, Any] | None = Field(None, description="stdio servers: {command, args, env}")

    def config(self, kind: str) -> dict:
        data = self.dict(exclude_unset=True, exclude={"server_name", "stdio_config", "token"})
        if self.token is not None:
            data.setdefault("auth_token", self.token)
        stdio = {k: v for k, v in (self.stdio_config or {}).items() if k in ("command", "args", "env")}
        return {"mcp_server_type": kind, **data, **stdio}


class LegacyToolRun(RequestSchema):
    args: dict[str, Any] = Field(default_factory=dict)


@legacy.get("/tools/mcp/servers", response=dict[str, dict[str, Any]], operation_id="list_mcp_servers")
def legacy_list(request):
    return {s.server_name: servers.render_legacy(s) for s in servers.servers_for(request.auth)}


@legacy.put("/tools/mcp/servers", response=list[dict[str, Any]], operation_id="add_mcp_server")
def legacy_add(request, payload: LegacyServerIn):
    servers.create_server(request.auth, payload.server_name, payload.config())
    return [servers.render_legacy(s) for s in servers.servers_for(request.auth)]


@legacy.post("/tools/mcp/servers/test", response=dict[str, Any], operation_id="test_mcp_server")
def legacy_test(request, payload: LegacyServerIn):
    """Connect to a server that is not saved and list its tools (nothing is stored)."""
    return servers.probe(request.auth, payload.config())


@legacy.get("/tools/mcp/servers/{mcp_server_name}/tools", response=list[dict], operation_id="list_mcp_tools_by_server")
def legacy_tools(request, mcp_server_name: str):
    server = servers.get_server_for(request.auth, mcp_server_name)
    return [_mcp_tool(t) for t in server.tools.all()]


@legacy.post("/tools/mcp/servers/{mcp_server_name}/resync", response=RefreshOut, operation_id="resync_mcp_server_tools")
def legacy_resync(request, mcp_server_name: str, agent_id: str | None = None):
    return servers.refresh_tools(request.auth, mcp_server_name, agent_id)


@legacy.post(
    "/tools/mcp/servers/{mcp_server_name}/tools/{tool_name}/execute",
    response=ToolExecutionResult,
    operation_id="execute_mcp_tool",
)
def legacy_execute(request, mcp_server_name: str, tool_name: str, payload: LegacyToolRun):
    return servers.run_tool(request.auth, mcp_server_name, tool_name, payload.args).as_dict()


@legacy.post("/tools/mcp/servers/{mcp_server_name}/{mcp_tool_name}", response=ToolOut, operation_id="add_mcp_tool")
def legacy_add_tool(request, mcp_server_name: str, mcp_tool_name: str):
    """Letta adds one tool of a server at a time here; Engram syncs all of a server's tools, so this returns it."""
    server = servers.get_server_for(request.auth, mcp_server_name)
    servers.refresh_tools(request.auth, server.id)
    return servers.tool_of(server, mcp_tool_name)


@legacy.patch("/tools/mcp/servers/{mcp_server_name}", response=dict[str, Any], operation_id="update_mcp_server")
def legacy_update(request, mcp_server_name: str, payload: LegacyServerPatch):
    server = servers.get_server_for(request.auth, mcp_server_name)
    changes = {"config": payload.config(server.server_type)}
    if payload.server_name:
        changes["server_name"] = payload.server_name
    return servers.render_legacy(servers.update_server(request.auth, server.id, changes))


@legacy.delete("/tools/mcp/servers/{mcp_server_name}", response=list[dict[str, Any]], operation_id="delete_mcp_server")
def legacy_delete(request, mcp_server_name: str):
    servers.delete_server(request.auth, mcp_server_name)
    return [servers.render_legacy(s) for s in servers.servers_for(request.auth)]


def _mcp_tool(tool) -> dict:
    schema = tool.json_schema or {}
    return {"name": tool.name, "description": tool.description, "inputSchema": schema.get("parameters") or {}}
