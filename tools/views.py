"""The MCP servers page of an organization: add (after testing the connection), refresh, remove, and read each
server's tools with their descriptions and schemas. Writes go through tools.mcp_servers, like the API's."""

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.permissions import allows
from ade.errors import DomainError, NotFound

from . import mcp_servers as servers
from .forms import MCPServerForm


@login_required
def mcp_servers(request):
    if request.method != "POST":
        return _page(request)
    form = MCPServerForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        if "test" in request.POST:
            return _page(request, form=form, probe=servers.probe(request.user, form.config()))
        server = servers.create_server(request.user, form.cleaned_data["server_name"], form.config())
    except DomainError as exc:
        return _page(request, form=form, error=exc.message, status=exc.status)
    return _page(request, added=server)


@login_required
@require_POST
def mcp_server_refresh(request, server_id):
    try:
        summary = servers.refresh_tools(request.user, server_id)
    except NotFound:
        raise Http404("MCP server not found") from None
    return _page(request, refreshed={"server_id": server_id, **summary})


@login_required
@require_POST
def mcp_server_delete(request, server_id):
    try:
        servers.delete_server(request.user, server_id)
    except NotFound:
        raise Http404("MCP server not found") from None
    except DomainError as exc:
        return _page(request, error=exc.message, status=exc.status)
    return _page(request)


def _with_schema_text(tools) -> list:
    for tool in tools:
        tool.schema_text = json.dumps((tool.json_schema or {}).get("parameters") or {}, indent=2)
    return list(tools)


def _page(request, *, form=None, status=200, **extra):
    rows = servers.servers_for(request.user).prefetch_related("tools")
    context = {
        "servers": [{"row": s, "shown": servers.render(s), "tools": _with_schema_text(s.tools.all())} for s in rows],
        "form": form or MCPServerForm(initial={"server_type": "streamable_http"}),
        "may_manage": allows(request.user, "manage"),
        **extra,
    }
    template = "tools/_mcp_servers.html" if request.htmx else "tools/mcp_servers.html"
    return render(request, template, context, status=status)
