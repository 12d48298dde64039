"""The agents list: search, tag filter, sort, create (blank or from a template), import .af, duplicate, delete."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ade.errors import DomainError
from agents.actions import create_agent, delete_agent
from agents.agentfile import export_agent, import_agent_file, parse_agent_file
from agents.agentfile.preview import checked_model_map
from agents.identities import identities_for, scope_by_identity
from agents.models import AgentTag
from agents.pages import imports
from agents.pages.forms import AgentCreateForm, AgentFilterForm, ImportForm
from agents.pages.templates_catalog import CATALOG, blank_spec
from agents.pages.views.common import agent_view, go, region
from agents.queries import agents_for

SORTS = {"-created": ["-created_at", "-id"], "name": ["name", "id"], "-updated": ["-updated_at", "-id"]}


def _filtered_agents(user, filters: AgentFilterForm):
    qs = agents_for(user).filter(hidden=False)
    data = filters.cleaned_data if filters.is_valid() else {}
    if data.get("q"):
        qs = qs.filter(name__icontains=data["q"])
    if data.get("tag"):
        qs = qs.filter(tag_rows__tag=data["tag"])
    if data.get("identity"):
        qs = scope_by_identity(qs, user, identity_id=data["identity"])
    qs = qs.annotate(n_blocks=Count("blocks", distinct=True), n_tools=Count("tools", distinct=True))
    qs = qs.prefetch_related(Prefetch("tag_rows", queryset=AgentTag.objects.order_by("tag")))
    return qs.order_by(*SORTS.get(data.get("sort") or "-created"))


def _list_context(request, **extra):
    filters = AgentFilterForm(request.GET or None)
    tags = AgentTag.objects.filter(agent__in=agents_for(request.user)).values_list("tag", flat=True).distinct()
    return {
        "agents": _filtered_agents(request.user, filters),
        "filters": filters,
        "all_tags": sorted(set(tags)),
        "identities": identities_for(request.user).order_by("name", "id"),
        "filtering": bool(request.GET.get("q") or request.GET.get("tag") or request.GET.get("identity")),
        **extra,
    }


@login_required
def agent_list(request):
    return region(request, "agents/partials/agent_results.html", "agents/list.html", _list_context(request))


def _create_context(form=None):
    return {"form": form or AgentCreateForm(), "templates": CATALOG}


@login_required
def agent_create(request):
    if request.method != "POST":
        return region(request, "agents/partials/create_form.html", "agents/create.html", _create_context())
    form = AgentCreateForm(request.POST)
    if form.is_valid():
        template = form.template_obj()
        name = form.cleaned_data["name"]
        spec = template.spec(name) if template else blank_spec(name)
        try:
            agent = create_agent(request.user, {**spec, "agent_type": form.cleaned_data["agent_type"] or None})
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return go(request, "agents:workspace", agent.id)
    return region(request, "agents/partials/create_form.html", "agents/create.html", _create_context(form), 400)


@login_required
def agent_import(request):
    """The dialog opens the import's progress socket first (agents/pages/imports.py); the post starts the import
    in the background and answers at once with the progress panel."""
    if request.method != "POST":
        context = {"form": ImportForm(org_id=request.user.organization_id), "ticket": imports.new_ticket(request.user)}
        return region(request, "agents/partials/import_form.html", "agents/import.html", context)
    form = ImportForm(request.POST, request.FILES, org_id=request.user.organization_id)
    ticket = request.POST.get("ticket", "")
    import_id = imports.read_ticket(ticket, request.user) if ticket else None
    if ticket and import_id is None:
        form.add_error(None, "This import form has expired: reload the page and choose the file again.")
    if form.is_valid():
        data = form.cleaned_data
        try:
            options = _import_options(request, data)
            parse_agent_file(data["file"])  # a broken file or a bad choice is refused here, inline, before it starts
            checked_model_map(options["model_map"], request.user.organization_id)
            if import_id is None or not request.htmx:  # no progress socket (no JS): the import runs right here
                return go(request, "agents:workspace", import_agent_file(request.user, data["file"], **options)[0])
        except DomainError as exc:
            form.add_error("file", exc.message)
        else:
            imports.start_import(request.user, import_id, data["file"], **options)
            return render(request, "agents/partials/import_progress.html", {"event": {}})
    context = {"form": form, "ticket": ticket or imports.new_ticket(request.user), "inner": bool(request.htmx)}
    return region(request, "agents/partials/import_form.html", "agents/import.html", context, 400)


def _import_options(request, data) -> dict:
    """The dialog's choices as import_agent_file's options. The preview (agent_import_preview) offers the passages
    checkbox and one select per model this server lacks (map_from[i] → map_to[i]); a map_to left empty keeps the
    file's model."""
    pairs = zip(request.POST.getlist("map_from"), request.POST.getlist("map_to"), strict=False)
    offered = "passages_offered" in request.POST
    return {
        "model": data["model"] or None,
        "embedding": data["embedding"] or None,
        "keep_free_names": data["keep_names"],
        "model_map": {source: target for source, target in pairs if target},
        "include_passages": "include_passages" in request.POST or not offered,
    }


@login_required
@require_POST
def agent_import_preview(request):
    """The chosen file, read but not imported: the names it would take, its passages, and a select for each of
    its models this server lacks (agents.agentfile.preview, as POST /v1/agents/import/preview)."""
    from accounts.permissions import check
    from agents.agentfile.preview import preview

    form = ImportForm(request.POST, request.FILES, org_id=request.user.organization_id)
    context = {"error": None, "preview": None}
    if form.is_valid():
        try:
            check(request.user, "edit")
            context["preview"] = preview(request.user, parse_agent_file(form.cleaned_data["file"]))
        except DomainError as exc:
            context["error"] = exc.message
    else:
        context["error"] = " ".join(e for errors in form.errors.values() for e in errors)
    return render(request, "agents/partials/import_preview.html", context)


@agent_view
@require_POST
def agent_duplicate(request, agent):
    # A duplicate is the agent's own .af imported again: new blocks, same tools, the same conversation.
    document = json.dumps(export_agent(request.user, agent.id))
    copy_id = import_agent_file(request.user, document, name=f"{agent.name[:190]} copy")[0]
    messages.success(request, f"Duplicated “{agent.name}”.")
    return go(request, "agents:workspace", copy_id)


@agent_view
def agent_delete(request, agent):
    if request.method != "POST":
        return region(request, "agents/partials/delete_confirm.html", "agents/delete.html", {"agent": agent})
    delete_agent(request.user, agent.id)
    messages.success(request, f"Deleted “{agent.name}”.")
    return go(request, "agents:list")
