"""Archival memory: search (by meaning, words or both, with scores; tag and date filters), browse newest first,
add, edit and delete passages (memory.archival), attach and detach shared archives (memory.archives)."""

from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from ade.errors import DomainError
from agents.actions import attach_tool
from agents.pages import panels
from agents.pages.forms import PassageEditForm, PassageForm
from agents.pages.views.common import agent_view
from agents.queries import get_agent_for
from memory.actions import Actor
from memory.archival import SEARCH_MODES, delete_archival, edit_passage, insert_archival

RIGHT = "agents/panels/right.html"
LIST = "agents/partials/archival.html"


def _search(data) -> dict:
    """The search and filters the person has set (the search form's fields; edits post them along)."""
    filters = {k: data.get(k, "").strip() for k in ("start_datetime", "end_datetime")}
    filters["tags"] = [t.strip() for t in ",".join(data.getlist("tag_filter")).split(",") if t.strip()]
    mode = data.get("mode", "")
    return {
        "query": data.get("q", "").strip(),
        "filters": {k: v for k, v in filters.items() if v},
        "mode": mode if mode in SEARCH_MODES else "",
    }


def _panel(agent, search: dict | None, **extra) -> dict:
    """The list as `search` asks for it; an unusable filter (a bad date) shows its error over the plain list."""
    try:
        return {**panels.archival_panel(agent, **(search or {})), **extra}
    except DomainError as exc:
        return {**panels.archival_panel(agent), "archival_error": exc.message}


def _render(request, agent, template, status=200, search=None, **extra):
    if not request.htmx:
        ctx = panels.workspace(agent, request.user, right="archival")
        return render(request, "agents/workspace.html", {**ctx, **extra}, status=status)
    ctx = panels.right_panel(agent, "archival") if template == RIGHT else _panel(agent, search)
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
    search, after = _search(request.GET), request.GET.get("after") or None
    if not (search["query"] or search["filters"] or after or request.htmx.target == "archival"):
        return _render(request, agent, RIGHT)  # the tab itself (a search form emptied redraws just the list)
    ctx = _panel(agent, {**search, "after": after})
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
def passage_edit(request, agent, passage_id):
    """Save an edited passage; the list comes back as it was searched (the search form's fields are posted too)."""
    form, search = PassageEditForm(request.POST), _search(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{name}: {' '.join(e)}" for name, e in form.errors.items())
        return _render(request, agent, LIST, 400, search, archival_error=errors)
    data = form.cleaned_data
    try:
        edit_passage(agent, passage_id, text=data["text"], tags=form.tag_list(), expected_version=data["version"])
    except DomainError as exc:
        return _render(request, agent, LIST, exc.status, search, archival_error=exc.message)
    return _changed(request, agent, search=search, passage_saved=passage_id)


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
