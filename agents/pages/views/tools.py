"""The tools panel: attach/detach, the Python tool editor (schema generated on save), the run form (sandboxed;
result, stdout and stderr shown, errors included) and the tool rules editor."""

import json

from django.shortcuts import render
from django.views.decorators.http import require_POST

from ade.errors import DomainError, NotFound
from agents.actions import attach_tool, detach_tool, update_agent
from agents.pages import panels
from agents.pages.forms import ToolRulesForm, ToolRunForm, ToolSourceForm
from agents.pages.views.common import agent_view, region
from tools.actions import create_tool, run_tool_from_source, update_tool
from tools.queries import get_tool_for

LEFT = "agents/panels/left.html"
EDITOR = "agents/partials/tool_editor.html"
NEW_TOOL_SOURCE = '''def roll_dice(sides: int = 6, count: int = 1) -> str:
    """Roll dice and report the total.

    Args:
        sides: How many sides each die has.
        count: How many dice to roll.

    Returns:
        The rolls and their total.
    """
    import random

    rolls = [random.randint(1, sides) for _ in range(count)]
    return f"rolled {rolls}, total {sum(rolls)}"
'''


def _panel(request, agent, status=200, **extra):
    if request.htmx:
        return render(request, LEFT, {**panels.left_panel(agent, "tools"), **extra}, status=status)
    return render(
        request,
        "agents/workspace.html",
        {**panels.workspace(agent, request.user, left="tools"), **extra},
        status=status,
    )


def _tool(request, tool_id):
    try:
        return get_tool_for(request.user, tool_id)
    except NotFound:
        from django.http import Http404

        raise Http404("Tool not found") from None


@agent_view
def tools_tab(request, agent):
    return _panel(request, agent)


@agent_view
@require_POST
def tool_attach(request, agent):
    try:
        attach_tool(request.user, agent.id, request.POST.get("tool_id", ""))
    except DomainError as exc:
        return _panel(request, agent, exc.status, tools_error=exc.message)
    return _panel(request, agent)


@agent_view
@require_POST
def tool_detach(request, agent, tool_id):
    try:
        detach_tool(request.user, agent.id, tool_id)
    except DomainError as exc:
        return _panel(request, agent, exc.status, tools_error=exc.message)
    return _panel(request, agent)


def _editor(request, agent, tool, status=200, **extra):
    source = extra.pop("source", None)
    ctx = {
        "agent": agent,
        "tool": tool,
        "source": tool.source_code if source is None and tool else source,
        "schema_json": json.dumps(tool.json_schema, indent=2) if tool else "",
        "pip_text": "\n".join(
            r["name"] + (f"=={r['version']}" if r.get("version") else "")
            for r in (tool.pip_requirements if tool else [])
        ),
        **extra,
    }
    ctx.setdefault("run_args", _example_args(tool))
    return region(request, EDITOR, "agents/tool_editor.html", ctx, status)


def _example_args(tool) -> str:
    """A starting JSON object for the run form: every parameter with a placeholder of its type."""
    params = ((tool.json_schema or {}).get("parameters") or {}).get("properties", {}) if tool else {}
    blanks = {"integer": 1, "number": 1.0, "boolean": False, "array": [], "object": {}}
    return json.dumps({k: blanks.get(v.get("type"), "") for k, v in params.items()}, indent=2)


@agent_view
def tool_new(request, agent):
    if request.method != "POST":
        return _editor(request, agent, None, source=NEW_TOOL_SOURCE, run_args='{\n  "sides": 6,\n  "count": 2\n}')
    form = ToolSourceForm(request.POST)
    kept = {"source": request.POST.get("source_code", ""), "pip_text": request.POST.get("pip_requirements", "")}
    if not form.is_valid():
        error = form.errors.get("pip_requirements")
        if error:
            return _editor(request, agent, None, 400, pip_error=error[0], **kept)
        return _editor(request, agent, None, 400, error="Write the tool's Python source first.", **kept)
    try:
        source = form.cleaned_data["source_code"]
        tool = create_tool(request.user, source, pip_requirements=form.cleaned_data["pip_requirements"])
        attach_tool(request.user, agent.id, tool.id)
    except DomainError as exc:
        return _editor(request, agent, None, exc.status, error=exc.message, **kept)
    return _editor(request, agent, tool, saved=True, attached_now=True)


@agent_view
def tool_edit(request, agent, tool_id):
    tool = _tool(request, tool_id)
    if request.method != "POST":
        return _editor(request, agent, tool)
    form = ToolSourceForm(request.POST)
    kept = {"source": request.POST.get("source_code", ""), "pip_text": request.POST.get("pip_requirements", "")}
    if not form.is_valid():
        error = form.errors.get("pip_requirements")
        if error:
            return _editor(request, agent, tool, 400, pip_error=error[0], **kept)
        return _editor(request, agent, tool, 400, error="The source must not be empty.", **kept)
    changes = {k: form.cleaned_data[k] for k in ("source_code", "pip_requirements")}
    try:
        tool = update_tool(request.user, tool.id, changes)
    except DomainError as exc:
        return _editor(request, agent, tool, exc.status, error=exc.message, **kept)
    return _editor(request, agent, tool, saved=True)


@agent_view
@require_POST
def tool_run(request, agent):
    """Run the editor's current source (saved or not) with JSON arguments, in the sandbox."""
    form = ToolRunForm(request.POST)
    source = request.POST.get("source_code", "")
    ctx = {"agent": agent, "run_args": request.POST.get("args", "")}
    if not form.is_valid():
        return render(request, "agents/partials/tool_result.html", {**ctx, "error": form.errors["args"][0]}, status=400)
    try:
        result = run_tool_from_source(request.user, source, form.cleaned_data["args"], env=agent.secrets or None)
    except DomainError as exc:
        return render(request, "agents/partials/tool_result.html", {**ctx, "error": exc.message}, status=exc.status)
    return render(request, "agents/partials/tool_result.html", {**ctx, "result": result})


@agent_view
@require_POST
def tool_rules_save(request, agent):
    form = ToolRulesForm(request.POST)
    if not form.is_valid():
        return _panel(request, agent, 400, rules_error=form.errors["rules"][0], rules_text=request.POST.get("rules"))
    try:
        update_agent(request.user, agent.id, {"tool_rules": form.cleaned_data["rules"]})
    except DomainError as exc:
        return _panel(request, agent, exc.status, rules_error=exc.message, rules_text=request.POST.get("rules"))
    agent.refresh_from_db()
    return _panel(request, agent, rules_saved=True)
