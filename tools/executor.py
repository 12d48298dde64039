"""Running one tool call for an agent (spec behaviour §2.10): dispatch by tool type, catch, format, clip."""

import logging

from ade.errors import DomainError

from . import mcp
from .registry import ToolContext, ToolError, base_tools
from .results import ToolResult, error_text, finish
from .sandbox import run_python_tool

log = logging.getLogger(__name__)

# Arguments the loop adds to every schema; they steer the loop and are not the tool's own.
LOOP_ARGUMENTS = ("request_heartbeat",)


def execute_tool(agent, tool, args: dict, *, run=None, step_id=None, timeout: float | None = None) -> ToolResult:
    """Run `tool` with `args` for `agent`. Never raises for a failing tool: the model gets an error result.

    Base tools run in-process (they open their own short transactions: do not call this inside one);
    custom tools run in the sandbox with the agent's secrets and LETTA_AGENT_ID as environment.
    """
    if tool is None:
        return ToolResult.error("Tool not found")
    if not isinstance(args, dict):
        return ToolResult.error(f"Error executing function {tool.name}: arguments must be a JSON object")
    args = {k: v for k, v in args.items() if k not in LOOP_ARGUMENTS}
    problem = argument_problem(tool.json_schema or {}, args)
    if problem:
        return ToolResult.error(error_text(tool.name, "TypeError", problem))
    if tool.tool_type == "custom":
        result = _run_custom(agent, tool, args, timeout)
    elif tool.tool_type == "external_mcp":
        result = _run_mcp(tool, args, timeout)
    else:
        result = _run_base(agent, tool, args, run=run, step_id=step_id)
    return finish(result, tool.return_char_limit)


def argument_problem(schema: dict, args: dict) -> str | None:
    """What is wrong with the arguments against the tool's JSON schema, in words (None when they fit)."""
    params = schema.get("parameters") or {}
    properties = params.get("properties") or {}
    missing = [name for name in params.get("required") or [] if name not in args]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    unknown = [name for name in args if "properties" in params and name not in properties]
    if unknown:
        return f"unexpected argument(s): {', '.join(unknown)} (expected: {', '.join(properties)})"
    return None


def _run_base(agent, tool, args: dict, *, run, step_id) -> ToolResult:
    implementation = base_tools().get(tool.name)
    if implementation is None:
        return ToolResult.error(f"Tool {tool.name} of type {tool.tool_type} cannot be run by this server")
    ctx = ToolContext(agent=agent, tool_name=tool.name, run=run, step_id=step_id)
    try:
        return ToolResult("success", implementation(ctx, **args))
    except Exception as exc:  # noqa: BLE001 - a broken tool must not break the agent's turn
        if not isinstance(exc, (ToolError, DomainError)):
            log.warning("base tool %s failed for agent %s", tool.name, agent.id, exc_info=True)
        message = str(exc) or type(exc).__name__
        return ToolResult.error(message, stderr=[error_text(tool.name, type(exc).__name__, message)])


def _run_mcp(tool, args: dict, timeout: float | None) -> ToolResult:
    info = (tool.metadata or {}).get("mcp", {})
    if tool.mcp_server_id is None or info.get("missing"):
        return ToolResult.error(
            f"Error executing MCP tool {tool.name}: the MCP server {info.get('server_name', '')!r} no longer offers "
            "this tool (refresh the server, or detach the tool)"
        )
    return mcp.call_tool(tool.mcp_server, info.get("tool_name", tool.name), args, timeout=timeout)


def _run_custom(agent, tool, args: dict, timeout: float | None) -> ToolResult:
    env = {**(agent.secrets or {}), "LETTA_AGENT_ID": agent.id}
    env = {str(k): str(v) for k, v in env.items()}
    try:
        return run_python_tool(tool.source_code or "", tool.name, args, env=env, timeout=timeout)
    except DomainError as exc:  # e.g. a secret whose name cannot be an environment variable
        return ToolResult.error(error_text(tool.name, type(exc).__name__, str(exc)))
