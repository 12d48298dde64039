"""The settings panel (model, embedding, context window, temperature, system prompt, tags) and .af export."""

import json

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from ade.errors import Conflict, DomainError
from agents.actions import update_agent
from agents.agentfile import export_agent
from agents.pages import panels
from agents.pages.forms import AgentSettingsForm
from agents.pages.views.common import agent_view, region

LEFT = "agents/panels/left.html"


def _panel(request, agent, status=200, **extra):
    ctx = (
        {**panels.workspace(agent, request.user, left="settings"), **extra}
        if not request.htmx
        else {**panels.left_panel(agent, "settings"), **extra}
    )
    return region(request, LEFT, "agents/workspace.html", ctx, status)


@agent_view
def settings_tab(request, agent):
    return _panel(request, agent)


@agent_view
@require_POST
def settings_save(request, agent):
    form = AgentSettingsForm(request.POST, agent=agent)
    if not form.is_valid():
        return _panel(request, agent, 400, settings_form=form)
    try:
        agent = update_agent(request.user, agent.id, form.changes(), expected_version=form.cleaned_data["version"])
    except Conflict:
        fresh = AgentSettingsForm(agent=type(agent).objects.get(id=agent.id))
        return _panel(
            request,
            agent,
            409,
            settings_form=fresh,
            settings_error=(
                "Someone else changed these settings meanwhile; the form now shows their version. "
                "Make your change again and save."
            ),
        )
    except DomainError as exc:
        field = (exc.field or "").replace("compaction_settings.", "compaction_")  # the API's name, the form's field
        form.add_error(field if field in form.fields else None, exc.message)
        return _panel(request, agent, exc.status, settings_form=form)
    return _panel(request, agent, settings_saved=True)


@agent_view
def export(request, agent):
    """`?include_passages=1` adds the archival passages (Engram's optional section of the file)."""
    document = export_agent(request.user, agent.id, include_passages=request.GET.get("include_passages") == "1")
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False, default=str),
        content_type="application/json",
    )
    filename = "".join(c if c.isalnum() or c in "-_" else "_" for c in agent.name) or "agent"
    response["Content-Disposition"] = f'attachment; filename="{filename}.af"'
    return response
