"""The Model providers page of an organization: its admins add a provider (after testing the key), refresh its model
list, change its key and remove it; everyone sees which providers and models there are, the operator's included.
Writes go through agents.org_providers, like the API's."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.permissions import allows
from ade.errors import DomainError, NotFound
from agents import org_providers as providers
from agents.runtime.providers import operator_provider_rows

FIELDS = ("name", "provider_type", "api_key", "base_url", "api_version")


@login_required
def provider_list(request):
    if request.method != "POST":
        return _page(request)
    given = {k: request.POST.get(k, "").strip() or None for k in FIELDS}
    given["api_key"] = request.POST.get("api_key", "")
    try:
        if "test" in request.POST:
            return _page(request, given=given, checked=providers.check(request.user, given))
        added = providers.create_provider(request.user, given)
    except DomainError as exc:
        return _page(request, given=given, error=exc.message, error_field=exc.field, status=exc.status)
    return _page(request, added=added)


@login_required
@require_POST
def provider_refresh(request, provider_id):
    return _act(request, provider_id, "refreshed", providers.refresh_models, request.user, provider_id)


@login_required
@require_POST
def provider_check(request, provider_id):
    return _act(request, provider_id, "row_checked", providers.check, request.user, {}, provider_id)


@login_required
@require_POST
def provider_update(request, provider_id):
    given = {"api_key": request.POST.get("api_key", ""), "base_url": request.POST.get("base_url", "").strip() or None}
    return _act(request, provider_id, "updated", providers.update_provider, request.user, provider_id, given)


@login_required
@require_POST
def provider_delete(request, provider_id):
    return _act(request, provider_id, "removed", providers.delete_provider, request.user, provider_id)


def _act(request, provider_id: str, outcome: str, action, *args):
    """Run one write on a provider and show the page with its outcome (`outcome`: what the template reports)."""
    try:
        result = action(*args)
    except NotFound:
        raise Http404("Provider not found") from None
    except DomainError as exc:
        return _page(request, error=exc.message, failed_id=provider_id, status=exc.status)
    return _page(request, **{outcome: result if result is not None else True})


def _page(request, *, status=200, given=None, **extra):
    rows = providers.providers_for(request.user)
    context = {
        "providers": [providers.render(p) for p in rows],
        "operator": operator_provider_rows(),
        "kinds": [(k, kind.label, kind.base_url or "", kind.needs_key) for k, kind in providers.KINDS.items()],
        "given": given or {"provider_type": "openai"},
        "may_manage": allows(request.user, "manage"),
        **extra,
    }
    template = "agents/_providers.html" if request.htmx else "agents/providers.html"
    return render(request, template, context, status=status)
