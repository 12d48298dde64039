"""Archival memory: semantic search, browse newest first, add and delete passages (memory.archival), attach and
detach shared archives (memory.archives)."""

from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from ade.errors import DomainError
from agents.actions import attach_tool
from agents.pages import panels
from agents.pages.forms import PassageForm
from agents.pages.views.common import agent_view
from agents.queries import get_agent_for
from memory.actions import Actor
from memory.archival import delete_archival, insert_archival

RIGHT = "agents/panels/right.html"
LIST = "agents/partials/archival.html"


def _render(request, agent, template, status=200, **extra):
    if not request.htmx:
        ctx = panels.workspace(agent, request.user, right="archival")
        return render(request, "agents/workspace.html", {**ctx, **extra}, status=status)
    ctx = panels.right_panel(agent, "archival") if template == RIGHT else panels.archival_panel(agent)
    return render(request, template, {**ctx, **extra}, status=status)


def _changed(request, agent, status=200, **extra):
    """After a write: the list, and the context window (its archival count) out of band."""
    response = _render(request, agent, LIST, status, **extra)
    if request.htmx:
        context = {**panels.context_window(agent), "oob": True}
        response.content += render_to_string("agents/partials/context.html", context).encode()
    return response


@agent_view
def archival_tab(request, agent):
    query, after = request.GET.get("q", "").strip(), request.GET.get("after") or None
    if not (query or after):
        return _render(request, agent, RIGHT)
    try:
        ctx = panels.archival_panel(agent, query=query, after=after)
    except DomainError as exc:
        ctx = {**panels.archival_panel(agent), "archival_error": exc.message}
    template = "agents/partials/passages.html" if after else LIST
    return render(
        request,
        template if request.htmx else "agents/workspace.html",
        ctx if request.htmx else {**panels.workspace(agent, request.user, right="archival"), **ctx},
    )


@agent_view
@require_POST
def passage_add(request, agent):
    form = PassageForm(request.POST)
    if not form.is_valid():
        return _render(request, agent, LIST, 400, passage_form=form)
    try:
        insert_archival(agent, form.cleaned_data["text"], form.tag_list(), actor=Actor.user(request.user))
    except DomainError as exc:
        return _render(request, agent, LIST, exc.status, passage_form=form, archival_error=exc.message)
    return _changed(request, agent, passage_added=True)


@agent_view
@require_POST
def passage_delete(request, agent, passage_id):
    try:
        delete_archival(agent, passage_id)
    except DomainError as exc:
        return _render(request, agent, LIST, exc.status, archival_error=exc.message)
    return _changed(request, agent)


@agent_view
@require_POST
def archive_attach(request, agent):
    """Attach a shared archive of the organization (the agent then searches it like its own)."""
    from memory.archives import attach_archive, get_archive_for

    try:
        editable = get_agent_for(request.user, agent.id, action="edit")
        attach_archive(request.user, editable, get_archive_for(request.user, request.POST.get("archive_id", "")))
    except DomainError as exc:
        return _render(request, agent, LIST, exc.status, archival_error=exc.message)
    return _changed(request, agent)


@agent_view
@require_POST
def archive_detach(request, agent, archive_id):
    from memory.archives import detach_archive, get_archive_for

    try:
        editable = get_agent_for(request.user, agent.id, action="edit")
        detach_archive(request.user, editable, get_archive_for(request.user, archive_id))
    except DomainError as exc:
        return _render(request, agent, LIST, exc.status, archival_error=exc.message)
    return _changed(request, agent)


@agent_view
@require_POST
def archival_tools_attach(request, agent):
    """Give the agent the tools that let it store and search archival memory (what the tab offers when missing)."""
    from tools.actions import ensure_base_tools

    tools = ensure_base_tools(agent.organization)
    for name in sorted(set(panels.ARCHIVAL_TOOLS) - panels.archival_tools(agent)):
        attach_tool(request.user, agent.id, tools[name].id)
    return _render(request, agent, LIST)
