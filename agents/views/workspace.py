"""The agent workspace: one screen, three panels, one websocket."""

from django.shortcuts import render

from .. import panels
from .common import agent_view, region


@agent_view
def workspace(request, agent):
    return render(request, "agents/workspace.html", panels.workspace(agent, request.user))


@agent_view
def context(request, agent):
    return region(request, "agents/partials/context.html", "agents/workspace.html",
                  {**panels.workspace(agent, request.user), **panels.context_window(agent)})
