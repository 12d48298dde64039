"""The agent workspace: one screen, three panels, one websocket."""

from django.shortcuts import render

from agents.pages import panels
from agents.pages.views.common import agent_view, region


@agent_view
def workspace(request, agent):
    return render(request, "agents/workspace.html", panels.workspace(agent, request.user))


@agent_view
def context(request, agent):
    return region(
        request,
        "agents/partials/context.html",
        "agents/workspace.html",
        {**panels.workspace(agent, request.user), **panels.context_window(agent)},
    )


@agent_view
def chat_log(request, agent):
    """The conversation alone: a page that lost its websocket for a while catches up with this."""
    return region(
        request,
        "agents/partials/chat_log.html",
        "agents/workspace.html",
        {**panels.workspace(agent, request.user), **panels.chat(agent)},
    )
