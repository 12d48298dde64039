"""The agent workspace: one screen, three panels, one websocket."""

from .common import agent_view
from django.shortcuts import render

from .. import panels


@agent_view
def workspace(request, agent):
    return render(request, "agents/workspace.html", panels.workspace(agent, request.user))
