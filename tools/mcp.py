"""Talking to MCP servers through the `mcp` package's client: list a server's tools, call one.

Every call opens a connection, does its one thing and closes it, inside a time limit: nothing is kept open between
turns, so a server that died or changed is seen at the next call. Sync functions (entry points and the loop are
sync); the protocol runs on a private event loop. Errors become `MCPUnavailable` with a readable reason that never
contains the server's secrets.
"""

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings

from ade import secrets
from ade.errors import DomainError

from .results import ToolResult

LIST_TIMEOUT_SECONDS = 20


class MCPUnavailable(DomainError):
    status = 502


@dataclass
class RemoteTool:
    name: str
    description: str
    input_schema: dict


def server_secrets(server) -> dict:
    """{"auth_token", "custom_headers", "env"} of a server, decrypted."""
    return secrets.decrypt_map(server.secrets, f"The secrets of MCP server {server.server_name!r}")


def list_tools(server) -> list[RemoteTool]:
    """The tools the server offers now (MCPUnavailable when it cannot be reached)."""

    async def fetch(client):
        tools, cursor = [], None
        while True:
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            tools += [RemoteTool(t.name, t.description or "", dict(t.input_schema or {})) for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                return tools

    return _with_client(server, fetch, LIST_TIMEOUT_SECONDS)


def call_tool(server, name: str, args: dict, *, timeout: float | None = None) -> ToolResult:
    """Call a tool; never raises for the server's faults: the model reads them as a tool error."""
    timeout = timeout or settings.MCP_TOOL_TIMEOUT_SECONDS
    started = time.monotonic()

    async def call(client):
        return await client.call_tool(name, args, read_timeout_seconds=timeout)

    try:
        result = _with_client(server, call, timeout)
    except MCPUnavailable as exc:
        return ToolResult.error(f"Error executing MCP tool {name}: {exc.message}", stdout=[_served(server, started)])
    text = "\n".join(_part_text(part) for part in result.content or [])
    if not text and result.structured_content is not None:
        text = str(result.structured_content.get("result", result.structured_content))
    if result.is_error:
        return ToolResult.error(f"Error executing MCP tool {name}: {text or 'the server reported an error'}")
    return ToolResult("success", text, stdout=[_served(server, started)])


SERVED = re.compile(r"^\[mcp\] (?P<server>.+) answered in (?P<ms>\d+) ms$")


def _served(server, started: float) -> str:
    """The stdout line a tool call's card shows: which server answered and how long it took."""
    return f"[mcp] {server.server_name} answered in {round((time.monotonic() - started) * 1000)} ms"


def served_by(stdout) -> dict | None:
    """{"server", "ms"} from a tool return's stdout written by `call_tool`, else None."""
    match = SERVED.match((stdout or [""])[0]) if stdout else None
    return match.groupdict() if match else None


def _part_text(part) -> str:
    text = getattr(part, "text", None)
    if text is not None:
        return text
    return f"[{getattr(part, 'type', 'content')} content]"


def _with_client(server, action, timeout: float):
    from mcp import Client  # the mcp package is large: imported on first use

    if server.server_type != "stdio":
        from ade.errors import Invalid
        from ade.netguard import check_outbound_url

        try:  # again right before connecting: the name may resolve elsewhere now
            check_outbound_url(server.server_url, field="server_url")
        except Invalid as exc:
            raise MCPUnavailable(exc.message) from None

    async def bounded():
        async with Client(_transport(server), mode="legacy") as client:
            return await action(client)

    async def limited():
        return await asyncio.wait_for(bounded(), timeout)

    try:
        return _run(limited)
    except TimeoutError as exc:
        raise MCPUnavailable(f"MCP server {server.server_name!r} did not answer within {timeout:g} s") from exc
    except DomainError as exc:  # no sandbox, unreadable secrets...: the same readable failure
        raise MCPUnavailable(f"MCP server {server.server_name!r}: {exc.message}") from None
    except BaseException as exc:  # noqa: BLE001 - anyio wraps transport faults in exception groups
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise MCPUnavailable(f"MCP server {server.server_name!r} failed: {_reason(exc)}") from None


def _run(make_coroutine):
    """Run a coroutine to its end from sync code, also from a thread that already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, make_coroutine()).result()


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a (possibly grouped) error, without URLs' credentials or headers."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    message = str(exc) or type(exc).__name__
    return message.splitlines()[0][:300]


def _stdio(server, env: dict):
    """A stdio server runs in the tool sandbox (tools/sandbox.py): no server secrets, no database, no network unless
    MCP_STDIO_ALLOW_NETWORK; it sees /usr and the read-only MCP_STDIO_PATHS where the operator installed servers."""
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from tools.sandbox import isolated_command

    argv = isolated_command(
        [server.command, *(server.args or [])],
        network=settings.MCP_STDIO_ALLOW_NETWORK,
        memory_mb=settings.MCP_STDIO_MEMORY_MB,
        read_only_paths=tuple(settings.MCP_STDIO_PATHS),
    )
    return stdio_client(StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd="/"))


def _transport(server):
    data = server_secrets(server)
    if server.server_type == "stdio":
        return _stdio(server, data.get("env") or {})
    headers = dict(data.get("custom_headers") or {})
    if data.get("auth_token"):
        header = server.auth_header or "Authorization"
        token = data["auth_token"]
        if header.lower() == "authorization" and not token.lower().startswith("bearer "):
            token = f"Bearer {token}"
        headers[header] = token
    if server.server_type == "sse":
        from mcp.client.sse import sse_client

        return sse_client(server.server_url, headers=headers, timeout=10, sse_read_timeout=300)
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300), follow_redirects=False)
    return streamable_http_client(server.server_url, http_client=client)
