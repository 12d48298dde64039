"""MCP servers of an organization: add, change, remove, refresh their tools, run one of their tools.

A server's tools become `external_mcp` Tool rows (named as the server names them), attached to agents like any
tool. `refresh_tools` re-reads the server: new tools are added, changed schemas updated, vanished tools deleted, but
a vanished tool that agents still use is kept, marked missing, and reported (calls to it answer a clear error).
Network calls (listing) happen before the transaction that writes what they found. Secrets are encrypted at rest
and only masked versions leave this module (`render`).
"""

import re
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from ade import secrets
from ade.errors import Conflict, Forbidden, Invalid, NotFound

from . import mcp
from .models import MCPServer, Tool

NAME_RE = re.compile(r"^[\w .\-]{1,100}$")
TOOL_NAME_MAX = Tool._meta.get_field("name").max_length
CONFIG_FIELDS = {
    "stdio": {"command", "args", "env"},
    "sse": {"server_url", "auth_header", "auth_token", "custom_headers"},
    "streamable_http": {"server_url", "auth_header", "auth_token", "custom_headers"},
}
SECRET_FIELDS = ("auth_token", "custom_headers", "env")


def servers_for(user):
    return MCPServer.objects.filter(organization_id=user.organization_id)


def get_server_for(user, server_id: str, *, for_update: bool = False) -> MCPServer:
    """The organization's server by id, or by name (the older /v1/tools/mcp routes name servers); else 404."""
    qs = servers_for(user)
    if for_update:
        qs = qs.select_for_update()
    server = qs.filter(id=server_id).first() or qs.filter(server_name=server_id).first()
    if server is None:
        raise NotFound("MCP server not found", field="mcp_server_id")
    return server


# ---------------------------------------------------------------------------------------------------------------
# Writes


def create_server(user, server_name: str, config: dict) -> MCPServer:
    """Add a server from Letta's Create{Stdio,SSE,StreamableHTTP}MCPServer config; its tools are listed once
    (a server that cannot be reached is still added, with `last_error` saying why)."""
    _check_name(server_name)
    kind = _kind(config)
    _may_manage(user)
    fields = _config_fields(kind, config, partial=False)
    server = MCPServer(organization_id=user.organization_id, server_name=server_name, server_type=kind)
    server.created_by = user if getattr(user, "pk", None) else None
    _apply(server, fields)
    try:
        with transaction.atomic():
            server.save()
            _audit(user, server, "create", f"{server.server_name} ({kind})")
    except IntegrityError as exc:
        raise Conflict(f"An MCP server named {server_name!r} already exists", field="server_name") from exc
    refresh_tools(user, server.id)
    server.refresh_from_db()
    return server


def update_server(user, server_id: str, changes: dict) -> MCPServer:
    """Change a server's name and/or config (omitted fields stay; secrets are replaced only when given)."""
    server = get_server_for(user, server_id)
    config = changes.get("config") or {}
    kind = config.get("mcp_server_type") or server.server_type
    if kind != server.server_type:
        raise Invalid("config.mcp_server_type cannot change; add a new server instead", field="config")
    _may_manage(user)
    fields = _config_fields(kind, config, partial=True)
    with transaction.atomic():
        server = get_server_for(user, server.id, for_update=True)
        if changes.get("server_name"):
            _check_name(changes["server_name"])
            server.server_name = changes["server_name"]
            _rename_tools(server)
        _apply(server, fields)
        try:
            with transaction.atomic():
                server.save()
        except IntegrityError as exc:
            raise Conflict(f"An MCP server named {server.server_name!r} already exists", field="server_name") from exc
        _audit(
            user,
            server,
            "update",
            ", ".join(sorted(set(fields) | ({"server_name"} if changes.get("server_name") else set()))),
        )
    return server


def delete_server(user, server_id: str) -> None:
    """Remove a server and its tools (agents using them lose them)."""
    server = get_server_for(user, server_id)
    _may_manage(user)
    with transaction.atomic():
        locked = get_server_for(user, server.id, for_update=True)
        _audit(user, locked, "delete", locked.server_name)
        locked.delete()


def refresh_tools(user, server_id: str, agent_id: str | None = None) -> dict:
    """Bring the server's Tool rows in line with what it offers now. Returns what changed:
    {"added", "updated", "deleted", "missing" (vanished but still attached: kept), "skipped" (name taken or too
    long), "error"}. With `agent_id`, only tools attached to that agent are reported as missing for it."""
    server = get_server_for(user, server_id)
    try:
        remote = mcp.list_tools(server)
    except mcp.MCPUnavailable as exc:
        MCPServer.objects.filter(id=server.id).update(last_error=exc.message)
        return {"added": [], "updated": [], "deleted": [], "missing": [], "skipped": [], "error": exc.message}
    with transaction.atomic():
        server = get_server_for(user, server.id, for_update=True)
        summary = _sync(server, remote, agent_id)
        server.last_error, server.tools_synced_at = "", timezone.now()
        server.save(update_fields=["last_error", "tools_synced_at", "updated_at"])
        changed = {k: v for k, v in summary.items() if k in ("added", "deleted", "missing") and v}
        if changed:
            _audit(user, server, "refresh", "; ".join(f"{k}: {', '.join(v)}" for k, v in changed.items()))
    return summary


def probe(user, config: dict) -> dict:
    """Connect to a server described by `config` without saving it: {"status", "tools", "error"}."""
    kind = _kind(config)
    _may_manage(user)
    server = MCPServer(organization_id=user.organization_id, server_name="(test)", server_type=kind)
    _apply(server, _config_fields(kind, config, partial=False))
    try:
        tools = mcp.list_tools(server)
    except mcp.MCPUnavailable as exc:
        return {"status": "error", "tools": [], "error": exc.message}
    listed = [{"name": t.name, "description": t.description, "inputSchema": t.input_schema} for t in tools]
    return {"status": "ok", "tools": listed, "error": None}


def run_tool(user, server_id: str, tool_id: str, args: dict):
    """Run one of the server's tools directly (the API's tools.run); a ToolResult, never an exception."""
    server = get_server_for(user, server_id)
    tool = tool_of(server, tool_id)
    return mcp.call_tool(server, tool.metadata.get("mcp", {}).get("tool_name", tool.name), args or {})


def tool_of(server: MCPServer, tool_id: str) -> Tool:
    tool = server.tools.filter(id=tool_id).first() or server.tools.filter(name=tool_id).first()
    if tool is None:
        raise NotFound("Tool not found on this MCP server", field="tool_id")
    return tool


# ---------------------------------------------------------------------------------------------------------------
# Reading


def render(server: MCPServer) -> dict:
    """Letta's {Stdio,SSE,StreamableHTTP}MCPServer shape with every secret masked."""
    data = {"id": server.id, "server_name": server.server_name, "mcp_server_type": server.server_type}
    try:
        stored = mcp.server_secrets(server)
    except secrets.SecretUnreadable:
        stored = {}
    if server.server_type == "stdio":
        return {**data, "command": server.command, "args": list(server.args or []), "env": _masked(stored, "env")}
    return {
        **data,
        "server_url": server.server_url,
        "auth_header": server.auth_header,
        "auth_token": secrets.mask(stored.get("auth_token")),
        "custom_headers": _masked(stored, "custom_headers"),
    }


def render_legacy(server: MCPServer) -> dict:
    """The older /v1/tools/mcp/servers shape ({Stdio,SSE,StreamableHTTP}ServerConfig)."""
    data = render(server)
    data["type"] = data.pop("mcp_server_type")
    data.pop("id")
    return data


def _masked(stored: dict, key: str):
    return secrets.mask_map(stored.get(key)) if stored.get(key) else None


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _kind(config) -> str:
    if not isinstance(config, dict):
        raise Invalid("config must be an object", field="config")
    kind = config.get("mcp_server_type") or config.get("type")
    if kind not in MCPServer.TYPES:
        raise Invalid(f"config.mcp_server_type must be one of {', '.join(MCPServer.TYPES)}", field="config")
    return kind


def _may_manage(user) -> None:
    """Organization admins manage MCP servers, stdio ones included: those run in the tool sandbox."""
    from accounts.permissions import check

    check(user, "manage")


def _audit(user, server: MCPServer, verb: str, summary: str = "") -> None:
    from accounts import audit

    audit.record(server.organization_id, user, f"mcp_server.{verb}", object_id=server.id, summary=summary)


def _check_name(name) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise Invalid("server_name must be 1-100 letters, digits, spaces, '.', '_' or '-'", field="server_name")


def _config_fields(kind: str, config: dict, *, partial: bool) -> dict:
    given = {k: v for k, v in config.items() if k not in ("mcp_server_type", "type")}
    unknown = set(given) - CONFIG_FIELDS[kind]
    if unknown:
        raise Invalid(f"config has fields a {kind} server does not take: {', '.join(sorted(unknown))}", field="config")
    if kind == "stdio":
        if not partial or "command" in given:
            _require_text(given.get("command"), "config.command", 500)
        if "args" in given and not _str_list(given["args"]):
            raise Invalid("config.args must be a list of strings", field="config.args")
    elif not partial or given.get("server_url") is not None:
        given["server_url"] = _checked_url(given.get("server_url"))
    for key in ("custom_headers", "env"):
        if given.get(key) is not None and not _str_map(given[key]):
            raise Invalid(f"config.{key} must map names to strings", field=f"config.{key}")
    if given.get("auth_token") is not None and not isinstance(given["auth_token"], str):
        raise Invalid("config.auth_token must be a string", field="config.auth_token")
    return given


def _checked_url(url) -> str:
    _require_text(url, "config.server_url", 2000)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("config.server_url must be an http(s) URL", field="config.server_url")
    if parts.username or parts.password:
        raise Invalid("config.server_url must not carry credentials; use auth_token", field="config.server_url")
    from ade.netguard import check_outbound_url

    check_outbound_url(url, field="config.server_url")
    return url


def _require_text(value, field: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid(f"{field} must be a non-empty string of at most {limit} characters", field=field)


def _str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _str_map(value) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _apply(server: MCPServer, fields: dict) -> None:
    for field in ("server_url", "command", "args", "auth_header"):
        if field in fields:
            setattr(server, field, fields[field] if fields[field] is not None else "")
    if "auth_header" in fields:
        server.auth_header = fields["auth_header"] or None
    changed = {k: fields[k] for k in SECRET_FIELDS if k in fields}
    if changed:
        stored = mcp.server_secrets(server) if server.secrets else {}
        stored.update(changed)
        server.secrets = secrets.encrypt_map({k: v for k, v in stored.items() if v})


def _sync(server: MCPServer, remote: list, agent_id: str | None) -> dict:
    summary = {"added": [], "updated": [], "deleted": [], "missing": [], "skipped": [], "error": None}
    current = {t.metadata.get("mcp", {}).get("tool_name", t.name): t for t in server.tools.all()}
    taken = set(
        Tool.objects.filter(organization_id=server.organization_id)
        .exclude(mcp_server=server)
        .values_list("name", flat=True)
    )
    for item in remote:
        if len(item.name) > TOOL_NAME_MAX or item.name in taken:
            why = "name longer than 48 characters" if len(item.name) > TOOL_NAME_MAX else "name used by another tool"
            summary["skipped"].append({"name": item.name, "reason": why})
            continue
        fields = _tool_fields(server, item)
        tool = current.pop(item.name, None)
        if tool is None:
            Tool.objects.create(organization_id=server.organization_id, mcp_server=server, name=item.name, **fields)
            summary["added"].append(item.name)
        elif any(getattr(tool, k) != v for k, v in fields.items()):
            Tool.objects.filter(id=tool.id).update(**fields)
            summary["updated"].append(item.name)
    for name, tool in current.items():
        users = tool.agenttool_set.all() if agent_id is None else tool.agenttool_set.filter(agent_id=agent_id)
        if tool.agenttool_set.exists():
            tool.metadata = {**tool.metadata, "mcp": {**tool.metadata.get("mcp", {}), "missing": True}}
            tool.save(update_fields=["metadata", "updated_at"])
            if users.exists():
                summary["missing"].append(name)
        else:
            tool.delete()
            summary["deleted"].append(name)
    return summary


def _tool_fields(server: MCPServer, item) -> dict:
    schema = item.input_schema if isinstance(item.input_schema, dict) else {}
    schema = {"type": "object", "properties": {}, **{k: v for k, v in schema.items() if k != "title"}}
    return {
        "tool_type": "external_mcp",
        "source_type": "mcp",
        "source_code": None,
        "description": item.description[:4000],
        "json_schema": {"name": item.name, "description": item.description[:4000], "parameters": schema},
        "tags": [f"mcp:{server.server_name}"],
        "metadata": {"mcp": {"server_id": server.id, "server_name": server.server_name, "tool_name": item.name}},
    }


def _rename_tools(server: MCPServer) -> None:
    for tool in server.tools.all():
        tool.tags = [f"mcp:{server.server_name}"]
        tool.metadata = {**tool.metadata, "mcp": {**tool.metadata.get("mcp", {}), "server_name": server.server_name}}
        tool.save(update_fields=["tags", "metadata", "updated_at"])


# ---------------------------------------------------------------------------------------------------------------
# Agent files


REENTER = "Imported from an agent file without its credentials: enter them again, then refresh."


def import_mcp_server(user, entry: dict) -> MCPServer | None:
    """The server an agent file names: the organization's server of that name, else a new one with no secrets
    (its `last_error` asks for the credentials). None for a stdio server the user may not add."""
    existing = servers_for(user).filter(server_name=entry["server_name"]).first()
    if existing is not None:
        return existing
    kind, stdio = entry.get("server_type") or "streamable_http", entry.get("stdio_config") or {}
    try:
        _may_manage(user)
    except Forbidden:  # an editor's import: the tools come in unavailable until an admin adds the server
        return None
    if kind == "stdio":
        config = {"mcp_server_type": kind, "command": stdio.get("command"), "args": stdio.get("args") or []}
    else:
        config = {"mcp_server_type": kind, "server_url": entry.get("server_url")}
    server = MCPServer(organization_id=user.organization_id, server_name=entry["server_name"], server_type=kind)
    _check_name(server.server_name)
    _apply(server, _config_fields(kind, config, partial=False))
    server.last_error, server.created_by = REENTER, user
    server.save()
    return server


def import_mcp_tool(server: MCPServer, entry: dict) -> Tool:
    """An agent file's MCP tool, linked to its (imported) server; it works once the server answers again."""
    tool = server.tools.filter(name=entry["name"]).first()
    if tool is not None:
        return tool
    remote = mcp.RemoteTool(
        entry["name"], entry.get("description") or "", (entry.get("json_schema") or {}).get("parameters") or {}
    )
    return Tool.objects.create(
        organization_id=server.organization_id, mcp_server=server, name=entry["name"], **_tool_fields(server, remote)
    )
