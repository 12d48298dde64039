"""The agent workspace: one screen, three panels, one websocket."""

from django.shortcuts import render

from agents.pages import panels
from agents.pages.views.common import agent_view, region
from agents.pages.views.conversations import selected, switcher


def _screen(request, agent) -> dict:
    """The whole screen, showing the conversation the request names (`?conversation=`; none: the agent's own)."""
    conv = selected(request, agent)
    return {**panels.workspace(agent, request.user), **switcher(request, agent, conv)}


@agent_view
def workspace(request, agent):
    return render(request, "agents/workspace.html", _screen(request, agent))


@agent_view
def context(request, agent):
    screen = _screen(request, agent)
    return region(request, "agents/partials/context.html", "agents/workspace.html", screen)


@agent_view
def chat_log(request, agent):
    """The conversation alone: a page that lost its websocket for a while catches up with this."""
    screen = _screen(request, agent)
    return region(request, "agents/partials/chat_log.html", "agents/workspace.html", screen)
